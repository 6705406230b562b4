// State shared by the cores of one launch (private to the runtime library).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <mutex>
#include <string>
#include <vector>

#include "data_cache_state.h"
#include "emu/hazard.h"
#include "emu/runtime.h"

namespace AscendC::emu {

struct GmShadow;  // the GM side of the happens-before check (gm_hazard.cpp)

struct LaunchContext {
  const char* kernel = "";
  KernelMode mode = KernelMode::MIX_MODE;
  uint32_t blockDim = 0;
  std::vector<std::unique_ptr<CoreState>> cores;
  std::vector<GmRegion> regions;  // sorted by address
  // The GM buffers as disjoint spans [lo, hi) (overlapping buffers, e.g. one tensor passed twice, are
  // one), sorted by address; `first`: the argument position of the span's earliest buffer.
  struct Span {
    uint64_t lo, hi;
    size_t first;
  };
  std::vector<Span> spans;
  // Per core (by launch index), its scalar DataCache; only that core's thread touches it.
  std::vector<ScalarDataCache> dataCaches;

  std::mutex mu;
  std::condition_variable cv;
  bool aborted = false;
  std::string error;  // first failure
  uint32_t finished = 0;
  // Cores blocked in a wait (by launch index, so reports list them in a stable order), with the
  // condition that releases them and what they wait in.
  struct Waiter {
    const CoreState* core;
    const std::function<bool()>* ready;
    std::string what;
  };
  std::map<uint32_t, Waiter> waiters;

  // SyncAll: arrivals and generation per group (0 = all cores, 1 = AIV only); the happens-before
  // stamps of the arrivals so far, and what the last completed barrier of the group delivered.
  uint32_t barrierArrived[2] = {0, 0};
  uint64_t barrierGeneration[2] = {0, 0};
  HazardStamp barrierJoin[2], barrierDone[2];

  // Cross-core flags: the deliveries pending per (receiving core, flag key), oldest first, each with
  // the happens-before stamp it carries (emu/hazard.h); see launch.cpp.
  std::map<std::pair<const CoreState*, int>, std::deque<HazardStamp>> flagPending;
  // Mode 0 / 1 sets that wait for the rest of their group: (mode, group, flag) -> each member's sets.
  std::map<std::tuple<int, int64_t, uint16_t>, std::map<const CoreState*, std::deque<HazardStamp>>> flagArrivals;
  // GM counters of GmFlagAdd / GmFlagWaitAtLeast (emu/gm_wait.h): address -> sum of the deltas added
  // (mod 2^32), so that the counter's value at launch is its final value minus the sum.
  std::map<uint64_t, uint32_t> gmFlagAdded;
  // Per GM counter: adds under way (GmFlagAddBegin .. GmFlagSignal) and the join of the adders' stamps.
  struct GmCounterOrder {
    uint32_t inFlight = 0;
    HazardStamp joined;
  };
  std::map<uint64_t, GmCounterOrder> gmFlagOrder;
  // The GM shadow of the happens-before check, made by the first core that touches GM.
  std::once_flag gmShadowOnce;
  std::shared_ptr<GmShadow> gmShadow;

  // Records the first failure and wakes every waiter so that the launch unwinds.
  void Abort(const std::string& message);
  // Blocks the calling core until ready() holds (checked under mu). Fails on abort or deadlock.
  void WaitUntil(std::unique_lock<std::mutex>& lock, CoreState& self, const char* api, const std::string& what,
                 const std::function<bool()>& ready);
  // Under mu: if no core can make progress, abort with a description of who waits for what.
  void CheckDeadlock();
};

LaunchContext* CurrentLaunch();

}  // namespace AscendC::emu
