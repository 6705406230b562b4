// The replay: see replay.h for the model and docs/performance.md for its constants.
#include "perf/replay.h"

#include "perf/flows.h"

#include "emu/runtime.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <queue>
#include <stdexcept>
#include <unordered_map>

namespace ascend_glm5::perf {

using AscendC::emu::LaunchTrace;
using AscendC::emu::TraceOp;
using AscendC::emu::TraceRecord;

const char* PipeName(int p) {
  static const char* names[kPipes] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};
  return p >= 0 && p < kPipes ? names[p] : "?";
}

const char* ReasonName(int r) {
  static const char* names[] = {"start", "issue", "pipe order", "flag", "barrier", "cross-core flag", "SyncAll",
                                "queue full", "GM counter"};
  return r >= 0 && r < kReasonCount ? names[r] : "?";
}

namespace {

constexpr int kNoPipe = -1;
enum : uint8_t { kDeferSet, kDeferCross, kDeferWait, kDeferInstr, kDeferBarrier };  // PipeState::Deferred
constexpr double kPendingTime = -1;  // a flag set, or a queue slot's start, not known yet (its pipe is unsettled)

int PipeIndex(uint8_t pipe) {
  switch (pipe) {
    case PIPE_S: return kS;
    case PIPE_V: return kV;
    case PIPE_M: return kM;
    case PIPE_MTE1: return kMte1;
    case PIPE_MTE2: return kMte2;
    case PIPE_MTE3: return kMte3;
    case PIPE_FIX: return kFix;
    default: return kNoPipe;
  }
}

// A core's place in the replay's turn order: the latest start it issued (cores advance roughly in
// time order), but no later than its scalar time (no GM transfer it issues from now on starts
// earlier, so the shared pools may advance up to it).
static double Turn(const struct CoreState& c);

// A position in the replay: record `idx` of core `core`, in its pipe phase (when it ran on its pipe)
// or its scalar phase (the scalar cycles it took: issue slot, scalar access, a wait the scalar did).
struct Ref {
  uint32_t core = ~0u;
  uint32_t idx = 0;
  bool scalar = false;
  bool valid() const { return core != ~0u; }
};

// What the critical path needs of every record. Times are floats (relative error 6e-8).
struct RecInfo {
  float issue = 0, issueEnd = 0, start = 0, end = 0;
  Ref pred, sPred;  // what bounded the pipe phase / the scalar phase
  uint8_t reason = kStart, sReason = kStart;
};

struct Timed {
  double t;
  Ref by;
};

struct PipeState {
  double avail = 0;  // the next instruction may start at
  Ref availBy;
  uint8_t availReason = kStart;
  double done = 0;   // every instruction issued so far has completed (with its latency) by
  Ref doneBy;
  double lastEnd = 0;
  bool drained = true;               // the next compute instruction pays its head
  std::vector<double> ringStart;     // start times of the last queueDepth instructions (kPendingTime: deferred)
  std::vector<Ref> ringBy;
  uint32_t ringPos = 0, ringCount = 0;
  double segStart = -1, segEnd = -1;  // open timeline segment
  bool pending = false;  // a GM transfer whose end the shared pools have not reached yet is in the queue
  // In program order, what was issued to this pipe since it stopped being settled: its instructions
  // and barriers (they run once what precedes them is known), flags set on it (they fire then) and
  // waits for flags (raise its bounds, in order).
  struct Deferred {
    uint8_t kind;  // kDeferSet, kDeferCross, kDeferWait, kDeferInstr, kDeferBarrier
    uint8_t reason;  // kDeferWait: why the pipe waited (critical path)
    uint32_t idx;  // record
    double S;      // scalar time at the set / barrier; kDeferInstr: its issue time
    uint32_t ring;  // kDeferInstr: its queue slot (ringStart)
    Timed* slot;   // kSet: its queue slot while no WaitFlag took it
    int consumer;  // kSet: the pipe whose kWait took it (-1: none)
    uint64_t id;   // kWait: its id; kSet: the id of the kWait that took it
    bool known;    // kWait: the flag's time is known (value)
    Timed value;
  };
  std::deque<Deferred> deferred;
  bool Settled() const { return !pending && deferred.empty(); }
};

struct CoreState {
  const LaunchTrace::Core* trace = nullptr;
  size_t pc = 0;
  double S = 0;
  Ref sBy;
  uint8_t sReason = kStart;
  PipeState pipes[kPipes];
  std::unordered_map<uint64_t, std::deque<Timed>> flags;          // in-core events by (src, dst, id)
  std::map<std::pair<uint32_t, int>, std::deque<Timed>> delivered;  // cross-core deliveries by (flag, slot)
  std::vector<uint64_t> dcache;                                     // scalar DataCache tags
  int64_t block = 0;
  double frontier = 0;  // latest start of an instruction issued so far
  bool finished = false, blocked = false;
  uint32_t pendingPipes = 0;  // bit per pipe that is not Settled(): its start / completion is not known yet
  bool flowBlocked = false;   // the next record needs the state of such a pipe
  int scalarAfter = -1;       // the scalar waits for this pipe's completion before the next record
  uint32_t waveAfter = ~0u;  // core that must finish before this one starts (blocks beyond the cores)
  size_t signalsUntil = 0;   // records before this index hold every kGmSignal of the core
  bool gmWaiting = false;    // blocked in a kGmWait whose counter is not known to have reached its target
  bool gmReady = false;      // ... now released: the signal that brought the counter there is gmAt
  Timed gmAt;
  uint64_t gmSeen = ~0ull;   // WaitReached's answer for the wait at pc (gmReach, gmAt) holds while no
  bool gmReach = false;      //   signal came since signal number gmSeen
};

static double Turn(const CoreState& c) { return std::min(c.frontier, c.S); }

static void WaitOn(CoreState& c, int pipe, Timed t, uint8_t reason);

// A kGmSignal: when its add reached GM, by how much, and the record.
struct Signal {
  double t;
  int32_t delta;
  Ref by;
};

class Engine {
 public:
  Engine(const LaunchTrace& t, const SocParams& soc, double resolution, int64_t detailCore)
      : t_(t), soc_(soc), resolution_(resolution), detailCore_(detailCore) {}

  Result Run();

 private:
  // ---- setup ----
  void Setup();
  int32_t ApiIndex(const char* api, int pipe);
  // ---- per core ----
  bool StepCore(uint32_t ci);  // false: blocked or finished
  void PipeInstruction(uint32_t ci, const TraceRecord& r, int pipe, RecInfo& info);
  void RunOnPipe(uint32_t ci, uint32_t idx, const TraceRecord& r, int pipe, double issued, uint32_t slot);
  void PipeBarrier(uint32_t ci, int pipe, double S);
  double Issue(CoreState& c, int pipe, RecInfo& info, uint32_t ci);
  void Finish(uint32_t ci);
  void Emit(uint32_t ci, int pipe, double start, double end);
  // A scalar record of `cost` cycles and `accesses` accesses, issued at the core's scalar time.
  void ChargeScalar(uint32_t ci, const TraceRecord& r, RecInfo& info, double cost, uint32_t accesses);
  // The scalar DataCache's tag for the GM line holding addr (`line`: that line's number).
  uint64_t& DataCacheTag(CoreState& c, uint64_t addr, uint64_t& line);
  // ---- memory ----
  void ClassifyRead(const TraceRecord& r, double& hit, double& miss, double& writeBack);
  void InsertWrite(const TraceRecord& r, double& inL2, double& outside, double& writeBack);
  double AllocateLine(uint32_t& stamp, bool dirty);
  void StartWriteBack(double t0, double bytes);
  // A GM copy: its legs through the shared pools (L2, then HBM) from t0; ends now or pends.
  void StartTransfer(uint32_t ci, uint32_t idx, int pipe, double start, double t0, double ideal, double latency,
                     double hbmBytes, int32_t api, const SharedPools::Leg (&legs)[2]);
  void EndPipeInstruction(uint32_t ci, uint32_t idx, int pipe, int32_t api, double start, double end, double latency);
  void EndTransfer(uint64_t tag, double end, bool settle = true);
  void Settle(uint32_t ci, int pipe);
  // WaitOn for a pipe, in program order behind what is deferred on it.
  void DeferredWait(uint32_t ci, int pipe, Timed t, uint8_t reason);
  uint64_t deferredIds_ = 0;
  bool MustWait(const CoreState& c) const;
  void WakeIfFree(uint32_t ci);
  template <typename F>
  void ForEachLine(const TraceRecord& r, F&& f);
  // ---- cross-core ----
  std::vector<uint32_t> Targets(uint32_t ci, int mode) const;
  void CrossSet(uint32_t ci, const TraceRecord& r, Timed fire);
  bool CrossWait(uint32_t ci, const TraceRecord& r, Timed& got);
  void Deliver(uint32_t target, uint32_t flag, int slot, Timed fire);
  void Wake(uint32_t ci);
  // ---- GM counters (kGmWait / kGmSignal) ----
  bool GmReached(uint64_t addr, int32_t target, Timed& at);
  bool WaitReached(uint32_t ci, Timed& at);
  double SignalBound(uint32_t ci);
  bool GmWaitFinal(uint32_t ci, Timed& at);
  void ResolveGmWaits();
  std::string GmWaitError(uint32_t ci);
  // ---- helpers ----
  Ref PipeRef(uint32_t ci, size_t idx) const { return Ref{ci, static_cast<uint32_t>(idx), false}; }
  Ref ScalarRef(uint32_t ci, size_t idx) const { return Ref{ci, static_cast<uint32_t>(idx), true}; }
  RecInfo& Info(Ref r) { return info_[r.core][r.idx]; }

