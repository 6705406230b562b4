// Per-core instruction trace for the timing model (ascend_glm5/perf, docs/performance.md).
//
// When tracing is on (ASCEND_GLM5_TRACE=1, or _C.set_trace(True)), every instruction a core
// issues appends one 32-byte TraceRecord: its pipe, its size parameters, and the dependencies the
// NPU would honour (SetFlag/WaitFlag, the events EnQue/DeQue/AllocTensor/FreeTensor imply,
// PipeBarrier, cross-core flags, SyncAll). When tracing is off a hook costs one load and a branch
// (Core().trace is null). Consecutive scalar accesses of one kind (and one 64-byte GM line) share
// a record, and a core stops recording at the per-launch record limit (the trace is then marked
// truncated and the model refuses it).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "hazard.h"
#include "macros.h"

namespace AscendC::emu {

enum class TraceOp : uint8_t {
  kCopy,      // DataCopy / LoadData / Fixpipe / InitConstValue: x bytes in y bursts, z = GM pitch, addr = GM address,
              //   b = 1 for an atomic write into GM (SetAtomicAdd / Max / Min), costed as a plain write
  kVector,    // a vector instruction: x repeats, y active elements, z element bytes; b = 1: addr = the UB bank
              //   beats of an element-wise instruction (emu/runtime/ub_banks.cpp)
  kCube,      // Mmad: x = m, y = k, z = n, a = element bits of A
  kSetFlag,   // a = source pipe, b = destination pipe, x = event id (queue events: a per-buffer token >= 8)
  kWaitFlag,  // same fields as kSetFlag
  kBarrier,   // PipeBarrier: a = pipe
  kCrossSet,  // CrossCoreSetFlag: a = mode, b = pipe, x = flag id
  kCrossWait, // CrossCoreWaitFlag: a = mode, b = pipe, x = flag id
  kSyncAll,   // a = 1 for the AIV-only barrier
  kScalar,    // GetValue / SetValue: a = 1 for GM, b = 1 for a write, x = accesses, addr = GM address;
              //   b = 2: DataCacheCleanAndInvalid of the line at addr (y = 1: of the entire DataCache)
  kGmWait,    // GmFlagWaitAtLeast (kernels/common/gm_flag.h), one record however many polls ran: addr = the
              //   int32 counter, x = target (int32 bits), y = bytes one poll reads (a scalar dcci + GetValue)
  kGmSignal,  // GmFlagAdd, right after its atomic copy record: addr = the counter, x = delta (int32 bits)
};

// Where a copy goes (TraceRecord::a): source memory in the high nibble, destination in the low;
// Mem codes as runtime.h, with 15 standing for GM.
constexpr uint8_t kTraceGm = 15;
constexpr uint8_t kTraceFill = 14;  // InitConstValue: a constant written into L1 / L0A / L0B

struct TraceRecord {
  const char* api;  // the API's name (a string literal), which selects its cost in the model
  uint64_t addr;
  uint32_t x, y, z;
  uint8_t op, pipe, a, b;
};
static_assert(sizeof(TraceRecord) == 32, "trace records are 32 bytes");

// The records of one core of one launch. The cores of a launch share one record budget, which
// they take in chunks.
struct CoreTrace {
  std::vector<TraceRecord> records;
  std::atomic<uint64_t>* budget = nullptr;  // records the launch may still hand out
  uint64_t granted = 0;                     // records this core may keep
  bool truncated = false;                   // the budget ran out: later instructions were not recorded

  void Push(const TraceRecord& r) {
    if (records.size() >= granted && !Grant()) {
      truncated = true;
      return;
    }
    records.push_back(r);
  }

