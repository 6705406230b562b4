"""Every hardware rule the emulator enforces fails with an exception whose message names the kernel,
the core, the API call and the rule; fresh buffers read as poison; SyncAll works across cores and
a core that never reaches it is reported as a deadlock, not a hang."""

import numpy as np
import pytest

PREFIX = r"^\[ascendc-emu\] kernel 'rule_kernel', core "
VIOLATIONS = {
    "UbOverflow": r"AIV 0: TPipe::InitBuffer: capacity: 1 x 197632 bytes at VECIN .* but UB has 196608 bytes",
    "MisalignedCopy": r"AIV 0: DataCopy\(GM->local\): alignment: dst starts at UB address 8, not 32-byte aligned",
    "GmOutOfBounds": r"AIV 0: DataCopy\(GM->local\): gm-bounds: bytes \[0, 512\) of a 256-byte GM buffer",
    "LocalOutOfBounds": r"AIV 0: LocalTensor::GetValue: local-bounds: tensor touches UB bytes \[64, 68\) outside its "
                        r"buffer \[0, 64\)",
    "VectorOutOfBounds": r"AIV 0: Adds: local-bounds: dst touches UB bytes \[0, 512\) outside its buffer \[0, 256\)",
    "WaitWithoutSet": r"AIV 0: WaitFlag: event-pairing: WaitFlag<MTE2_V>\(1\) without a matching SetFlag",
    "SetTwice": r"AIV 0: SetFlag: event-pairing: SetFlag<V_MTE3>\(2\) set twice without a WaitFlag",
    "EventId8": r"AIV 0: SetFlag: event-id: event id 8 outside \[0, 7\]",
    "PipeBarrierScalar": r"AIV 0: PipeBarrier: param-range: PipeBarrier<PIPE_S>: the scalar pipe is ordered by the hardware, "
                         r"and the barrier raises a hardware error",
    "NinthBuffer": r"AIV 0: TPipe::InitBuffer: buffer-count: 9 TQue buffers at VECIN would exceed the limit of 8 per "
                   r"position",
    "Buffer65": r"AIV 0: TPipe::InitBuffer: buffer-count: 65 buffers would exceed the limit of 64 per kernel",
    "CopyCountUnaligned": r"AIV 0: DataCopy\(GM->local\): datacopy-count: count 7 x 32 bits = 28 bytes is not a "
                          r"multiple of 32",
    "VectorOnAic": r"AIC 0: Adds: core-type: vector instruction on a cube \(AIC\) core",
    "SyncAllAivOnly": r"AIV 0: SyncAll: kernel-type: SyncAll needs a MIX kernel type",
    "SetNeverWaited": r"AIV 0: kernel end: event-pairing: SetFlag<MTE3_MTE2>\(3\) was never waited on",
    "DequeEmpty": r"AIV 0: TQue::DeQue: queue-state: DeQue on an empty VECIN queue",
    "QueueFull": r"AIV 0: TQue::AllocTensor: queue-state: all 2 buffers of the VECIN queue are in use",
    "EnQuePastDepth": r"AIV 0: TQue::EnQue: queue-state: queue depth 1 is full",
    "ForeignFreeTensor": r"AIV 0: TQue::FreeTensor: queue-state: tensor at UB address 0 is not a buffer of this queue",
    "GmBufferSize": r"AIV 0: DataCopy\(GM->local\): gm-bounds: elements \[0, 32\) beyond the GlobalTensor's bufferSize 16",
    "OffsetAlignment": r"AIV 0: TBuf::GetWithOffset: alignment: bufOffset 16 is not 32-byte aligned",
    "DefaultTensor": r"AIV 0: Adds: local-bounds: dst was never allocated \(default-constructed LocalTensor\)",
    "SliceBounds": r"AIV 0: Adds: local-bounds: dst touches UB bytes \[64, 320\) outside its buffer \[64, 96\)",
    "SliceIndexBounds": r"AIV 0: LocalTensor::GetValue: local-bounds: tensor touches UB bytes \[96, 100\) outside its "
                        r"buffer \[64, 96\)",
    "KernelType": r"AIV 0: KERNEL_TASK_TYPE_DEFAULT: kernel-type: the kernel declares type 1 but was launched in another "
                  r"mode; launch it with KernelMode::AIC_MODE",
    "SyncScope": r"AIV 0: CrossCoreSetFlag: sync-scope: mode 2 \(cube <-> vector\) needs a MIX_AIC_1_2 launch",
    "FlagPending": r"AIV 0: kernel end: flag-pending: cross-core flag 3 \(mode 0\) still has 1 pending set\(s\)",
    "GatherMaskV1": r"AIV 0: GatherMask: param-range: GatherMaskMode::VERSION_V1 is not supported on A2/A3",
    "GatherRepeats": r"AIV 0: Gather: param-range: count 16384 needs 256 repeats; CANN passes the repeat count as uint8_t",
}