  const LaunchTrace& t_;
  const SocParams& soc_;
  double resolution_;
  int64_t detailCore_;
  std::vector<CoreState> cores_;
  std::vector<std::vector<RecInfo>> info_;
  Result res_;
  std::unordered_map<const char*, int32_t> apiIndex_;
  std::unordered_map<std::string, int32_t> apiByName_;
  std::vector<const ApiCost*> apiCost_;
  // Heap of runnable cores by scalar time.
  std::priority_queue<std::pair<double, uint32_t>, std::vector<std::pair<double, uint32_t>>, std::greater<>> heap_;
  // The shared bandwidth pools (HBM, L2) and the GM copies in flight in them, by tag.
  std::unique_ptr<SharedPools> pools_;
  struct PendingCopy {
    uint32_t core, idx;
    int pipe;
    int32_t api;
    double start, t0, ideal, latency;
    double hbmBytes;  // read from HBM (Result::hbmReads)
  };
  std::vector<PendingCopy> pending_;
  std::vector<uint32_t> freePending_;
  // L2: per GM region, the insertion stamp of each line (0: absent). A region sits at `placed` in the
  // modeled address space (see the constructor); lines and scalar-cache sets are cut from there.
  struct Region {
    uint64_t base, bytes, placed;
    std::vector<uint32_t> stamp;
  };
  std::vector<Region> regions_;  // sorted by host address, disjoint
  Region* RegionOf(uint64_t addr);  // the region holding addr, or null
  // L2 lines by insertion stamp: stamps 1..l2Lines_ are the lines the launch finds there (inserted_
  // starts at l2Lines_), later ones its own; a line is resident while fewer than l2Lines_ came after it.
  uint64_t inserted_ = 0, l2Lines_ = 0;
  std::vector<uint8_t> dirty_;  // by stamp % l2Lines_: the launch wrote the line inserted with that stamp
  static constexpr uint64_t kWriteBackTag = ~0ull;  // pool transfers no instruction waits for
  // Cross-core: group arrivals of mode 0 / 1 sets, by (mode, group, flag), per member core.
  std::map<std::tuple<int, int64_t, uint32_t>, std::map<uint32_t, std::deque<Timed>>> arrivals_;
  // SyncAll: arrivals of the current round per group (0 all cores, 1 AIV only).
  std::vector<std::pair<uint32_t, Timed>> syncArrived_[2];
  uint32_t syncMembers_[2] = {0, 0};
  std::vector<uint8_t> waitingSync_;
  // GM counters: value at launch and the signals seen so far (in modeled-time order) by address.
  std::unordered_map<uint64_t, int32_t> flagStart_;
  std::unordered_map<uint64_t, std::vector<Signal>> signals_;
  uint64_t signalCount_ = 0;
  std::vector<uint32_t> gmWaitList_;  // cores blocked in a kGmWait
};

int32_t Engine::ApiIndex(const char* api, int pipe) {
  auto it = apiIndex_.find(api);
  if (it != apiIndex_.end()) return it->second;
  std::string name = api ? api : "?";
  auto jt = apiByName_.find(name);
  int32_t idx;
  if (jt != apiByName_.end()) {
    idx = jt->second;
  } else {
    idx = static_cast<int32_t>(res_.apiNames.size());
    res_.apiNames.push_back(name);
    res_.apiBusy.push_back({0, 0});
    res_.apiBankCycles.push_back(0);
    res_.apiPipe.push_back(static_cast<uint8_t>(pipe < 0 ? kS : pipe));
    auto ct = soc_.apiCosts.find(name);
    apiCost_.push_back(ct != soc_.apiCosts.end() ? &ct->second : &soc_.defaultVector);
    apiByName_[name] = idx;
  }
  apiIndex_[api] = idx;
  return idx;
}

void Engine::Setup() {
  const size_t n = t_.cores.size();
  cores_.resize(n);
  info_.resize(n);
  waitingSync_.assign(n, 0);
  const bool mix = t_.mode == static_cast<int>(AscendC::KernelMode::MIX_MODE);
  const bool aivMode = t_.mode == static_cast<int>(AscendC::KernelMode::AIV_MODE);
  const uint32_t slots = aivMode ? soc_.aivCores : soc_.aicCores;  // physical blocks
  for (size_t i = 0; i < n; ++i) {
    const auto& tc = t_.cores[i];
    if (tc.truncated)
      throw std::runtime_error("perf model: the trace of kernel '" + t_.kernel +
                               "' was truncated at the record limit; raise ASCEND_GLM5_TRACE_MAX_RECORDS");
    CoreState& c = cores_[i];
    c.trace = &tc;
    c.block = (mix && tc.coreType == AscendC::AIV) ? tc.blockIdx / 2 : tc.blockIdx;
    c.dcache.assign(std::max<uint32_t>(1, soc_.scalarCacheLines), ~0ull);
    for (auto& p : c.pipes) {
      p.ringStart.assign(std::max<uint32_t>(1, soc_.queueDepth), 0.0);
      p.ringBy.assign(std::max<uint32_t>(1, soc_.queueDepth), Ref{});
    }
    info_[i].resize(tc.records.size());
    for (size_t k = 0; k < tc.records.size(); ++k)
      if (tc.records[k].op == static_cast<uint8_t>(TraceOp::kGmSignal)) c.signalsUntil = k + 1;
    res_.records += tc.records.size();
    CoreResult cr;
    cr.coreType = tc.coreType;
    cr.blockIdx = tc.blockIdx;
    cr.subBlockIdx = tc.subBlockIdx;
    res_.cores.push_back(cr);
    syncMembers_[0]++;
    if (tc.coreType == AscendC::AIV) syncMembers_[1]++;
  }
  // Blocks beyond the physical cores run in later waves on the same core.
  const size_t perBlock = mix ? 3 : 1;
  for (size_t i = 0; i < n; ++i) {
    const int64_t blk = cores_[i].block;
    if (slots && blk >= static_cast<int64_t>(slots)) cores_[i].waveAfter = static_cast<uint32_t>(i - slots * perBlock);
  }
  // GM regions for the L2 and scalar-cache models. The host's buffers sit wherever malloc put them,
  // which changes from run to run; lines and cache sets cut from those addresses made the modeled
  // time vary by ~1 us between identical runs. So each buffer (the trace's gmRegions: disjoint, in
  // argument order) is placed in a modeled address space instead, in that order, at the alignment an
  // NPU allocation has (torch_npu's caching allocator hands out blocks in multiples of kMinBlockSize
  // = 512 B, torch_npu/csrc/core/npu/NPUCachingAllocator.cpp).
  const uint64_t line = std::max<uint32_t>(32, soc_.l2LineBytes);
  l2Lines_ = static_cast<uint64_t>(soc_.l2Bytes / line);
  inserted_ = l2Lines_;
  dirty_.assign(l2Lines_, 0);
  constexpr uint64_t kAllocAlign = 512;
  uint64_t next = uint64_t(1) << 32;
  for (const auto& [base, bytes] : t_.gmRegions) {
    Region r;
    r.base = base;
    r.bytes = bytes;
    r.placed = next;  // line-aligned: kAllocAlign is a multiple of the line
    r.stamp.assign((bytes + line - 1) / line, 0);
    regions_.push_back(std::move(r));
    next = (next + bytes + kAllocAlign - 1) / kAllocAlign * kAllocAlign;
  }
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.base < b.base; });
  for (const auto& [addr, value] : t_.gmFlagStart) flagStart_[addr] = value;
  // The pools and every path rate a GM copy can have in them (PipeInstruction).
  const double capacity[SharedPools::kPools] = {soc_.hbmBytesPerCycle, soc_.l2BytesPerCycle};
  std::vector<double> rates[SharedPools::kPools];
  rates[SharedPools::kHbm] = {soc_.gmToUbRate, soc_.gmToL1Rate, soc_.ubToGmRate, soc_.fixWriteRate};
  rates[SharedPools::kL2] = {std::min(soc_.gmToUbRate, soc_.gmReadL2Rate), std::min(soc_.gmToL1Rate, soc_.gmReadL2Rate),
                             soc_.ubToGmRate, soc_.fixWriteRate};
  pools_ = std::make_unique<SharedPools>(capacity, rates);
}

