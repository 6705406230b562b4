// Emulator runtime: per-core state, rule violations, counters, and the kernel launcher.
// Knows nothing about any operator.
#pragma once

#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "macros.h"

namespace AscendC::emu {

// ---- hardware description (Atlas A2, Ascend910B1: 24 AIC + 48 AIV) --------------------------
enum class Mem : uint8_t { UB, L1, L0A, L0B, L0C, BT, FB, kCount };
constexpr int kMemCount = static_cast<int>(Mem::kCount);

struct MemSpec {
  const char* name;
  uint32_t physicalBytes;  // size of the real buffer; TPipe may hand all of it out, instructions touch all of it
  uint32_t alignBytes;     // start-address alignment of operands
  bool onCube;             // lives on the AIC (true) or the AIV (false)
};
const MemSpec& Spec(Mem m);

struct SocInfo {
  const char* name;
  uint32_t aicNum;
  uint32_t aivNum;
};
const SocInfo& Soc();
// Emulates another A2/A3 SoC's core counts (the timing model's --soc); not while a launch runs.
void SelectSoc(const std::string& name, uint32_t aicNum, uint32_t aivNum);

// ---- errors ----------------------------------------------------------------------------------
// Every violated hardware rule raises this; its message names kernel, core, API call and rule.
class EmuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void Fail(const char* api, const char* rule, const std::string& detail);
#define EMU_REQUIRE(cond, api, rule, ...)                                        \
  do {                                                                           \
    if (!(cond)) ::AscendC::emu::Fail((api), (rule), ::AscendC::emu::Format(__VA_ARGS__)); \
  } while (0)

// ---- counters --------------------------------------------------------------------------------
// Work per pipe. Bytes for the movers, element-ops for the vector unit, MACs for the cube.
struct Counters {
  uint64_t mte2Bytes = 0;     // GM -> UB/L1
  uint64_t mte3Bytes = 0;     // UB/L1 -> GM
  uint64_t mte1Bytes = 0;     // L1 -> L0A/L0B
  uint64_t mte2Calls = 0;
  uint64_t mte3Calls = 0;
  uint64_t mte1Calls = 0;
  uint64_t vecElemOps = 0;    // elements processed by vector instructions
  uint64_t vecCalls = 0;      // vector instructions issued
  uint64_t cubeMacs = 0;      // multiply-accumulates issued to the cube
  uint64_t cubeCalls = 0;
  uint64_t fixpipeBytes = 0;  // L0C -> GM/L1
  uint64_t scalarOps = 0;     // scalar GetValue/SetValue on local or global tensors
  uint64_t syncWaits = 0;     // WaitFlag, PipeBarrier, SyncAll, CrossCoreWaitFlag
  Counters& operator+=(const Counters& o);
};

struct LaunchStats {
  std::string kernel;
  uint32_t blockDim = 0;
  uint32_t cores = 0;
  Counters total;
  std::vector<Counters> perCore;  // in launch order: per block AIC then AIVs
};

// The last launch on any thread, and a running sum since ResetCounters().
LaunchStats LastLaunch();
Counters CumulativeCounters();
uint64_t CumulativeLaunches();
void ResetCounters();

// ---- per-core state --------------------------------------------------------------------------
class PipeState;  // TPipe accounting, defined in pipe.h
struct CoreTrace;  // instruction trace for the timing model, defined in trace.h

struct HazardState;  // emu/hazard.h

struct CoreState {
  const char* kernel = "";
  int32_t coreType = AIV;
  int64_t blockIdx = 0;      // GetBlockIdx()
  int64_t subBlockIdx = 0;   // GetSubBlockIdx()
  int64_t blockNum = 1;      // GetBlockNum()
  uint32_t launchIndex = 0;  // position in LaunchStats::perCore
  std::array<std::unique_ptr<uint8_t[]>, kMemCount> mem;
  Counters counters;
  void* pipe = nullptr;                        // the live TPipe, if any
  std::array<std::array<uint8_t, 8>, static_cast<int>(HardEvent::MAX)> eventSet{};  // SetFlag without WaitFlag
  int declaredType = -1;                      // from KERNEL_TASK_TYPE_DEFAULT, -1 if none
  // The vector mask register: CTRL's counter-mode bit and MASK (high, low). Every vector API
  // drives it as CANN's dav_c220 implementation does (see vec_engine.h); maskUndefinedBy names
  // the last API that left it in a state the emulator does not model (nullptr: defined).
  bool maskCounterMode = false;
  uint64_t maskHigh = ~0ull;
  uint64_t maskLow = ~0ull;
  const char* maskUndefinedBy = nullptr;
  std::array<uint16_t, 4> mrgSortResult{};  // VMS4_SR: pairs of each queue the last MrgSort consumed
  std::array<uint64_t, 2> fmatrix{};         // SetFmatrix left / right: l1W | l1H << 16 | pads << 32
  int64_t fpcQuantAddr = -1;                 // SetFixPipeConfig: the per-channel quant tensor in FB (bytes)
  uint32_t fpcQuantBytes = 0;
  CoreTrace* trace = nullptr;                // non-null while tracing (emu/trace.h)
  HazardState* hazard = nullptr;             // the in-core happens-before check (emu/hazard.h)
  uint32_t nextQueueToken = 8;               // per-buffer event tokens of the TQues (ids 0-7 are the kernel's own)
  uint8_t atomicOp = 0;                      // SetAtomicAdd / Max / Min / None: emu::AtomicOp (emu/atomic.h)
  uint8_t atomicDtype = 0;                   // SetAtomicType: emu::AtomicDtype
  // Inside GmFlagWaitAtLeast's poll loop (emu/gm_wait.h): the trace set aside while polls go unrecorded,
  // and the counters as they stood after the first poll.
  CoreTrace* gmWaitTrace = nullptr;
  bool gmWaitPolled = false;
  Counters gmWaitCounters;
  // Mmad's operands unpacked row-major (emu/cube.h), kept for the launch so that each Mmad reuses them.
  template <typename Acc> struct MmadOperands { std::vector<Acc> a, b, c; };
  MmadOperands<float> mmadFloat;
  MmadOperands<int32_t> mmadInt32;
};

// The state of the core this thread emulates; fails if called outside a kernel launch.
CoreState& Core();
bool InKernel();
std::string CoreName(const CoreState& c);
uint8_t* MemBase(Mem m);  // this core's buffer for `m`, failing if the core type has none
inline bool HasMem(Mem m) { return Core().mem[static_cast<int>(m)] != nullptr; }

void DeclareKernelType(int type, uint64_t tilingKey = 0);

// A happens-before stamp (emu/hazard.h): what a cross-core sync carries, as (core launch index x 7
// + pipe, step) pairs sorted by index; a pair not there is step 0.
using HazardStamp = std::vector<std::pair<uint32_t, uint32_t>>;
// Blocks until every core of the group reaches the barrier (SyncAll). Detects deadlock. `stamp`:
// this core's stamp; returns the join of every member's.
HazardStamp Barrier(const char* api, bool aivOnly, const HazardStamp& stamp);
// Cross-core flag counters (CrossCoreSetFlag / CrossCoreWaitFlag), carrying the setter's stamp to
// the waiter: the wait returns the join of the stamps of the deliveries it takes.
void CrossCoreSet(const char* api, int mode, uint16_t flagId, const HazardStamp& stamp);
HazardStamp CrossCoreWait(const char* api, int mode, uint16_t flagId);

// ---- global memory ---------------------------------------------------------------------------
struct GmRegion {
  const void* ptr;
  uint64_t bytes;
};
// Fails unless [p, p+bytes) lies inside one region registered for the running launch.
void CheckGm(const char* api, const void* p, uint64_t bytes);
// Fills host memory that stands for GM the NPU leaves undefined (an op's workspace, GmAlloc) with
// the poison pattern (0xFFC0FFC0: NaN as fp32/fp16/bf16), so a read before the first write shows.
void PoisonGm(void* p, uint64_t bytes);

// ---- launch ----------------------------------------------------------------------------------
// Runs `body` on `blockDim` blocks: AIV_MODE one AIV each, AIC_MODE one AIC, MIX_MODE 1 AIC + 2 AIV.
// Cores are threads. The first violation on any core aborts the others and is rethrown here.
void Launch(const char* kernel, KernelMode mode, uint32_t blockDim, const std::function<void()>& body,
            const std::vector<GmRegion>& regions);

// CANN CPU-debug host state (tikicpulib.h).
void* GmAllocRegistered(size_t bytes);
void GmFreeRegistered(void* p);
std::vector<GmRegion> GmAllocRegions();
void SetDefaultKernelMode(KernelMode mode);
KernelMode DefaultKernelMode();
void SetTilingKey(uint64_t key);
uint64_t TilingKey();

}  // namespace AscendC::emu

