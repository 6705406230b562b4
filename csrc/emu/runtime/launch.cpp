// Kernel launch: one thread per emulated core, first failure wins, deadlocks detected.
#include <algorithm>
#include <cstdarg>

#include "emu/pipe.h"
#include "emu/sync.h"
#include "emu/trace.h"
#include "emu/atomic.h"
#include "launch_context.h"
#include "core_threads.h"
#include "local_memory.h"

namespace AscendC::emu {

namespace {
// In sanitizer builds the core pointers use initial-exec TLS: every kernel API reads tCore, and the default
// model for a shared library makes each read a __tls_get_addr call, which ASan and TSan intercept (~20 % of
// a sanitized SFA test's time, perf). Other builds keep the default: a library loaded with dlopen gets
// initial-exec TLS only from glibc's small static surplus, which other libraries (OpenMP runtimes on
// aarch64 hosts, for one) may have used up, and an unintercepted __tls_get_addr costs little.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EMU_CORE_TLS __attribute__((tls_model("initial-exec"))) thread_local
#else
#define EMU_CORE_TLS thread_local
#endif
EMU_CORE_TLS CoreState* tCore = nullptr;
EMU_CORE_TLS LaunchContext* tLaunch = nullptr;

std::mutex gStatsMu;
LaunchStats gLast;
Counters gCumulative;
uint64_t gLaunches = 0;

// Thrown on the other cores once one core failed: unwinds them without a second report.
struct Aborted {};
}  // namespace

Counters& Counters::operator+=(const Counters& o) {
  mte2Bytes += o.mte2Bytes; mte3Bytes += o.mte3Bytes; mte1Bytes += o.mte1Bytes;
  mte2Calls += o.mte2Calls; mte3Calls += o.mte3Calls; mte1Calls += o.mte1Calls;
  vecElemOps += o.vecElemOps; vecCalls += o.vecCalls; cubeMacs += o.cubeMacs; cubeCalls += o.cubeCalls;
  fixpipeBytes += o.fixpipeBytes; scalarOps += o.scalarOps; syncWaits += o.syncWaits;
  return *this;
}

LaunchStats LastLaunch() { std::lock_guard<std::mutex> g(gStatsMu); return gLast; }
Counters CumulativeCounters() { std::lock_guard<std::mutex> g(gStatsMu); return gCumulative; }
uint64_t CumulativeLaunches() { std::lock_guard<std::mutex> g(gStatsMu); return gLaunches; }
void ResetCounters() {
  std::lock_guard<std::mutex> g(gStatsMu);
  gCumulative = Counters();
  gLaunches = 0;
}

std::string Format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string CoreName(const CoreState& c) {
  if (c.coreType == AIC) return Format("AIC %lld", (long long)c.blockIdx);
  return Format("AIV %lld", (long long)c.blockIdx);
}

void Fail(const char* api, const char* rule, const std::string& detail) {
  std::string msg;
  if (tCore) msg = Format("[ascendc-emu] kernel '%s', core %s: %s: %s: ", tCore->kernel, CoreName(*tCore).c_str(), api, rule);
  else msg = Format("[ascendc-emu] %s: %s: ", api, rule);
  throw EmuError(msg + detail);
}

CoreTrace* ActiveTrace() { return tCore ? tCore->trace : nullptr; }

CoreState& Core() {
  if (!tCore) throw EmuError("[ascendc-emu] a kernel API was called outside a kernel launch (use ICPU_RUN_KF)");
  return *tCore;
}
bool InKernel() { return tCore != nullptr; }
LaunchContext* CurrentLaunch() { return tLaunch; }

uint8_t* MemBase(Mem m) {
  CoreState& c = Core();
  uint8_t* p = c.mem[static_cast<int>(m)].get();
  if (!p) Fail("local memory", "core-type", Format("%s is not on %s cores", Spec(m).name, c.coreType == AIC ? "cube (AIC)" : "vector (AIV)"));
  return p;
}

void LaunchContext::Abort(const std::string& message) {
  if (!aborted) {
    aborted = true;
    error = message;
  }
  cv.notify_all();
}

void LaunchContext::CheckDeadlock() {
  if (aborted || waiters.empty()) return;
  for (auto& [index, w] : waiters)
    if ((*w.ready)()) return;  // someone can proceed
  if (finished + waiters.size() < cores.size()) return;  // someone is still running
  std::string msg = Format("[ascendc-emu] kernel '%s': deadlock: every unfinished core is blocked:", kernel);
  for (auto& [index, w] : waiters) msg += " " + CoreName(*w.core) + " in " + w.what + ";";
  if (finished) msg += Format(" %u core(s) already finished.", finished);
  Abort(msg);
}

void LaunchContext::WaitUntil(std::unique_lock<std::mutex>& lock, CoreState& self, const char* api,
                              const std::string& what, const std::function<bool()>& ready) {
  self.counters.syncWaits++;
  if (ready()) return;
  waiters[self.launchIndex] = Waiter{&self, &ready, std::string(api) + "(" + what + ")"};
  CheckDeadlock();
  cv.wait(lock, [&] { return aborted || ready(); });
  waiters.erase(self.launchIndex);
  if (aborted) throw Aborted{};
}

void DeclareKernelType(int type, uint64_t tilingKey) {
  CoreState& c = Core();
  LaunchContext* L = tLaunch;
  if (tilingKey && tilingKey != TilingKey()) return;  // KERNEL_TASK_TYPE for another key
  c.declaredType = type;
  const char* needs = nullptr;
  switch (type) {
    case KERNEL_TYPE_AIV_ONLY: case KERNEL_TYPE_MIX_AIV_1_0: if (L->mode != KernelMode::AIV_MODE) needs = "AIV_MODE"; break;
    case KERNEL_TYPE_AIC_ONLY: case KERNEL_TYPE_MIX_AIC_1_0: if (L->mode != KernelMode::AIC_MODE) needs = "AIC_MODE"; break;
    case KERNEL_TYPE_MIX_AIC_1_2: if (L->mode != KernelMode::MIX_MODE) needs = "MIX_MODE"; break;
    default:
      Fail("KERNEL_TASK_TYPE_DEFAULT", "kernel-type", Format("kernel type %d is not supported on A2/A3 by the emulator", type));
  }
  if (needs)
    Fail("KERNEL_TASK_TYPE_DEFAULT", "kernel-type",
         Format("the kernel declares type %d but was launched in another mode; launch it with KernelMode::%s", type, needs));
}

HazardStamp Barrier(const char* api, bool aivOnly, const HazardStamp& stamp) {
  CoreState& self = Core();
  LaunchContext* L = tLaunch;
  if (self.declaredType == KERNEL_TYPE_AIV_ONLY || self.declaredType == KERNEL_TYPE_AIC_ONLY)
    Fail(api, "kernel-type", "SyncAll needs a MIX kernel type (KERNEL_TYPE_MIX_AIV_1_0 for vector-only kernels): "
                             "the inter-core sync hardware is off for *_ONLY kernels");
  const uint32_t physical = aivOnly ? Soc().aivNum : Soc().aivNum + Soc().aicNum;
  uint32_t members = 0;
  for (auto& c : L->cores) members += (!aivOnly || c->coreType == AIV);
  if (members > physical)
    Fail(api, "sync-scope", Format("%u cores take part but the SoC has %u: blocks beyond the physical cores run in later "
                                   "waves, so the barrier would never complete", members, physical));
  if (aivOnly && self.coreType != AIV) Fail(api, "sync-scope", "SyncAll<true> (AIV only) called on a cube core");
  const int g = aivOnly ? 1 : 0;
  std::unique_lock<std::mutex> lock(L->mu);
  if (L->aborted) throw Aborted{};
  const uint64_t gen = L->barrierGeneration[g];
  JoinStamp(L->barrierJoin[g], stamp);
  if (++L->barrierArrived[g] == members) {
    L->barrierArrived[g] = 0;
    L->barrierGeneration[g]++;
    // Kept until every member has read it: the next barrier of the group needs them all to arrive.
    L->barrierDone[g] = std::move(L->barrierJoin[g]);
    L->barrierJoin[g].clear();
    L->cv.notify_all();
    self.counters.syncWaits++;
    return L->barrierDone[g];
  }
  std::function<bool()> ready = [L, g, gen] { return L->barrierGeneration[g] != gen; };
  L->WaitUntil(lock, self, api, Format("barrier of %u cores", members), ready);
  return L->barrierDone[g];
}

namespace {
// The AI Core (block) a core belongs to: in MIX launches AIVs 2b and 2b+1 pair with AIC b.
int64_t BlockOf(const CoreState& c) {
  return c.coreType == AIV && CurrentLaunch()->mode == KernelMode::MIX_MODE ? c.blockIdx / 2 : c.blockIdx;
}

// The cores that a cross-core flag of `mode` set by `self` signals.
std::vector<const CoreState*> FlagTargets(const CoreState& self, int mode) {
  std::vector<const CoreState*> out;
  for (auto& c : CurrentLaunch()->cores) {
    const CoreState* o = c.get();
    const bool sameBlock = BlockOf(*o) == BlockOf(self);
    if (mode == 0 && o->coreType == self.coreType) out.push_back(o);
    if (mode == 1 && self.coreType == AIV && o->coreType == AIV && sameBlock) out.push_back(o);
    if (mode == 2 && o->coreType != self.coreType && sameBlock) out.push_back(o);
  }
  return out;
}
// Counter slots of a flag: 0 / 1 / 2 = modes 0 / 1 / 2, 3 / 4 = mode 2 into an AIC from AIV 0 / 1.
int FlagKey(uint16_t flagId, int slot) { return flagId * 8 + slot; }

void CheckFlag(const char* api, int mode, uint16_t flagId) {
  EMU_REQUIRE(mode >= 0 && mode <= 2, api, "param-range", "mode %d is not 0, 1 or 2", mode);
  // CrossCoreSetFlag(ISASI).md: flag ids 0-10 on A2/A3 (SyncAll uses the ones above).
  EMU_REQUIRE(flagId <= 10, api, "param-range", "flagId %u outside [0, 10]", flagId);
  EMU_REQUIRE(CurrentLaunch()->mode == KernelMode::MIX_MODE || mode != 2, api, "sync-scope",
              "mode 2 (cube <-> vector) needs a MIX_AIC_1_2 launch");
  EMU_REQUIRE(Core().declaredType != KERNEL_TYPE_AIV_ONLY && Core().declaredType != KERNEL_TYPE_AIC_ONLY, api, "kernel-type",
              "cross-core flags need a MIX kernel type");
}
}  // namespace

// Deliveries pending per (receiving core, flag, source slot): slot 0 mode 0, 1 mode 1, 2 mode 2 into
// an AIV, 3 + subBlockIdx mode 2 from that AIV into its AIC (so that the AIC's wait can require both).
// A mode-0 / mode-1 set is an arrival: once every member of the group has arrived, each member gets
// one delivery (the group's sync is one flag per core, however many cores take part).
// Flag counters are 4 bits: 15 pending sets is the hardware's limit.
void CrossCoreSet(const char* api, int mode, uint16_t flagId, const HazardStamp& stamp) {
  CheckFlag(api, mode, flagId);
  CoreState& self = Core();
  LaunchContext* L = tLaunch;
  std::unique_lock<std::mutex> lock(L->mu);
  auto deliver = [&](const CoreState* t, int slot, const HazardStamp& carried) {
    std::deque<HazardStamp>& pending = L->flagPending[{t, FlagKey(flagId, slot)}];
    EMU_REQUIRE(pending.size() < 15, api, "flag-overflow", "flag %u (mode %d) of %s already has 15 pending sets", flagId,
                mode, CoreName(*t).c_str());
    pending.push_back(carried);
  };
  const std::vector<const CoreState*> targets = FlagTargets(self, mode);
  if (mode == 2) {
    for (const CoreState* t : targets) deliver(t, t->coreType == AIC ? 3 + int(self.subBlockIdx) : 2, stamp);
  } else {
    const auto group = std::make_tuple(mode, mode == 0 ? int64_t(self.coreType) : BlockOf(self), flagId);
    auto& arrived = L->flagArrivals[group];
    std::deque<HazardStamp>& mine = arrived[&self];
    EMU_REQUIRE(mine.size() < 15, api, "flag-overflow",
                "flag %u (mode %d): %s already has 15 sets the group has not matched", flagId, mode, CoreName(self).c_str());
    mine.push_back(stamp);
    const bool complete = std::all_of(targets.begin(), targets.end(), [&](const CoreState* t) { return !arrived[t].empty(); });
    if (complete) {
      // Each member is delivered the join of every member's set: the group's sync orders them all.
      HazardStamp joined;
      for (const CoreState* t : targets) {
        JoinStamp(joined, arrived[t].front());
        arrived[t].pop_front();
      }
      for (const CoreState* t : targets) deliver(t, mode, joined);
    }
  }
  L->cv.notify_all();
}

// The wait does not depend on its mode (dav_c220 WaitEventImpl: `(void)modeId; wait_flag_dev(flagId)`):
// it takes one delivery of flagId to this core, whichever mode sent it (a mode-2 flag into an AIC
// needs both of its AIVs).
HazardStamp CrossCoreWait(const char* api, int mode, uint16_t flagId) {
  CheckFlag(api, mode, flagId);
  CoreState& self = Core();
  LaunchContext* L = tLaunch;
  struct Source {
    std::vector<int> keys;
    uint32_t need;
  };
  std::vector<Source> sources;
  sources.push_back({{FlagKey(flagId, 0)}, 1});
  if (self.coreType == AIV) sources.push_back({{FlagKey(flagId, 1)}, 1});
  if (L->mode == KernelMode::MIX_MODE) {
    if (self.coreType == AIC) sources.push_back({{FlagKey(flagId, 3), FlagKey(flagId, 4)}, 1});
    else sources.push_back({{FlagKey(flagId, 2)}, 1});
  }
  std::unique_lock<std::mutex> lock(L->mu);
  if (L->aborted) throw Aborted{};
  auto delivered = [&](const Source& src) {
    for (int k : src.keys) {
      auto it = L->flagPending.find({&self, k});
      if (it == L->flagPending.end() || it->second.size() < src.need) return false;
    }
    return true;
  };
  std::function<bool()> ready = [&] {
    for (const Source& src : sources)
      if (delivered(src)) return true;
    return false;
  };
  L->WaitUntil(lock, self, api, Format("flag %u, mode %d", flagId, mode), ready);
  HazardStamp received;
  for (const Source& src : sources)
    if (delivered(src)) {
      for (int k : src.keys) {
        std::deque<HazardStamp>& q = L->flagPending[{&self, k}];
        for (uint32_t i = 0; i < src.need; ++i) {
          JoinStamp(received, q.front());
          q.pop_front();
        }
      }
      break;
    }
  return received;
}

namespace {
void RunCore(LaunchContext* L, CoreState* core, const std::function<void()>* body) {
  tCore = core;
  tLaunch = L;
  try {
    AcquireLocalMemory(*core);
    AcquireHazardState(*core);
    (*body)();
    FlushDataCacheAtCoreEnd();
    HazardCheckIdle("kernel end");
    for (int e = 0; e < static_cast<int>(HardEvent::MAX); ++e)
      for (int id = 0; id < 8; ++id)
        if (core->eventSet[e][id])
          Fail("kernel end", "event-pairing", Format("SetFlag<%s>(%d) was never waited on", EventName(static_cast<HardEvent>(e)), id));
  } catch (const Aborted&) {
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> g(L->mu);
    L->Abort(e.what());
  } catch (...) {
    std::lock_guard<std::mutex> g(L->mu);
    L->Abort(Format("[ascendc-emu] kernel '%s', core %s: unknown exception", L->kernel, CoreName(*core).c_str()));
  }
  {
    std::lock_guard<std::mutex> g(L->mu);
    L->finished++;
    L->CheckDeadlock();
    L->cv.notify_all();
  }
  tCore = nullptr;
  tLaunch = nullptr;
}

void AddCore(LaunchContext& L, int32_t type, int64_t blockIdx, int64_t sub) {
  auto c = std::make_unique<CoreState>();
  c->kernel = L.kernel;
  c->coreType = type;
  c->blockIdx = blockIdx;
  c->subBlockIdx = sub;
  c->blockNum = L.blockDim;
  c->launchIndex = static_cast<uint32_t>(L.cores.size());  // local memory: taken by the core's thread (RunCore)
  L.cores.push_back(std::move(c));
}
}  // namespace

void Launch(const char* kernel, KernelMode mode, uint32_t blockDim, const std::function<void()>& body,
            const std::vector<GmRegion>& regions) {
  if (tCore) throw EmuError("[ascendc-emu] Launch: a kernel cannot launch another kernel");
  if (blockDim < 1 || blockDim > 65535)
    throw EmuError(Format("[ascendc-emu] launch of '%s': blockDim %u outside [1, 65535]", kernel, blockDim));
  LaunchContext L;
  L.kernel = kernel;
  L.mode = mode;
  L.blockDim = blockDim;
  L.regions = regions;
  L.regions.erase(std::remove_if(L.regions.begin(), L.regions.end(), [](const GmRegion& r) { return !r.ptr || !r.bytes; }),
                  L.regions.end());
  std::vector<LaunchContext::Span> byAddress;
  for (size_t i = 0; i < regions.size(); ++i) {  // i: the argument position, empty arguments counted
    if (!regions[i].ptr || !regions[i].bytes) continue;
    const uint64_t lo = reinterpret_cast<uint64_t>(regions[i].ptr);
    byAddress.push_back({lo, lo + regions[i].bytes, i});
  }
  std::sort(byAddress.begin(), byAddress.end(), [](const auto& a, const auto& b) { return a.lo < b.lo; });
  for (const auto& s : byAddress) {
    if (!L.spans.empty() && s.lo < L.spans.back().hi) {
      L.spans.back().hi = std::max(L.spans.back().hi, s.hi);
      L.spans.back().first = std::min(L.spans.back().first, s.first);
    } else {
      L.spans.push_back(s);
    }
  }
  std::sort(L.regions.begin(), L.regions.end(), [](const GmRegion& a, const GmRegion& b) { return a.ptr < b.ptr; });
  for (uint32_t b = 0; b < blockDim; ++b) {
    if (mode == KernelMode::AIV_MODE) AddCore(L, AIV, b, 0);
    if (mode == KernelMode::AIC_MODE) AddCore(L, AIC, b, 0);
    if (mode == KernelMode::MIX_MODE) {
      AddCore(L, AIC, b, 0);
      AddCore(L, AIV, 2 * b, 0);
      AddCore(L, AIV, 2 * b + 1, 1);
    }
  }
  L.dataCaches.resize(L.cores.size());
  // Tracing: one record buffer per core, handed to the trace store when the launch succeeds.
  std::vector<CoreTrace> traces(TracingEnabled() ? L.cores.size() : 0);
  std::atomic<uint64_t> traceBudget{TraceRecordLimit()};
  for (size_t i = 0; i < traces.size(); ++i) {
    traces[i].budget = &traceBudget;
    L.cores[i]->trace = &traces[i];
  }
  GmAtomicsUsed().store(false);  // GM reads stay plain memcpy until a core calls SetAtomicAdd
  std::vector<std::function<void()>> coreJobs;
  for (auto& c : L.cores) coreJobs.push_back([&L, core = c.get(), &body] { RunCore(&L, core, &body); });
  RunOnCoreThreads(std::move(coreJobs));
  for (auto& c : L.cores) {
    ReleaseLocalMemory(*c);
    ReleaseHazardState(*c);
  }

  LaunchStats stats;
  stats.kernel = kernel;
  stats.blockDim = blockDim;
  stats.cores = static_cast<uint32_t>(L.cores.size());
  for (auto& c : L.cores) {
    stats.perCore.push_back(c->counters);
    stats.total += c->counters;
  }
  {
    std::lock_guard<std::mutex> g(gStatsMu);
    gCumulative += stats.total;
    gLaunches++;
    gLast = std::move(stats);
  }
  if (L.aborted) throw EmuError(L.error);
  if (!traces.empty()) {
    LaunchTrace t;
    t.kernel = kernel;
    t.mode = static_cast<int>(mode);
    t.blockDim = blockDim;
    for (size_t i = 0; i < traces.size(); ++i) {
      const CoreState& c = *L.cores[i];
      t.cores.push_back({c.coreType, c.blockIdx, c.subBlockIdx, std::move(traces[i].records), traces[i].truncated});
    }
    // The spans in argument order: the timing model places them in that order, independent of
    // where the host's allocator put them.
    std::vector<LaunchContext::Span> placed = L.spans;
    std::sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& s : placed) t.gmRegions.emplace_back(s.lo, s.hi - s.lo);
    for (const auto& [addr, added] : L.gmFlagAdded) {
      const uint32_t final = __atomic_load_n(reinterpret_cast<const uint32_t*>(addr), __ATOMIC_ACQUIRE);
      t.gmFlagStart.emplace_back(addr, static_cast<int32_t>(final - added));
    }
    StoreTrace(std::move(t));
  }
  // A cross-core flag count left behind would be seen by the next kernel on these cores.
  for (const auto& [key, pending] : L.flagPending) {
    const size_t n = pending.size();
    if (!n) continue;
    const int flag = key.second / 8, mode = key.second % 8 < 2 ? key.second % 8 : 2;
    throw EmuError(Format("[ascendc-emu] kernel '%s', core %s: kernel end: flag-pending: cross-core flag %d (mode %d) "
                          "still has %zu pending set(s) nobody waited for; wait for them before the kernel ends",
                          kernel, CoreName(*key.first).c_str(), flag, mode, n));
  }
  for (const auto& [group, members] : L.flagArrivals)
    for (const auto& [core, sets] : members)
      if (!sets.empty())
        throw EmuError(Format("[ascendc-emu] kernel '%s', core %s: kernel end: flag-pending: cross-core flag %d (mode %d) "
                              "has %zu set(s) the rest of its group never matched", kernel, CoreName(*core).c_str(),
                              int(std::get<2>(group)), std::get<0>(group), sets.size()));
}