Engine::Region* Engine::RegionOf(uint64_t addr) {
  auto it = std::upper_bound(regions_.begin(), regions_.end(), addr, [](uint64_t a, const Region& g) { return a < g.base; });
  if (it == regions_.begin()) return nullptr;
  Region& g = *(it - 1);
  return addr < g.base + g.bytes ? &g : nullptr;
}

// ---- memory -----------------------------------------------------------------------------------

template <typename F>
void Engine::ForEachLine(const TraceRecord& r, F&& f) {
  const uint64_t line = std::max<uint32_t>(32, soc_.l2LineBytes);
  const uint64_t bursts = std::max<uint32_t>(1, r.y);
  const uint64_t len = r.x / bursts;
  for (uint64_t b = 0; b < bursts; ++b) {
    const uint64_t a0 = r.addr + b * r.z, a1 = a0 + len;
    Region* g = RegionOf(a0);
    if (!g) {
      f(nullptr, len);
      continue;
    }
    for (uint64_t off = a0 - g->base, end = a1 - g->base; off < end;) {  // lines from the region's placed start
      const uint64_t next = std::min(end, (off / line + 1) * line);
      f(off / line < g->stamp.size() ? &g->stamp[off / line] : nullptr, next - off);
      off = next;
    }
  }
}

// L2 keeps lines in insertion order (FIFO): inserting one pushes out the line inserted l2Lines_
// insertions before it, which costs HBM its write-back if it was written: by this launch (its flag),
// or before it (a line it found there: `l2_dirty_at_start` of a line, the expected share). Returns
// those bytes.
double Engine::AllocateLine(uint32_t& stamp, bool dirty) {
  const uint64_t s = ++inserted_;
  const double line = std::max<uint32_t>(32, soc_.l2LineBytes);
  uint8_t& slot = dirty_[s % l2Lines_];  // held the flag of stamp s - l2Lines_, the line leaving
  const double writeBack = s <= 2 * l2Lines_ ? soc_.l2DirtyAtStart * line : slot ? line : 0.0;
  slot = dirty;
  stamp = static_cast<uint32_t>(s);
  return writeBack;
}

// `hit`: bytes found in L2; `miss`: bytes HBM delivers for the rest (whole lines: a partly read line
// is fetched whole and its other part hits later); `writeBack`: dirty lines the misses push out.
void Engine::ClassifyRead(const TraceRecord& r, double& hit, double& miss, double& writeBack) {
  hit = miss = writeBack = 0;
  const double line = std::max<uint32_t>(32, soc_.l2LineBytes);
  ForEachLine(r, [&](uint32_t* stamp, uint64_t bytes) {
    if (stamp && *stamp && inserted_ - *stamp < l2Lines_) {
      hit += bytes;
    } else {
      miss += stamp ? line : bytes;
      if (stamp) writeBack += AllocateLine(*stamp, false);
    }
  });
}

// L2 is write-back: a write goes into L2 (allocating its lines) and HBM pays for it only when the
// line is pushed out, as Huawei's Add example measures on A2 (48 cores write 128 MB at 2.3 TB/s, more
// than HBM gives; with L2 allocation off for the reads, which then push nothing out, the launch takes
// 188 us instead of 258: calibration.py). `inL2`: bytes written into L2; `outside`: bytes outside the
// launch's buffers (no line model: straight to HBM); `writeBack`: dirty lines the new ones push out.
void Engine::InsertWrite(const TraceRecord& r, double& inL2, double& outside, double& writeBack) {
  inL2 = outside = writeBack = 0;
  ForEachLine(r, [&](uint32_t* stamp, uint64_t bytes) {
    if (!stamp) {
      outside += bytes;
      return;
    }
    inL2 += bytes;
    if (*stamp && inserted_ - *stamp < l2Lines_) dirty_[*stamp % l2Lines_] = 1;
    else writeBack += AllocateLine(*stamp, true);
  });
}

// The L2 writes dirty lines back to HBM in the background: the bytes take their share of the HBM
// pool from t0 (capped, as one transfer, at the UB -> GM path rate, a class the pool already has),
// and no instruction waits for them.
void Engine::StartWriteBack(double t0, double bytes) {
  if (bytes <= 0) return;
  res_.hbmWriteBytes += bytes;
  const SharedPools::Leg leg{SharedPools::kHbm, bytes, soc_.ubToGmRate};
  double end;
  pools_->Start(t0, &leg, 1, kWriteBackTag, end);
}


// ---- scheduling ---------------------------------------------------------------------------------

double Engine::Issue(CoreState& c, int pipe, RecInfo& info, uint32_t ci) {
  PipeState& p = c.pipes[pipe];
  // The scalar unit stalls while the pipe's queue is full: it waits for the instruction
  // queueDepth places back to start.
  if (p.ringCount >= p.ringStart.size()) {
    const double t = p.ringStart[p.ringPos];
    if (t == kPendingTime) throw std::logic_error("perf model: issued into a full queue whose oldest start is unknown");
    if (t > c.S) {
      c.S = t;
      c.sBy = p.ringBy[p.ringPos];
      c.sReason = kQueueFull;
    }
  }
  info.issue = static_cast<float>(c.S);
  info.sPred = c.sBy;
  info.sReason = c.sReason;
  const double at = c.S;
  c.S += soc_.issueCycles;
  info.issueEnd = static_cast<float>(c.S);
  res_.cores[ci].busy[kS] += soc_.issueCycles;
  c.sBy = ScalarRef(ci, c.pc);
  c.sReason = kIssue;
  return at;
}

void Engine::Emit(uint32_t ci, int pipe, double start, double end) {
  PipeState& p = cores_[ci].pipes[pipe];
  if (p.segStart >= 0 && start <= p.segEnd + resolution_) {
    p.segEnd = std::max(p.segEnd, end);
    return;
  }
  if (p.segStart >= 0) res_.timeline.push_back(Segment{ci, static_cast<uint8_t>(pipe), p.segStart, p.segEnd});
  p.segStart = start;
  p.segEnd = end;
}

// The scalar issues the instruction into its pipe's queue now; it runs on the pipe now if the pipe
// is settled, else when the pipe settles (deferred in program order: the scalar goes on with the
// other pipes at its true time, so no GM copy reaches the pools after their clock passed its start).
void Engine::PipeInstruction(uint32_t ci, const TraceRecord& r, int pipe, RecInfo& info) {
  CoreState& c = cores_[ci];
  PipeState& p = c.pipes[pipe];
  const double issued = Issue(c, pipe, info, ci);
  const uint32_t slot = p.ringPos;
  p.ringStart[slot] = kPendingTime;  // the queue slot frees when the instruction starts (RunOnPipe)
  p.ringBy[slot] = PipeRef(ci, c.pc);
  p.ringPos = (p.ringPos + 1) % p.ringStart.size();
  p.ringCount++;
  if (!p.Settled()) {
    p.deferred.push_back({kDeferInstr, kIssue, static_cast<uint32_t>(c.pc), issued, slot, nullptr, -1, 0, false, {}});
    return;
  }
  RunOnPipe(ci, static_cast<uint32_t>(c.pc), r, pipe, issued, slot);
}

