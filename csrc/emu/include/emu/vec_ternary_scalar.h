// Axpy: dst = src * scalar + dst, the count form and the two mask / repeat forms of
// include/basic_api/kernel_operator_vec_ternary_scalar_intf.h (lines 38-56), with the A2/A3 behaviour of
// impl/basic_api/dav_c220/kernel_operator_vec_ternary_scalar_impl.h.
#pragma once

#include "vec_elementwise.h"

namespace AscendC {
namespace emu {

// The (dst, src) pairs vaxpy has on A2/A3 (Axpy.md table 3; c220 impl line 25): half <- half,
// float <- float, float <- half. dav_c220 checks the pair with an ASCENDC_ASSERT, but the vaxpy
// intrinsic of the CPU-debug stubs has no overload for any other pair, so CANN refuses the call at
// compile time (checked against asc-devkit 8.5.0's headers).
template <typename T, typename U>
inline constexpr bool kAxpyPair = (std::is_same_v<T, half> && std::is_same_v<U, half>) ||
                                  (std::is_same_v<T, float> && std::is_same_v<U, float>) ||
                                  (std::is_same_v<T, float> && std::is_same_v<U, half>);

// One lane: the product is rounded to the dst type, then the sum (two roundings, as Muls then Add
// in the dst type; no fused multiply-add). CANN's CPU-debug vaxpy is in a binary library with no
// published source, and Axpy.md gives only the formula; the choice follows the emulator's sibling
// instructions. For float <- half the product of two halves is exact in fp32.
template <typename T, typename U>
inline T AxpyValue(U x, U s, T y) {
  if constexpr (std::is_same_v<T, half>) {
    const half prod = half(static_cast<float>(x) * static_cast<float>(s));
    return half(static_cast<float>(prod) + static_cast<float>(y));
  } else {
    volatile float prod = static_cast<float>(x) * static_cast<float>(s);  // volatile: never contracted to an FMA
    return static_cast<float>(prod) + y;
  }
}

// dst is read and written, src read, lane by lane under the plan.
template <typename T, typename U>
void AxpyLanes(const LocalTensor<T>& dst, const LocalTensor<U>& src, U scalar, const LanePlan& p, const Layout& ld,
               const Layout& ls) {
  UpdateLanes("Axpy", dst, src, p, ld, ls, [scalar](U x, T y) { return AxpyValue<T, U>(x, scalar, y); });
}

// Lanes per repeat: those of the wider operand (c220 impl lines 39-43: SetMask<T> when dst is
// wider, so float <- half runs 64 lanes and reads the first 4 blocks of src per repeat, Axpy.md
// "约束说明").
template <typename T, typename U>
constexpr uint32_t AxpyLanesPerRepeat() {
  return LanesFor(sizeof(T) > sizeof(U) ? sizeof(T) : sizeof(U));
}

template <typename T, typename U, typename M>
void AxpyRepeat(const LocalTensor<T>& dst, const LocalTensor<U>& src, U scalar, M mask, uint8_t repeatTime,
                const UnaryRepeatParams& rp, bool isSetMask) {
  const LanePlan p = PlanMask("Axpy", AxpyLanesPerRepeat<T, U>(), mask, repeatTime, isSetMask);
  AxpyLanes(dst, src, scalar, p, Layout{sizeof(T), rp.dstBlkStride, rp.dstRepStride},
            Layout{sizeof(U), rp.srcBlkStride, rp.srcRepStride});
}
}  // namespace emu

#define EMU_AXPY_REQUIRE \
  static_assert(emu::kAxpyPair<T, U>, "Axpy: (dst, src) must be (half, half), (float, float) or (float, half) on A2/A3")

// Level 0, bit mask (c220 impl lines 50-58: SetMask<T, isSetMask>(mask[1], mask[0])).
template <typename T, typename U, bool isSetMask = true>
void Axpy(const LocalTensor<T>& dst, const LocalTensor<U>& src, const U& scalarValue, uint64_t mask[],
          const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_AXPY_REQUIRE;
  emu::AxpyRepeat(dst, src, static_cast<U>(scalarValue), static_cast<const uint64_t*>(mask), repeatTime, repeatParams,
                  isSetMask);
}
// Level 0, continuous mask (c220 impl lines 33-47: the mask counts lanes of the wider type).
template <typename T, typename U, bool isSetMask = true>
void Axpy(const LocalTensor<T>& dst, const LocalTensor<U>& src, const U& scalarValue, uint64_t mask,
          const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_AXPY_REQUIRE;
  emu::AxpyRepeat(dst, src, static_cast<U>(scalarValue), mask, repeatTime, repeatParams, isSetMask);
}
// Level 2 (c220 impl lines 61-77): counter mode with `count` elements, contiguous operands (the
// src repeat stride halves for float <- half), then normal mode with a full mask.
template <typename T, typename U>
void Axpy(const LocalTensor<T>& dst, const LocalTensor<U>& src, const U& scalarValue, const int32_t& count) {
  EMU_AXPY_REQUIRE;
  const emu::LanePlan p = emu::PlanCountForm("Axpy", emu::AxpyLanesPerRepeat<T, U>(), count);
  emu::AxpyLanes(dst, src, static_cast<U>(scalarValue), p, emu::Contiguous(sizeof(T), p.lanes * sizeof(T)),
                 emu::Contiguous(sizeof(U), p.lanes * sizeof(U)));
}
#undef EMU_AXPY_REQUIRE

}  // namespace AscendC
