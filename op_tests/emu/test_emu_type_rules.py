"""Calls CANN 8.5 compiles whose type rule it checks only when they run (ASCENDC_ASSERT: a run-time abort
in its CPU-debug build, compiled out on the device), or that the emulator does not model. They compile
against the emulator too (test_emu_api.py's accepted set) and fail when called with an EmuError naming the
API and the rule (type_rule_kernels.cpp; docs/emulator.md, "How conformance is checked")."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

CASES = [
    (0, "Abs", "dtype"),  # count form, int16_t: dav_c220 ASCENDC_ASSERT, vabs has an int16_t overload
    (1, "And", "dtype"),  # count form, float: runs as int16_t after an ASCENDC_ASSERT
    (2, "Or", "dtype"),  # count form, int8_t
    (3, "Compare", "dtype"),  # uint16_t mask tensor: written through a uint8_t view
    (4, "Select", "dtype"),  # int8_t selMask: ASCENDC_ASSERT
    (5, "GatherMask", "dtype"),  # uint32_t pattern with 16-bit data: ASCENDC_ASSERT
    (6, "GatherMask", "dtype"),  # int8_t data, built-in pattern: ASCENDC_ASSERT
    (7, "Gather", "dtype"),  # int8_t: ASCENDC_ASSERT (size 2 / 4)
    (8, "Brcb", "dtype"),  # int8_t: ASCENDC_ASSERT
    (9, "Extract", "dtype"),  # int16_t: ASCENDC_ASSERT
    (10, "TQueSync::SetFlag", "event"),  # PIPE_S -> PIPE_MTE1: no hardware event
    (11, "GlobalTensor::GetValue", "not-emulated"),  # int4b_t
    (12, "GlobalTensor::SetValue", "not-emulated"),
    (13, "GlobalTensor::operator()", "not-emulated"),
    (14, "LocalTensor::operator()", "not-emulated"),
    (15, "Fixpipe", "not-emulated"),  # float -> int8_t
    (16, "Fixpipe", "not-emulated"),  # CFG_COLUMN_MAJOR
    (17, "SetFixPipeConfig", "not-emulated"),  # setRelu = true
    (18, "InitConstValue", "dtype"),  # int8_t: dav_c220 ASCENDC_ASSERT(false)
]


@pytest.fixture(scope="module")
def rule_lib(tmp_path_factory):
    from ascend_glm5 import emu

    lib = emu.compile_library([HERE / "type_rule_kernels.cpp"], tmp_path_factory.mktemp("type_rules"),
                              flags=("-fvisibility=hidden",))  # fmt: skip
    return ctypes.CDLL(str(lib))


@pytest.mark.parametrize("which, api, rule", CASES, ids=[f"{w}-{a}" for w, a, _ in CASES])
def test_compiles_and_fails_when_called(rule_lib, which, api, rule):
    err = ctypes.create_string_buffer(4096)
    rc = rule_lib.type_rule_launch(ctypes.c_int(which), err, len(err))
    msg = err.value.decode()
    assert rc == 1, f"case {which} ({api}) ran without an error"
    assert api in msg and rule in msg, msg
