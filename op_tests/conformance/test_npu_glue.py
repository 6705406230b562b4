"""The NPU host glue builds with torch_npu, checked on a machine without CANN or an NPU.

The torch-npu wheel matching the installed torch is downloaded (not installed) and its headers cached
(npu_glue/wheel_headers.py); the aclrtlaunch_<kernel>.h headers CANN's ascendc_library() would generate
are written from each kernel's own declaration (npu_glue/launch_stubs.py); then bind/npu_bind.h is
precompiled and g++ -fsyntax-only runs over csrc/bind/npu_module.cpp, every csrc/bind/npu/*.cpp and every
csrc/host/*/*_npu.cpp with the flags of the real `_npu` target (npu_glue/typecheck.py). Zero errors are
required. New ops are picked up by glob.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # npu_glue/ beside this file (importlib mode)
from npu_glue import launch_stubs, typecheck, wheel_headers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"


def registered_ops() -> list[str]:
    """ASCEND_GLM5_OPS from csrc/kernels/kernel_sources.cmake: the ops CMake builds."""
    text = (CSRC / "kernels" / "kernel_sources.cmake").read_text()
    body = re.search(r"set\(ASCEND_GLM5_OPS\s+([^)]*)\)", text)
    assert body, "kernel_sources.cmake has no set(ASCEND_GLM5_OPS ...)"
    return [w for line in body.group(1).splitlines() for w in line.split("#")[0].split()]


def glue_files() -> tuple[list[Path], list[Path]]:
    """(the module and op bindings, which include torch; the host launch files, which include ACL only)."""
    bind = [CSRC / "bind" / "npu_module.cpp", *sorted((CSRC / "bind" / "npu").glob("*.cpp"))]
    host = sorted(CSRC.glob("host/*/*_npu.cpp"))
    return bind, host


@functools.lru_cache(maxsize=None)
def _download_headers() -> Path | str:
    try:
        return wheel_headers.torch_npu_include(torch.__version__)
    except wheel_headers.WheelError as e:
        return str(e)  # remembered, so that each test fails with it without downloading again


def torch_npu_includes() -> list[Path]:
    """-I directories of torch_npu's headers for the installed torch; a download failure fails the calling test."""
    found = _download_headers()
    if isinstance(found, str):
        pytest.fail(f"torch-npu headers for torch {torch.__version__}: {found}", pytrace=False)
    return wheel_headers.include_dirs(found)


def test_every_registered_op_has_its_npu_files():
    ops = registered_ops()
    assert ops, "ASCEND_GLM5_OPS is empty"
    bind, host = glue_files()
    assert sorted(p.stem for p in bind[1:]) == sorted(ops), "csrc/bind/npu/<op>.cpp must exist for exactly the ops"
    assert sorted(p.parent.name for p in host) == sorted(ops), "csrc/host/<op>/<op>_npu.cpp must exist for each op"
    for op in ops:
        kernels = launch_stubs.parse_kernels((CSRC / "kernels" / op / f"{op}.cpp").read_text())
        assert op in [k.name for k in kernels], f"csrc/kernels/{op}/{op}.cpp declares no kernel named {op}"


def test_launch_header_follows_canns_rule():
    # Expected text written from CANN's extract_host_stub.py rule (see launch_stubs.py), not from the generator.
    src = """
    // extern "C" __global__ __aicore__ void commented_out(GM_ADDR x);
    extern "C" __global__ __aicore__ void my_op(GM_ADDR x, __gm__ half* y, uint32_t n, const float alpha,
                                                GM_ADDR stream, GM_ADDR tiling) { }
    __aicore__ inline void helper(GM_ADDR x) { }
    """
    (kernel,) = launch_stubs.parse_kernels(src)
    header = launch_stubs.launch_header(kernel)
    assert (
        'extern "C" uint32_t aclrtlaunch_my_op(uint32_t blockDim, aclrtStream _stream, void* x, void* y, '
        "uint32_t n, const float alpha, void* stream, void* tiling);"
    ) in header
    assert "#ifndef HEADER_ACLRTLAUNCH_MY_OP_H" in header and '#include "acl/acl_base.h"' in header
    assert "#define ACLRT_LAUNCH_KERNEL(kernel_func) aclrtlaunch_##kernel_func" in header
    with pytest.raises(ValueError, match="tiling structs"):
        launch_stubs.parse_kernels('extern "C" __global__ __aicore__ void k(GM_ADDR x, MyTiling t) {}')
    with pytest.raises(ValueError, match="template kernel"):
        launch_stubs.parse_kernels("template <int N> __global__ __aicore__ void k(GM_ADDR x) {}")


