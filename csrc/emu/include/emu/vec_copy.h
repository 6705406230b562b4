// Copy: the vector unit's UB -> UB move with block and repeat strides (Copy.md; declared in
// include/basic_api/kernel_operator_data_copy_intf.h; dav_c220 kernel_operator_data_copy_impl.h
// CopyIntrinsicsImpl: one vcopy of uint16_t or uint32_t lanes, so the bits move unchanged). Strides
// are in 32-B blocks; repeat sizes up to 4095 (UINT12_MAX, checked there).
#pragma once

#include <cstdint>
#include <type_traits>

#include "emu/tensor.h"
#include "emu/vec_engine.h"

namespace AscendC {

// include/basic_api/kernel_struct_data_copy.h: dstStride / srcStride between the blocks of a repeat,
// dstRepeatSize / srcRepeatSize between repeats, all in 32-B blocks.
struct CopyRepeatParams {
  CopyRepeatParams() {}
  CopyRepeatParams(const uint16_t dstStrideIn, const uint16_t srcStrideIn, uint16_t dstRepeatSizeIn,
                   uint16_t srcRepeatSizeIn)
      : dstStride(dstStrideIn), srcStride(srcStrideIn), dstRepeatSize(dstRepeatSizeIn), srcRepeatSize(srcRepeatSizeIn) {}
  uint16_t dstStride = 0;
  uint16_t srcStride = 0;
  uint16_t dstRepeatSize = 8;
  uint16_t srcRepeatSize = 8;
};

namespace emu {

template <typename T, typename M>
void CopyRepeat(const LocalTensor<T>& dst, const LocalTensor<T>& src, M mask, uint8_t repeatTime,
                const CopyRepeatParams& rp, bool isSetMask) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, int16_t> ||
                    std::is_same_v<T, uint16_t> || std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t> ||
                    std::is_same_v<T, float>,
                "Copy: unsupported element type on A2/A3");
  EMU_REQUIRE(rp.dstRepeatSize <= 4095 && rp.srcRepeatSize <= 4095, "Copy", "param-range",
              "repeat sizes %u / %u exceed 4095 (UINT12_MAX)", rp.dstRepeatSize, rp.srcRepeatSize);
  using Bits = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;  // vcopy moves lanes, not values
  const LanePlan p = PlanMask("Copy", LanesFor(sizeof(T)), mask, repeatTime, isSetMask);
  UnaryLanes("Copy", dst.template ReinterpretCast<Bits>(), src.template ReinterpretCast<Bits>(), p,
             Layout{sizeof(T), rp.dstStride, rp.dstRepeatSize}, Layout{sizeof(T), rp.srcStride, rp.srcRepeatSize},
             [](Bits b) { return b; });
}

}  // namespace emu

template <typename T, bool isSetMask = true>
void Copy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask[], const uint8_t repeatTime,
          const CopyRepeatParams& repeatParams) {
  emu::CopyRepeat(dst, src, mask, repeatTime, repeatParams, isSetMask);
}
template <typename T, bool isSetMask = true>
void Copy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask, const uint8_t repeatTime,
          const CopyRepeatParams& repeatParams) {
  emu::CopyRepeat(dst, src, mask, repeatTime, repeatParams, isSetMask);
}

}  // namespace AscendC
