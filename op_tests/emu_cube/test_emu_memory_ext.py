"""Memory rules catlass's Resource needs: a core may reserve memory it does not have (touching it
fails), TPipe hands out the whole UB / L1 (CANN's CPU-debug bufferInitLen), instructions may touch
all of UB and L1 (L1's top 128 B are the matmul API's KFC messages; no KFC here); plus
LocalTensor::SetAddr and DataCopyPad of int4b_t rows."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import mem

CASES = {"AbsentReserved": 0, "AbsentTouched": 1, "UbTop": 2, "L1Top": 3, "SetAddr": 4, "SetAddrOutside": 5, "Int4Pad": 6}
PREFIX = r"^\[ascendc-emu\] kernel 'mem_kernel', core "


def test_whole_memories_reserved_on_every_core(kern):
    src = np.arange(256, dtype=np.float32)
    got = mem(kern, CASES["AbsentReserved"], src.view(np.uint8), np.zeros(1024, np.uint8)).view(np.float32)
    np.testing.assert_array_equal(got[:64], src[:64])


@pytest.mark.parametrize("case, message", [
    ("AbsentTouched", r"AIV 0: .*core-type: L1 is not on vector \(AIV\) cores"),
    ("SetAddrOutside", r"AIV 0: Duplicate: local-bounds: dst touches UB bytes \[1024, 1120\) outside its buffer "
                       r"\[1024, 1088\)"),
])  # fmt: skip
def test_memory_rules(kern, case, message):
    with pytest.raises(kern.EmuError, match=PREFIX + message):
        mem(kern, CASES[case], np.zeros(1024, np.uint8), np.zeros(1024, np.uint8))


def test_all_of_l1_is_usable(kern):
    # Huawei's basic-API matmul example (asc-devkit matmul_basic_api_high_performance/mmad.asc) puts
    # B's pong packet at [384 KiB, 512 KiB); the copies into L1's top 128 B raised "reserved" before.
    mem(kern, CASES["L1Top"], np.zeros(1024, np.uint8), np.zeros(1024, np.uint8))


def test_all_of_ub_is_usable(kern):
    # Huawei's Add example (asc-devkit add_high_performance) keeps buffers up to UB's last byte.
    got = mem(kern, CASES["UbTop"], np.zeros(1024, np.uint8), np.zeros(1024, np.uint8)).view(np.float32)
    np.testing.assert_array_equal(got[:64], np.ones(64, np.float32))


def test_set_addr_points_a_tensor_at_a_range(kern):
    got = mem(kern, CASES["SetAddr"], np.zeros(1024, np.uint8), np.zeros(1024, np.uint8)).view(np.float32)
    assert (got[:16] == 1.5).all() and (got[16:] == 0).all()


def test_datacopypad_int4_rows_are_bytes(kern):
    src = np.random.default_rng(0).integers(0, 256, 1024, dtype=np.uint8)
    out = np.full(1024, 0xEE, np.uint8)
    got = mem(kern, CASES["Int4Pad"], src, out)
    want = out.copy()
    for r in range(5):  # 19 bytes (38 int4 values) per row: GM pitch 24 in, 20 out
        want[r * 20: r * 20 + 19] = src[r * 24: r * 24 + 19]
    np.testing.assert_array_equal(got, want)
