// Cast: element type conversion under a RoundMode, count form and mask/repeat forms.
//
// The (dst, src) pairs and the round modes each accepts are the A2/A3 conversion matrix
// (CANN dav_c220 vconv). An unsupported pair does not compile; a round mode the pair does not
// accept is a runtime error (rule "cast-mode"). Conversions round the exact value once:
// CAST_NONE is RINT when the conversion is lossy, integer targets saturate (NaN -> 0), and
// float -> float rounds to an integral value. float -> half / bfloat16_t saturates on overflow
// (Cast.md: "溢出默认按照饱和处理", overflow saturates by default): a result beyond the largest
// finite value, in any round mode, is that value with the sign. Cast.md does not say what inf and
// NaN inputs give; the emulator keeps NaN a NaN and saturates inf like any overflow. (CANN's
// undocumented SetCastOverflowMode<bool>(), impl/basic_api/kernel_reg.h, is not emulated.)
// Lanes per repeat follow the wider operand; int4b_t packs two per byte, element 2i in the low nibble.
#pragma once

#include "vec_engine.h"

namespace AscendC {
namespace emu {

constexpr uint8_t ModeBit(RoundMode m) { return static_cast<uint8_t>(1u << static_cast<int>(m)); }
constexpr uint8_t kCastNone = ModeBit(RoundMode::CAST_NONE);
constexpr uint8_t kCastRounding = ModeBit(RoundMode::CAST_RINT) | ModeBit(RoundMode::CAST_FLOOR) |
                                  ModeBit(RoundMode::CAST_CEIL) | ModeBit(RoundMode::CAST_ROUND) |
                                  ModeBit(RoundMode::CAST_TRUNC);

// Round modes accepted per (dst, src); 0 = the pair does not exist on A2/A3.
template <typename D, typename S> inline constexpr uint8_t kCastModes = 0;
#define EMU_CAST_RULE(D, S, MODES) template <> inline constexpr uint8_t kCastModes<D, S> = (MODES);
EMU_CAST_RULE(float, half, kCastNone)
EMU_CAST_RULE(int32_t, half, kCastRounding)
EMU_CAST_RULE(int16_t, half, kCastRounding)
EMU_CAST_RULE(int8_t, half, kCastNone | kCastRounding)
EMU_CAST_RULE(uint8_t, half, kCastNone | kCastRounding)
EMU_CAST_RULE(int4b_t, half, kCastNone | kCastRounding)
EMU_CAST_RULE(half, float, kCastNone | kCastRounding | ModeBit(RoundMode::CAST_ODD))
EMU_CAST_RULE(float, float, kCastRounding)
EMU_CAST_RULE(int32_t, float, kCastRounding)
EMU_CAST_RULE(int16_t, float, kCastRounding)
EMU_CAST_RULE(int64_t, float, kCastRounding)
EMU_CAST_RULE(bfloat16_t, float, kCastRounding)
EMU_CAST_RULE(float, bfloat16_t, kCastNone)
EMU_CAST_RULE(int32_t, bfloat16_t, kCastRounding)
EMU_CAST_RULE(half, int4b_t, kCastNone)
EMU_CAST_RULE(half, int8_t, kCastNone)
EMU_CAST_RULE(half, uint8_t, kCastNone)
EMU_CAST_RULE(half, int16_t, kCastNone | kCastRounding)
EMU_CAST_RULE(float, int16_t, kCastNone)
EMU_CAST_RULE(float, int32_t, kCastNone | kCastRounding)
EMU_CAST_RULE(int16_t, int32_t, kCastNone)
EMU_CAST_RULE(int64_t, int32_t, kCastNone)
EMU_CAST_RULE(float, int64_t, kCastRounding)
EMU_CAST_RULE(int32_t, int64_t, kCastNone)
// int32_t -> half exists only as a dequantisation with SetDeqScale, which is not emulated.
#undef EMU_CAST_RULE

template <typename T>
constexpr const char* TypeName() {
  if constexpr (std::is_same_v<T, half>) return "half";
  else if constexpr (std::is_same_v<T, bfloat16_t>) return "bfloat16_t";
  else if constexpr (std::is_same_v<T, float>) return "float";
  else if constexpr (std::is_same_v<T, int4b_t>) return "int4b_t";
  else if constexpr (std::is_same_v<T, int8_t>) return "int8_t";
  else if constexpr (std::is_same_v<T, uint8_t>) return "uint8_t";
  else if constexpr (std::is_same_v<T, int16_t>) return "int16_t";
  else if constexpr (std::is_same_v<T, int32_t>) return "int32_t";
  else return "int64_t";
}

inline const char* RoundModeName(RoundMode m) {
  static const char* names[] = {"CAST_NONE", "CAST_RINT", "CAST_FLOOR", "CAST_CEIL", "CAST_ROUND", "CAST_TRUNC", "CAST_ODD"};
  const int i = static_cast<int>(m);
  return i < 7 ? names[i] : "RoundMode(?)";
}

// int64 -> double is inexact above 2^53. Keeping the top 53 bits plus a sticky bit for the rest
// makes the later rounding to float (24 bits) come out as if from the exact value.
inline double CastSourceInt64(int64_t v) {
  uint64_t a = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  int shift = 0;
  while ((a >> shift) >> 53) ++shift;
  uint64_t kept = a >> shift;
  if (shift && (a & ((1ull << shift) - 1))) kept |= 1;
  const double d = std::ldexp(static_cast<double>(kept), shift);
  return v < 0 ? -d : d;
}

template <typename S>
double CastSource(S v) {
  if constexpr (std::is_same_v<S, half>) return HalfBitsToFloat(v.bits);
  else if constexpr (std::is_same_v<S, bfloat16_t>) return static_cast<float>(v);
  else if constexpr (std::is_same_v<S, int64_t>) return CastSourceInt64(v);
  else return static_cast<double>(static_cast<std::conditional_t<std::is_same_v<S, int4b_t>, int, S>>(v));
}

// `bits` encoded in `f`; an infinity becomes the largest finite value of its sign.
inline uint32_t SaturateInf(uint32_t bits, FloatFormat f) {
  const uint32_t signBit = 1u << (f.mant + f.expBits), infBits = ((1u << f.expBits) - 1) << f.mant;
  return (bits & ~signBit) == infBits ? (bits & signBit) | (infBits - 1) : bits;
}

template <typename D>
D CastTarget(double x, RoundMode m) {
  if constexpr (std::is_same_v<D, half>) return half::FromBits(static_cast<uint16_t>(SaturateInf(EncodeFloat(x, kHalfFormat, m), kHalfFormat)));
  else if constexpr (std::is_same_v<D, bfloat16_t>) return bfloat16_t::FromBits(static_cast<uint16_t>(SaturateInf(EncodeFloat(x, kBf16Format, m), kBf16Format)));
  else if constexpr (std::is_same_v<D, float>) return BitsFloat(EncodeFloat(x, kFloatFormat, m));
  else {
    using Int = std::conditional_t<std::is_same_v<D, int4b_t>, int, D>;
    constexpr Int lo = std::is_same_v<D, int4b_t> ? -8 : std::numeric_limits<Int>::min();
    constexpr Int hi = std::is_same_v<D, int4b_t> ? 7 : std::numeric_limits<Int>::max();
    if (std::isnan(x)) return D(0);
    const double r = RoundToIntegral(x, m);
    if (r <= static_cast<double>(lo)) return D(lo);
    if (r >= static_cast<double>(hi)) return D(hi);  // for int64 the bound rounds up to 2^63: still saturates
    return D(static_cast<Int>(r));
  }
}

template <typename D, typename S>
D Convert(S v, RoundMode m) {
  if constexpr (std::is_same_v<D, float> && std::is_same_v<S, float>) return static_cast<float>(RoundToIntegral(v, m));
  else if constexpr (std::is_same_v<D, float> && (std::is_same_v<S, half> || std::is_same_v<S, bfloat16_t> ||
                                                   std::is_same_v<S, int16_t>))
    return static_cast<float>(CastSource(v));  // exact
  else if constexpr (std::is_same_v<D, bfloat16_t>) {
    if (m == RoundMode::CAST_RINT) return bfloat16_t::FromBits(static_cast<uint16_t>(SaturateInf(FloatToBf16Rne(v), kBf16Format)));  // fast
    return CastTarget<D>(CastSource(v), m);
  } else return CastTarget<D>(CastSource(v), m);
}

// Placement by bit offset, so that int4b_t (4 bits) and byte-sized types share one path.
struct BitLayout {
  uint32_t bits;       // element width
  uint32_t blkStride;  // 32-byte units
  uint32_t repStride;  // 32-byte units
  uint64_t Bit(uint32_t r, uint32_t lane) const {
    const uint32_t perBlock = 256 / bits;
    return (uint64_t(r) * repStride + uint64_t(lane / perBlock) * blkStride) * 256 + uint64_t(lane % perBlock) * bits;
  }
  bool Contiguous(uint32_t lanes) const { return blkStride == 1 && uint64_t(repStride) * 256 == uint64_t(lanes) * bits; }
};

template <typename T>
T LoadBits(const uint8_t* base, uint64_t bit) {
  if constexpr (kBits<T> == 4) {
    const uint8_t b = base[bit / 8];
    return T((bit & 4) ? (b >> 4) : (b & 0xF));
  } else {
    return Load<T>(base + bit / 8);
  }
}
template <typename T>
void StoreBits(uint8_t* base, uint64_t bit, T v) {
  if constexpr (kBits<T> == 4) {
    uint8_t& b = base[bit / 8];
    const uint8_t n = static_cast<uint8_t>(static_cast<int>(v) & 0xF);
    b = (bit & 4) ? static_cast<uint8_t>((b & 0x0F) | (n << 4)) : static_cast<uint8_t>((b & 0xF0) | n);
  } else {
    Store<T>(base + bit / 8, v);
  }
}

template <typename T>
uint8_t* PrepareBits(const char* api, const char* name, const LocalTensor<T>& t, const LanePlan& p, const BitLayout& l,
                     bool write) {
  t.CheckAlign(api, name, 32);
  uint64_t endBit = 0;  // offsets grow with repeat and lane: only the last two repeats can hold the maximum
  for (uint32_t r = p.repeats >= 2 ? p.repeats - 2 : 0; r < p.repeats; ++r) {
    const uint32_t lane = p.MaxLane(r);
    if (lane != ~0u) endBit = std::max(endBit, l.Bit(r, lane) + l.bits);
  }
  if (endBit) t.CheckBytes(api, name, 0, (endBit + 7) / 8);
  // Each repeat's span, from its first lane to its last active one (emu/hazard.h).
  for (uint32_t r = 0; r < p.repeats; ++r) {
    const uint32_t lane = p.MaxLane(r);
    if (lane != ~0u) NoteAccess(t.EmuMem(), t.EmuAddr() + l.Bit(r, 0) / 8, t.EmuAddr() + (l.Bit(r, lane) + l.bits + 7) / 8, write);
  }
  return t.Data();
}

template <typename D, typename S>
void CastLanes(const LocalTensor<D>& dst, const LocalTensor<S>& src, RoundMode mode, const LanePlan& p,
               const BitLayout& ld, const BitLayout& ls) {
  const char* api = "Cast";
  RequireVectorCore(api);
  EMU_REQUIRE((kCastModes<D, S> & ModeBit(mode)), api, "cast-mode", "%s is not supported for %s -> %s on A2/A3",
              RoundModeName(mode), TypeName<S>(), TypeName<D>());
  uint8_t* d = PrepareBits(api, "dst", dst, p, ld, true);
  const uint8_t* s = PrepareBits(api, "src", src, p, ls, false);
  CountVector(p, api);
  if (p.counter() && ld.Contiguous(p.lanes) && ls.Contiguous(p.lanes)) {
    for (uint64_t i = 0; i < p.count; ++i) StoreBits<D>(d, i * ld.bits, Convert<D>(LoadBits<S>(s, i * ls.bits), mode));
    return;
  }
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    StoreBits<D>(d, ld.Bit(r, lane), Convert<D>(LoadBits<S>(s, ls.Bit(r, lane)), mode));
  });
}

