// Element-wise vector instructions: binary (Add ... Min), unary (Exp ... Relu), tensor-scalar
// (Adds ... Mins) and Duplicate, each in count form and mask/repeat forms.
#pragma once

#include <cmath>

#include "vec_engine.h"

namespace AscendC {
namespace emu {

template <typename T> inline constexpr bool kIsFloat = std::is_same_v<T, float> || std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t>;
template <typename T> inline constexpr bool kIsVecInt = std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t> || std::is_same_v<T, uint16_t> || std::is_same_v<T, uint32_t>;

// Computes in fp32 for floating types (one rounding back to T). Integers wrap: with CTRL[53] = 0
// an overflowing integer result keeps its low bits (asc-devkit 8.5 c_api/sys_var/asc_set_ctrl.md,
// table 2; 0 as the value at kernel start is assumed). Computed in 64 bits, so an int32 product
// of any bits (a padded tail lane's, say) is defined in C++ too.
template <typename T, typename F>
inline T Arith(T a, T b, F f) {
  if constexpr (kIsFloat<T>) {
    return T(static_cast<float>(f(static_cast<float>(a), static_cast<float>(b))));
  } else {
    using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
    return static_cast<T>(f(static_cast<Wide>(a), static_cast<Wide>(b)));
  }
}
template <typename T, typename F>
inline T Arith1(T a, F f) {
  if constexpr (kIsFloat<T>) return T(static_cast<float>(f(static_cast<float>(a))));
  else return static_cast<T>(f(a));
}

template <typename T, typename F>
void BinaryCount(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                 int32_t count, F f) {
  BinaryLanes(api, dst, src0, src1, PlanCountForm(api, LanesFor(sizeof(T)), count), BinaryRepeatParams(), f);
}
template <typename T, typename M, typename F>
void BinaryRepeat(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                  M mask, uint8_t repeat, const BinaryRepeatParams& rp, bool isSetMask, F f) {
  BinaryLanes(api, dst, src0, src1, PlanMask(api, LanesFor(sizeof(T)), mask, repeat, isSetMask), rp, f);
}

template <typename TD, typename TS, typename F>
void UnaryCount(const char* api, const LocalTensor<TD>& dst, const LocalTensor<TS>& src, int32_t count, F f,
                bool readsSrc = true) {
  constexpr uint32_t wide = sizeof(TD) > sizeof(TS) ? sizeof(TD) : sizeof(TS);
  const LanePlan p = PlanCountForm(api, LanesFor(wide), count);
  UnaryLanes(api, dst, src, p, Contiguous(sizeof(TD), p.lanes * sizeof(TD)), Contiguous(sizeof(TS), p.lanes * sizeof(TS)), f,
             readsSrc);
}
template <typename TD, typename TS, typename M, typename F>
void UnaryRepeat(const char* api, const LocalTensor<TD>& dst, const LocalTensor<TS>& src, M mask, uint8_t repeat,
                 const UnaryRepeatParams& rp, bool isSetMask, F f, bool readsSrc = true) {
  constexpr uint32_t wide = sizeof(TD) > sizeof(TS) ? sizeof(TD) : sizeof(TS);
  const LanePlan p = PlanMask(api, LanesFor(wide), mask, repeat, isSetMask);
  UnaryLanes(api, dst, src, p, Layout{sizeof(TD), rp.dstBlkStride, rp.dstRepStride},
             Layout{sizeof(TS), rp.srcBlkStride, rp.srcRepStride}, f, readsSrc);
}

}  // namespace emu

// Declarations as include/basic_api/kernel_operator_vec_{binary,unary,binary_scalar,duplicate}_intf.h:
// the mask-array forms take a non-const `uint64_t mask[]`; element types as the static_asserts of
// impl/basic_api/dav_c220/kernel_operator_vec_{binary,unary,binary_scalar,duplicate}_impl.h.
#define EMU_BINARY_OP(NAME, REQUIRE, EXPR)                                                                      \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask[], \
            const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                                 \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    emu::BinaryRepeat(#NAME, dst, src0, src1, static_cast<const uint64_t*>(mask), repeatTime, repeatParams,    \
                      isSetMask, [](T a, T b) { return emu::Arith(a, b, EXPR); });                              \
  }                                                                                                             \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask,   \
            const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                                 \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    emu::BinaryRepeat(#NAME, dst, src0, src1, mask, repeatTime, repeatParams, isSetMask,                        \
                      [](T a, T b) { return emu::Arith(a, b, EXPR); });                                         \
  }                                                                                                             \
  template <typename T>                                                                                         \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, const int32_t& count) { \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    emu::BinaryCount(#NAME, dst, src0, src1, count, [](T a, T b) { return emu::Arith(a, b, EXPR); });          \
  }

#define EMU_ANY_ARITH (std::is_same_v<T, half> || std::is_same_v<T, float> || std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t>)
#define EMU_FLOAT_ONLY (std::is_same_v<T, float> || std::is_same_v<T, half>)

EMU_BINARY_OP(Add, EMU_ANY_ARITH, [](auto a, auto b) { return a + b; })
EMU_BINARY_OP(Sub, EMU_ANY_ARITH, [](auto a, auto b) { return a - b; })
EMU_BINARY_OP(Mul, EMU_ANY_ARITH, [](auto a, auto b) { return a * b; })
EMU_BINARY_OP(Div, EMU_FLOAT_ONLY, [](auto a, auto b) { return a / b; })
EMU_BINARY_OP(Max, EMU_ANY_ARITH, [](auto a, auto b) { return a > b ? a : b; })
EMU_BINARY_OP(Min, EMU_ANY_ARITH, [](auto a, auto b) { return a < b ? a : b; })
EMU_BINARY_OP(AddRelu, (EMU_FLOAT_ONLY || std::is_same_v<T, int16_t>),
              [](auto a, auto b) { auto s = a + b; return s > 0 ? s : decltype(s)(0); })

// COUNT_COMPILES: the element types the count form compiles for. dav_c220 checks the count form's
// type with an ASCENDC_ASSERT (a run-time abort in CPU-debug, compiled out on the device) and then
// calls the intrinsic, so it compiles wherever the intrinsic has an overload (vabs: int16_t too); such
// a call fails here when it runs. The mask forms' check is a static_assert.
#define EMU_UNARY_OP(NAME, REQUIRE, COUNT_COMPILES, EXPR)                                                       \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint64_t mask[], const uint8_t repeatTime,    \
            const UnaryRepeatParams& repeatParams) {                                                            \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    emu::UnaryRepeat(#NAME, dst, src, static_cast<const uint64_t*>(mask), repeatTime, repeatParams, isSetMask, \
                     [](T a) { return emu::Arith1(a, EXPR); });                                                 \
  }                                                                                                             \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint64_t mask, const uint8_t repeatTime,      \
            const UnaryRepeatParams& repeatParams) {                                                            \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    emu::UnaryRepeat(#NAME, dst, src, mask, repeatTime, repeatParams, isSetMask,                                \
                     [](T a) { return emu::Arith1(a, EXPR); });                                                 \
  }                                                                                                             \
  template <typename T>                                                                                         \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t& count) {                      \
    static_assert(COUNT_COMPILES, #NAME ": unsupported element type on A2/A3");                                \
    EMU_REQUIRE(REQUIRE, #NAME, "dtype", "unsupported element type on A2/A3");                                \
    emu::UnaryCount(#NAME, dst, src, count, [](T a) { return emu::Arith1(a, EXPR); });                         \
  }

// Exp, Ln and Sqrt use the C library in fp32; the NPU's accuracy for them is not published,
// so references that must match the emulator bit for bit compute them the same way.
EMU_UNARY_OP(Exp, EMU_FLOAT_ONLY, EMU_FLOAT_ONLY, [](float a) { return std::exp(a); })
EMU_UNARY_OP(Ln, EMU_FLOAT_ONLY, EMU_FLOAT_ONLY, [](float a) { return std::log(a); })
EMU_UNARY_OP(Sqrt, EMU_FLOAT_ONLY, EMU_FLOAT_ONLY, [](float a) { return std::sqrt(a); })
EMU_UNARY_OP(Rsqrt, EMU_FLOAT_ONLY, EMU_FLOAT_ONLY, [](float a) { return 1.0f / std::sqrt(a); })
EMU_UNARY_OP(Reciprocal, EMU_FLOAT_ONLY, EMU_FLOAT_ONLY, [](float a) { return 1.0f / a; })
EMU_UNARY_OP(Abs, EMU_FLOAT_ONLY, (EMU_FLOAT_ONLY || std::is_same_v<T, int16_t>), [](auto a) { return a < 0 ? -a : a; })
EMU_UNARY_OP(Relu, (EMU_FLOAT_ONLY || std::is_same_v<T, int32_t>), (EMU_FLOAT_ONLY || std::is_same_v<T, int32_t>),
             [](auto a) { return a > 0 ? a : decltype(a)(0); })

// Tensor-scalar forms: dst = f(src, scalar). Each has a `const T&` scalar form and a form whose
// scalar type U is deduced separately (enabled when U is T), as CANN declares them.
#define EMU_SCALAR_OP(NAME, REQUIRE, EXPR)                                                                      \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask[],        \
            const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                  \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    const T s = scalarValue;                                                                                    \
    emu::UnaryRepeat(#NAME, dst, src, static_cast<const uint64_t*>(mask), repeatTime, repeatParams, isSetMask, \
                     [s](T a) { return emu::Arith(a, s, EXPR); });                                              \
  }                                                                                                             \
  template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true> \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask[],        \
            const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                  \
    NAME<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams);          \
  }                                                                                                             \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,          \
            const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                  \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    const T s = scalarValue;                                                                                    \
    emu::UnaryRepeat(#NAME, dst, src, mask, repeatTime, repeatParams, isSetMask,                                \
                     [s](T a) { return emu::Arith(a, s, EXPR); });                                              \
  }                                                                                                             \
  template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true> \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, uint64_t mask,          \
            const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                  \
    NAME<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), mask, repeatTime, repeatParams);          \
  }                                                                                                             \
  template <typename T, bool isSetMask = true>                                                                  \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) { \
    static_assert(REQUIRE, #NAME ": unsupported element type on A2/A3");                                       \
    const T s = scalarValue;                                                                                    \
    emu::UnaryCount(#NAME, dst, src, count, [s](T a) { return emu::Arith(a, s, EXPR); });                      \
  }                                                                                                             \
  template <typename T, typename U, bool isSetMask = true, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true> \
  void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const U& scalarValue, const int32_t& count) { \
    NAME<T, isSetMask>(dst, src, static_cast<const T&>(scalarValue), count);                                   \
  }

EMU_SCALAR_OP(Adds, EMU_ANY_ARITH, [](auto a, auto b) { return a + b; })
EMU_SCALAR_OP(Muls, EMU_ANY_ARITH, [](auto a, auto b) { return a * b; })
EMU_SCALAR_OP(Maxs, EMU_ANY_ARITH, [](auto a, auto b) { return a > b ? a : b; })
EMU_SCALAR_OP(Mins, EMU_ANY_ARITH, [](auto a, auto b) { return a < b ? a : b; })
EMU_SCALAR_OP(LeakyRelu, EMU_FLOAT_ONLY, [](auto a, auto b) { return a >= 0 ? a : a * b; })

// Duplicate: fill with a scalar (dav_c220: half, bfloat16_t, int16_t, uint16_t, int32_t, uint32_t, float).
#define EMU_DUPLICATE_TYPES                                                                                     \
  (std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, int16_t> ||                   \
   std::is_same_v<T, uint16_t> || std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, float>)
template <typename T, bool isSetMask = true>
void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, uint64_t mask, const uint8_t repeatTime,
               const uint16_t dstBlockStride, const uint8_t dstRepeatStride) {
  static_assert(EMU_DUPLICATE_TYPES, "Duplicate: unsupported element type on A2/A3");
  const T s = scalarValue;
  emu::UnaryRepeat("Duplicate", dst, dst, mask, repeatTime,
                   UnaryRepeatParams(dstBlockStride, dstBlockStride, dstRepeatStride, dstRepeatStride), isSetMask,
                   [s](T) { return s; }, false);
}
template <typename T, bool isSetMask = true>
void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, uint64_t mask[], const uint8_t repeatTime,
               const uint16_t dstBlockStride, const uint8_t dstRepeatStride) {
  static_assert(EMU_DUPLICATE_TYPES, "Duplicate: unsupported element type on A2/A3");
  const T s = scalarValue;
  emu::UnaryRepeat("Duplicate", dst, dst, static_cast<const uint64_t*>(mask), repeatTime,
                   UnaryRepeatParams(dstBlockStride, dstBlockStride, dstRepeatStride, dstRepeatStride), isSetMask,
                   [s](T) { return s; }, false);
}
template <typename T>
void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, const int32_t& count) {
  static_assert(EMU_DUPLICATE_TYPES, "Duplicate: unsupported element type on A2/A3");
  const T s = scalarValue;
  emu::UnaryCount("Duplicate", dst, dst, count, [s](T) { return s; }, false);
}

#undef EMU_DUPLICATE_TYPES
#undef EMU_ANY_ARITH
#undef EMU_FLOAT_ONLY

}  // namespace AscendC