namespace AscendC {
inline int64_t GetBlockIdx() { return emu::Core().blockIdx; }
inline int64_t GetBlockNum() { return emu::Core().blockNum; }
namespace emu {
// True while the core unwinds from an error (its own EmuError, or the launch's abort): the kernel has
// stopped, and the sync calls its destructors make on the way out (catlass's tiles wait their flags in
// destructors) are skipped, since a second throw from a destructor would be std::terminate.
inline bool Unwinding() { return std::uncaught_exceptions() > 0; }
}  // namespace emu

inline int64_t GetSubBlockIdx() { return emu::Core().subBlockIdx; }
inline int64_t GetSubBlockNum() { return emu::Core().coreType == AIV && emu::Core().declaredType == KERNEL_TYPE_MIX_AIC_1_2 ? 2 : 1; }
inline int64_t GetTaskRatio() { return GetSubBlockNum(); }
// As CANN's CPU debug mode: the workspace itself (the NPU adds its system reserve).
inline GM_ADDR GetUserWorkspace(GM_ADDR workspace) {
  EMU_REQUIRE(workspace != nullptr, "GetUserWorkspace", "gm-bounds", "workspace can not be nullptr");
  return workspace;
}
inline constexpr int16_t GetDataBlockSizeInBytes() { return 32; }
}  // namespace AscendC

#define ASCEND_IS_AIV (::AscendC::emu::Core().coreType == ::AscendC::AIV)
#define ASCEND_IS_AIC (::AscendC::emu::Core().coreType == ::AscendC::AIC)
#define ASCEND_IS_NOT_AIV (!ASCEND_IS_AIV)
#define ASCEND_IS_NOT_AIC (!ASCEND_IS_AIC)
#define TILING_KEY_IS(key) (::AscendC::emu::TilingKey() == static_cast<uint64_t>(key))
