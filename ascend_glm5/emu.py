"""Where the AscendC CPU emulator's headers and runtime library are, for compiling your own kernels.

    g++ my_kernel.cpp $(python -m ascend_glm5 emu --cflags) $(python -m ascend_glm5 emu --libs)
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_SOURCE_TREE = _PACKAGE.parent / "csrc" / "emu" / "include"


def include_dir() -> Path:
    """Directory holding ``kernel_operator.h`` and ``tikicpulib.h``."""
    installed = _PACKAGE / "emu_sdk" / "include"
    return installed if installed.is_dir() else _SOURCE_TREE


def library_dir() -> Path:
    """Directory holding ``libascendc_emu.so`` (present once the package is built)."""
    return _PACKAGE / "emu_sdk" / "lib"


def cflags() -> list[str]:
    return ["-std=c++17", f"-I{include_dir()}", "-pthread"]


def libs() -> list[str]:
    lib = library_dir()
    if not (lib / "libascendc_emu.so").exists():
        raise FileNotFoundError(f"libascendc_emu.so not found in {lib}: install the package (pip install .)")
    return [f"-L{lib}", "-lascendc_emu", f"-Wl,-rpath,{lib}", "-pthread"]
