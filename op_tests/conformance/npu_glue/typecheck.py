"""g++ -fsyntax-only over the NPU glue with the flags the real `_npu` build uses (CMakeLists.txt, NPU
section): torch's C++ standard and ABI, torch's, torch_npu's (ACL included) and Python's headers."""

from __future__ import annotations

import re
import subprocess
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.cpp_extension


def torch_cxx_standard() -> int:
    """The standard torch declares for its headers: CXX_STANDARD on its CMake target (TorchConfig.cmake),
    which CMakeLists.txt copies onto `_npu`."""
    config = Path(torch.utils.cmake_prefix_path) / "Torch" / "TorchConfig.cmake"
    found = re.findall(r"\bCXX_STANDARD\s+(\d+)", config.read_text())
    if len(set(found)) != 1:
        raise RuntimeError(f"expected one CXX_STANDARD in {config}, found {found}")
    return int(found[0])


def pybind11_include() -> list[Path]:
    """The pybind11 package's headers, which the real build uses ahead of the copy torch bundles (the
    build requires pybind11); none when it is not installed, and torch's copy is used."""
    try:
        import pybind11
    except ImportError:
        return []
    return [Path(pybind11.get_include())]


def compile_flags(csrc: Path, generated: Path, torch_npu_includes: list[Path]) -> list[str]:
    torch_includes = [Path(p) for p in torch.utils.cpp_extension.include_paths()]
    python_include = Path(sysconfig.get_paths()["include"])
    # `generated` first: it also holds the precompiled header (see precompile), which g++ only finds in a
    # directory searched before the one holding the header itself.
    includes = [generated, csrc, *torch_npu_includes, *pybind11_include(), *torch_includes, python_include]
    return [
        f"-std=c++{torch_cxx_standard()}",
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",  # torch's TORCH_CXX_FLAGS
        *(f"-I{p}" for p in includes),
    ]


@dataclass
class Result:
    files: list[Path]
    returncode: int
    output: str

    def errors(self) -> list[str]:
        return [ln for ln in self.output.splitlines() if re.search(r"\b(fatal )?error:", ln)]


def precompile(header: Path, include_as: str, generated: Path, flags: list[str]) -> Result:
    """Compiles `header` into generated/<include_as>.gch. g++ looks for <name>.gch in each include
    directory before <name>, so every file whose first #include is "<include_as>" then starts from the
    compiled state instead of parsing torch's headers again (~10 s a file); the result is the same.
    Only valid for the same flags: syntax_check passes -Winvalid-pch, which says when it is not used."""
    out = generated / f"{include_as}.gch"
    out.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["g++", "-x", "c++-header", *flags, str(header), "-o", str(out)], capture_output=True, text=True)
    return Result([header], p.returncode, p.stdout + p.stderr)


def syntax_check(files: list[Path], flags: list[str], jobs: int = 2) -> list[Result]:
    """Type-checks every file as its own translation unit (as CMake compiles them), in at most `jobs`
    g++ invocations that run side by side; the heaviest files are spread first."""
    files = sorted(files, key=lambda f: -f.stat().st_size)
    groups = [files[i::jobs] for i in range(jobs) if files[i::jobs]]

    def run(group: list[Path]) -> Result:
        p = subprocess.run(["g++", "-fsyntax-only", "-Winvalid-pch", *flags, *map(str, group)], capture_output=True, text=True)
        return Result(group, p.returncode, p.stdout + p.stderr)

    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        return list(pool.map(run, groups))
