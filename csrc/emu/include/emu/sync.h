// In-core pipe synchronisation (SetFlag/WaitFlag/PipeBarrier) and inter-core SyncAll.
// A core executes its instructions in program order, so the flags cannot reorder anything
// here; what the emulator checks is that the kernel's flags would be correct on the NPU.
#pragma once

#include "tensor.h"

namespace AscendC {

namespace emu {
const char* EventName(HardEvent e);
inline uint8_t& EventSlot(const char* api, HardEvent evt, int32_t id) {
  EMU_REQUIRE(id >= 0 && id < 8, api, "event-id", "event id %d outside [0, 7] (%s)", id, EventName(evt));
  return Core().eventSet[static_cast<int>(evt)][id];
}
}  // namespace emu

namespace emu {
// CANN's SetFlag / WaitFlag do nothing for an event of the other core kind: vector-pipe events on
// the AIC, cube-pipe events on the AIV (include/basic_api/kernel_operator_block_sync_intf.h).
template <HardEvent e>
bool EventOnThisCore() {
  constexpr bool vectorOnly = e == HardEvent::MTE2_V || e == HardEvent::V_MTE2 || e == HardEvent::MTE3_V ||
                              e == HardEvent::V_MTE3 || e == HardEvent::V_V || e == HardEvent::S_V || e == HardEvent::V_S;
  constexpr bool cubeOnly = e == HardEvent::MTE2_MTE1 || e == HardEvent::MTE1_MTE2 || e == HardEvent::MTE1_M ||
                            e == HardEvent::M_MTE1 || e == HardEvent::M_FIX || e == HardEvent::FIX_M;
  const bool aic = Core().coreType == AIC;
  return !(aic ? vectorOnly : cubeOnly);
}
}  // namespace emu

template <HardEvent event>
void SetFlag(int32_t eventID) {
  if (emu::Unwinding() || !emu::EventOnThisCore<event>()) return;
  uint8_t& s = emu::EventSlot("SetFlag", event, eventID);
  EMU_REQUIRE(!s, "SetFlag", "event-pairing", "SetFlag<%s>(%d) set twice without a WaitFlag in between",
              emu::EventName(event), eventID);
  s = 1;
  emu::TraceFlag(emu::TraceOp::kSetFlag, event, static_cast<uint32_t>(eventID));
}

template <HardEvent event>
void WaitFlag(int32_t eventID) {
  if (emu::Unwinding() || !emu::EventOnThisCore<event>()) return;
  uint8_t& s = emu::EventSlot("WaitFlag", event, eventID);
  EMU_REQUIRE(s, "WaitFlag", "event-pairing", "WaitFlag<%s>(%d) without a matching SetFlag (the NPU would hang)",
              emu::EventName(event), eventID);
  s = 0;
  emu::Core().counters.syncWaits++;
  emu::TraceFlag(emu::TraceOp::kWaitFlag, event, static_cast<uint32_t>(eventID));
}

template <pipe_t pipe>
void PipeBarrier() {
  // PipeBarrier(ISASI).md: "Scalar流水之间的同步由硬件自动保证，调用PipeBarrier()会引发硬件错误"
  // (dav_c220's PipeBarrierImpl issues pipe_barrier(PIPE_S) as asked).
  EMU_REQUIRE(pipe != PIPE_S, "PipeBarrier", "param-range",
              "PipeBarrier<PIPE_S>: the scalar pipe is ordered by the hardware, and the barrier raises a hardware error");
  emu::Core().counters.syncWaits++;
  if (pipe == PIPE_ALL) emu::HazardBarrierAll();
  emu::TraceRaw(emu::TraceOp::kBarrier, pipe, "PipeBarrier", 0, 0, 0, pipe);
}

// Hardware barrier over all AIV cores of the launch (isAIVOnly) or all cores (false).
template <bool isAIVOnly = true>
void SyncAll() {
  emu::HazardBarrierAll();  // SyncAllImpl starts with PipeBarrier<PIPE_ALL> (dav_c220/kernel_operator_sync_impl.h)
  emu::TraceRaw(emu::TraceOp::kSyncAll, PIPE_ALL, "SyncAll", 0, 0, 0, isAIVOnly);
  emu::ReceiveStamp(emu::Barrier("SyncAll", isAIVOnly, emu::StampOf(PIPE_ALL)));
}

// Software form: the GM / UB workspaces must exist and be large enough (GM: 8 int32 per core, UB:
// 8 int32 per core) and the GM one must start zeroed (SyncAll.md).
template <bool isAIVOnly = true>
void SyncAll(const GlobalTensor<int32_t>& gmWorkspace, const LocalTensor<int32_t>& ubWorkspace, const int32_t usedCores = 0) {
  const int64_t cores = usedCores > 0 ? usedCores : GetBlockNum();
  gmWorkspace.Check("SyncAll", 0, static_cast<uint64_t>(cores) * 8);
  ubWorkspace.CheckBytes("SyncAll", "ubWorkspace", 0, static_cast<uint64_t>(cores) * 32);
  emu::HazardBarrierAll();  // SoftSyncAllImpl: PipeBarrier<PIPE_ALL> first, its own flags around its UB use
  emu::TraceRaw(emu::TraceOp::kSyncAll, PIPE_ALL, "SyncAll", 0, 0, 0, isAIVOnly);
  emu::ReceiveStamp(emu::Barrier("SyncAll", isAIVOnly, emu::StampOf(PIPE_ALL)));
}

template <uint8_t modeId, pipe_t pipe>
void CrossCoreSetFlag(uint16_t flagId) {
  if (emu::Unwinding()) return;
  // The set runs on `pipe`: it carries what that pipe is ordered after (emu/hazard.h).
  emu::CrossCoreSet("CrossCoreSetFlag", modeId, flagId, emu::StampOf(pipe));
  emu::TraceRaw(emu::TraceOp::kCrossSet, pipe, "CrossCoreSetFlag", flagId, 0, 0, modeId, pipe);
}

template <uint8_t modeId = 0, pipe_t pipe = PIPE_S>
void CrossCoreWaitFlag(uint16_t flagId) {
  if (emu::Unwinding()) return;
  emu::TraceRaw(emu::TraceOp::kCrossWait, pipe, "CrossCoreWaitFlag", flagId, 0, 0, modeId, pipe);
  emu::ReceiveStamp(emu::CrossCoreWait("CrossCoreWaitFlag", modeId, flagId));
}

namespace emu {
// The HardEvent of a (source, destination) pipe pair, HardEvent::MAX if there is none.
constexpr HardEvent PipeEvent(pipe_t src, pipe_t dst) {
  struct Pair { pipe_t s, d; HardEvent e; };
  constexpr Pair pairs[] = {
      {PIPE_MTE2, PIPE_MTE1, HardEvent::MTE2_MTE1}, {PIPE_MTE1, PIPE_MTE2, HardEvent::MTE1_MTE2},
      {PIPE_MTE1, PIPE_M, HardEvent::MTE1_M}, {PIPE_M, PIPE_MTE1, HardEvent::M_MTE1}, {PIPE_MTE2, PIPE_V, HardEvent::MTE2_V},
      {PIPE_V, PIPE_MTE2, HardEvent::V_MTE2}, {PIPE_MTE3, PIPE_V, HardEvent::MTE3_V}, {PIPE_V, PIPE_MTE3, HardEvent::V_MTE3},
      {PIPE_M, PIPE_V, HardEvent::M_V}, {PIPE_V, PIPE_M, HardEvent::V_M}, {PIPE_V, PIPE_V, HardEvent::V_V},
      {PIPE_MTE3, PIPE_MTE1, HardEvent::MTE3_MTE1}, {PIPE_MTE1, PIPE_MTE3, HardEvent::MTE1_MTE3},
      {PIPE_MTE1, PIPE_V, HardEvent::MTE1_V}, {PIPE_MTE2, PIPE_M, HardEvent::MTE2_M}, {PIPE_M, PIPE_MTE2, HardEvent::M_MTE2},
      {PIPE_V, PIPE_MTE1, HardEvent::V_MTE1}, {PIPE_M, PIPE_FIX, HardEvent::M_FIX}, {PIPE_FIX, PIPE_M, HardEvent::FIX_M},
      {PIPE_MTE3, PIPE_MTE2, HardEvent::MTE3_MTE2}, {PIPE_MTE2, PIPE_MTE3, HardEvent::MTE2_MTE3},
      {PIPE_S, PIPE_V, HardEvent::S_V}, {PIPE_V, PIPE_S, HardEvent::V_S}, {PIPE_S, PIPE_MTE2, HardEvent::S_MTE2},
      {PIPE_MTE2, PIPE_S, HardEvent::MTE2_S}, {PIPE_S, PIPE_MTE3, HardEvent::S_MTE3}, {PIPE_MTE3, PIPE_S, HardEvent::MTE3_S},
      {PIPE_MTE2, PIPE_FIX, HardEvent::MTE2_FIX}, {PIPE_FIX, PIPE_MTE2, HardEvent::FIX_MTE2},
      {PIPE_FIX, PIPE_S, HardEvent::FIX_S}, {PIPE_M, PIPE_S, HardEvent::M_S}, {PIPE_FIX, PIPE_MTE3, HardEvent::FIX_MTE3},
      {PIPE_MTE1, PIPE_FIX, HardEvent::MTE1_FIX}, {PIPE_FIX, PIPE_MTE1, HardEvent::FIX_MTE1},
      {PIPE_FIX, PIPE_FIX, HardEvent::FIX_FIX}};
  for (const Pair& p : pairs)
    if (p.s == src && p.d == dst) return p.e;
  return HardEvent::MAX;
}
}  // namespace emu

// SetFlag / WaitFlag between two pipes, ids managed by the kernel (include/basic_api/kernel_operator_block_sync_intf.h).
template <pipe_t src, pipe_t dst>
class TQueSync {
  static constexpr HardEvent kEvent = emu::PipeEvent(src, dst);

 public:
  // CANN 8.5 kernel_tquesync_impl.h: static_asserts src != dst (and that both pipes exist); a pair
  // of distinct pipes without a hardware event between them compiles and fails here when called.
  void SetFlag(TEventID id) {
    static_assert(src != dst, "TQueSync: src/dst pipe cannot be same");
    EMU_REQUIRE(kEvent != HardEvent::MAX, "TQueSync::SetFlag", "event", "no hardware event from pipe %d to pipe %d",
                int(src), int(dst));
    if constexpr (kEvent != HardEvent::MAX) AscendC::SetFlag<kEvent>(id);
  }
  void WaitFlag(TEventID id) {
    static_assert(src != dst, "TQueSync: src/dst pipe cannot be same");
    EMU_REQUIRE(kEvent != HardEvent::MAX, "TQueSync::WaitFlag", "event", "no hardware event from pipe %d to pipe %d",
                int(src), int(dst));
    if constexpr (kEvent != HardEvent::MAX) AscendC::WaitFlag<kEvent>(id);
  }
};

}  // namespace AscendC
