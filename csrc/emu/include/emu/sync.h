// In-core pipe synchronisation (SetFlag/WaitFlag/PipeBarrier) and inter-core SyncAll.
// A core executes its instructions in program order, so the flags cannot reorder anything
// here; what the emulator checks is that the kernel's flags would be correct on the NPU.
#pragma once

#include "runtime.h"

namespace AscendC {

namespace emu {
const char* EventName(HardEvent e);
inline uint8_t& EventSlot(const char* api, HardEvent evt, int32_t id) {
  EMU_REQUIRE(id >= 0 && id < 8, api, "event-id", "event id %d outside [0, 7] (%s)", id, EventName(evt));
  return Core().eventSet[static_cast<int>(evt)][id];
}
}  // namespace emu

template <HardEvent evt>
void SetFlag(int32_t eventID) {
  uint8_t& s = emu::EventSlot("SetFlag", evt, eventID);
  EMU_REQUIRE(!s, "SetFlag", "event-pairing", "SetFlag<%s>(%d) set twice without a WaitFlag in between",
              emu::EventName(evt), eventID);
  s = 1;
}

template <HardEvent evt>
void WaitFlag(int32_t eventID) {
  uint8_t& s = emu::EventSlot("WaitFlag", evt, eventID);
  EMU_REQUIRE(s, "WaitFlag", "event-pairing", "WaitFlag<%s>(%d) without a matching SetFlag (the NPU would hang)",
              emu::EventName(evt), eventID);
  s = 0;
  emu::Core().counters.syncWaits++;
}

template <pipe_t pipe>
void PipeBarrier() {
  emu::Core().counters.syncWaits++;
}

// Hardware barrier over all AIV cores of the launch (isAIVOnly) or all cores (false).
template <bool isAIVOnly = true>
void SyncAll() {
  emu::Barrier("SyncAll", isAIVOnly);
}

// Software form: the GM / UB workspaces must exist, be large enough and (GM) start zeroed.
template <bool isAIVOnly = true, typename GT, typename LT>
void SyncAll(const GT& gmWorkspace, const LT& ubWorkspace, const int32_t usedCores = 0) {
  const int64_t cores = usedCores > 0 ? usedCores : GetBlockNum();
  gmWorkspace.Check("SyncAll", 0, static_cast<uint64_t>(cores) * 8);
  ubWorkspace.CheckBytes("SyncAll", "ubWorkspace", 0, static_cast<uint64_t>(cores) * 32);
  emu::Barrier("SyncAll", isAIVOnly);
}

template <uint8_t modeId, pipe_t pipe>
void CrossCoreSetFlag(uint16_t flagId) {
  emu::CrossCoreSet("CrossCoreSetFlag", modeId, flagId);
}

template <uint8_t modeId = 0, pipe_t pipe = PIPE_S>
void CrossCoreWaitFlag(uint16_t flagId) {
  emu::CrossCoreWait("CrossCoreWaitFlag", modeId, flagId);
}

}  // namespace AscendC
