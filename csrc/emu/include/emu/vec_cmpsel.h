// Compare / CompareScalar (bit masks), Select, GatherMask and Gather.
//
// A bit mask holds lane i of a stream of lanes in bit i%8 of byte i/8.
#pragma once

#include "vec_engine.h"

namespace AscendC {

enum class CMPMODE : uint8_t { LT = 0, GT, EQ, LE, GE, NE };
enum class SELMODE : uint8_t { VSEL_CMPMASK_SPR = 0, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };
enum class GatherMaskMode : uint8_t { VERSION_V1 = 0, VERSION_V2 = 1 };
constexpr GatherMaskMode defaultGatherMaskMode = GatherMaskMode::VERSION_V1;

// Strides in 32-byte blocks.
struct GatherMaskParams {
  uint8_t src0BlockStride = 1;
  uint16_t repeatTimes = 0;
  uint16_t src0RepeatStride = 0;
  uint8_t src1RepeatStride = 0;
  GatherMaskParams() = default;
  GatherMaskParams(uint8_t src0BlockStrideIn, uint16_t repeatTimesIn, uint16_t src0RepeatStrideIn, uint8_t src1RepeatStrideIn)
      : src0BlockStride(src0BlockStrideIn), repeatTimes(repeatTimesIn), src0RepeatStride(src0RepeatStrideIn),
        src1RepeatStride(src1RepeatStrideIn) {}
};

namespace emu {

inline bool MaskBit(const uint8_t* m, uint64_t i) { return (m[i / 8] >> (i % 8)) & 1; }
inline void SetMaskBit(uint8_t* m, uint64_t i, bool v) {
  m[i / 8] = static_cast<uint8_t>(v ? (m[i / 8] | (1u << (i % 8))) : (m[i / 8] & ~(1u << (i % 8))));
}

template <typename T>
auto NumericValue(T v) {
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t>) return static_cast<float>(v);
  else return v;
}

// IEEE comparisons: with a NaN operand only NE holds.
template <typename T>
bool CompareValues(CMPMODE mode, T a, T b) {
  const auto x = NumericValue(a), y = NumericValue(b);
  switch (mode) {
    case CMPMODE::LT: return x < y;
    case CMPMODE::GT: return x > y;
    case CMPMODE::EQ: return x == y;
    case CMPMODE::LE: return x <= y;
    case CMPMODE::GE: return x >= y;
    default: return x != y;
  }
}

// Count forms of Compare/CompareScalar: whole 256-byte repeats only; dst gets `count` bits.
// `rhs(i)` is the right-hand operand of element i.
template <typename T, typename U, typename F>
void CompareCount(const char* api, const LocalTensor<U>& dst, const LocalTensor<T>& src0, CMPMODE mode, uint32_t count, F&& rhs) {
  static_assert(std::is_same_v<U, uint8_t> || std::is_same_v<U, int8_t>, "Compare: the mask tensor is uint8_t or int8_t");
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, float> || std::is_same_v<T, int32_t>,
                "Compare: half, float or int32_t (EQ only) on A2/A3");
  RequireVectorCore(api);
  EMU_REQUIRE(static_cast<uint8_t>(mode) <= static_cast<uint8_t>(CMPMODE::NE), api, "param-range", "CMPMODE %d is not defined",
              static_cast<int>(mode));
  EMU_REQUIRE((!std::is_same_v<T, int32_t> || mode == CMPMODE::EQ), api, "param-range", "int32_t supports only CMPMODE::EQ");
  EMU_REQUIRE(uint64_t(count) * sizeof(T) % 256 == 0, api, "compare-count",
              "count %u x %zu bytes does not cover whole 256-byte repeats (%u elements each)", count, sizeof(T),
              LanesFor(sizeof(T)));
  src0.CheckAlign(api, "src0", 32);
  dst.CheckAlign(api, "dst", 32);
  src0.CheckBytes(api, "src0", 0, uint64_t(count) * sizeof(T));
  dst.CheckBytes(api, "dst", 0, count / 8);
  CountVector(PlanCount(api, LanesFor(sizeof(T)), count));
  const uint8_t* s = src0.Data();
  uint8_t* d = dst.Data();
  for (uint32_t i = 0; i < count; ++i) SetMaskBit(d, i, CompareValues(mode, Load<T>(s + i * sizeof(T)), rhs(i)));
}