// The pipe phase of an instruction issued at `issued` into queue slot `slot`.
void Engine::RunOnPipe(uint32_t ci, uint32_t idx, const TraceRecord& r, int pipe, double issued, uint32_t slot) {
  CoreState& c = cores_[ci];
  PipeState& p = c.pipes[pipe];
  RecInfo& info = info_[ci][idx];
  double start = issued;
  info.pred = ScalarRef(ci, idx);
  info.reason = kIssue;
  if (p.avail > start) {
    start = p.avail;
    info.pred = p.availBy;
    info.reason = p.availReason;
  }
  const int32_t api = ApiIndex(r.api, pipe);
  const bool idle = p.drained || start > p.lastEnd + 0.5;
  p.ringStart[slot] = start;
  double busy = 0, latency = 0;
  const auto op = static_cast<TraceOp>(r.op);
  if (op == TraceOp::kVector) {
    const ApiCost& k = *apiCost_[api];
    double repeatCycles = (r.z >= 4 ? k.slope32 : k.slope16) * r.x;
    // An element-wise instruction whose operands meet in UB bank groups takes more beats than its
    // bank-free rate (the trace's bank beats: emu/runtime/ub_banks.cpp).
    if (r.b == 1) {
      const double beatCycles = soc_.ubBeatCycles * static_cast<double>(r.addr);
      if (beatCycles > repeatCycles) res_.apiBankCycles[api] += beatCycles - repeatCycles;
      repeatCycles = std::max(repeatCycles, beatCycles);
    }
    busy = (idle ? k.head : soc_.vecHeadWhenBusy * k.head) + repeatCycles + k.perElement * r.y;
    res_.vectorRepeats += r.x;
  } else if (op == TraceOp::kCube) {
    const uint32_t bits = r.a ? r.a : 16;
    const uint32_t k0 = std::max<uint32_t>(1, 256 / bits);
    const double m1 = std::ceil(r.x / 16.0), n1 = std::ceil(r.z / 16.0), k1 = std::ceil(double(r.y) / k0);
    busy = (idle ? soc_.cubeHead : 0) + m1 * n1 * k1 * (bits >= 32 ? 2 : 1);
    res_.cubeMacs[bits <= 4 ? 0 : bits <= 8 ? 1 : bits <= 16 ? 2 : 3] += m1 * 16 * n1 * 16 * k1 * k0;
  } else {  // kCopy
    const uint8_t src = r.a >> 4, dst = r.a & 15;
    const double bytes = r.x;
    using AscendC::emu::Mem;
    if (src == AscendC::emu::kTraceGm) {
      double hit, miss, writeBack;
      ClassifyRead(r, hit, miss, writeBack);
      // The core's DMA path caps both; L2 hits also by the per-core L2 rate and the shared L2 pool,
      // misses by the shared HBM pool.
      const double path = dst == uint8_t(Mem::UB) ? soc_.gmToUbRate : soc_.gmToL1Rate;
      const double hitRate = std::min(path, soc_.gmReadL2Rate);
      const double t0 = start + soc_.gmCopyOverhead;
      res_.hbmReadBytes += miss;
      res_.l2HitBytes += hit;
      const SharedPools::Leg legs[2] = {{SharedPools::kL2, hit, hitRate}, {SharedPools::kHbm, miss, path}};
      StartWriteBack(t0, writeBack);
      StartTransfer(ci, idx, pipe, start, t0, t0 + hit / hitRate + miss / path, soc_.gmReadLatency, miss, api, legs);
      return;
    } else if (dst == AscendC::emu::kTraceGm) {
      double inL2, outside, writeBack;
      InsertWrite(r, inL2, outside, writeBack);
      const double rate = pipe == kFix ? soc_.fixWriteRate : soc_.ubToGmRate;
      const double t0 = start + soc_.gmCopyOverhead;
      res_.hbmWriteBytes += outside;
      res_.l2HitBytes += inL2;
      const SharedPools::Leg legs[2] = {{SharedPools::kL2, inL2, rate}, {SharedPools::kHbm, outside, rate}};
      StartWriteBack(t0, writeBack);
      StartTransfer(ci, idx, pipe, start, t0, t0 + (inL2 + outside) / rate, 0, 0, api, legs);
      return;
    } else {
      double rate = soc_.ubToUbRate, overhead = soc_.localCopyOverhead;
      if (src == uint8_t(Mem::L1) && dst == uint8_t(Mem::L0A)) rate = soc_.l1ToL0aRate, overhead = soc_.l1ToL0Overhead;
      else if (src == uint8_t(Mem::L1) && dst == uint8_t(Mem::L0B)) rate = soc_.l1ToL0bRate, overhead = soc_.l1ToL0Overhead;
      else if (src == uint8_t(Mem::L1)) rate = soc_.l1ToUbRate;
      else if (dst == uint8_t(Mem::L1)) rate = soc_.ubToL1Rate;
      else if (src == AscendC::emu::kTraceFill) rate = soc_.fillRate;
      busy = overhead + bytes / rate;
    }
  }
  c.frontier = std::max(c.frontier, start);
  EndPipeInstruction(ci, idx, pipe, api, start, start + busy, latency);
}

// What follows an instruction's start once its end is known.
void Engine::EndPipeInstruction(uint32_t ci, uint32_t idx, int pipe, int32_t api, double start, double end,
                                double latency) {
  CoreState& c = cores_[ci];
  PipeState& p = c.pipes[pipe];
  RecInfo& info = info_[ci][idx];
  info.start = static_cast<float>(start);
  info.end = static_cast<float>(end);
  if (end >= p.avail) {  // a flag wait taken while the transfer was pending may hold it later
    p.avail = end;
    p.availBy = PipeRef(ci, idx);
    p.availReason = kPipeOrder;
  }
  p.lastEnd = end;
  p.drained = false;
  if (end + latency >= p.done) {
    p.done = end + latency;
    p.doneBy = PipeRef(ci, idx);
  }
  const double busy = end - start;
  res_.cores[ci].busy[pipe] += busy;
  res_.cores[ci].instructions[pipe]++;
  res_.apiBusy[api][0] += busy;
  res_.apiBusy[api][1] += 1;
  Emit(ci, pipe, start, end);
}

// A GM copy goes through the shared pools. It may end at once (nothing to move); else its pipe
// pends until the pools reach its end: what is issued to that pipe meanwhile is deferred, and a
// record whose scalar needs its state waits for it in the replay (MustWait).
void Engine::StartTransfer(uint32_t ci, uint32_t idx, int pipe, double start, double t0, double ideal, double latency,
                           double hbmBytes, int32_t api, const SharedPools::Leg (&legs)[2]) {
  CoreState& c = cores_[ci];
  c.frontier = std::max(c.frontier, start);
  uint32_t tag;
  if (!freePending_.empty()) {
    tag = freePending_.back();
    freePending_.pop_back();
  } else {
    tag = static_cast<uint32_t>(pending_.size());
    pending_.emplace_back();
  }
  pending_[tag] = PendingCopy{ci, idx, pipe, api, start, t0, ideal, latency, hbmBytes};
  // The queue slot holds the start now: a later instruction of this pipe waits for the end anyway.
  double end;
  if (pools_->Start(t0, legs, 2, tag, end)) {
    EndTransfer(tag, end, false);  // the pipe was settled before it, and stays so
    return;
  }
  c.pipes[pipe].pending = true;
  c.pendingPipes |= 1u << pipe;
}

void Engine::EndTransfer(uint64_t tag, double end, bool settle) {
  const PendingCopy x = pending_[tag];
  freePending_.push_back(static_cast<uint32_t>(tag));
  CoreState& c = cores_[x.core];
  res_.bandwidthStall += std::max(0.0, end - x.ideal);
  if (x.hbmBytes > 0) res_.hbmReads.push_back({end, x.hbmBytes});
  c.pipes[x.pipe].pending = false;
  EndPipeInstruction(x.core, x.idx, x.pipe, x.api, x.start, end, x.latency);
  if (settle) Settle(x.core, x.pipe);
}


