// A counter in GM that cores add to and wait on: how one vector core waits until others have
// finished some of their work, where SyncAll (every core) or a cross-core flag (one AIC with its
// own AIVs) is too coarse. Producers write their data, then GmFlagAdd; a consumer calls
// GmFlagWaitAtLeast, then reads the data. CANN 8.5's soft SyncAll is built from similar parts
// (copies of a per-core count polled from GM: impl/basic_api/dav_c220/kernel_operator_sync_impl.h).
//
// Vector cores (AIV) only: GmFlagAdd goes through 32 B of UB (`scratch`, a VECCALC / VECOUT buffer
// the caller does not need across the call), which a cube core does not have (the emulator refuses
// either call on an AIC). GmFlagAdd uses event ids from GetTPipePtr()->FetchEventID, as CANN's soft
// SyncAll does, so a TPipe must be alive.
//
// Rules for the kernel: within a launch the counter changes only through GmFlagAdd (the host sets
// its start value, usually 0, before the launch); every core that waits must be able to run while
// the producers it waits for run (no waiting on a block of a later wave: blockDim <= cores).
// Producers write their data with MTE3 copies (DataCopy / DataCopyPad; a scalar SetValue to GM sits
// in the DataCache until DataCacheCleanAndInvalid); the consumer reads it with MTE2 copies (a scalar
// GetValue may hit a DataCache line it cached before the wait).
//
// On the emulator (ASCEND_GLM5_EMULATOR) the same code runs with hooks (emu/gm_wait.h): the poll
// loop leaves one kGmWait record in the instruction trace however often it polled, the add one
// kGmSignal record after its copy, and the timing model replays the pair (docs/performance.md).
#pragma once

#include "kernel_operator.h"
#ifdef ASCEND_GLM5_EMULATOR
#include "emu/gm_wait.h"
#endif

namespace ascend_glm5 {

// Atomically adds delta to the int32 counter at flag[0]. Every GM write this core issued before (MTE3) is
// visible to a core that reads the new value. scratch: 32 B of UB (VECCALC / VECOUT), free to overwrite.
// `waitCopy` false: the scalar goes on while the add's copy runs, and the caller waits for MTE3
// (an MTE3 -> S event set after the call) before anything writes scratch again.
__aicore__ inline void GmFlagAdd(const AscendC::GlobalTensor<int32_t>& flag, int32_t delta,
                                 const AscendC::LocalTensor<int32_t>& scratch, bool waitCopy = true) {
  // The core's earlier GM writes complete before the add is issued: MTE3 executes its instruction
  // queue in order (同步控制简介.md), and the barrier also waits for their completion, as the soft
  // SyncAll's PipeBarrier<PIPE_ALL> does before its count is written (kernel_operator_sync_impl.h;
  // PipeBarrier(ISASI).md).
  AscendC::PipeBarrier<PIPE_MTE3>();
  scratch.SetValue(0, delta);
  const event_t sToMte3 = static_cast<event_t>(GetTPipePtr()->FetchEventID(AscendC::HardEvent::S_MTE3));
  AscendC::SetFlag<AscendC::HardEvent::S_MTE3>(sToMte3);
  AscendC::WaitFlag<AscendC::HardEvent::S_MTE3>(sToMte3);
  // SetAtomicAdd.md: while set, a VECOUT -> GM copy adds its int32 elements into GM (GM is not cleared
  // first); DataCopyPad(ISASI).md: blockLen in bytes, so exactly one element is added.
#ifdef ASCEND_GLM5_EMULATOR
  AscendC::emu::GmFlagAddBegin(flag.GetPhyAddr());
#endif
  AscendC::SetAtomicAdd<int32_t>();
  AscendC::DataCopyPad(flag, scratch, AscendC::DataCopyExtParams(1, sizeof(int32_t), 0, 0, 0));
#ifdef ASCEND_GLM5_EMULATOR
  AscendC::emu::GmFlagSignal(flag.GetPhyAddr(), delta);
#endif
  AscendC::SetAtomicNone();  // SetAtomicAdd.md: switch it off after the add
  if (!waitCopy) return;
  // The copy has read scratch before the caller may write it again.
  const event_t mte3ToS = static_cast<event_t>(GetTPipePtr()->FetchEventID(AscendC::HardEvent::MTE3_S));
  AscendC::SetFlag<AscendC::HardEvent::MTE3_S>(mte3ToS);
  AscendC::WaitFlag<AscendC::HardEvent::MTE3_S>(mte3ToS);
}

// Blocks until the counter at flag[0] >= target, polled by the scalar unit: each poll drops the
// counter's DataCache line and reads it from GM again. GetValue-1.md: a GM word another party may
// rewrite is read after DataCacheCleanAndInvalid; DataCacheCleanAndInvalid.md names this use (data
// another core may modify, read from GM itself). Unlike a poll by MTE2 copy (as the soft SyncAll
// polls), it does not queue behind the core's MTE2 copies already issued, which go on while it
// polls; copies issued after the call start after the poll that saw the target. The line is only
// dropped and read, never written, so the kernel must not SetValue into the counter's 64-byte line.
__aicore__ inline void GmFlagWaitAtLeast(const AscendC::GlobalTensor<int32_t>& flag, int32_t target) {
#ifdef ASCEND_GLM5_EMULATOR
  AscendC::emu::GmWaitBegin(flag.GetPhyAddr(), target);
#endif
  while (true) {
    AscendC::DataCacheCleanAndInvalid<int32_t, AscendC::CacheLine::SINGLE_CACHE_LINE, AscendC::DcciDst::CACHELINE_OUT>(flag);
    const int32_t value = flag.GetValue(0);
#ifdef ASCEND_GLM5_EMULATOR
    AscendC::emu::GmWaitPolled();
#endif
    if (value >= target) break;
#ifdef ASCEND_GLM5_EMULATOR
    AscendC::emu::GmWaitMissed(flag.GetPhyAddr(), target);
#endif
  }
#ifdef ASCEND_GLM5_EMULATOR
  AscendC::emu::GmWaitEnd(flag.GetPhyAddr(), target);
#endif
}

}  // namespace ascend_glm5
