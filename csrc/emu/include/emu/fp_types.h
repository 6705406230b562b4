// half, bfloat16_t and int4b_t for kernels, and exact float conversions under every RoundMode.
// Conversions are bit-exact: they round the exact value once (doubles carry it exactly).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "macros.h"

namespace AscendC::emu {

// An IEEE-like binary format: `mant` stored mantissa bits, exponent bias and range.
struct FloatFormat {
  int mant;
  int expBits;
  int bias() const { return (1 << (expBits - 1)) - 1; }
  int emin() const { return 1 - bias(); }
  int emax() const { return bias(); }
};
inline constexpr FloatFormat kHalfFormat{10, 5};
inline constexpr FloatFormat kBf16Format{7, 8};
inline constexpr FloatFormat kFloatFormat{23, 8};

// Rounds `x` to an integer-valued double under `mode` (RINT = half to even, ROUND = half away).
inline double RoundToIntegral(double x, RoundMode mode) {
  switch (mode) {
    case RoundMode::CAST_FLOOR: return std::floor(x);
    case RoundMode::CAST_CEIL: return std::ceil(x);
    case RoundMode::CAST_ROUND: return std::round(x);
    case RoundMode::CAST_TRUNC: return std::trunc(x);
    case RoundMode::CAST_ODD: {  // inexact results land on the odd neighbour
      const double t = std::trunc(x);
      if (t == x || std::fmod(std::fabs(t), 2.0) == 1.0) return t;
      return t + (x > 0 ? 1.0 : -1.0);
    }
    default: return std::nearbyint(x);  // default FE_TONEAREST: ties to even
  }
}

// Encodes the double `x` into format `f` (returned right-aligned in a uint32), rounding once.
inline uint32_t EncodeFloat(double x, FloatFormat f, RoundMode mode) {
  const uint32_t signBit = 1u << (f.mant + f.expBits);
  const uint32_t expMask = (1u << f.expBits) - 1;
  const uint32_t infBits = expMask << f.mant;
  if (std::isnan(x)) return infBits | (1u << (f.mant - 1));
  const uint32_t sign = std::signbit(x) ? signBit : 0;
  const double a = std::fabs(x);
  const double maxFinite = std::ldexp(2.0 - std::ldexp(1.0, -f.mant), f.emax());
  if (std::isinf(a)) return sign | infBits;
  int e2;
  std::frexp(a, &e2);  // a = m * 2^e2, m in [0.5, 1)
  int e = a == 0 ? f.emin() : e2 - 1;
  if (e < f.emin()) e = f.emin();
  const double quantum = std::ldexp(1.0, e - f.mant);
  double scaled = a / quantum;  // exact: power-of-two scaling
  // Round the magnitude; FLOOR/CEIL act on the signed value.
  RoundMode m = mode;
  if (sign && mode == RoundMode::CAST_FLOOR) m = RoundMode::CAST_CEIL;
  else if (sign && mode == RoundMode::CAST_CEIL) m = RoundMode::CAST_FLOOR;
  double n = RoundToIntegral(scaled, m);
  double r = n * quantum;
  if (r > maxFinite) {
    const bool toInf = m == RoundMode::CAST_RINT || m == RoundMode::CAST_NONE || m == RoundMode::CAST_ROUND ||
                       m == RoundMode::CAST_CEIL;
    return sign | (toInf ? infBits : (infBits - 1));
  }
  if (r == 0) return sign;
  if (r < std::ldexp(1.0, f.emin())) return sign | static_cast<uint32_t>(r / std::ldexp(1.0, f.emin() - f.mant));
  std::frexp(r, &e2);
  e = e2 - 1;
  const uint32_t mantissa = static_cast<uint32_t>(r / std::ldexp(1.0, e - f.mant)) - (1u << f.mant);
  return sign | (static_cast<uint32_t>(e + f.bias()) << f.mant) | mantissa;
}

inline double DecodeFloat(uint32_t bits, FloatFormat f) {
  const uint32_t expMask = (1u << f.expBits) - 1;
  const bool neg = (bits >> (f.mant + f.expBits)) & 1;
  const uint32_t ex = (bits >> f.mant) & expMask;
  const uint32_t man = bits & ((1u << f.mant) - 1);
  double v;
  if (ex == expMask) v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (ex == 0) v = std::ldexp(static_cast<double>(man), f.emin() - f.mant);
  else v = std::ldexp(static_cast<double>(man | (1u << f.mant)), static_cast<int>(ex) - f.bias() - f.mant);
  return neg ? -v : v;
}

inline uint32_t FloatBits(float v) { uint32_t b; std::memcpy(&b, &v, 4); return b; }
inline float BitsFloat(uint32_t b) { float v; std::memcpy(&v, &b, 4); return v; }

// half -> float, exact (every half is a float): the bits moved over, DecodeFloat's values (a NaN becomes
// the quiet NaN of its sign). DecodeFloat's ldexp was ~6 % of an op test's CPU (Mmad's operands).
inline float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (ex == 0x1f) return BitsFloat(sign | (man ? 0x7fc00000u : 0x7f800000u));
  if (ex == 0) return BitsFloat(sign | FloatBits(static_cast<float>(man) * 0x1p-24f));  // zero, subnormal
  return BitsFloat(sign | ((ex + 112) << 23) | (man << 13));                         // 112: bias 127 - 15
}