@pytest.mark.parametrize("name", ["NineTBufs", "VectorEventOnAic"])
def test_allowed_by_cann(emu, name):
    # Nine TBufs at one position (only TQue buffers hold event ids); a vector-pipe SetFlag on the cube
    # core, which CANN's SetFlag skips there (so it needs no WaitFlag).
    emu.rule(name)


def test_all_of_ub_is_usable_but_select_writes_its_scratch(emu):
    # Huawei's Add example keeps buffers up to UB's last byte; dav_c220's Select (scalar src1, or
    # VSEL_TENSOR_TENSOR_MODE) writes 32 B at TMP_UB_OFFSET = 184 KiB first (kernel_operator_vec_cmpsel_impl.h).
    out = emu.rule("TopOfUb")
    np.testing.assert_array_equal(out[:8].view(np.uint32), np.full(8, 0xFFC0FFC0, np.uint32))  # poisoned
    np.testing.assert_array_equal(out[8:24], np.full(16, 2.0, np.float32))


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_rule_violation_raises_with_kernel_core_api_and_rule(emu, name):
    with pytest.raises(emu.EmuError, match=PREFIX + VIOLATIONS[name]):
        emu.rule(name)
    assert isinstance(emu.EmuError("x"), RuntimeError)  # what Python callers catch


def test_library_usable_after_a_violation(emu):
    with pytest.raises(emu.EmuError):
        emu.rule("EventId8")
    got, _ = emu.vec("Adds", "float", in0=np.ones(64, np.float32), out=np.zeros(64, np.float32), count=64, scalar=2.0)
    assert (got == 3).all()


def test_never_written_buffer_reads_as_poison(emu):
    out = emu.rule("Poison")
    assert (out.view(np.uint32) == 0xFFC0FFC0).all()
    assert np.isnan(out).all()  # and NaN as fp32 / fp16 / bf16
    assert np.isnan(out.view(np.float16)).all()


@pytest.mark.parametrize("block_dim", [1, 2, 5, 8])
def test_syncall_across_cores(emu, block_dim):
    got = emu.syncall(block_dim)
    ids = (np.arange(block_dim) + 1) % block_dim  # each core reads its neighbour's slot after the barrier
    np.testing.assert_array_equal(got, ids[:, None] * 100 + np.arange(8))
    counters, cores = emu.counters()
    assert cores == block_dim
    assert counters["mte3Bytes"] == 2 * 32 * block_dim and counters["mte2Bytes"] == 32 * block_dim


def test_deadlock_is_reported_not_hung(emu):
    # Core 1 returns before SyncAll: the other three wait for a barrier that can never complete.
    with pytest.raises(emu.EmuError, match=r"kernel 'syncall_kernel': deadlock: every unfinished core is blocked") as e:
        emu.syncall(4, skip=1)
    for core in (0, 2, 3):
        assert f"AIV {core} in SyncAll(barrier of 4 cores)" in str(e.value)
    assert "AIV 1 in" not in str(e.value) and "1 core(s) already finished" in str(e.value)


def test_syncall_beyond_the_physical_cores(emu):
    # 49 AIV blocks on a 48-AIV SoC: the 49th would run in a later wave and the barrier never completes.
    with pytest.raises(emu.EmuError, match=r"SyncAll: sync-scope: 49 cores take part but the SoC has 48"):
        emu.syncall(49)