// dst = bit ? src0 : src1, lane by lane. SELMODE 0 reuses the first `lanes` bits of selMask in
// every repeat (they sit in the CMPMASK register); modes 1 and 2 consume `lanes` bits per repeat.
// `src1At(r, lane)` gives the src1 operand (a tensor element or the scalar).
template <typename T, typename U, typename F>
void SelectLanes(const char* api, const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                 SELMODE mode, bool scalarSrc1, const LanePlan& p, const Layout& ld, const Layout& l0, F&& src1At) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, float>, "Select: half or float only on A2/A3");
  static_assert(std::is_same_v<U, uint8_t> || std::is_same_v<U, uint16_t> || std::is_same_v<U, uint32_t> ||
                std::is_same_v<U, uint64_t>, "Select: selMask is uint8_t/uint16_t/uint32_t/uint64_t");
  RequireVectorCore(api);
  EMU_REQUIRE(scalarSrc1 == (mode == SELMODE::VSEL_TENSOR_SCALAR_MODE), api, "sel-mode",
              "SELMODE %d %s; a scalar src1 needs VSEL_TENSOR_SCALAR_MODE, a tensor src1 VSEL_CMPMASK_SPR or "
              "VSEL_TENSOR_TENSOR_MODE", static_cast<int>(mode), scalarSrc1 ? "with a scalar src1" : "with a tensor src1");
  uint8_t* d = Prepare(api, "dst", dst, p, ld);
  const uint8_t* s0 = Prepare(api, "src0", src0, p, l0);
  const bool perRepeat = mode != SELMODE::VSEL_CMPMASK_SPR;
  selMask.CheckAlign(api, "selMask", 32);
  uint64_t bits = 0;
  for (uint32_t r = p.repeats >= 2 ? p.repeats - 2 : 0; r < p.repeats; ++r)
    if (p.MaxLane(r) != ~0u) bits = std::max<uint64_t>(bits, (perRepeat ? uint64_t(r) * p.lanes : 0) + p.MaxLane(r) + 1);
  if (bits) selMask.CheckBytes(api, "selMask", 0, (bits + 7) / 8);
  const uint8_t* m = selMask.Data();
  CountVector(p);
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    const bool pick0 = MaskBit(m, (perRepeat ? uint64_t(r) * p.lanes : 0) + lane);
    Store<T>(d + ld.Offset(r, lane), pick0 ? Load<T>(s0 + l0.Offset(r, lane)) : src1At(r, lane));
  });
}

template <typename T, typename U>
void SelectTensor(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                  const LocalTensor<T>& src1, SELMODE mode, const LanePlan& p, const BinaryRepeatParams& rp) {
  const char* api = "Select";
  RequireVectorCore(api);
  const Layout l1{sizeof(T), rp.src1BlkStride, rp.src1RepStride};
  const uint8_t* s1 = Prepare(api, "src1", src1, p, l1);
  SelectLanes(api, dst, selMask, src0, mode, false, p, Layout{sizeof(T), rp.dstBlkStride, rp.dstRepStride},
              Layout{sizeof(T), rp.src0BlkStride, rp.src0RepStride},
              [&](uint32_t r, uint32_t lane) { return Load<T>(s1 + l1.Offset(r, lane)); });
}

template <typename T, typename U>
void SelectScalar(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
                  SELMODE mode, const LanePlan& p, const BinaryRepeatParams& rp) {
  SelectLanes("Select", dst, selMask, src0, mode, true, p, Layout{sizeof(T), rp.dstBlkStride, rp.dstRepStride},
              Layout{sizeof(T), rp.src0BlkStride, rp.src0RepStride}, [src1](uint32_t, uint32_t) { return src1; });
}

}  // namespace emu

// dst bit i = (src0[i] <cmpMode> src1[i]); count * sizeof(T) must be a multiple of 256 bytes.
template <typename T, typename U>
void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, uint32_t count) {
  const char* api = "Compare";
  emu::RequireVectorCore(api);
  src1.CheckAlign(api, "src1", 32);
  src1.CheckBytes(api, "src1", 0, uint64_t(count) * sizeof(T));
  const uint8_t* s1 = src1.Data();
  emu::CompareCount(api, dst, src0, cmpMode, count, [s1](uint32_t i) { return emu::Load<T>(s1 + i * sizeof(T)); });
}

