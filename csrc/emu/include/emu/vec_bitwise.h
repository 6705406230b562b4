// Bitwise vector instructions: And, Or (include/basic_api/kernel_operator_vec_binary_intf.h),
// ShiftLeft and ShiftRight (kernel_operator_vec_binary_scalar_intf.h), count and mask/repeat forms,
// with the A2 type rules of impl/basic_api/dav_c220/kernel_operator_vec_binary{,_scalar}_impl.h.
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

// ShiftRight.md: logical for unsigned types, arithmetic (sign copies) for signed ones; s equal to
// the bit width gives 0, or -1 for a negative signed value. With roundEn (signed types only, per
// ShiftRight.md's roundEn row) the last bit shifted out is added: (x >> s) + bit s-1 of x.
template <typename T>
inline T ShiftRightValue(T v, uint32_t s, bool roundEn) {
  constexpr uint32_t bits = sizeof(T) * 8;
  if constexpr (std::is_unsigned_v<T>) {
    return s >= bits ? T(0) : static_cast<T>(v >> s);
  } else {
    const int64_t x = v;  // s <= 32 < 64: the shift is defined and arithmetic
    const int64_t q = x >> s;
    return static_cast<T>(roundEn && s > 0 ? q + ((x >> (s - 1)) & 1) : q);
  }
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

namespace emu {
// The count form of either shift (c220 impl lines 268-283 and 341-349): with isSetMask = false one
// repeat runs under the mask registers and `count` is ignored (ShiftLeft.md / ShiftRight.md, isSetMask).
template <typename T, typename F>
void ShiftCount(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src, int32_t count, bool isSetMask,
                F&& f) {
  if (isSetMask) return UnaryCount(api, dst, src, count, f);
  const LanePlan p = PlanFromRegisters(api, LanesFor(sizeof(T)), 1);
  const Layout l = Contiguous(sizeof(T), p.lanes * sizeof(T));
  UnaryLanes(api, dst, src, p, l, l, f);
}
}  // namespace emu

// ShiftLeft (kernel_operator_vec_binary_scalar_intf.h lines 245-278: each form also with a scalar of
// type U == T).
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
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask[],
               const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  ShiftLeft<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams);
}
template <typename T, bool isSetMask = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,
               const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_SHIFT_REQUIRE;
  const uint32_t s = emu::ShiftAmount("ShiftLeft", scalarValue);
  emu::UnaryRepeat("ShiftLeft", dst, src, mask, repeatTime, repeatParams, isSetMask,
                   [s](T a) { return emu::ShiftLeftValue(a, s); });
}
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask,
               const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  ShiftLeft<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams);
}
template <typename T, bool isSetMask = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) {
  EMU_SHIFT_REQUIRE;
  const uint32_t s = emu::ShiftAmount("ShiftLeft", scalarValue);
  emu::ShiftCount("ShiftLeft", dst, src, count, isSetMask, [s](T a) { return emu::ShiftLeftValue(a, s); });
}
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftLeft(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, const int32_t& count) {
  ShiftLeft<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), count);
}
#undef EMU_SHIFT_REQUIRE

// ShiftRight (kernel_operator_vec_binary_scalar_intf.h lines 296-329). dav_c220 checks the type with
// an ASCENDC_ASSERT (c220 impl line 293), but vshr has no overload for other types in the CPU-debug
// stubs, so CANN refuses them at compile time; the shift range [0, bit width] is an
// ASCENDC_CHECK_VALUE_RANGE (line 297), a run-time check. The mask forms set the mask of T (lines
// 319-337); the count form with isSetMask = false runs one repeat under the registers and ignores
// `count`, roundEn off (lines 341-349; ShiftRight.md's isSetMask row).
#define EMU_SHIFTR_REQUIRE \
  static_assert(emu::kIsB16Int<T> || emu::kIsB32Int<T>, "ShiftRight: uint16_t / int16_t / uint32_t / int32_t only")

namespace emu {
template <typename T, typename M>
void ShiftRightRepeat(const LocalTensor<T>& dst, const LocalTensor<T>& src, T scalar, M mask, uint8_t repeatTime,
                      const UnaryRepeatParams& rp, bool isSetMask, bool roundEn) {
  const uint32_t s = ShiftAmount("ShiftRight", scalar);
  UnaryRepeat("ShiftRight", dst, src, mask, repeatTime, rp, isSetMask,
              [s, roundEn](T a) { return ShiftRightValue(a, s, roundEn); });
}
template <typename T>
void ShiftRightCount(const LocalTensor<T>& dst, const LocalTensor<T>& src, T scalar, int32_t count, bool isSetMask) {
  const uint32_t s = ShiftAmount("ShiftRight", scalar);
  ShiftCount("ShiftRight", dst, src, count, isSetMask, [s](T a) { return ShiftRightValue(a, s, false); });
}
}  // namespace emu

template <typename T, bool isSetMask = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask[],
                const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn = false) {
  EMU_SHIFTR_REQUIRE;
  emu::ShiftRightRepeat(dst, src, static_cast<T>(scalarValue), static_cast<const uint64_t*>(mask), repeatTime,
                        repeatParams, isSetMask, roundEn);
}
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask[],
                const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn) {
  ShiftRight<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams, roundEn);
}
template <typename T, bool isSetMask = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,
                const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn = false) {
  EMU_SHIFTR_REQUIRE;
  emu::ShiftRightRepeat(dst, src, static_cast<T>(scalarValue), mask, repeatTime, repeatParams, isSetMask, roundEn);
}
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask,
                const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn) {
  ShiftRight<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams, roundEn);
}
template <typename T, bool isSetMask = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) {
  EMU_SHIFTR_REQUIRE;
  emu::ShiftRightCount(dst, src, static_cast<T>(scalarValue), count, isSetMask);
}
template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, const int32_t& count) {
  ShiftRight<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), count);
}
#undef EMU_SHIFTR_REQUIRE

}  // namespace AscendC