void Engine::DeferredWait(uint32_t ci, int pipe, Timed t, uint8_t reason) {
  CoreState& c = cores_[ci];
  if (pipe == kNoPipe || pipe == kS || c.pipes[pipe].Settled()) {
    WaitOn(c, pipe, t, reason);
    return;
  }
  c.pipes[pipe].deferred.push_back({kDeferWait, reason, static_cast<uint32_t>(c.pc), 0, 0, nullptr, -1, 0, true, t});
}

// A pipe's deferred items run in program order once its transfer has ended, until one of them is a
// transfer that pends in turn: an instruction runs on the pipe (its queue slot gets its start), a
// barrier waits, a wait applies once its flag's time is known, a set fires with what precedes it (a
// flag goes into its queue slot, or to the pipe whose WaitFlag took it, which may settle that pipe).
void Engine::Settle(uint32_t ci, int pipe) {
  CoreState& c = cores_[ci];
  PipeState& p = c.pipes[pipe];
  const double turn = Turn(c);
  while (!p.pending && !p.deferred.empty()) {
    const PipeState::Deferred f = p.deferred.front();
    if (f.kind == kDeferWait && !f.known) break;
    p.deferred.pop_front();
    if (f.kind == kDeferWait) {
      WaitOn(c, pipe, f.value, f.reason);
      continue;
    }
    if (f.kind == kDeferInstr) {
      RunOnPipe(ci, f.idx, c.trace->records[f.idx], pipe, f.S, f.ring);
      continue;
    }
    if (f.kind == kDeferBarrier) {
      PipeBarrier(ci, pipe, f.S);
      continue;
    }
    Timed fire = p.done > f.S ? Timed{p.done, p.doneBy} : Timed{f.S, ScalarRef(ci, f.idx)};
    RecInfo& info = info_[ci][f.idx];
    info.start = static_cast<float>(fire.t);
    fire.t += f.kind == kDeferCross ? soc_.crossCoreLatency : soc_.flagLatency;
    info.end = static_cast<float>(fire.t);
    info.pred = fire.by;
    info.reason = f.kind == kDeferCross ? kCrossCore : kFlag;
    const Timed value{fire.t, PipeRef(ci, f.idx)};
    if (f.kind == kDeferCross) {
      CrossSet(ci, c.trace->records[f.idx], value);
      continue;
    }
    if (f.slot) *f.slot = value;
    if (f.consumer >= 0) {
      for (auto& w : c.pipes[f.consumer].deferred)
        if (w.kind == kDeferWait && w.id == f.id) {
          w.known = true;
          w.value = value;
        }
      Settle(ci, f.consumer);
    }
  }
  if (p.Settled()) c.pendingPipes &= ~(1u << pipe);
  if (c.flowBlocked) WakeIfFree(ci);
  else if (Turn(c) != turn && !c.blocked && !c.finished) heap_.push({Turn(c), ci});  // its heap entry went stale
}

void Engine::WakeIfFree(uint32_t ci) {
  CoreState& c = cores_[ci];
  if (c.flowBlocked && !MustWait(c)) {
    c.flowBlocked = false;
    Wake(ci);
  }
}

// True while the scalar unit must wait, in modeled time, for something of an unsettled pipe before
// it can issue the record at pc: a queue slot's start (a full queue), a flag's time (a scalar
// WaitFlag), a pipe's completion (PIPE_ALL, GM counters, SyncAll, the core's end). Everything
// else issued to an unsettled pipe is deferred on it.
bool Engine::MustWait(const CoreState& c) const {
  if (c.scalarAfter >= 0 && (c.pendingPipes & (1u << c.scalarAfter))) return true;
  if (c.pc >= c.trace->records.size()) return c.pendingPipes != 0;  // the core's end
  const TraceRecord& r = c.trace->records[c.pc];
  auto queueFull = [&c](int pipe) {  // Issue would wait for a slot whose start is not known yet
    if (pipe == kNoPipe) pipe = kS;
    const PipeState& p = c.pipes[pipe];
    return p.ringCount >= p.ringStart.size() && p.ringStart[p.ringPos] == kPendingTime;
  };
  switch (static_cast<TraceOp>(r.op)) {
    case TraceOp::kVector:
    case TraceOp::kCube:
    case TraceOp::kCopy: return queueFull(PipeIndex(r.pipe) == kNoPipe ? kV : PipeIndex(r.pipe));
    case TraceOp::kScalar: return false;
    case TraceOp::kSetFlag: return queueFull(PipeIndex(r.a));
    case TraceOp::kWaitFlag: {
      const int src = PipeIndex(r.a), dst = PipeIndex(r.b);
      if (dst != kNoPipe && dst != kS) return queueFull(dst);  // a pipe takes a pending flag: deferred
      auto it = c.flags.find((uint64_t(src) << 56) | (uint64_t(dst) << 48) | r.x);
      return it != c.flags.end() && !it->second.empty() && it->second.front().t == kPendingTime;
    }
    case TraceOp::kBarrier: return r.a == PIPE_ALL && c.pendingPipes != 0;  // a pipe's barrier: deferred
    case TraceOp::kCrossSet: return queueFull(PipeIndex(r.b));
    case TraceOp::kCrossWait: return queueFull(kS);  // the scalar waits (StepCore)
    case TraceOp::kGmSignal: return (c.pendingPipes & (1u << kMte3)) != 0;
    case TraceOp::kGmWait: return false;  // the scalar polls: no pipe's state is needed
    case TraceOp::kSyncAll: return c.pendingPipes != 0;
  }
  return c.pendingPipes != 0;
}

// A barrier on one pipe, issued at scalar time S: the pipe waits for everything issued on it.
void Engine::PipeBarrier(uint32_t ci, int pipe, double S) {
  PipeState& p = cores_[ci].pipes[pipe];
  // pto-isa's A2/A3 cost model charges a vector barrier's drain only when vector work is outstanding.
  const bool outstanding = p.lastEnd > S;
  WaitOn(cores_[ci], pipe, Timed{p.done + (pipe == kV && outstanding ? soc_.vecBarrierDrain : 0), p.doneBy}, kBarrier);
  p.drained = true;
}

// Completion of everything issued on `pipe` so far, and the scalar time: when a SetFlag on it fires.
static Timed PipeDone(const CoreState& c, int pipe, Ref selfScalar) {
  if (pipe == kS) return Timed{c.S, selfScalar};
  const PipeState& p = c.pipes[pipe];
  if (p.done > c.S) return Timed{p.done, p.doneBy};
  return Timed{c.S, selfScalar};
}

// The scalar or a pipe waits for `t`.
static void WaitOn(CoreState& c, int pipe, Timed t, uint8_t reason) {
  if (pipe == kS || pipe == kNoPipe) {
    if (t.t > c.S) {
      c.S = t.t;
      c.sBy = t.by;
      c.sReason = reason;
    }
    return;
  }
  PipeState& p = c.pipes[pipe];
  if (t.t > p.avail) {
    p.avail = t.t;
    p.availBy = t.by;
    p.availReason = reason;
  }
  if (t.t > p.done) {
    p.done = t.t;
    p.doneBy = t.by;
  }
}

std::vector<uint32_t> Engine::Targets(uint32_t ci, int mode) const {
  std::vector<uint32_t> out;
  const auto& self = *cores_[ci].trace;
  for (uint32_t i = 0; i < cores_.size(); ++i) {
    const auto& o = *cores_[i].trace;
    const bool sameBlock = cores_[i].block == cores_[ci].block;
    if (mode == 0 && o.coreType == self.coreType) out.push_back(i);
    if (mode == 1 && self.coreType == AscendC::AIV && o.coreType == AscendC::AIV && sameBlock) out.push_back(i);
    if (mode == 2 && o.coreType != self.coreType && sameBlock) out.push_back(i);
  }
  return out;
}

void Engine::Deliver(uint32_t target, uint32_t flag, int slot, Timed fire) {
  CoreState& c = cores_[target];
  c.delivered[{flag, slot}].push_back(fire);
  if (cores_[target].blocked && !waitingSync_[target] && cores_[target].waveAfter == ~0u) Wake(target);
}

void Engine::Wake(uint32_t ci) {
  cores_[ci].blocked = false;
  heap_.push({Turn(cores_[ci]), ci});
}

