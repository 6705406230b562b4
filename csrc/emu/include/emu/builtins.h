// Names the bisheng compiler provides to every AscendC kernel (they are in no CANN header):
// event ids, the raw pipe_barrier intrinsic, __forceinline__, and g_coreType with the split
// compilation of MIX kernels.
//
// g_coreType (CANN impl/basic_api/kernel_macros.h): on the NPU a MIX kernel is compiled twice,
// once with SPLIT_CORE_CUBE (g_coreType is constexpr AIC) and once with SPLIT_CORE_VEC (constexpr
// AIV); ASCEND_IS_AIC / ASCEND_IS_AIV are then `constexpr(...)`. In CPU-debug mode (no SPLIT_*
// macro) g_coreType is the run-time type of the current core. The emulator does both: compile a
// kernel source with -DSPLIT_CORE_CUBE and with -DSPLIT_CORE_VEC into two libraries and let the
// host run the AIC build on AIC cores and the AIV build on AIV cores (see docs/emulator.md), or
// compile it once and read g_coreType at run time. Code that needs g_coreType in a constant
// expression (catlass: `if constexpr (g_coreType == AscendC::AIV)`) needs the split build.
#pragma once

#include "sync.h"

#ifndef __forceinline__
#define __forceinline__ inline __attribute__((always_inline))
#endif

// Event ids of SetFlag / WaitFlag (ccec's event_t; CANN code writes EVENT_ID0 and event_t::EVENT_ID0).
enum event_t { EVENT_ID0 = 0, EVENT_ID1, EVENT_ID2, EVENT_ID3, EVENT_ID4, EVENT_ID5, EVENT_ID6, EVENT_ID7 };

// The intrinsic behind PipeBarrier<pipe> (impl/c_api/.../pipe_barrier/asc_2201/pipe_barrier_impl.h).
inline void pipe_barrier(pipe_t pipe) {
  // A core runs in program order here: nothing to drain; the timing model sees the barrier.
  AscendC::emu::Core().counters.syncWaits++;
  if (pipe == PIPE_ALL) AscendC::emu::HazardBarrierAll();
  AscendC::emu::TraceRaw(AscendC::emu::TraceOp::kBarrier, pipe, "PipeBarrier", 0, 0, 0, pipe);
}

#if defined(SPLIT_CORE_CUBE) && defined(SPLIT_CORE_VEC)
#error "define at most one of SPLIT_CORE_CUBE and SPLIT_CORE_VEC"
#elif defined(SPLIT_CORE_CUBE) || defined(SPLIT_CORE_VEC)
#if defined(SPLIT_CORE_CUBE)
constexpr int32_t g_coreType = AscendC::AIC;
#else
constexpr int32_t g_coreType = AscendC::AIV;
#endif
#undef ASCEND_IS_AIV
#undef ASCEND_IS_AIC
#undef ASCEND_IS_NOT_AIV
#undef ASCEND_IS_NOT_AIC
#define ASCEND_IS_AIV constexpr(g_coreType == AscendC::AIV)
#define ASCEND_IS_AIC constexpr(g_coreType == AscendC::AIC)
#define ASCEND_IS_NOT_AIV constexpr(g_coreType != AscendC::AIV)
#define ASCEND_IS_NOT_AIC constexpr(g_coreType != AscendC::AIC)

namespace AscendC::emu {
// A split build must run on the core type it was compiled for; the kernel's type declaration
// is where every kernel says what it is, so the check sits there.
inline void RequireBuiltFor(int32_t builtFor) {
  const int32_t runs = Core().coreType;
  EMU_REQUIRE(runs == builtFor, "KERNEL_TASK_TYPE_DEFAULT", "core-type",
              "this kernel was compiled with SPLIT_CORE_%s but runs on a %s core: launch the %s build there",
              builtFor == AIC ? "CUBE" : "VEC", runs == AIC ? "cube (AIC)" : "vector (AIV)",
              runs == AIC ? "SPLIT_CORE_CUBE" : "SPLIT_CORE_VEC");
}
}  // namespace AscendC::emu

#undef KERNEL_TASK_TYPE_DEFAULT
#undef KERNEL_TASK_TYPE
#define KERNEL_TASK_TYPE_DEFAULT(value) \
  (::AscendC::emu::RequireBuiltFor(g_coreType), ::AscendC::emu::DeclareKernelType(value))
#define KERNEL_TASK_TYPE(key, value) \
  (::AscendC::emu::RequireBuiltFor(g_coreType), ::AscendC::emu::DeclareKernelType(value, (key)))
#else
// CPU-debug form: the type of the core running this thread.
#define g_coreType (::AscendC::emu::Core().coreType)
#endif