template <typename D, typename S>
constexpr uint32_t CastLanesPerRepeat() { return 256 * 8 / std::max(kBits<D>, kBits<S>); }

template <typename D, typename S, typename M>
void CastRepeat(const LocalTensor<D>& dst, const LocalTensor<S>& src, RoundMode mode, M mask, uint8_t repeat,
                const UnaryRepeatParams& rp, bool isSetMask) {
  const LanePlan p = PlanMask("Cast", CastLanesPerRepeat<D, S>(), mask, repeat, isSetMask);
  CastLanes(dst, src, mode, p, BitLayout{kBits<D>, rp.dstBlkStride, rp.dstRepStride},
            BitLayout{kBits<S>, rp.srcBlkStride, rp.srcRepStride});
}

}  // namespace emu

#define EMU_CAST_PAIR_CHECK \
  static_assert(emu::kCastModes<T, U> != 0, "Cast: this (dst, src) type pair is not supported on A2/A3")

template <typename T, typename U>
void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint32_t count) {
  EMU_CAST_PAIR_CHECK;
  constexpr uint32_t lanes = emu::CastLanesPerRepeat<T, U>();
  const emu::LanePlan p = emu::PlanCountForm("Cast", lanes, count);
  emu::CastLanes(dst, src, roundMode, p, emu::BitLayout{emu::kBits<T>, 1, lanes * emu::kBits<T> / 256},
                 emu::BitLayout{emu::kBits<U>, 1, lanes * emu::kBits<U> / 256});
}
template <typename T, typename U, bool isSetMask = true>
void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint64_t mask,
          const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_CAST_PAIR_CHECK;
  emu::CastRepeat(dst, src, roundMode, mask, repeatTime, repeatParams, isSetMask);
}
template <typename T, typename U, bool isSetMask = true>
void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint64_t mask[],
          const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
  EMU_CAST_PAIR_CHECK;
  emu::CastRepeat(dst, src, roundMode, mask, repeatTime, repeatParams, isSetMask);
}
#undef EMU_CAST_PAIR_CHECK

}  // namespace AscendC