// Mode 2 delivers to the other core kind of the block (an AIC counts per AIV); modes 0 / 1 deliver
// to every member of the group once each member has set the flag (CrossCoreSetFlag(ISASI).md).
void Engine::CrossSet(uint32_t ci, const TraceRecord& r, Timed fire) {
  const int mode = r.a;
  const uint32_t flag = r.x;
  const auto targets = Targets(ci, mode);
  if (mode == 2) {
    for (uint32_t t : targets)
      Deliver(t, flag, t_.cores[t].coreType == AscendC::AIC ? 3 + int(t_.cores[ci].subBlockIdx) : 2, fire);
    return;
  }
  const int64_t group = mode == 0 ? int64_t(t_.cores[ci].coreType) : cores_[ci].block;
  auto& members = arrivals_[{mode, group, flag}];
  members[ci].push_back(fire);
  for (uint32_t t : targets)
    if (members[t].empty()) return;
  Timed last{0, {}};
  for (uint32_t t : targets) {
    if (members[t].front().t >= last.t) last = members[t].front();
    members[t].pop_front();
  }
  for (uint32_t t : targets) Deliver(t, flag, mode, last);
}

// The wait takes one delivery of the flag, whichever mode sent it (dav_c220 waits on the flag id
// only); a mode-2 delivery into an AIC needs both of its AIVs. False: nothing delivered yet.
bool Engine::CrossWait(uint32_t ci, const TraceRecord& r, Timed& got) {
  CoreState& c = cores_[ci];
  const uint32_t flag = r.x;
  const bool aic = t_.cores[ci].coreType == AscendC::AIC;
  std::vector<std::vector<int>> sources = {{0}};
  if (!aic) sources.push_back({1});
  if (t_.mode == static_cast<int>(AscendC::KernelMode::MIX_MODE)) sources.push_back(aic ? std::vector<int>{3, 4} : std::vector<int>{2});
  int best = -1;
  Timed bestT{0, {}};
  for (size_t s = 0; s < sources.size(); ++s) {
    Timed t{0, {}};
    bool ok = true;
    for (int slot : sources[s]) {
      auto it = c.delivered.find({flag, slot});
      if (it == c.delivered.end() || it->second.empty()) {
        ok = false;
        break;
      }
      if (it->second.front().t >= t.t) t = it->second.front();
    }
    if (ok && (best < 0 || t.t < bestT.t)) {
      best = static_cast<int>(s);
      bestT = t;
    }
  }
  if (best < 0) return false;
  for (int slot : sources[best]) c.delivered[{flag, slot}].pop_front();
  got = bestT;
  return true;
}

// ---- GM counters ------------------------------------------------------------------------------
// A kGmWait on core ci completes once the signals on its counter, in modeled-time order from the
// value at launch, bring it to >= target: at the time of the signal that does. That time is final
// only once no other core can still send an earlier signal: a core's later signals come no earlier
// than its scalar time now (a blocked core's only after whoever releases it; a core whose trace
// holds no more signals sends none), so the wait is resolved when every other core's bound
// (SignalBound) is at or past it. When a wait completes then does not depend on the order the replay
// advances the cores in.

// When the signals known so far bring the counter at addr to >= target (false: they do not).
bool Engine::GmReached(uint64_t addr, int32_t target, Timed& at) {
  auto st = flagStart_.find(addr);
  uint32_t value = st == flagStart_.end() ? 0u : static_cast<uint32_t>(st->second);
  if (static_cast<int32_t>(value) >= target) {
    at = Timed{0, {}};
    return true;
  }
  auto it = signals_.find(addr);
  if (it == signals_.end()) return false;
  for (const Signal& s : it->second) {
    value += static_cast<uint32_t>(s.delta);  // int32 adds wrap, as emu/atomic.h's
    if (static_cast<int32_t>(value) >= target) {
      at = Timed{s.t, s.by};
      return true;
    }
  }
  return false;
}

// No signal core ci sends from now on is earlier than this.
double Engine::SignalBound(uint32_t ci) {
  constexpr double kNever = std::numeric_limits<double>::infinity();
  const CoreState& c = cores_[ci];
  if (c.finished || c.pc >= c.signalsUntil) return kNever;  // it sends no more signals
  if (c.gmWaiting) {
    Timed at;
    return WaitReached(ci, at) ? std::max(c.S, at.t) : kNever;
  }
  if (c.blocked) return kNever;  // a cross-core wait, SyncAll or a later wave: released by another core
  return c.S;
}

// GmReached for core ci's wait at pc, computed again only after new signals.
bool Engine::WaitReached(uint32_t ci, Timed& at) {
  CoreState& c = cores_[ci];
  if (c.gmSeen != signalCount_ && !c.gmReady) {  // a released wait keeps the signal it was released by
    const TraceRecord& r = c.trace->records[c.pc];
    c.gmReach = GmReached(r.addr, static_cast<int32_t>(r.x), c.gmAt);
    c.gmSeen = signalCount_;
  }
  at = c.gmAt;
  return c.gmReach;
}

bool Engine::GmWaitFinal(uint32_t ci, Timed& at) {
  if (!WaitReached(ci, at)) return false;
  for (uint32_t j = 0; j < cores_.size(); ++j)
    if (j != ci && SignalBound(j) < at.t) return false;
  return true;
}

void Engine::ResolveGmWaits() {
  bool any = false;
  Timed at;
  for (uint32_t ci : gmWaitList_) any |= !cores_[ci].gmReady && WaitReached(ci, at);
  if (!any) return;
  // The smallest and second smallest bound: a waiter compares with the smallest of the others.
  double first = std::numeric_limits<double>::infinity(), second = first;
  uint32_t firstCore = ~0u;
  for (uint32_t j = 0; j < cores_.size(); ++j) {
    const double b = SignalBound(j);
    if (b < first) {
      second = first;
      first = b;
      firstCore = j;
    } else if (b < second) {
      second = b;
    }
  }
  for (uint32_t ci : gmWaitList_) {
    CoreState& c = cores_[ci];
    if (c.gmReady || !WaitReached(ci, at) || (ci == firstCore ? second : first) < at.t) continue;
    c.gmReady = true;  // gmAt holds the signal
    Wake(ci);
  }
}

std::string Engine::GmWaitError(uint32_t ci) {
  const TraceRecord& r = cores_[ci].trace->records[cores_[ci].pc];
  std::string where = "a GM counter";
  for (size_t i = 0; i < t_.gmRegions.size(); ++i)
    if (r.addr >= t_.gmRegions[i].first && r.addr < t_.gmRegions[i].first + t_.gmRegions[i].second)
      where = "the counter at byte " + std::to_string(r.addr - t_.gmRegions[i].first) + " of GM span " + std::to_string(i);
  auto st = flagStart_.find(r.addr);
  uint32_t value = st == flagStart_.end() ? 0u : static_cast<uint32_t>(st->second);
  if (auto it = signals_.find(r.addr); it != signals_.end())
    for (const Signal& s : it->second) value += static_cast<uint32_t>(s.delta);
  const auto& tc = t_.cores[ci];
  return "perf model: kernel '" + t_.kernel + "': core " + std::to_string(ci) + " (" +
         (tc.coreType == AscendC::AIC ? "AIC " : "AIV ") + std::to_string(tc.blockIdx) + ") waits in GmFlagWaitAtLeast for " +
         where + " to reach " + std::to_string(static_cast<int32_t>(r.x)) + ", but the trace's signals bring it only to " +
         std::to_string(static_cast<int32_t>(value)) + " (a wait the replay can never satisfy)";
}

void Engine::Finish(uint32_t ci) {
  CoreState& c = cores_[ci];
  c.finished = true;
  double end = c.S;
  for (int p = 0; p < kPipes; ++p) {
    end = std::max({end, c.pipes[p].done, c.pipes[p].lastEnd});
    if (c.pipes[p].segStart >= 0) res_.timeline.push_back(Segment{ci, static_cast<uint8_t>(p), c.pipes[p].segStart, c.pipes[p].segEnd});
  }
  res_.cores[ci].end = end;
  // A block of a later wave starts when this one's core frees.
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (cores_[i].waveAfter == ci) {
      cores_[i].waveAfter = ~0u;
      cores_[i].S = cores_[i].frontier = end;
      res_.cores[i].start = end;
      for (auto& p : cores_[i].pipes) p.avail = p.done = p.lastEnd = end;
      Wake(i);
    }
}