template <typename T, typename U>
void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode, uint32_t count) {
  emu::CompareCount("CompareScalar", dst, src0, cmpMode, count, [src1Scalar](uint32_t) { return src1Scalar; });
}

// Count forms. Modes 0 / 2 take a tensor src1, mode 1 a scalar.
template <typename T, typename U>
void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
            const LocalTensor<T>& src1, SELMODE selMode, uint32_t count) {
  emu::SelectTensor(dst, selMask, src0, src1, selMode, emu::PlanCount("Select", emu::LanesFor(sizeof(T)), count),
                                 BinaryRepeatParams());
}
template <typename T, typename U>
void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
            SELMODE selMode, uint32_t count) {
  emu::SelectScalar(dst, selMask, src0, src1, selMode, emu::PlanCount("Select", emu::LanesFor(sizeof(T)), count),
                    BinaryRepeatParams());
}

// Mask/repeat forms (continuous or bitwise mask).
#define EMU_SELECT_REPEAT(MASK_TYPE)                                                                                \
  template <typename T, typename U, bool isSetMask = true>                                                          \
  void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,                 \
              const LocalTensor<T>& src1, SELMODE selMode, MASK_TYPE mask, uint8_t repeatTime,                      \
              const BinaryRepeatParams& repeatParams) {                                                             \
    emu::SelectTensor(dst, selMask, src0, src1, selMode,                                               \
                                   emu::PlanMask<T>("Select", emu::LanesFor(sizeof(T)), mask, repeatTime, isSetMask), \
                                   repeatParams);                                                                   \
  }                                                                                                                 \
  template <typename T, typename U, bool isSetMask = true>                                                          \
  void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,         \
              SELMODE selMode, MASK_TYPE mask, uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {        \
    emu::SelectScalar(dst, selMask, src0, src1, selMode,                                                            \
                      emu::PlanMask<T>("Select", emu::LanesFor(sizeof(T)), mask, repeatTime, isSetMask), repeatParams); \
  }
EMU_SELECT_REPEAT(uint64_t)
EMU_SELECT_REPEAT(const uint64_t*)
#undef EMU_SELECT_REPEAT

namespace emu {
// GatherMask: per repeat, the lanes whose pattern bit is set are packed, in order, into dst.
// Normal mode (reduceMode false) runs 256 bytes per repeat; counter mode (true) runs `mask`
// elements per repeat (A2/A3 "configuration 1"). patternBit(r, i) gives the bit of element i.
template <typename T, typename F>
uint64_t GatherMaskLanes(const LocalTensor<T>& dst, const LocalTensor<T>& src0, bool reduceMode, uint32_t mask,
                         const GatherMaskParams& gp, F&& patternBit) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "GatherMask: 16- or 32-bit elements only on A2/A3");
  const char* api = "GatherMask";
  RequireVectorCore(api);
  EMU_REQUIRE(!reduceMode || mask >= 1, api, "param-range", "counter mode (reduceMode) needs mask >= 1");
  EMU_REQUIRE(gp.repeatTimes <= 255, api, "param-range", "repeatTimes %u exceeds 255", gp.repeatTimes);
  const uint32_t perRepeat = reduceMode ? mask : LanesFor(sizeof(T));
  const Layout ls{sizeof(T), gp.src0BlockStride, gp.src0RepeatStride};
  src0.CheckAlign(api, "src0", 32);
  dst.CheckAlign(api, "dst", 32);
  if (gp.repeatTimes) src0.CheckBytes(api, "src0", 0, ls.Offset(gp.repeatTimes - 1, perRepeat - 1) + sizeof(T));
  uint64_t kept = 0;
  for (uint32_t r = 0; r < gp.repeatTimes; ++r)
    for (uint32_t i = 0; i < perRepeat; ++i) kept += patternBit(r, i);
  if (kept) dst.CheckBytes(api, "dst", 0, kept * sizeof(T));
  const uint8_t* s = src0.Data();
  uint8_t* d = dst.Data();
  uint64_t n = 0;
  for (uint32_t r = 0; r < gp.repeatTimes; ++r)
    for (uint32_t i = 0; i < perRepeat; ++i)
      if (patternBit(r, i)) Store<T>(d + (n++) * sizeof(T), Load<T>(s + ls.Offset(r, i)));
  auto& c = Core().counters;
  c.vecCalls++;
  c.vecElemOps += uint64_t(gp.repeatTimes) * perRepeat;
  return kept;
}
}  // namespace emu