// Fast paths for the round-to-nearest-even conversions every kernel uses.
inline uint16_t FloatToBf16Rne(float v) {
  uint32_t b = FloatBits(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((b >> 16) | 0x40);  // quiet NaN
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}
inline uint16_t FloatToHalfRne(float v) { return static_cast<uint16_t>(EncodeFloat(v, kHalfFormat, RoundMode::CAST_RINT)); }

}  // namespace AscendC::emu

// 16-bit IEEE half. Converts implicitly to and from float, like the NPU compiler's `half`.
struct half {
  uint16_t bits = 0;
  half() = default;
  half(float v) : bits(AscendC::emu::FloatToHalfRne(v)) {}
  half(double v) : bits(static_cast<uint16_t>(AscendC::emu::EncodeFloat(v, AscendC::emu::kHalfFormat, AscendC::RoundMode::CAST_RINT))) {}
  half(int v) : half(static_cast<double>(v)) {}
  operator float() const { return AscendC::emu::HalfBitsToFloat(bits); }
  static half FromBits(uint16_t b) { half h; h.bits = b; return h; }
};

// bfloat16: the top 16 bits of an fp32.
struct bfloat16_t {
  uint16_t bits = 0;
  bfloat16_t() = default;
  bfloat16_t(float v) : bits(AscendC::emu::FloatToBf16Rne(v)) {}
  bfloat16_t(double v) : bits(static_cast<uint16_t>(AscendC::emu::EncodeFloat(v, AscendC::emu::kBf16Format, AscendC::RoundMode::CAST_RINT))) {}
  bfloat16_t(int v) : bfloat16_t(static_cast<double>(v)) {}
  // On the device both are arithmetic types that convert implicitly (round to nearest even); catlass's
  // A2 Conv::Tile::CopyL1ToL0ATla assigns `(half)(0)` to a bf16 LoadData3DParamsV2::padValue.
  bfloat16_t(half v) : bfloat16_t(static_cast<float>(v)) {}
  operator float() const { return AscendC::emu::BitsFloat(static_cast<uint32_t>(bits) << 16); }
  static bfloat16_t FromBits(uint16_t b) { bfloat16_t h; h.bits = b; return h; }
};

namespace AscendC {

// Signed 4-bit integer. In tensors two share a byte: element 2i is the low nibble.
struct int4b_t {
  int8_t value = 0;
  int4b_t() = default;
  int4b_t(int v) : value(static_cast<int8_t>(((v & 0xF) ^ 0x8) - 0x8)) {}
  operator int() const { return value; }
};

namespace emu {
// Bits per element: sizeof() is wrong for int4b_t, which packs two per byte.
template <typename T> inline constexpr uint32_t kBits = sizeof(T) * 8;
template <> inline constexpr uint32_t kBits<int4b_t> = 4;
template <typename T> inline constexpr uint64_t ElemBytes(uint64_t n) { return n * kBits<T> / 8; }
}  // namespace emu
}  // namespace AscendC