void Engine::ChargeScalar(uint32_t ci, const TraceRecord& r, RecInfo& info, double cost, uint32_t accesses) {
  CoreState& c = cores_[ci];
  info.issue = info.start = static_cast<float>(c.S);
  info.sPred = info.pred = c.sBy;
  info.sReason = info.reason = c.sReason;
  c.S += cost;
  info.issueEnd = info.end = static_cast<float>(c.S);
  c.sBy = ScalarRef(ci, c.pc);
  c.sReason = kIssue;
  res_.cores[ci].busy[kS] += cost;
  res_.cores[ci].instructions[kS] += accesses;
  const int32_t api = ApiIndex(r.api, kS);
  res_.apiBusy[api][0] += cost;
  res_.apiBusy[api][1] += accesses;
  Emit(ci, kS, info.start, info.end);
}

uint64_t& Engine::DataCacheTag(CoreState& c, uint64_t addr, uint64_t& line) {
  const Region* g = RegionOf(addr);
  line = (g ? g->placed + (addr - g->base) : addr) >> 6;
  return c.dcache[line % c.dcache.size()];
}

bool Engine::StepCore(uint32_t ci) {
  CoreState& c = cores_[ci];
  const auto& recs = c.trace->records;
  // A record whose scalar needs what an unsettled pipe has not decided yet waits for it in the
  // replay (Settle wakes the core); its scalar time then moves to that, never before the pools' clock.
  if (MustWait(c)) {
    c.flowBlocked = true;
    return false;
  }
  if (c.scalarAfter >= 0) {
    WaitOn(c, kS, Timed{c.pipes[c.scalarAfter].done, c.pipes[c.scalarAfter].doneBy}, kFlag);
    c.scalarAfter = -1;
  }
  if (c.pc >= recs.size()) {
    Finish(ci);
    return false;
  }
  const TraceRecord& r = recs[c.pc];
  RecInfo& info = info_[ci][c.pc];
  const auto op = static_cast<TraceOp>(r.op);
  switch (op) {
    case TraceOp::kVector:
    case TraceOp::kCube:
    case TraceOp::kCopy: {
      const int pipe = PipeIndex(r.pipe);
      PipeInstruction(ci, r, pipe == kNoPipe ? kV : pipe, info);
      break;
    }
    case TraceOp::kScalar: {
      double cost = r.x * soc_.scalarLocalCycles;
      if (r.b == 2) {  // DataCacheCleanAndInvalid: the line (or every line) misses next time
        // Assumed (no published cost): one hit's cost per line dropped.
        if (r.y) {
          std::fill(c.dcache.begin(), c.dcache.end(), ~0ull);
          cost = double(c.dcache.size()) * soc_.scalarGmHitCycles;
        } else {
          uint64_t line;
          uint64_t& tag = DataCacheTag(c, r.addr, line);
          if (tag == line) tag = ~0ull;
          cost = r.x * soc_.scalarGmHitCycles;
        }
      } else if (r.a) {
        uint64_t line;
        uint64_t& tag = DataCacheTag(c, r.addr, line);
        cost = (tag == line ? soc_.scalarGmHitCycles : soc_.scalarGmMissCycles) + (r.x - 1.0) * soc_.scalarGmHitCycles;
        tag = line;
      }
      ChargeScalar(ci, r, info, cost, r.x);
      break;
    }
    case TraceOp::kSetFlag: {
      const int src = PipeIndex(r.a), dst = PipeIndex(r.b);
      Issue(c, src == kNoPipe ? kS : src, info, ci);
      if (src != kNoPipe && !c.pipes[src].Settled()) {  // fires when the pipe settles
        auto& q = c.flags[(uint64_t(src) << 56) | (uint64_t(dst) << 48) | r.x];
        q.push_back(Timed{kPendingTime, PipeRef(ci, c.pc)});
        c.pipes[src].deferred.push_back({kDeferSet, kFlag, static_cast<uint32_t>(c.pc), c.S, 0, &q.back(), -1, 0, false, {}});
        break;
      }
      Timed fire = PipeDone(c, src == kNoPipe ? kS : src, ScalarRef(ci, c.pc));
      info.start = static_cast<float>(fire.t);  // the flag itself takes only its latency
      fire.t += soc_.flagLatency;
      info.end = static_cast<float>(fire.t);
      info.pred = fire.by;
      info.reason = kFlag;
      const uint64_t key = (uint64_t(src) << 56) | (uint64_t(dst) << 48) | r.x;
      c.flags[key].push_back(Timed{fire.t, PipeRef(ci, c.pc)});
      break;
    }
    case TraceOp::kWaitFlag: {
      const int src = PipeIndex(r.a), dst = PipeIndex(r.b);
      const uint64_t key = (uint64_t(src) << 56) | (uint64_t(dst) << 48) | r.x;
      auto& q = c.flags[key];
      Issue(c, dst == kNoPipe ? kS : dst, info, ci);
      info.start = info.end = info.issue;
      if (!q.empty() && q.front().t == kPendingTime) {  // the dst pipe waits until the src pipe settles
        const uint64_t id = ++deferredIds_;
        for (auto& f : c.pipes[src].deferred)
          if (f.kind == kDeferSet && f.slot == &q.front()) {
            f.slot = nullptr;
            f.consumer = dst;
            f.id = id;
          }
        c.pipes[dst].deferred.push_back({kDeferWait, kFlag, static_cast<uint32_t>(c.pc), 0, 0, nullptr, -1, id, false, {}});
        c.pendingPipes |= 1u << dst;
        q.pop_front();
      } else if (!q.empty()) {
        DeferredWait(ci, dst, q.front(), kFlag);
        q.pop_front();
      }
      break;
    }
    case TraceOp::kBarrier: {
      Issue(c, kS, info, ci);
      info.start = info.end = info.issue;
      if (r.a == PIPE_ALL) {
        for (int p = 0; p < kPipes; ++p) WaitOn(c, kS, Timed{c.pipes[p].done, c.pipes[p].doneBy}, kBarrier);
        break;
      }
      const int pipe = PipeIndex(r.a);
      if (pipe == kNoPipe || pipe == kS) break;
      if (!c.pipes[pipe].Settled()) {  // the pipe waits for what precedes it once that is known
        c.pipes[pipe].deferred.push_back({kDeferBarrier, kBarrier, static_cast<uint32_t>(c.pc), c.S, 0, nullptr, -1, 0, false, {}});
        break;
      }
      PipeBarrier(ci, pipe, c.S);
      break;
    }
    case TraceOp::kCrossSet: {
      int pipe = PipeIndex(r.b);
      if (pipe == kNoPipe) pipe = kS;
      Issue(c, pipe, info, ci);
      if (!c.pipes[pipe].Settled()) {  // sent when the pipe settles
        c.pipes[pipe].deferred.push_back({kDeferCross, kCrossCore, static_cast<uint32_t>(c.pc), c.S, 0, nullptr, -1, 0, false, {}});
        break;
      }
      Timed fire = PipeDone(c, pipe, ScalarRef(ci, c.pc));
      info.start = static_cast<float>(fire.t);  // its span on the path is the cross-core latency
      fire.t += soc_.crossCoreLatency;
      info.end = static_cast<float>(fire.t);
      info.pred = fire.by;
      info.reason = kCrossCore;
      CrossSet(ci, r, Timed{fire.t, PipeRef(ci, c.pc)});
      break;
    }
    case TraceOp::kCrossWait: {
      // A2/A3 (dav_c220) waits with wait_flag_dev(flagId), which takes no pipe: the template's pipe
      // argument is unused (impl/basic_api/dav_c220/kernel_operator_sync_impl.h, WaitEventImpl) and
      // every instruction after the wait waits with it (CrossCoreWaitFlag(ISASI).md). So the scalar
      // unit waits, whatever pipe the kernel named.
      Timed got;
      if (!CrossWait(ci, r, got)) {  // not delivered yet: the core waits (Deliver wakes it)
        c.blocked = true;
        return false;
      }
      Issue(c, kS, info, ci);
      info.start = info.end = info.issue;
      DeferredWait(ci, kS, got, kCrossCore);
      break;
    }
    case TraceOp::kGmSignal: {
      // The add is in GM once the core's MTE3 queue, which holds its copy, has drained.
      const Timed fire = PipeDone(c, kMte3, ScalarRef(ci, c.pc));
      info.issue = info.issueEnd = static_cast<float>(c.S);
      info.sPred = c.sBy;
      info.sReason = c.sReason;
      info.start = info.end = static_cast<float>(fire.t);
      info.pred = fire.by;
      info.reason = kFlag;
      signalCount_++;
      auto& v = signals_[r.addr];
      const Signal sig{fire.t, static_cast<int32_t>(r.x), PipeRef(ci, c.pc)};
      v.insert(std::upper_bound(v.begin(), v.end(), sig.t, [](double t, const Signal& x) { return t < x.t; }), sig);
      break;
    }
    case TraceOp::kGmWait: {
      Timed at;
      if (c.gmReady) {
        at = c.gmAt;
      } else if (!GmWaitFinal(ci, at)) {
        c.blocked = true;
        if (!c.gmWaiting) gmWaitList_.push_back(ci);
        c.gmWaiting = true;
        return false;
      }
      if (c.gmWaiting) gmWaitList_.erase(std::find(gmWaitList_.begin(), gmWaitList_.end(), ci));
      c.gmWaiting = c.gmReady = false;
      c.gmSeen = ~0ull;  // the next wait asks again
      // The poll that sees the value starts no earlier than the signal that completed it: a dcci of
      // the counter's line (one hit's cost, as a kScalar dcci) and a GetValue that misses it, on the
      // scalar (taken as polling back to back); MTE2 goes on meanwhile.
      const double arrived = c.S;
      WaitOn(c, kS, at, kGmCounter);
      uint64_t line;
      DataCacheTag(c, r.addr, line) = line;
      ChargeScalar(ci, r, info, soc_.scalarGmHitCycles + soc_.scalarGmMissCycles, 1);  // one wait
      info.issue = static_cast<float>(arrived);  // when the core reached the wait
      c.sBy = PipeRef(ci, c.pc);  // the critical path takes the poll's start .. end, then the signal
      break;
    }
    case TraceOp::kSyncAll: {
      const int g = r.a ? 1 : 0;
      if (!waitingSync_[ci]) {
        Issue(c, kS, info, ci);
        Timed arrive{c.S, c.sBy};
        for (int p = 0; p < kPipes; ++p)
          if (c.pipes[p].done > arrive.t) arrive = Timed{c.pipes[p].done, c.pipes[p].doneBy};
        syncArrived_[g].push_back({ci, arrive});
        waitingSync_[ci] = 1;
        if (syncArrived_[g].size() < syncMembers_[g]) {
          c.blocked = true;
          return false;
        }
        Timed last{0, {}};
        for (auto& [core, t] : syncArrived_[g])
          if (t.t >= last.t) last = t;
        // dav_c220 SyncAllImpl (impl/basic_api/dav_c220/kernel_operator_sync_impl.h, CANN 8.5): the
        // AIV-only form is one mode-0 cross-core flag set and waited on; the mixed form is three hops
        // (AIV -> AIC mode 2, AIC among AICs mode 0, AIC -> AIV mode 2).
        last.t += (g == 1 ? 1 : 3) * soc_.crossCoreLatency;
        for (auto& [core, t] : syncArrived_[g]) {
          CoreState& o = cores_[core];
          WaitOn(o, kS, last, kSyncAll);
          for (int p = 1; p < kPipes; ++p) WaitOn(o, p, last, kSyncAll);
          waitingSync_[core] = 2;  // released
          if (core != ci) {
            o.pc++;
            waitingSync_[core] = 0;
            Wake(core);
          }
        }
        syncArrived_[g].clear();
        waitingSync_[ci] = 0;
      }
      break;
    }
  }
  c.pc++;
  return true;
}

