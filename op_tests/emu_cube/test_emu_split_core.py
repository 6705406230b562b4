"""g_coreType as bisheng compiles a MIX kernel: with SPLIT_CORE_CUBE / SPLIT_CORE_VEC it is a
constant (AIC / AIV) and ASCEND_IS_AIC / ASCEND_IS_AIV are `constexpr`; the host runs each build on
its own core type, and a build launched on the other type is refused. Without SPLIT_* it is the
run-time type of the core (CANN's CPU-debug form)."""

from __future__ import annotations

import concurrent.futures
import ctypes
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from ascend_glm5 import emu

    out = tmp_path_factory.mktemp("split_core")
    builds = {"aic": "-DSPLIT_CORE_CUBE", "aiv": "-DSPLIT_CORE_VEC", "cpu": "-DSPLIT_NONE"}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = {name: pool.submit(emu.compile_library, [HERE / "split_core_kernels.cpp"], out / name,
                                  flags=("-fvisibility=hidden", flag)) for name, flag in builds.items()}  # fmt: skip
        return {name: ctypes.CDLL(str(job.result())) for name, job in jobs.items()}


def launch(split, aic: str, aiv: str, blocks: int) -> np.ndarray:
    fn = {name: ctypes.cast(getattr(lib, f"split_kernel_{name}"), ctypes.c_void_p) for name, lib in split.items()}
    out = np.full(3 * blocks, -1, np.int32)
    err = ctypes.create_string_buffer(2048)
    rc = split["cpu"].split_launch_cpu(fn[aic], fn[aiv], ctypes.c_uint32(blocks), out.ctypes.data_as(ctypes.c_void_p),
                                       err, len(err))  # fmt: skip
    if rc:
        raise RuntimeError(err.value.decode())
    return out.reshape(blocks, 3)


@pytest.mark.parametrize("aic, aiv", [("aic", "aiv"), ("cpu", "cpu"), ("aic", "cpu"), ("cpu", "aiv")])
def test_each_core_runs_its_own_build(split, aic, aiv):
    got = launch(split, aic, aiv, 3)
    np.testing.assert_array_equal(got, np.tile([110, 220, 220], (3, 1)))  # AIC = 1, AIV = 2 (kernel_macros.h)


@pytest.mark.parametrize("aic, aiv, message", [
    ("aiv", "aiv", r"core AIC 0: KERNEL_TASK_TYPE_DEFAULT: core-type: this kernel was compiled with SPLIT_CORE_VEC "
                   r"but runs on a cube \(AIC\) core"),
    ("aic", "aic", r"core AIV \d: KERNEL_TASK_TYPE_DEFAULT: core-type: this kernel was compiled with SPLIT_CORE_CUBE "
                   r"but runs on a vector \(AIV\) core"),
])  # fmt: skip
def test_a_build_on_the_other_core_type_is_refused(split, aic, aiv, message):
    with pytest.raises(RuntimeError, match=message):
        launch(split, aic, aiv, 1)