uint64_t GmBufferStart(const void* p) {
  const LaunchContext* L = tLaunch;
  const uint64_t a = reinterpret_cast<uint64_t>(p);
  if (!L) return 0;
  auto it = std::upper_bound(L->spans.begin(), L->spans.end(), a,
                             [](uint64_t x, const LaunchContext::Span& s) { return x < s.lo; });
  return it != L->spans.begin() && a < (it - 1)->hi ? (it - 1)->lo : 0;
}

void CheckGm(const char* api, const void* p, uint64_t bytes) {
  LaunchContext* L = tLaunch;
  if (!L) Fail(api, "gm-bounds", "GM access outside a kernel launch");
  const auto* b = static_cast<const uint8_t*>(p);
  auto it = std::upper_bound(L->regions.begin(), L->regions.end(), b,
                             [](const uint8_t* x, const GmRegion& r) { return x < static_cast<const uint8_t*>(r.ptr); });
  if (it != L->regions.begin()) {
    --it;
    const auto* rb = static_cast<const uint8_t*>(it->ptr);
    if (b >= rb && b + bytes <= rb + it->bytes) return;
    if (b >= rb && b < rb + it->bytes)
      Fail(api, "gm-bounds", Format("bytes [%llu, %llu) of a %llu-byte GM buffer: runs past its end by %llu bytes",
                                    (unsigned long long)(b - rb), (unsigned long long)(b - rb + bytes),
                                    (unsigned long long)it->bytes, (unsigned long long)(b + bytes - rb - it->bytes)));
  }
  Fail(api, "gm-bounds", Format("address %p (%llu bytes) is in no GM buffer passed to the launch", p, (unsigned long long)bytes));
}

}  // namespace AscendC::emu
