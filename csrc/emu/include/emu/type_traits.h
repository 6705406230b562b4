// AscendC's compile-time type helpers that kernels use (impl/basic_api/utils/kernel_utils_ceil_oom_que.h,
// kernel_utils_constants.h).
#pragma once

#include <cstdint>
#include <type_traits>

#include "fp_types.h"

namespace AscendC {

template <typename T, typename U> struct IsSameType : public std::false_type {};
template <typename T> struct IsSameType<T, T> : public std::true_type {};

// Bits of one element: int4b_t packs two per byte.
template <typename T> struct SizeOfBits {
  static constexpr uint32_t value = sizeof(T) * 8;
};
template <> struct SizeOfBits<int4b_t> {
  static int const value = 4;
};

}  // namespace AscendC