 private:
  bool Grant() {
    constexpr uint64_t kChunk = 1 << 16;
    uint64_t left = budget->load();
    while (left && !budget->compare_exchange_weak(left, left - std::min(left, kChunk))) {
    }
    granted += std::min(left, kChunk);
    return records.size() < granted;
  }
};

// Everything recorded for one launch (cores in launch order: per block AIC then AIVs in MIX).
struct LaunchTrace {
  std::string kernel;
  int mode = 0;  // KernelMode
  uint32_t blockDim = 0;
  struct Core {
    int32_t coreType;
    int64_t blockIdx, subBlockIdx;
    std::vector<TraceRecord> records;
    bool truncated;
  };
  std::vector<Core> cores;
  // (address, bytes) of the launch's GM buffers, overlapping ones merged, in argument order
  std::vector<std::pair<uint64_t, uint64_t>> gmRegions;
  // (address, value at launch) of every GM counter a kGmWait / kGmSignal names
  std::vector<std::pair<uint64_t, int32_t>> gmFlagStart;
};

// Tracing switch (also read from ASCEND_GLM5_TRACE at the first launch) and the per-launch limit
// (ASCEND_GLM5_TRACE_MAX_RECORDS, default 16M records = 512 MiB per launch).
void SetTracing(bool on, uint64_t maxRecordsPerLaunch = 0);
bool TracingEnabled();
uint64_t TraceRecordLimit();
// Traces of the launches since the last call (oldest first), moved out to the caller.
std::vector<LaunchTrace> TakeTraces();
// Runtime side: the launcher hands each finished launch's trace here.
void StoreTrace(LaunchTrace&& t);

// ---- hooks ----------------------------------------------------------------------------------
// The trace of the calling core, or null when tracing is off (defined in launch.cpp's Core()).
CoreTrace* ActiveTrace();

// The (source, destination) pipes of a HardEvent (kernel_event.h names them SRC_DST).
inline void EventPipes(HardEvent e, pipe_t& src, pipe_t& dst) {
  switch (e) {
    case HardEvent::MTE2_MTE1: src = PIPE_MTE2; dst = PIPE_MTE1; return;
    case HardEvent::MTE1_MTE2: src = PIPE_MTE1; dst = PIPE_MTE2; return;
    case HardEvent::MTE1_M: src = PIPE_MTE1; dst = PIPE_M; return;
    case HardEvent::M_MTE1: src = PIPE_M; dst = PIPE_MTE1; return;
    case HardEvent::MTE2_V: src = PIPE_MTE2; dst = PIPE_V; return;
    case HardEvent::V_MTE2: src = PIPE_V; dst = PIPE_MTE2; return;
    case HardEvent::MTE3_V: src = PIPE_MTE3; dst = PIPE_V; return;
    case HardEvent::V_MTE3: src = PIPE_V; dst = PIPE_MTE3; return;
    case HardEvent::M_V: src = PIPE_M; dst = PIPE_V; return;
    case HardEvent::V_M: src = PIPE_V; dst = PIPE_M; return;
    case HardEvent::V_V: src = PIPE_V; dst = PIPE_V; return;
    case HardEvent::MTE3_MTE1: src = PIPE_MTE3; dst = PIPE_MTE1; return;
    case HardEvent::MTE1_MTE3: src = PIPE_MTE1; dst = PIPE_MTE3; return;
    case HardEvent::MTE1_V: src = PIPE_MTE1; dst = PIPE_V; return;
    case HardEvent::MTE2_M: src = PIPE_MTE2; dst = PIPE_M; return;
    case HardEvent::M_MTE2: src = PIPE_M; dst = PIPE_MTE2; return;
    case HardEvent::V_MTE1: src = PIPE_V; dst = PIPE_MTE1; return;
    case HardEvent::M_FIX: src = PIPE_M; dst = PIPE_FIX; return;
    case HardEvent::FIX_M: src = PIPE_FIX; dst = PIPE_M; return;
    case HardEvent::MTE3_MTE2: src = PIPE_MTE3; dst = PIPE_MTE2; return;
    case HardEvent::MTE2_MTE3: src = PIPE_MTE2; dst = PIPE_MTE3; return;
    case HardEvent::S_V: src = PIPE_S; dst = PIPE_V; return;
    case HardEvent::V_S: src = PIPE_V; dst = PIPE_S; return;
    case HardEvent::S_MTE2: src = PIPE_S; dst = PIPE_MTE2; return;
    case HardEvent::MTE2_S: src = PIPE_MTE2; dst = PIPE_S; return;
    case HardEvent::S_MTE3: src = PIPE_S; dst = PIPE_MTE3; return;
    case HardEvent::MTE3_S: src = PIPE_MTE3; dst = PIPE_S; return;
    case HardEvent::MTE2_FIX: src = PIPE_MTE2; dst = PIPE_FIX; return;
    case HardEvent::FIX_MTE2: src = PIPE_FIX; dst = PIPE_MTE2; return;
    case HardEvent::FIX_S: src = PIPE_FIX; dst = PIPE_S; return;
    case HardEvent::M_S: src = PIPE_M; dst = PIPE_S; return;
    case HardEvent::FIX_MTE3: src = PIPE_FIX; dst = PIPE_MTE3; return;
    case HardEvent::MTE1_FIX: src = PIPE_MTE1; dst = PIPE_FIX; return;
    case HardEvent::FIX_MTE1: src = PIPE_FIX; dst = PIPE_MTE1; return;
    case HardEvent::FIX_FIX: src = PIPE_FIX; dst = PIPE_FIX; return;
    default: src = PIPE_S; dst = PIPE_S; return;
  }
}

// The event a queue's EnQue/DeQue (forward) or FreeTensor/AllocTensor (backward) implies, from where
// its buffers come from and go to: CANN's GetQueEvt(src, dst, fwdDirect) in impl/basic_api/kernel_event.h
// (dav_c220 branch). HardEvent::MAX: no event (the AIV side of TSCM, unsupported pairs).
enum class TraceHw : uint8_t { kGm, kUb, kL1, kL0A, kL0B, kL0C, kOther };
constexpr TraceHw HwOf(TPosition p) {
  switch (p) {
    case TPosition::GM: case TPosition::CO2: return TraceHw::kGm;
    case TPosition::VECIN: case TPosition::VECOUT: case TPosition::VECCALC: return TraceHw::kUb;
    case TPosition::A1: case TPosition::B1: case TPosition::C1: case TPosition::TSCM: return TraceHw::kL1;
    case TPosition::A2: return TraceHw::kL0A;
    case TPosition::B2: return TraceHw::kL0B;
    case TPosition::CO1: return TraceHw::kL0C;
    default: return TraceHw::kOther;
  }
}
constexpr HardEvent QueEvent(TPosition srcPos, TPosition dstPos, bool fwd) {
  const TraceHw s = HwOf(srcPos), d = HwOf(dstPos);
  if (s == TraceHw::kGm) {
    if (d == TraceHw::kUb) return fwd ? HardEvent::MTE2_V : HardEvent::V_MTE2;
    if (d == TraceHw::kL1) return fwd ? HardEvent::MTE2_MTE1 : HardEvent::MTE1_MTE2;
    if (d == TraceHw::kL0A || d == TraceHw::kL0B) return fwd ? HardEvent::MTE2_M : HardEvent::M_MTE2;
  } else if (s == TraceHw::kUb) {
    if (d == TraceHw::kGm) return fwd ? HardEvent::V_MTE3 : HardEvent::MTE3_V;
    if (d == TraceHw::kL1) return fwd ? HardEvent::MTE3_MTE1 : HardEvent::MTE1_MTE3;
    if (d == TraceHw::kUb) return fwd ? HardEvent::MTE2_MTE3 : HardEvent::MTE3_MTE2;
  } else if (s == TraceHw::kL1) {
    if (d == TraceHw::kUb) return fwd ? HardEvent::MTE1_V : HardEvent::V_MTE1;
    if (d == TraceHw::kL0A || d == TraceHw::kL0B) return fwd ? HardEvent::MTE1_M : HardEvent::M_MTE1;
  } else if (s == TraceHw::kL0C) {
    if (d == TraceHw::kGm) return fwd ? HardEvent::M_FIX : HardEvent::FIX_M;
  }
  return HardEvent::MAX;
}

// Every instruction passes through one of these hooks exactly once, so they also issue it to the
// happens-before check (emu/hazard.h), whether tracing is on or not.
inline void TraceRaw(TraceOp op, pipe_t pipe, const char* api, uint32_t x = 0, uint32_t y = 0, uint32_t z = 0,
                     uint8_t a = 0, uint8_t b = 0, uint64_t addr = 0) {
  if (op == TraceOp::kCopy || op == TraceOp::kCube) IssueOn(api, pipe);
  if (CoreTrace* t = ActiveTrace())
    t->Push(TraceRecord{api, addr, x, y, z, static_cast<uint8_t>(op), static_cast<uint8_t>(pipe), a, b});
}

inline void TraceFlag(TraceOp op, HardEvent e, uint32_t id) {
  if (op == TraceOp::kSetFlag) HazardSetFlag(e, id);
  else HazardWaitFlag(e, id);
  if (CoreTrace* t = ActiveTrace()) {
    pipe_t s = PIPE_S, d = PIPE_S;
    EventPipes(e, s, d);
    t->Push(TraceRecord{op == TraceOp::kSetFlag ? "SetFlag" : "WaitFlag", 0, id, 0, 0, static_cast<uint8_t>(op),
                        static_cast<uint8_t>(op == TraceOp::kSetFlag ? s : d), static_cast<uint8_t>(s),
                        static_cast<uint8_t>(d)});
  }
}

// A SetFlag + WaitFlag pair a CANN API runs inside itself (its event id fetched from the TPipe):
// recorded with a token of its own, so it never meets the kernel's events.
inline void InternalFlag(HardEvent e) {
  const uint32_t token = Core().nextQueueToken++;
  TraceFlag(TraceOp::kSetFlag, e, token);
  TraceFlag(TraceOp::kWaitFlag, e, token);
}

// A vector instruction of `repeats` repeats over `elems` active elements of `eltBytes` each; an
// element-wise one also gives the UB bank beats its accesses take (`bankBeats`, kept in addr with b = 1).
inline void TraceVector(const char* api, uint64_t repeats, uint64_t elems, uint32_t eltBytes, uint64_t bankBeats = 0) {
  IssueOn(api, PIPE_V);
  if (CoreTrace* t = ActiveTrace())
    t->Push(TraceRecord{api, bankBeats, static_cast<uint32_t>(repeats), static_cast<uint32_t>(elems), eltBytes,
                        static_cast<uint8_t>(TraceOp::kVector), PIPE_V, 0, static_cast<uint8_t>(bankBeats ? 1 : 0)});
}

// The start of the running launch's GM buffer holding p (overlapping buffers as one), 0 if none
// (emu/runtime/launch.cpp).
uint64_t GmBufferStart(const void* p);

// A scalar GetValue / SetValue; repeated accesses of one kind to one 64-byte GM line (the scalar
// DataCache line, "Scalar读写数据" in CANN's guide) or to local memory share a record. Lines are cut
// from the start of the GM buffer, not from the host address, which malloc aligns differently from
// run to run (the timing model places each buffer line-aligned: csrc/perf/replay.cpp).
inline uint64_t GmLine(const void* gmAddr) {
  const uint64_t a = reinterpret_cast<uint64_t>(gmAddr), start = GmBufferStart(gmAddr);
  return start + ((a - start) & ~uint64_t(63));
}

inline void TraceScalar(bool gm, bool write, const void* gmAddr = nullptr, uint32_t gmBytes = 0) {
  if (!gm) IssueOn(write ? "LocalTensor::SetValue" : "LocalTensor::GetValue", PIPE_S);
  if (gm && gmBytes) {  // GlobalTensor::operator() issues itself, as a write
    NoteGm(gmAddr, gmBytes, write, false);
    IssueOn(write ? "GlobalTensor::SetValue" : "GlobalTensor::GetValue", PIPE_S);
  }
  if (CoreTrace* t = ActiveTrace()) {
    const uint64_t line = gm ? GmLine(gmAddr) : reinterpret_cast<uint64_t>(gmAddr) & ~uint64_t(63);
    if (!t->records.empty()) {
      TraceRecord& last = t->records.back();
      if (last.op == static_cast<uint8_t>(TraceOp::kScalar) && last.a == gm && last.b == write && last.addr == line &&
          last.x < 0xFFFFFFFFu) {
        last.x++;
        return;
      }
    }
    t->Push(TraceRecord{gm ? (write ? "GlobalTensor::SetValue" : "GlobalTensor::GetValue")
                           : (write ? "LocalTensor::SetValue" : "LocalTensor::GetValue"),
                        line, 1, 0, 0, static_cast<uint8_t>(TraceOp::kScalar), PIPE_S, gm, write});
  }
}

// DataCacheCleanAndInvalid (emu/cache.h): one record per call, the line cut as TraceScalar cuts it.
inline void TraceDataCacheClean(const void* gmAddr, bool entire) {
  if (CoreTrace* t = ActiveTrace()) {
    const uint64_t line = entire ? 0 : GmLine(gmAddr);
    t->Push(TraceRecord{"DataCacheCleanAndInvalid", line, 1, entire ? 1u : 0u, 0, static_cast<uint8_t>(TraceOp::kScalar),
                        PIPE_S, 1, 2});
  }
}

}  // namespace AscendC::emu
