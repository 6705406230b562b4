"""A refused access inside the scope of an object whose destructor issues AscendC calls (catlass's
TileCastInt8ToFp16Dequant waits its flags in its destructor) must come back as that refusal. The
destructor's WaitFlag used to fail again (its flag was waited for by the interrupted operator();
before that, the refused access also stayed noted on the core: "an instruction noted ... but was never
issued on a pipe"): a throw from a destructor during unwinding, std::terminate, the process aborted.
Each case runs in a child process, so that abort fails the test instead of the session.
Kernels: hazard_unwind_kernels.cpp."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent

RUN = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
err = ctypes.create_string_buffer(4096)
rc = lib.emu_hazard_unwind(int(sys.argv[2]), err, len(err))
print(rc, err.value.decode())
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    return emu_sdk.compile_library([HERE / "hazard_unwind_kernels.cpp"], tmp_path_factory.mktemp("hazard_unwind"),
                                   flags=("-O0", "-fvisibility=hidden"))


@pytest.mark.parametrize("case, core, rule", [
    (0, "AIV 1", r"DataCopy\(GM->local\): gm-hazard: PIPE_MTE2 reads GM bytes \[0, 32\)"),
    (1, "AIV 0", r"Adds: pipe-hazard: PIPE_V writes UB bytes \[0, 32\)"),
])  # fmt: skip
def test_refusal_survives_destructor_calls(lib, case, core, rule):
    run = subprocess.run([sys.executable, "-c", RUN, str(lib), str(case)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the launch aborted:\n{run.stderr[-2000:]}"
    rc, _, msg = run.stdout.strip().partition(" ")
    assert rc == "1"
    assert re.match(rf"^\[ascendc-emu\] kernel 'hazard_unwind_kernel', core {core}: {rule}", msg), msg
