// Small helpers shared by kernels and host tiling code (no AscendC dependency).
#pragma once

#include <cstdint>

#ifndef __aicore__
#define __aicore__  // host build: the kernel attribute is meaningless here
#endif

namespace ascend_glm5 {

__aicore__ inline constexpr uint32_t CeilDiv(uint32_t a, uint32_t b) { return (a + b - 1) / b; }
__aicore__ inline constexpr uint32_t AlignUp(uint32_t a, uint32_t b) { return CeilDiv(a, b) * b; }
// Length of chunk c when `total` elements are cut into chunks of `chunk` (the last one may be short).
__aicore__ inline constexpr uint32_t ChunkLen(uint32_t total, uint32_t chunk, uint32_t c) {
  return total - c * chunk < chunk ? total - c * chunk : chunk;
}

// Type equality without the C++ standard library, which device code cannot rely on.
template <typename A, typename B> struct SameType { static constexpr bool value = false; };
template <typename A> struct SameType<A, A> { static constexpr bool value = true; };

// Element types as kernels receive them in tiling structs.
enum DTypeId : uint32_t { kFloat16 = 0, kBFloat16 = 1, kFloat32 = 2, kInt8 = 3, kInt32 = 4 };

}  // namespace ascend_glm5
