// Bitwise vector instructions: And, Or (include/basic_api/kernel_operator_vec_binary_intf.h) and
// ShiftLeft (kernel_operator_vec_binary_scalar_intf.h), count and mask/repeat forms, with the A2
// type rules of impl/basic_api/dav_c220/kernel_operator_vec_binary{,_scalar}_impl.h.
#pragma once

#include "vec_elementwise.h"

namespace AscendC {

namespace emu {
template <typename T> inline constexpr bool kIsB16Int = std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t>;
template <typename T> inline constexpr bool kIsB32Int = std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>;

// The count forms of And / Or run vand / vor on int16 for every type (dav_c220 AndImpl "for
// compatibility"): for 32-bit T, `count` counts 16-bit halves (And.md asks for twice the elements).
template <typename T, typename F>
void BitwiseCount(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                  int32_t count, F f) {
  BinaryCount(api, dst.template ReinterpretCast<int16_t>(), src0.template ReinterpretCast<int16_t>(),
              src1.template ReinterpretCast<int16_t>(), count, f);
}

// ShiftLeft.md: logical for unsigned types; for signed types the sign bit stays and the bit
// below it is the first one shifted out.
template <typename T>
inline T ShiftLeftValue(T v, uint32_t s) {
  using U = std::make_unsigned_t<T>;
  constexpr uint32_t bits = sizeof(T) * 8;
  const U u = static_cast<U>(v);
  const U moved = s >= bits ? U(0) : static_cast<U>(u << s);
  if constexpr (std::is_unsigned_v<T>) return static_cast<T>(moved);
  const U sign = static_cast<U>(U(1) << (bits - 1));
  return static_cast<T>(static_cast<U>((u & sign) | (moved & static_cast<U>(~sign))));
}

template <typename T>
inline uint32_t ShiftAmount(const char* api, T s) {
  EMU_REQUIRE(static_cast<int64_t>(s) >= 0 && static_cast<int64_t>(s) <= int64_t(sizeof(T) * 8), api, "param-range",
              "shift %lld outside [0, %u]", static_cast<long long>(s), uint32_t(sizeof(T) * 8));
  return static_cast<uint32_t>(s);
}
}  // namespace emu

// The count form's element type: dav_c220 checks it with an ASCENDC_ASSERT (a run-time abort in CPU-debug,
// compiled out on the device) and runs every type as int16_t, so any type compiles and an unsupported one
// fails here when called; the mask forms' check is a static_assert.
#define EMU_BITWISE_OP(NAME, EXPR)                                                                              \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask[], \
            const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                                 \
    static_assert(emu::kIsB16Int<T>, #NAME ": the mask forms take int16_t / uint16_t on A2/A3");               \
    emu::BinaryRepeat(#NAME, dst, src0, src1, static_cast<const uint64_t*>(mask), repeatTime, repeatParams,     \
                      isSetMask, [](T a, T b) { return static_cast<T>(EXPR); });                                \
  }                                                                                                             \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask,   \
            const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                                 \
    static_assert(emu::kIsB16Int<T>, #NAME ": the mask forms take int16_t / uint16_t on A2/A3");               \
    emu::BinaryRepeat(#NAME, dst, src0, src1, mask, repeatTime, repeatParams, isSetMask,                        \
                      [](T a, T b) { return static_cast<T>(EXPR); });                                           \
  }                                                                                                             \
  template <typename T>                                                                                         \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, const int32_t& count) { \
    EMU_REQUIRE(emu::kIsB16Int<T> || emu::kIsB32Int<T>, #NAME, "dtype",                                       \
                "int16_t / uint16_t / int32_t / uint32_t only");                                              \
    emu::BitwiseCount(#NAME, dst, src0, src1, count, [](int16_t a, int16_t b) { return static_cast<int16_t>(EXPR); }); \
  }

EMU_BITWISE_OP(And, a & b)
EMU_BITWISE_OP(Or, a | b)
#undef EMU_BITWISE_OP

#define EMU_SHIFT_REQUIRE \
  static_assert(emu::kIsB16Int<T> || emu::kIsB32Int<T>, "ShiftLeft: uint16_t / int16_t / uint32_t / int32_t only")

template <typename T, bool isSetMask = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask[],
               const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_SHIFT_REQUIRE;
  const uint32_t s = emu::ShiftAmount("ShiftLeft", scalarValue);
  emu::UnaryRepeat("ShiftLeft", dst, src, static_cast<const uint64_t*>(mask), repeatTime, repeatParams, isSetMask,
                   [s](T a) { return emu::ShiftLeftValue(a, s); });
}
template <typename T, bool isSetMask = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,
               const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_SHIFT_REQUIRE;
  const uint32_t s = emu::ShiftAmount("ShiftLeft", scalarValue);
  emu::UnaryRepeat("ShiftLeft", dst, src, mask, repeatTime, repeatParams, isSetMask,
                   [s](T a) { return emu::ShiftLeftValue(a, s); });
}
template <typename T, bool isSetMask = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) {
  EMU_SHIFT_REQUIRE;
  const uint32_t s = emu::ShiftAmount("ShiftLeft", scalarValue);
  emu::UnaryCount("ShiftLeft", dst, src, count, [s](T a) { return emu::ShiftLeftValue(a, s); });
}
#undef EMU_SHIFT_REQUIRE

}  // namespace AscendC