Result Engine::Run() {
  Setup();
  res_.kernel = t_.kernel;
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (cores_[i].waveAfter == ~0u) heap_.push({0.0, i});
    else cores_[i].blocked = true;
  // Cores take turns in the order of Turn(), a slice of time at a time (L2 lines then fill roughly in time order). The shared pools advance
  // from event to event once no runnable core is behind their next event; a core waiting for a
  // transfer's end resumes when the pools reach it.
  const double slice = soc_.turnCycles;
  std::vector<SharedPools::Done> done;
  uint64_t events = 0;
  for (;;) {
    if (!gmWaitList_.empty()) ResolveGmWaits();
    while (!heap_.empty()) {  // drop stale entries
      const auto [key, ci] = heap_.top();
      const CoreState& c = cores_[ci];
      if (!(c.finished || c.blocked || c.flowBlocked || key != Turn(c))) break;
      heap_.pop();
    }
    const double next = pools_->NextEvent();
    if (heap_.empty() || heap_.top().first > next) {
      if (next == SharedPools::kNever) break;
      done.clear();
      pools_->Advance(done);
      for (const auto& d : done)
        if (d.tag != kWriteBackTag) EndTransfer(d.tag, d.end);
      if (++events % 1024 == 0) {  // no transfer starts before the earliest scalar time of a live core
        double earliest = pools_->Now();
        for (const CoreState& c : cores_)
          if (!c.finished && c.waveAfter == ~0u) earliest = std::min(earliest, c.S);
        pools_->Forget(earliest);
      }
      continue;
    }
    const auto [key, ci] = heap_.top();
    heap_.pop();
    CoreState& c = cores_[ci];
    const double limit = (heap_.empty() ? key : heap_.top().first) + slice;
    bool running = true;
    for (uint32_t n = 0; running && n < 4096 && (n == 0 || Turn(c) <= limit); ++n) running = StepCore(ci);
    if (running) heap_.push({Turn(c), ci});
  }
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (cores_[i].gmWaiting) throw std::runtime_error(GmWaitError(i));
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (!cores_[i].finished)
      throw std::runtime_error("perf model: kernel '" + t_.kernel + "': core " + std::to_string(i) +
                               " never finished its trace (a cross-core wait or SyncAll the model could not match)");
  for (const CoreResult& c : res_.cores) res_.cycles = std::max(res_.cycles, c.end);
  res_.lateBytes = pools_->LateBytes();
  const double line = std::max<uint32_t>(32, soc_.l2LineBytes);
  res_.l2DirtyBytes = double(std::count(dirty_.begin(), dirty_.end(), uint8_t(1))) * line;

  if (detailCore_ >= 0 && detailCore_ < static_cast<int64_t>(cores_.size()))
    for (size_t i = 0; i < info_[detailCore_].size(); ++i) {
      const RecInfo& r = info_[detailCore_][i];
      const TraceRecord& rec = t_.cores[detailCore_].records[i];
      const int pipe = PipeIndex(rec.pipe);
      res_.detail.push_back({ApiIndex(rec.api, pipe), static_cast<uint8_t>(pipe < 0 ? kS : pipe), r.issue, r.start, r.end});
    }
  // Critical path: from the record that ends last, follow what bounded each start.
  Ref cur;
  double latest = -1;
  for (uint32_t ci = 0; ci < cores_.size(); ++ci)
    for (size_t i = 0; i < info_[ci].size(); ++i) {
      const RecInfo& r = info_[ci][i];
      const double e = std::max(r.end, r.issueEnd);
      if (e > latest) {
        latest = e;
        cur = Ref{ci, static_cast<uint32_t>(i), r.issueEnd > r.end};
      }
    }
  for (size_t guard = 0; cur.valid() && guard < res_.records * 2 + 16; ++guard) {
    const RecInfo& r = Info(cur);
    const TraceRecord& rec = t_.cores[cur.core].records[cur.idx];
    PathStep s;
    s.core = cur.core;
    const int pipe = PipeIndex(rec.pipe);
    s.pipe = static_cast<uint8_t>(cur.scalar ? kS : (pipe == kNoPipe ? kS : pipe));
    s.api = ApiIndex(rec.api, s.pipe);
    s.start = cur.scalar ? r.issue : r.start;
    s.end = cur.scalar ? r.issueEnd : r.end;
    s.reason = cur.scalar ? r.sReason : r.reason;
    res_.path.push_back(s);
    cur = cur.scalar ? r.sPred : r.pred;
  }
  return std::move(res_);
}

}  // namespace

Result Replay(const LaunchTrace& trace, const SocParams& soc, double timelineResolution, int64_t detailCore) {
  Engine e(trace, soc, timelineResolution, detailCore);
  return e.Run();
}

}  // namespace ascend_glm5::perf
