// The emulator's side of GmFlagAdd / GmFlagWaitAtLeast (emu/gm_wait.h, kernels/common/gm_flag.h).
#include "emu/gm_wait.h"

#include "emu/atomic.h"
#include "emu/hazard.h"
#include "emu/trace.h"
#include "launch_context.h"

namespace AscendC::emu {

namespace {
void RequireAiv(const char* api) {
  EMU_REQUIRE(Core().coreType == AIV, api, "core-type",
              "GM counters go through UB: call it on a vector core (AIV), not a cube core");
}

// "byte 8 of GM argument 2": where the counter is, independent of host addresses.
std::string Where(const LaunchContext& L, const int32_t* flag) {
  const uint64_t a = reinterpret_cast<uint64_t>(flag);
  for (const auto& s : L.spans)
    if (a >= s.lo && a < s.hi)
      return Format("the counter at byte %llu of GM argument %zu", (unsigned long long)(a - s.lo), s.first);
  return Format("the counter at %p", static_cast<const void*>(flag));
}
}  // namespace

void GmFlagAddBegin(const int32_t* flag) {
  RequireAiv("GmFlagAdd");
  LaunchContext* L = CurrentLaunch();
  std::lock_guard<std::mutex> g(L->mu);
  L->gmFlagOrder[reinterpret_cast<uint64_t>(flag)].inFlight++;
}

void GmFlagSignal(const int32_t* flag, int32_t delta) {
  RequireAiv("GmFlagAdd");
  TraceRaw(TraceOp::kGmSignal, PIPE_MTE3, "GmFlagAdd", static_cast<uint32_t>(delta), 0, 0, 0, 0,
           reinterpret_cast<uint64_t>(flag));
  // The add is an MTE3 copy after the core's earlier GM writes (GmFlagAdd): a core that sees it has
  // them ordered before its wait.
  HazardStamp stamp = StampOf(PIPE_MTE3);
  LaunchContext* L = CurrentLaunch();
  std::lock_guard<std::mutex> g(L->mu);
  L->gmFlagAdded[reinterpret_cast<uint64_t>(flag)] += static_cast<uint32_t>(delta);
  LaunchContext::GmCounterOrder& order = L->gmFlagOrder[reinterpret_cast<uint64_t>(flag)];
  EMU_REQUIRE(order.inFlight > 0, "GmFlagAdd", "emulator", "GmFlagSignal without GmFlagAddBegin");
  order.inFlight--;
  JoinStamp(order.joined, stamp);
  L->cv.notify_all();  // under mu after the atomic add: a waiter checks the counter under mu, so none misses it
}

void GmWaitBegin(const int32_t* flag, int32_t target) {
  const char* api = "GmFlagWaitAtLeast";
  RequireAiv(api);
  CheckGm(api, flag, sizeof(int32_t));
  GmAtomicsUsed().store(true, std::memory_order_relaxed);  // polls read GM with atomic loads
  CoreState& c = Core();
  c.gmWaitTrace = c.trace;
  c.trace = nullptr;
  c.gmWaitPolled = false;
  HazardGmPoll(true);
  LaunchContext* L = CurrentLaunch();
  std::lock_guard<std::mutex> g(L->mu);
  L->gmFlagAdded[reinterpret_cast<uint64_t>(flag)] += 0;  // its start value goes into the trace
  (void)target;
}

void GmWaitPolled() {
  CoreState& c = Core();
  if (c.gmWaitPolled) return;
  c.gmWaitPolled = true;
  c.gmWaitCounters = c.counters;
}

void GmWaitMissed(const int32_t* flag, int32_t target) {
  CoreState& c = Core();
  LaunchContext* L = CurrentLaunch();
  std::unique_lock<std::mutex> lock(L->mu);
  const int32_t seen = __atomic_load_n(flag, __ATOMIC_ACQUIRE);
  const std::function<bool()> ready = [flag, target] { return __atomic_load_n(flag, __ATOMIC_ACQUIRE) >= target; };
  L->WaitUntil(lock, c, "GmFlagWaitAtLeast",
               Where(*L, flag) + Format(" to reach %d (it held %d)", target, seen), ready);
}

void GmWaitEnd(const int32_t* flag, int32_t target) {
  CoreState& c = Core();
  c.counters = c.gmWaitCounters;  // one poll, however many ran
  c.trace = c.gmWaitTrace;
  c.gmWaitTrace = nullptr;
  TraceRaw(TraceOp::kGmWait, PIPE_S, "GmFlagWaitAtLeast", static_cast<uint32_t>(target), sizeof(int32_t), 0, 0, 0,
           reinterpret_cast<uint64_t>(flag));
  HazardGmPoll(false);
  // The happens-before stamps of the adds: the poll may have seen an add whose GmFlagSignal has not
  // run yet, so wait for the adds under way; adds after the target was reached are joined too (they
  // can only hide a hazard, never report one that is not there).
  HazardStamp received;
  {
    LaunchContext* L = CurrentLaunch();
    std::unique_lock<std::mutex> lock(L->mu);
    LaunchContext::GmCounterOrder& order = L->gmFlagOrder[reinterpret_cast<uint64_t>(flag)];
    const std::function<bool()> settled = [&order] { return order.inFlight == 0; };
    const uint64_t waits = c.counters.syncWaits;  // the poll counted as one wait already
    L->WaitUntil(lock, c, "GmFlagWaitAtLeast", Where(*L, flag) + ": adds under way", settled);
    c.counters.syncWaits = waits;
    received = order.joined;
  }
  ReceiveStamp(received);
}

}  // namespace AscendC::emu