def test_op_files_launch_through_the_shared_helper():
    # The stream must be read on the caller's thread (LaunchOnCurrentStream does it) and the handler,
    # which runs later on torch_npu's task-queue thread, must own every tensor it uses: explicit
    # by-value captures only, no [&] / [=].
    bind, _ = glue_files()
    for path in bind[1:]:
        text = path.read_text()
        for banned in ("getCurrentNPUStream", "OpCommand", "SetCustomHandler"):
            assert banned not in text, f"{path.name}: launch through LaunchOnCurrentStream, not {banned}"
        captures = re.findall(r"LaunchOnCurrentStream\(\s*\"[^\"]*\"\s*,\s*\[([^\]]*)\]", text)
        assert captures, f"{path.name}: no LaunchOnCurrentStream(\"name\", [captures](void* stream) {{...}})"
        for capture in captures:
            items = [c.strip() for c in capture.split(",")]
            by_reference = [c for c in items if c in ("=", "this") or c.startswith("&")]
            assert not by_reference, f"{path.name}: [{capture}] captures {by_reference} implicitly or by reference"


def test_bind_files_include_the_precompiled_header_first():
    # g++ uses bind/npu_bind.h.gch only where it is a file's first #include; elsewhere the file parses
    # torch's headers again (~10 s a file, silently: -Winvalid-pch says nothing when the header is not first).
    bind, _ = glue_files()
    for path in bind:
        first = re.search(r"^\s*#\s*include\s*([<\"][^>\"]+[>\"])", path.read_text(), re.MULTILINE)
        assert first and first.group(1) == '"bind/npu_bind.h"', f"{path.name}: first #include must be \"bind/npu_bind.h\""


def test_check_reports_a_broken_launch(tmp_path):
    # The check must be able to fail: a launch with one argument too few does not type-check.
    gen = tmp_path / "gen"
    launch_stubs.write_launch_headers([CSRC / "kernels" / "dynamic_quant" / "dynamic_quant.cpp"], gen)
    broken = tmp_path / "broken_npu.cpp"
    broken.write_text(
        '#include "aclrtlaunch_dynamic_quant.h"\n'
        "uint32_t Launch(void* s) { return ACLRT_LAUNCH_KERNEL(dynamic_quant)(1, s, nullptr, nullptr, nullptr); }\n"
    )
    (result,) = typecheck.syntax_check([broken], typecheck.compile_flags(CSRC, gen, torch_npu_includes()), jobs=1)
    assert result.returncode != 0 and any("too few arguments" in e for e in result.errors()), result.output


def test_npu_glue_type_checks_against_torch_npu(tmp_path):
    ops = registered_ops()
    gen = tmp_path / "generated"
    # bind/op_list.inc as CMake writes it (csrc/kernels/kernel_sources.cmake), and the launch headers.
    (gen / "bind").mkdir(parents=True)
    (gen / "bind" / "op_list.inc").write_text("".join(f"ASCEND_GLM5_OP({op})\n" for op in ops))
    kernels = launch_stubs.write_launch_headers(sorted(CSRC.glob("kernels/*/*.cpp")), gen)
    assert set(ops) <= {k.name for k in kernels}
    bind, host = glue_files()
    flags = typecheck.compile_flags(CSRC, gen, torch_npu_includes())
    # Every bind file includes bind/npu_bind.h (torch's ATen and pybind11 headers) first: parsed once.
    header = typecheck.precompile(CSRC / "bind" / "npu_bind.h", "bind/npu_bind.h", gen, flags)
    results = [header, *typecheck.syntax_check(bind + host, flags)]
    errors = [e for r in results for e in r.errors()]
    failed = [r for r in results if r.returncode != 0]
    assert not errors and not failed, (
        f"{len(errors)} errors type-checking the NPU glue (torch {torch.__version__}, "
        f"C++{typecheck.torch_cxx_standard()}):\n" + "\n".join(r.output[-6000:] for r in failed)
    )