// Built-in patterns: 1 even lanes, 2 odd lanes, 3..6 lane k-3 of every 4, 7 all lanes.
template <typename T, GatherMaskMode mode = defaultGatherMaskMode>
void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t src1Pattern, const bool reduceMode,
                const uint32_t mask, const GatherMaskParams& gatherMaskParams, uint64_t& rsvdCnt) {
  EMU_REQUIRE(src1Pattern >= 1 && src1Pattern <= 7, "GatherMask", "param-range", "built-in src1Pattern %u outside [1, 7]",
              src1Pattern);
  const uint32_t p = src1Pattern;
  rsvdCnt = emu::GatherMaskLanes(dst, src0, reduceMode, mask, gatherMaskParams, [p](uint32_t, uint32_t i) -> bool {
    if (p == 7) return true;
    if (p <= 2) return i % 2 == p - 1;
    return i % 4 == p - 3;
  });
}

// User pattern: bits consumed continuously within a repeat; repeats start src1RepeatStride blocks apart.
template <typename T, typename U, GatherMaskMode mode = defaultGatherMaskMode>
void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<U>& src1Pattern,
                const bool reduceMode, const uint32_t mask, const GatherMaskParams& gatherMaskParams, uint64_t& rsvdCnt) {
  static_assert(sizeof(U) == sizeof(T), "GatherMask: src1Pattern is uint16_t for 16-bit data, uint32_t for 32-bit data");
  const char* api = "GatherMask";
  const uint32_t perRepeat = reduceMode ? mask : emu::LanesFor(sizeof(T));
  const uint64_t stride = uint64_t(gatherMaskParams.src1RepeatStride) * 256;  // bits
  src1Pattern.CheckAlign(api, "src1Pattern", 32);
  if (gatherMaskParams.repeatTimes && perRepeat)
    src1Pattern.CheckBytes(api, "src1Pattern", 0, ((gatherMaskParams.repeatTimes - 1) * stride + perRepeat + 7) / 8);
  const uint8_t* m = src1Pattern.Data();
  rsvdCnt = emu::GatherMaskLanes(dst, src0, reduceMode, mask, gatherMaskParams,
                                 [m, stride](uint32_t r, uint32_t i) { return emu::MaskBit(m, r * stride + i); });
}

// dst[i] = src[(srcBaseOffset + srcOffset[i]) / sizeof(T)]: the offsets are in bytes.
template <typename T>
void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
            const uint32_t srcBaseOffset, const uint32_t count) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4, "Gather: 16- or 32-bit elements only on A2/A3");
  const char* api = "Gather";
  emu::RequireVectorCore(api);
  dst.CheckAlign(api, "dst", 32);
  src.CheckAlign(api, "src", 32);
  srcOffset.CheckAlign(api, "srcOffset", 32);
  dst.CheckBytes(api, "dst", 0, uint64_t(count) * sizeof(T));
  srcOffset.CheckBytes(api, "srcOffset", 0, uint64_t(count) * 4);
  const uint8_t* off = srcOffset.Data();
  uint8_t* d = dst.Data();
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t byte = uint64_t(srcBaseOffset) + emu::Load<uint32_t>(off + i * 4);
    EMU_REQUIRE(byte % sizeof(T) == 0, api, "alignment", "byte offset %llu of element %u is not a multiple of %zu",
                (unsigned long long)byte, i, sizeof(T));
    src.CheckBytes(api, "src", byte, byte + sizeof(T));
    emu::Store<T>(d + uint64_t(i) * sizeof(T), emu::Load<T>(src.Data() + byte));
  }
  emu::CountVector(emu::PlanCount(api, emu::LanesFor(sizeof(T)), count));
}

}  // namespace AscendC
