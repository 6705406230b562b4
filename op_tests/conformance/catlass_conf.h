// Shared by the conformance sources (catlass_*.cpp): catlass's headers as every source needs them,
// the split-build export macros, and the launch arguments conftest.py passes (GemmArgs).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#include "kernel_operator.h"
#include "catlass/numeric_size.hpp"

// catlass sizes elements with AscendC::SizeOfBits only when compiled by bisheng (__CCE__, whose
// `[host, aicore]` syntax g++ cannot parse); its fallback sizeof(T) * 8 says 8 for int4b_t. Give it
// the device answer, as its __CCE__ branch does.
template <>
struct Catlass::SizeOfBits<AscendC::int4b_t> : AscendC::SizeOfBits<AscendC::int4b_t> {};

#include "catlass/arch/arch.hpp"
#include "catlass/arch/cross_core_sync.hpp"
#include "catlass/arch/resource.hpp"
#include "catlass/catlass.hpp"
#include "catlass/gemm/gemm_type.hpp"
#include "catlass/gemm/helper.hpp"
#include "catlass/gemm/tile/tile_copy.hpp"
#include "catlass/gemm/tile/tile_mmad.hpp"
#include "catlass/layout/layout.hpp"
#include "catlass/matrix_coord.hpp"

#if defined(SPLIT_CORE_CUBE)
#define CONF_BUILD(name) name##_aic
#else
#define CONF_BUILD(name) name##_aiv
#endif
#define CONF_EXPORT extern "C" __attribute__((visibility("default")))

using namespace Catlass;

// Tile counts of the block loops (uint32_t throughout, as GemmArgs).
constexpr uint32_t CeilDivU(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

// An in-core flag set and waited at once: the later pipe starts when the earlier one's work is done.
template <AscendC::HardEvent E>
inline void Sync(int32_t id = EVENT_ID0) {
  AscendC::SetFlag<E>(id);
  AscendC::WaitFlag<E>(id);
}

// A GM image as a tensor of T, from `byteOffset` on.
template <class T>
inline AscendC::GlobalTensor<T> Gm(GM_ADDR p, uint64_t byteOffset = 0) {
  AscendC::GlobalTensor<T> g;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(p + byteOffset));
  return g;
}

// The launch arguments, shared with conftest.py (GemmArgs); each kernel says what it reads from them.
struct GemmArgs {
  uint32_t m, n, k;
  uint32_t variant;  // which instantiation (see Variant)
};
