"""torch_npu's C++ headers, from the torch-npu wheel that matches the installed torch, downloaded
(never installed) once and cached.

The wheel ships `torch_npu/include/`: torch_npu's own headers (`torch_npu/csrc/...`), op-plugin's
(`third_party/op-plugin/`) and CANN's ACL headers under `third_party/acl/inc/acl/` (from torch-npu 2.13
also at `acl/`), which is all a CANN-free machine needs to type-check the glue.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Files the check cannot do without; a wheel lacking one is reported, not worked around.
REQUIRED = (
    "torch_npu/csrc/framework/OpCommand.h",
    "torch_npu/csrc/core/npu/NPUStream.h",
    "torch_npu/csrc/core/npu/NPUFormat.h",
    "third_party/acl/inc/acl/acl.h",
    "third_party/acl/inc/acl/acl_base.h",
)
_INCLUDE_PREFIX = "torch_npu/include/"


def include_dirs(include: Path) -> list[Path]:
    """-I directories for `include`: its root (torch_npu/..., third_party/...) and the ACL headers as CANN
    lays them out (`<acl/acl.h>`, as in $ASCEND_HOME_PATH/include)."""
    return [include, include / "third_party" / "acl" / "inc"]


class WheelError(RuntimeError):
    """The matching torch-npu wheel could not be downloaded or lacks the headers the check needs."""


def cache_root() -> Path:
    """`$ASCEND_GLM5_CACHE`, else `$XDG_CACHE_HOME/ascend_glm5`, else `~/.cache/ascend_glm5`."""
    if os.environ.get("ASCEND_GLM5_CACHE"):
        return Path(os.environ["ASCEND_GLM5_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ascend_glm5"


def torch_npu_requirement(torch_version: str) -> str:
    """torch-npu X.Y.Z (or X.Y.Z.postN) is built for torch X.Y.Z (its metadata: `Requires-Dist: torch==X.Y.Z.*`)."""
    release = torch_version.split("+")[0]  # drop a local tag such as +cpu
    return f"torch-npu=={release}.*"


def torch_npu_include(torch_version: str) -> Path:
    """The `include/` directory of the torch-npu wheel for `torch_version`; downloads it on first use."""
    requirement = torch_npu_requirement(torch_version)
    target = cache_root() / "torch_npu_headers" / f"torch-{torch_version.split('+')[0]}-{_python_tag()}"
    if (target / "COMPLETE").is_file():
        return target / "include"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheel = _download(requirement, Path(tmp) / "wheel")
        staged = Path(tmp) / "staged"
        _unpack_include(wheel, staged / "include")
        (staged / "COMPLETE").write_text(wheel.name + "\n")
        if target.exists() and not (target / "COMPLETE").is_file():
            shutil.rmtree(target)  # left half-written by hand: start over
        try:
            os.replace(staged, target)  # atomic: a concurrent run either sees all of it or nothing
        except OSError:
            if not (target / "COMPLETE").is_file():  # not a concurrent run that finished first
                raise
    return target / "include"


def _python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def _download(requirement: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(dest), requirement]
    run = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("torch_npu-*.whl")) if dest.is_dir() else []
    if run.returncode != 0 or len(wheels) != 1:
        raise WheelError(
            f"could not download {requirement!r} for this Python/platform ({' '.join(cmd)} exited "
            f"{run.returncode}). torch-npu X.Y.Z is built for torch X.Y.Z only, and not every torch release "
            f"has one: the NPU build needs a torch that has.\n{run.stdout[-1500:]}{run.stderr[-2500:]}"
        )
    return wheels[0]


def _unpack_include(wheel: Path, out: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(_INCLUDE_PREFIX) and not n.endswith("/")]
        missing = [r for r in REQUIRED if _INCLUDE_PREFIX + r not in names]
        if missing:
            raise WheelError(f"{wheel.name} lacks headers the check needs: {', '.join(missing)}")
        for name in names:
            dest = out / name[len(_INCLUDE_PREFIX):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
