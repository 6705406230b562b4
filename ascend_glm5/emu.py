"""Where the AscendC CPU emulator's headers and runtime library are, for compiling your own kernels.

    g++ my_kernel.cpp $(python -m ascend_glm5 emu --cflags) $(python -m ascend_glm5 emu --libs)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def sdk_dir() -> Path:
    """``emu_sdk/`` installed next to the built ``_C`` module (also right for editable installs)."""
    spec = importlib.util.find_spec("ascend_glm5._C")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("ascend_glm5 is not built: install the package (pip install .)")
    return Path(spec.origin).resolve().parent / "emu_sdk"


def include_dir() -> Path:
    """Directory holding ``kernel_operator.h`` and ``tikicpulib.h``."""
    return sdk_dir() / "include"


def library_dir() -> Path:
    """Directory holding ``libascendc_emu.so``."""
    return sdk_dir() / "lib"


def sanitizer_flags() -> list[str]:
    """The sanitizer the emulator was built with (``-fsanitize=...``, empty for a normal build): a kernel
    compiled against it must use the same, or the sanitizer does not see that kernel's accesses."""
    recorded = sdk_dir() / "sanitizer_flags"
    return recorded.read_text().split() if recorded.exists() else []


def cflags() -> list[str]:
    return ["-std=c++17", f"-I{include_dir()}", "-pthread", *sanitizer_flags()]


def libs() -> list[str]:
    lib = library_dir()
    return [f"-L{lib}", "-lascendc_emu", f"-Wl,-rpath,{lib}", "-pthread", *sanitizer_flags()]


def compile_library(sources: list[Path], out_dir: Path, *, flags: tuple[str, ...] = ()) -> Path:
    """Compiles AscendC kernel + host sources against the emulator into one shared library.

    Sources compile in parallel at -O1, or -O0 against a sanitizer build (instrumented code compiles
    ~2.5x faster there, and a sanitizer run checks rather than times); an -O in ``flags`` wins. The
    library links libascendc_emu. Raises RuntimeError with the compiler's output on failure. Load the
    result with ctypes.
    """
    import os
    import subprocess

    # The compiler must not run under a sanitizer runtime preloaded for the tests (CI's ASan / TSan jobs).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = [out_dir / f"{Path(s).stem}.o" for s in sources]
    opt = "-O0" if sanitizer_flags() else "-O1"
    jobs = [
        subprocess.Popen(["g++", opt, *flags, "-fPIC", *cflags(), "-c", str(s), "-o", str(o)], stderr=subprocess.PIPE, text=True,
                         env=env)
        for s, o in zip(sources, objects)
    ]
    errors = [err for job in jobs for _, err in [job.communicate()] if job.returncode]
    if errors:
        raise RuntimeError("compiling against the AscendC emulator failed:\n" + "\n".join(errors))
    lib = out_dir / ("lib" + Path(sources[0]).stem + ".so")
    link = subprocess.run(["g++", "-shared", *map(str, objects), "-o", str(lib), *libs()], capture_output=True, text=True,
                          env=env)
    if link.returncode:
        raise RuntimeError("linking against libascendc_emu failed:\n" + link.stderr)
    return lib
