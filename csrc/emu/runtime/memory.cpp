// Memory specs, GM registry (GmAlloc), poisoning, TPipe accounting, copy counters.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "emu/atomic.h"
#include "emu/pipe.h"
#include "emu/trace.h"
#include "launch_context.h"

namespace AscendC::emu {
std::atomic<bool>& GmAtomicsUsed() {
  static std::atomic<bool> used{false};
  return used;
}


const MemSpec& Spec(Mem m) {
  // Sizes of Atlas A2/A3 (Ascend910B1 platform config). TPipe hands out the whole memory, as CANN's
  // CPU-debug bufferInitLen does (impl/basic_api/utils/kernel_utils_mode_cpu.h). Instructions may
  // touch all of it. UB: Huawei's Add example keeps its buffers up to the last byte (asc-devkit
  // examples/.../add_high_performance/add.asc); the 32 B that Select writes at TMP_UB_OFFSET = 184 KiB
  // are modeled where Select runs (vec_cmpsel.h). L1: the top 128 B (KFC_L1_RESERVER_SIZE,
  // impl/basic_api/utils/kernel_utils_constants.h, "#ifndef", so a build may change it) are where
  // the matmul API's KFC server writes its messages (impl/basic_api/dav_c220/kfc/kfc_comm_server.h);
  // a kernel without KFC owns them: Huawei's basic-API matmul example puts B's pong packet at
  // [384 KiB, 512 KiB) (examples/.../matmul_basic_api_high_performance/mmad.asc) and was measured so.
  static const MemSpec specs[kMemCount] = {
      {"UB", 192 * 1024, 32, false},
      {"L1", 512 * 1024, 32, true},
      {"L0A", 64 * 1024, 512, true},
      {"L0B", 64 * 1024, 512, true},
      {"L0C", 128 * 1024, 64, true},
      {"BT", 1024, 64, true},
      {"FB", 7 * 1024, 64, true},
  };
  return specs[static_cast<int>(m)];
}

namespace {
SocInfo& MutableSoc() {
  static SocInfo soc{"Ascend910B1", 24, 48};
  return soc;
}
}  // namespace

const SocInfo& Soc() { return MutableSoc(); }

// The timing model emulates other A2/A3 SoCs (910B3: 20 AIC + 40 AIV): host tilings then size their
// launches for that SoC. Local memory sizes are the same on all of them.
void SelectSoc(const std::string& name, uint32_t aicNum, uint32_t aivNum) {
  static std::mutex mu;
  static std::map<std::string, std::string> names;  // keeps the name strings alive
  if (aicNum < 1 || aicNum > 64 || aivNum != 2 * aicNum)
    throw EmuError(Format("[ascendc-emu] SelectSoc: %u AIC + %u AIV is not an A2/A3 core array", aicNum, aivNum));
  std::lock_guard<std::mutex> g(mu);
  const std::string& stored = names.emplace(name, name).first->second;
  MutableSoc() = SocInfo{stored.c_str(), aicNum, aivNum};
}

// The pattern repeats every 4 bytes from p: whole 4-byte words, then the tail.
void PoisonGm(void* p, uint64_t bytes) {
  auto* b = static_cast<uint8_t*>(p);
  uint32_t word;
  std::memcpy(&word, kPoisonPattern, 4);
  const uint64_t words = bytes / 4;
  for (uint64_t i = 0; i < words; ++i) std::memcpy(b + 4 * i, &word, 4);
  for (uint64_t i = words * 4; i < bytes; ++i) b[i] = kPoisonPattern[i & 3];
}

void Poison(uint8_t* p, uint32_t bytes) { PoisonGm(p, bytes); }

void CountCopy(Mem from, Mem to, uint64_t bytes, const char* api, const void* gm, uint32_t bursts, uint64_t pitch,
               bool noteGm) {
  if (gm && noteGm && bursts) {  // the GM side, burst by burst (emu/hazard.h)
    const uint64_t len = bytes / bursts;
    for (uint32_t i = 0; i < bursts; ++i) NoteGm(static_cast<const uint8_t*>(gm) + i * pitch, len, to == Mem::kCount);
  }
  Counters& c = Core().counters;
  pipe_t pipe = PIPE_V;
  if (from == Mem::kCount) { c.mte2Bytes += bytes; c.mte2Calls++; pipe = PIPE_MTE2; }     // GM -> local
  else if (to == Mem::kCount) { c.mte3Bytes += bytes; c.mte3Calls++; pipe = PIPE_MTE3; }  // local -> GM
  else if (from == Mem::L1 && to != Mem::L1) { c.mte1Bytes += bytes; c.mte1Calls++; pipe = PIPE_MTE1; }  // L1 -> L0A / L0B / BT / FB
  else { c.vecElemOps += bytes / 2; c.vecCalls++; }                        // UB -> UB runs on the vector pipe
  // Paths the counters do not single out: L1 -> UB/BT on MTE1, UB -> L1 on MTE3 (pipe types in
  // CANN's cce intrinsic guide: MTE1 moves out of L1, MTE3 out of UB). L1 -> FB runs on FIX: CANN's
  // Fixpipe copies its per-channel scales L1 -> FB and runs the fixpipe with no flag between them
  // (dav_c220/kernel_operator_fixpipe_v2_impl.h, CopyDeqTensorToFbuf).
  if (from == Mem::L1 && to != Mem::kCount) pipe = to == Mem::FB ? PIPE_FIX : PIPE_MTE1;
  if (from == Mem::UB && to == Mem::L1) pipe = PIPE_MTE3;
  IssueOn(api, pipe);
  if (CoreTrace* t = ActiveTrace()) {
    const uint8_t path = static_cast<uint8_t>((from == Mem::kCount ? kTraceGm : uint8_t(from)) << 4 |
                                              (to == Mem::kCount ? kTraceGm : uint8_t(to)));
    const uint64_t clampedPitch = pitch > 0xFFFFFFFFull ? 0xFFFFFFFFull : pitch;
    t->Push(TraceRecord{api, reinterpret_cast<uint64_t>(gm), static_cast<uint32_t>(bytes > 0xFFFFFFFFull ? 0xFFFFFFFFull : bytes),
                        bursts, static_cast<uint32_t>(clampedPitch), static_cast<uint8_t>(TraceOp::kCopy),
                        static_cast<uint8_t>(pipe), path, static_cast<uint8_t>(to == Mem::kCount && Core().atomicOp != 0)});
  }
}

// ---- GmAlloc registry -------------------------------------------------------------------------
namespace {
std::mutex gGmMu;
std::map<const void*, uint64_t> gGmAllocs;
KernelMode gMode = KernelMode::MIX_MODE;
uint64_t gTilingKey = 0;
}  // namespace

void* GmAllocRegistered(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw EmuError(Format("[ascendc-emu] GmAlloc: out of host memory for %zu bytes", bytes));
  PoisonGm(p, rounded);
  std::lock_guard<std::mutex> g(gGmMu);
  gGmAllocs[p] = bytes;
  return p;
}

void GmFreeRegistered(void* p) {
  if (!p) return;
  {
    std::lock_guard<std::mutex> g(gGmMu);
    if (!gGmAllocs.erase(p)) throw EmuError("[ascendc-emu] GmFree: pointer was not returned by GmAlloc");
  }
  std::free(p);
}

std::vector<GmRegion> GmAllocRegions() {
  std::lock_guard<std::mutex> g(gGmMu);
  std::vector<GmRegion> out;
  for (auto& [p, n] : gGmAllocs) out.push_back({p, n});
  return out;
}

void SetDefaultKernelMode(KernelMode mode) { gMode = mode; }
KernelMode DefaultKernelMode() { return gMode; }
void SetTilingKey(uint64_t key) { gTilingKey = key; }
uint64_t TilingKey() { return gTilingKey; }

// ---- TPipe ------------------------------------------------------------------------------------
uint32_t PipeState::Reserve(const char* api, TPosition pos, uint32_t num, uint32_t len, bool isQue) {
  EMU_REQUIRE(pos != TPosition::GM && pos != TPosition::CO2 && pos != TPosition::MAX, api, "position",
              "%s is not local memory on A2/A3 (CO2 is GM there)", PositionName(pos));
  const Mem m = MemOf(pos);
  const MemSpec& s = Spec(m);
  // A core may reserve memory it does not have (catlass's Resource does, on every core): that is
  // address bookkeeping on the NPU. Touching it is what fails (MemBase).
  EMU_REQUIRE(num >= 1, api, "buffer-count", "num must be at least 1");
  EMU_REQUIRE(buffers_ + num <= kMaxBuffersPerKernel, api, "buffer-count",
              "%u buffers would exceed the limit of %u per kernel", buffers_ + num, kMaxBuffersPerKernel);
  uint32_t& ques = queBuffers_[static_cast<int>(pos)];
  EMU_REQUIRE(!isQue || ques + num <= kMaxQueBuffersPerPosition, api, "buffer-count",
              "%u TQue buffers at %s would exceed the limit of %u per position (one event id each)", ques + num,
              PositionName(pos), kMaxQueBuffersPerPosition);
  uint32_t& used = used_[static_cast<int>(m)];
  const uint64_t need = uint64_t(num) * len;
  EMU_REQUIRE(used + need <= s.physicalBytes, api, "capacity",
              "%u x %u bytes at %s need %s bytes [%u, %llu), but %s has %u bytes", num, len, PositionName(pos), s.name,
              used, (unsigned long long)(used + need), s.name, s.physicalBytes);
  const uint32_t base = used;
  used += static_cast<uint32_t>(need);
  buffers_ += num;
  if (isQue) ques += num;
  return base;
}

void PipeState::Reset() {
  used_.fill(0);
  queBuffers_.fill(0);
  buffers_ = 0;
}

PipeState& CurrentPipe(const char* api) {
  auto* p = static_cast<TPipe*>(Core().pipe);
  EMU_REQUIRE(p != nullptr, api, "queue-state", "no TPipe is alive on this core");
  return p->EmuState();
}

}  // namespace AscendC::emu

namespace AscendC {
TPipe::TPipe() {
  auto& c = emu::Core();
  EMU_REQUIRE(c.pipe == nullptr, "TPipe", "queue-state", "a second TPipe while one is alive on this core");
  c.pipe = this;
}
TPipe::~TPipe() {
  if (emu::InKernel() && emu::Core().pipe == this) emu::Core().pipe = nullptr;
}
}  // namespace AscendC
