"""catlass conformance: Huawei's catlass headers (from the ascend-catlass-dsl wheel on PyPI) compiled
against the emulator, once per session, and driven through ctypes as the ``catlass`` fixture.

The wheel is downloaded (never installed) into a cache directory and only ``catlass/include`` is
unpacked; later runs reuse it. A failed download fails the tests: it is never a skip.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent

# One fixed file: the headers are the same in every per-Python wheel, so any Python may fetch this one.
WHEEL_VERSION = "2.1.0"
WHEEL_NAME = f"ascend_catlass_dsl-{WHEEL_VERSION}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "1c9e0f7e6e933a2ea658145777af51c8bf352b8e06a25c453de4bc6c7b74a130"
HEADER_PREFIX = "catlass/include/"

VARIANTS = {"bf16_row_b": 0, "half_col_b": 1, "int8_row_b": 2, "int8_col_b": 3, "int4_row_b": 4, "int4_col_b": 5,
            "bf16_col_b_f32": 6, "int8_per_channel": 7}  # fmt: skip
MODES = {"mix": 0, "aic": 1, "aiv": 2}


def cache_dir() -> Path:
    root = os.environ.get("ASCEND_GLM5_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ascend_glm5")
    return Path(root) / f"catlass-{WHEEL_VERSION}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def catlass_include() -> Path:
    """``<cache>/include`` holding catlass/ and tla/, downloading and unpacking the wheel if needed."""
    cache = cache_dir()
    include = cache / "include"
    if (include / "catlass" / "catlass.hpp").is_file():
        return include
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL_NAME
    if not wheel.is_file() or _sha256(wheel) != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)  # pip keeps an existing file
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
               "--platform", "manylinux_2_28_x86_64", "--dest", str(cache), f"ascend-catlass-dsl=={WHEEL_VERSION}"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode or not wheel.is_file():
            pytest.fail(f"could not download the catlass headers (ascend-catlass-dsl {WHEEL_VERSION} from PyPI): "
                        f"`{' '.join(cmd)}` failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}", pytrace=False)
    if _sha256(wheel) != WHEEL_SHA256:
        pytest.fail(f"{wheel} does not have the expected sha256 {WHEEL_SHA256}", pytrace=False)
    with tempfile.TemporaryDirectory(dir=cache) as tmp, zipfile.ZipFile(wheel) as z:
        members = [n for n in z.namelist() if n.startswith(HEADER_PREFIX) and not n.endswith("/")]
        for name in members:
            target = Path(tmp) / name[len(HEADER_PREFIX):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
        shutil.rmtree(include, ignore_errors=True)
        os.replace(tmp, include)  # an interrupted run leaves no partial tree behind
        os.mkdir(tmp)  # TemporaryDirectory removes it again
    return include


class EmuError(RuntimeError):
    """A rule violation reported by the emulator (its message names kernel, core, call and rule)."""


class GemmArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("m", "n", "k", "variant")]


def _ptr(a: np.ndarray | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if a is None else a.ctypes.data)


class Catlass:
    """The two builds of catlass_kernels.cpp (AIC: SPLIT_CORE_CUBE, AIV: SPLIT_CORE_VEC)."""

    EmuError = EmuError

    def __init__(self, aic: Path, aiv: Path):
        self.aic, self.aiv = ctypes.CDLL(str(aic)), ctypes.CDLL(str(aiv))
        self._err = ctypes.create_string_buffer(4096)

    def _kernel(self, name: str) -> tuple[int, int]:
        return (ctypes.cast(getattr(self.aic, name + "_aic"), ctypes.c_void_p).value,
                ctypes.cast(getattr(self.aiv, name + "_aiv"), ctypes.c_void_p).value)

    def launch(self, kernel: str, mode: str, block_dim: int, a, b, c, ws, args: GemmArgs) -> None:
        aic, aiv = self._kernel(kernel)
        rc = self.aic.conf_launch_aic(kernel.encode(), ctypes.c_void_p(aic), ctypes.c_void_p(aiv), MODES[mode],
                                      ctypes.c_uint32(block_dim), _ptr(a), ctypes.c_uint64(a.nbytes), _ptr(b),
                                      ctypes.c_uint64(b.nbytes), _ptr(c), ctypes.c_uint64(c.nbytes), _ptr(ws),
                                      ctypes.c_uint64(0 if ws is None else ws.nbytes), ctypes.byref(args), self._err,
                                      len(self._err))  # fmt: skip
        if rc:
            raise EmuError(self._err.value.decode())

    def run(self, kernel: str, mode: str, block_dim: int, a: np.ndarray, b: np.ndarray, c: np.ndarray,
            ws: np.ndarray | None = None, m: int = 0, n: int = 0, k: int = 0, variant: int = 0) -> np.ndarray:
        """Launches `kernel` (exported by a catlass_*.cpp as <kernel>_aic / <kernel>_aiv) on the raw GM
        images a, b, c and ws with GemmArgs(m, n, k, variant). Returns c."""
        self.launch(kernel, mode, block_dim, a, b, c, ws, GemmArgs(m, n, k, variant))
        return c

    def gemm(self, variant: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, m: int, n: int, k: int,
             block_dim: int) -> np.ndarray:
        """C = A @ B on AIC cores; a, b, c are the raw GM images. Returns c."""
        self.launch("catlass_gemm", "aic", block_dim, a, b, c, None, GemmArgs(m, n, k, VARIANTS[variant]))
        return c

    def w8a8_per_channel(self, a: np.ndarray, b: np.ndarray, scale_words: np.ndarray, block_dim: int) -> np.ndarray:
        """C [m, n] half = (A int8 [m, k] x B int8 [k, n]) with column j scaled by scale_words[j] (fp32 in
        the low 32 bits), through catlass's CopyL0CToGm<..., PER_CHANNEL>. Returns C."""
        (m, k), n = a.shape, b.shape[1]
        words = np.zeros(-(-n // 16) * 16 + 64, np.uint64)  # whole 16-word blocks past every tile
        words[:n] = scale_words
        c = np.full((m, n), np.nan, np.float16)
        self.launch("catlass_gemm", "aic", block_dim, a, b, c, words, GemmArgs(m, n, k, VARIANTS["int8_per_channel"]))
        return c

    def w4a8(self, a: np.ndarray, b_packed: np.ndarray, m: int, n: int, k: int, block_dim: int) -> np.ndarray:
        """C [m, n] int32 = A int8 [m, k] x B int4 [k, n] (packed [k, n/2]) in MIX_MODE: the AIVs
        unpack B into an int8 workspace, the AIC multiplies. Returns C."""
        c = np.full((m, n), -1, np.int32)
        ws = np.full((k, n), 0x5A, np.int8)  # never a plausible int8 B: every element must be written
        self.launch("catlass_w4a8", "mix", block_dim, a, b_packed, c, ws, GemmArgs(m, n, k, 0))
        return c

    def barrier(self, block_dim: int) -> np.ndarray:
        """[2 * block_dim AIVs, 2]: the launch-wide and the in-block neighbour's slot after the barriers.
        Every slot and every AIV's output row is a 64-byte line of its own (16 int32)."""
        out = np.full((2 * block_dim, 16), -1, np.int32)
        slots = np.full((4 * block_dim, 16), -1, np.int32)
        dummy = np.zeros(8, np.int32)
        self.launch("catlass_barrier", "mix", block_dim, dummy, dummy, out, slots, GemmArgs(0, 0, 0, 0))
        return out[:, :2]


@pytest.fixture(scope="session")
def catlass(tmp_path_factory) -> Catlass:
    from ascend_glm5 import emu

    include = catlass_include()
    # Every conformance source (catlass_kernels.cpp holds the launch entry) into each build's library.
    srcs = sorted(HERE.glob("catlass_*.cpp"))
    common = ("-DCATLASS_ARCH=2201", f"-I{include}", "-fvisibility=hidden", "-fvisibility-inlines-hidden")
    out = tmp_path_factory.mktemp("catlass")
    # The two builds are independent: compile them side by side.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(emu.compile_library, srcs, out / side, flags=(*common, f"-DSPLIT_CORE_{split}"))
                for side, split in (("aic", "CUBE"), ("aiv", "VEC"))]
        aic, aiv = (j.result() for j in jobs)
    return Catlass(aic, aiv)
