// The replay: see replay.h for the model and docs/performance.md for its constants.
#include "perf/replay.h"

#include "emu/runtime.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
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
  std::vector<double> ringStart;     // start times of the last queueDepth instructions
  std::vector<Ref> ringBy;
  uint32_t ringPos = 0, ringCount = 0;
  double segStart = -1, segEnd = -1;  // open timeline segment
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
  double frontier = 0;  // latest start of an instruction issued so far (the replay's turn order)
  bool finished = false, blocked = false;
  uint32_t waveAfter = ~0u;  // core that must finish before this one starts (blocks beyond the cores)
  size_t signalsUntil = 0;   // records before this index hold every kGmSignal of the core
  bool gmWaiting = false;    // blocked in a kGmWait whose counter is not known to have reached its target
  bool gmReady = false;      // ... now released: the signal that brought the counter there is gmAt
  Timed gmAt;
  uint64_t gmSeen = ~0ull;   // WaitReached's answer for the wait at pc (gmReach, gmAt) holds while no
  bool gmReach = false;      //   signal came since signal number gmSeen
};

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
  double Issue(CoreState& c, int pipe, RecInfo& info, uint32_t ci);
  void Finish(uint32_t ci);
  void Emit(uint32_t ci, int pipe, double start, double end);
  // ---- memory ----
  void ClassifyRead(const TraceRecord& r, double& hit, double& miss);
  double InsertWrite(const TraceRecord& r);
  // The bandwidth pools shared by all cores: HBM, and L2 (hits and writes that stay in L2).
  enum Pool { kHbmPool, kL2Pool };
  double Reserve(double t0, double bytes, double rate, Pool pool);
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
  // Shared bandwidth pools (HBM, L2): bytes used per bucket.
  std::vector<float> used_[2];
  // L2: per GM region, the insertion stamp of each line (0: absent). A region sits at `placed` in the
  // modeled address space (see the constructor); lines and scalar-cache sets are cut from there.
  struct Region {
    uint64_t base, bytes, placed;
    std::vector<uint32_t> stamp;
  };
  std::vector<Region> regions_;  // sorted by host address, disjoint
  Region* RegionOf(uint64_t addr);  // the region holding addr, or null
  uint64_t inserted_ = 0, l2Lines_ = 0;
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

// `hit`: bytes found in L2; `miss`: bytes HBM delivers for the rest (whole lines: a partly read line
// is fetched whole and its other part hits later).
void Engine::ClassifyRead(const TraceRecord& r, double& hit, double& miss) {
  hit = miss = 0;
  const double line = std::max<uint32_t>(32, soc_.l2LineBytes);
  ForEachLine(r, [&](uint32_t* stamp, uint64_t bytes) {
    if (stamp && *stamp && inserted_ - *stamp < l2Lines_) {
      hit += bytes;
    } else {
      miss += stamp ? line : bytes;
      if (stamp) *stamp = static_cast<uint32_t>(++inserted_);
    }
  });
}

// L2 is write-back: a write allocates its lines; a line still resident from an earlier access is
// written in L2 only. Returns the bytes that cost HBM bandwidth (newly allocated lines, which are
// written back eventually): rewriting a ring-buffer workspace that stays in L2 costs none.
double Engine::InsertWrite(const TraceRecord& r) {
  double fresh = 0;
  const double line = std::max<uint32_t>(32, soc_.l2LineBytes);
  ForEachLine(r, [&](uint32_t* stamp, uint64_t bytes) {
    if (stamp && *stamp && inserted_ - *stamp < l2Lines_) return;
    fresh += stamp ? line : bytes;  // the whole line is written back
    if (stamp) *stamp = static_cast<uint32_t>(++inserted_);
  });
  return fresh;
}

// Moves `bytes` through a shared pool (HBM or L2) from t0 at up to `rate` bytes/cycle (the core's own
// path limit) and what the pool has left in each bucket; returns the end time.
double Engine::Reserve(double t0, double bytes, double rate, Pool pool) {
  if (bytes <= 0) return t0;
  const double B = soc_.bucketCycles;
  const double cap = (pool == kHbmPool ? soc_.hbmBytesPerCycle : soc_.l2BytesPerCycle) * B;
  std::vector<float>& used = used_[pool];
  double t = t0, left = bytes;
  for (;;) {
    const size_t b = static_cast<size_t>(t / B);
    if (b >= used.size()) used.resize(std::max(b + 1, used.size() * 2), 0.f);
    const double bucketEnd = (b + 1) * B, span = bucketEnd - t;
    const double room = std::max(0.0, cap - used[b]);
    const double take = std::min({left, rate * span, room});
    used[b] += static_cast<float>(take);
    left -= take;
    if (left <= 1e-9) return t + take / rate;  // finished in this bucket
    t = bucketEnd;
  }
}

// ---- scheduling ---------------------------------------------------------------------------------

double Engine::Issue(CoreState& c, int pipe, RecInfo& info, uint32_t ci) {
  PipeState& p = c.pipes[pipe];
  // The scalar unit stalls while the pipe's queue is full: it waits for the instruction
  // queueDepth places back to start.
  if (p.ringCount >= p.ringStart.size()) {
    const double t = p.ringStart[p.ringPos];
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

void Engine::PipeInstruction(uint32_t ci, const TraceRecord& r, int pipe, RecInfo& info) {
  CoreState& c = cores_[ci];
  PipeState& p = c.pipes[pipe];
  const double issued = Issue(c, pipe, info, ci);
  double start = issued;
  info.pred = ScalarRef(ci, c.pc);
  info.reason = kIssue;
  if (p.avail > start) {
    start = p.avail;
    info.pred = p.availBy;
    info.reason = p.availReason;
  }
  const int32_t api = ApiIndex(r.api, pipe);
  const bool idle = p.drained || start > p.lastEnd + 0.5;
  double busy = 0, latency = 0;
  const auto op = static_cast<TraceOp>(r.op);
  if (op == TraceOp::kVector) {
    const ApiCost& k = *apiCost_[api];
    busy = (idle ? k.head : 0) + (r.z >= 4 ? k.slope32 : k.slope16) * r.x + k.perElement * r.y;
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
      double hit, miss;
      ClassifyRead(r, hit, miss);
      // The core's DMA path caps both; L2 hits also by the per-core L2 rate and the shared L2 pool,
      // misses by the shared HBM pool.
      const double path = dst == uint8_t(Mem::UB) ? soc_.gmToUbRate : soc_.gmToL1Rate;
      const double hitRate = std::min(path, soc_.gmReadL2Rate);
      const double t0 = start + soc_.gmCopyOverhead;
      const double t = Reserve(t0, hit, hitRate, kL2Pool);
      const double end = Reserve(t, miss, path, kHbmPool);
      res_.bandwidthStall += end - (t0 + hit / hitRate + miss / path);
      res_.hbmReadBytes += miss;
      res_.l2HitBytes += hit;
      busy = end - start;
      latency = soc_.gmReadLatency;
    } else if (dst == AscendC::emu::kTraceGm) {
      const double fresh = InsertWrite(r);
      const double rate = pipe == kFix ? soc_.fixWriteRate : soc_.ubToGmRate;
      const double inL2 = std::max(0.0, bytes - fresh);
      const double t0 = start + soc_.gmCopyOverhead;
      const double t = Reserve(t0, inL2, rate, kL2Pool);
      const double end = Reserve(t, fresh, rate, kHbmPool);
      res_.bandwidthStall += end - (t0 + inL2 / rate + fresh / rate);
      res_.hbmWriteBytes += fresh;
      res_.l2HitBytes += inL2;
      busy = end - start;
    } else {
      double rate = soc_.ubToUbRate;
      if (src == uint8_t(Mem::L1) && dst == uint8_t(Mem::L0A)) rate = soc_.l1ToL0aRate;
      else if (src == uint8_t(Mem::L1) && dst == uint8_t(Mem::L0B)) rate = soc_.l1ToL0bRate;
      else if (src == uint8_t(Mem::L1)) rate = soc_.l1ToUbRate;
      else if (dst == uint8_t(Mem::L1)) rate = soc_.ubToL1Rate;
      else if (src == AscendC::emu::kTraceFill) rate = soc_.fillRate;
      busy = soc_.localCopyOverhead + bytes / rate;
    }
  }
  const double end = start + busy;
  c.frontier = std::max(c.frontier, start);
  info.start = static_cast<float>(start);
  info.end = static_cast<float>(end);
  p.avail = end;
  p.availBy = PipeRef(ci, c.pc);
  p.availReason = kPipeOrder;
  p.lastEnd = end;
  p.drained = false;
  if (end + latency >= p.done) {
    p.done = end + latency;
    p.doneBy = PipeRef(ci, c.pc);
  }
  p.ringStart[p.ringPos] = start;
  p.ringBy[p.ringPos] = PipeRef(ci, c.pc);
  p.ringPos = (p.ringPos + 1) % p.ringStart.size();
  p.ringCount++;
  res_.cores[ci].busy[pipe] += busy;
  res_.cores[ci].instructions[pipe]++;
  res_.apiBusy[api][0] += busy;
  res_.apiBusy[api][1] += 1;
  Emit(ci, pipe, start, end);
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
  cores_[target].delivered[{flag, slot}].push_back(fire);
  if (cores_[target].blocked && !waitingSync_[target] && cores_[target].waveAfter == ~0u) Wake(target);
}

void Engine::Wake(uint32_t ci) {
  cores_[ci].blocked = false;
  heap_.push({cores_[ci].frontier, ci});
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

bool Engine::StepCore(uint32_t ci) {
  CoreState& c = cores_[ci];
  const auto& recs = c.trace->records;
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
      if (r.a) {
        const Region* g = RegionOf(r.addr);
        const uint64_t line = (g ? g->placed + (r.addr - g->base) : r.addr) >> 6;
        uint64_t& tag = c.dcache[line % c.dcache.size()];
        cost = (tag == line ? soc_.scalarGmHitCycles : soc_.scalarGmMissCycles) + (r.x - 1.0) * soc_.scalarGmHitCycles;
        tag = line;
      }
      info.issue = info.start = static_cast<float>(c.S);
      info.sPred = info.pred = c.sBy;
      info.sReason = info.reason = c.sReason;
      c.S += cost;
      info.issueEnd = info.end = static_cast<float>(c.S);
      c.sBy = ScalarRef(ci, c.pc);
      c.sReason = kIssue;
      res_.cores[ci].busy[kS] += cost;
      res_.cores[ci].instructions[kS] += r.x;
      const int32_t api = ApiIndex(r.api, kS);
      res_.apiBusy[api][0] += cost;
      res_.apiBusy[api][1] += r.x;
      Emit(ci, kS, info.start, info.end);
      break;
    }
    case TraceOp::kSetFlag: {
      const int src = PipeIndex(r.a), dst = PipeIndex(r.b);
      Issue(c, src == kNoPipe ? kS : src, info, ci);
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
      if (!q.empty()) {
        WaitOn(c, dst, q.front(), kFlag);
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
      PipeState& p = c.pipes[pipe];
      // pto-isa's A2/A3 cost model charges a vector barrier's drain only when vector work is outstanding.
      const bool outstanding = p.lastEnd > c.S;
      WaitOn(c, pipe, Timed{p.done + (pipe == kV && outstanding ? soc_.vecBarrierDrain : 0), p.doneBy}, kBarrier);
      p.drained = true;
      break;
    }
    case TraceOp::kCrossSet: {
      int pipe = PipeIndex(r.b);
      if (pipe == kNoPipe) pipe = kS;
      Issue(c, pipe, info, ci);
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
      Timed got;
      if (!CrossWait(ci, r, got)) {
        c.blocked = true;
        return false;
      }
      int pipe = PipeIndex(r.b);
      if (pipe == kNoPipe) pipe = kS;
      Issue(c, pipe, info, ci);
      info.start = info.end = info.issue;
      WaitOn(c, pipe, got, kCrossCore);
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
      // The poll that sees the value: a GM -> UB copy of the counter, starting no earlier than the
      // signal that completed it; the scalar then waits for the copy and its latency (MTE2 -> S).
      WaitOn(c, kMte2, at, kGmCounter);
      TraceRecord poll = r;
      poll.op = static_cast<uint8_t>(TraceOp::kCopy);
      poll.x = r.y;
      poll.y = 1;
      poll.z = 0;
      PipeInstruction(ci, poll, kMte2, info);
      WaitOn(c, kS, Timed{c.pipes[kMte2].done, c.pipes[kMte2].doneBy}, kFlag);
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
        last.t += soc_.syncAllLatency;
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
  // Cores take turns in the order of their frontier (the latest start of an instruction they issued),
  // a bucket of time at a time: GM transfers then book the shared bandwidth roughly in time order,
  // so the cores share it instead of the first one processed taking it all.
  const double slice = soc_.bucketCycles;
  for (;;) {
    if (!gmWaitList_.empty()) ResolveGmWaits();
    if (heap_.empty()) break;
    const auto [key, ci] = heap_.top();
    heap_.pop();
    CoreState& c = cores_[ci];
    if (c.finished || c.blocked || key != c.frontier) continue;  // stale entry
    const double limit = (heap_.empty() ? key : heap_.top().first) + slice;
    bool running = true;
    for (uint32_t n = 0; running && n < 4096 && (n == 0 || c.frontier <= limit); ++n) running = StepCore(ci);
    if (running) heap_.push({c.frontier, ci});
  }
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (cores_[i].gmWaiting) throw std::runtime_error(GmWaitError(i));
  for (uint32_t i = 0; i < cores_.size(); ++i)
    if (!cores_[i].finished)
      throw std::runtime_error("perf model: kernel '" + t_.kernel + "': core " + std::to_string(i) +
                               " never finished its trace (a cross-core wait or SyncAll the model could not match)");
  for (const CoreResult& c : res_.cores) res_.cycles = std::max(res_.cycles, c.end);

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
