// Compare / CompareScalar (bit masks), Select, GatherMask and Gather.
//
// A bit mask holds lane i of a stream of lanes in bit i%8 of byte i/8.
#pragma once

#include "pipe.h"
#include "vec_engine.h"

namespace AscendC {

// impl/basic_api/utils/kernel_utils_mode.h
enum class CMPMODE : uint8_t { LT = 0, GT, EQ, LE, GE, NE };
enum class SELMODE : uint8_t { VSEL_CMPMASK_SPR = 0, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };

// include/basic_api/kernel_struct_gather.h (V2 is the default on __NPU_ARCH__ 2201). Strides in 32-byte blocks.
enum class GatherMaskMode : uint8_t { VERSION_V1 = 0, VERSION_V2 = 1 };
const GatherMaskMode defaultGahterMaskMode = GatherMaskMode::VERSION_V2;  // sic, CANN's spelling too
const GatherMaskMode defaultGatherMaskMode = GatherMaskMode::VERSION_V2;
struct GatherMaskParams {
  GatherMaskParams() {}
  GatherMaskParams(const uint8_t src0BlockStrideIn, const uint16_t repeatTimesIn, const uint16_t src0RepeatStrideIn,
                   const uint8_t src1RepeatStrideIn)
      : src0BlockStride(src0BlockStrideIn), repeatTimes(repeatTimesIn), src0RepeatStride(src0RepeatStrideIn),
        src1RepeatStride(src1RepeatStrideIn) {}
  uint8_t src0BlockStride = 1;
  uint16_t repeatTimes = 0;
  uint16_t src0RepeatStride = 8;
  uint8_t src1RepeatStride = 8;
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

// Count forms of Compare / CompareScalar, as dav_c220 runs them (kernel_operator_vec_cmp_impl.h,
// CompareCompute): whole 256-byte repeats, cut into vcmpv instructions of at most 252 repeats plus
// a last one (possibly of 0 repeats). None of them sets the vector mask (Compare.md: on A2/A3 the
// mask argument is reserved), so each runs under the mask register: in normal mode only its
// enabled lanes compare, in counter mode every instruction compares MASK elements whatever its
// repeat count. The dst bit of a disabled lane is not documented: the emulator writes the poison
// pattern's bit there. `src1` is null for CompareScalar, which compares with `scalar`.
template <typename T, typename U>
void CompareCount(const char* api, const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>* src1,
                  T scalar, CMPMODE mode, uint32_t count) {
  // dav_c220 writes the mask through a uint8_t view of dst whatever its type (no compile-time check).
  EMU_REQUIRE((std::is_same_v<U, uint8_t> || std::is_same_v<U, int8_t>), api, "dtype",
              "the mask tensor is uint8_t or int8_t");
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
  if (src1) src1->CheckAlign(api, "src1", 32);
  constexpr uint32_t lanes = LanesFor(sizeof(T)), kMaxRepeats = 252;
  const uint32_t repeats = static_cast<uint32_t>(uint64_t(count) * sizeof(T) / 256);
  for (uint32_t done = 0;; done += kMaxRepeats) {
    const uint32_t callRepeats = repeats - done < kMaxRepeats ? repeats - done : kMaxRepeats;
    const LanePlan p = PlanFromRegisters(api, lanes, callRepeats);
    const uint64_t first = uint64_t(done) * lanes;  // element (and dst bit) where this instruction starts
    const uint64_t bits = uint64_t(p.repeats) * lanes, reads = p.counter() ? p.count : bits;
    if (bits) {
      src0.Reads(api, "src0", first * sizeof(T), (first + reads) * sizeof(T));
      if (src1) src1->Reads(api, "src1", first * sizeof(T), (first + reads) * sizeof(T));
      dst.Writes(api, "dst", first / 8, (first + bits + 7) / 8);
    }
    const uint8_t* s0 = src0.Data();
    const uint8_t* s1 = src1 ? src1->Data() : nullptr;
    uint8_t* d = dst.Data();
    for (uint32_t r = 0; r < p.repeats; ++r)
      for (uint32_t lane = 0; lane < lanes; ++lane) {
        const uint64_t i = first + uint64_t(r) * lanes + lane;
        const bool bit = p.Active(r, lane)
                             ? CompareValues(mode, Load<T>(s0 + i * sizeof(T)), s1 ? Load<T>(s1 + i * sizeof(T)) : scalar)
                             : MaskBit(kPoisonPattern, i % 32);
        SetMaskBit(d, i, bit);
      }
    CountVector(p, api);
    if (callRepeats < kMaxRepeats) break;
  }
}

// dav_c220's Select puts its scalar src1 (scalar form) or selMask's address (VSEL_TENSOR_TENSOR_MODE)
// into 32 B of UB at TMP_UB_OFFSET = 184 KiB and points the CMPMASK register there before the vsel
// (impl/basic_api/dav_c220/kernel_operator_vec_cmpsel_impl.h, VselIntrinsicsImplPre / VselImpl;
// utils/kernel_utils_constants.h): whatever a kernel kept in those bytes is lost.
constexpr uint32_t kSelectScratchAddr = 184 * 1024, kSelectScratchBytes = 32;
inline void ClobberSelectScratch() { Poison(MemBase(Mem::UB) + kSelectScratchAddr, kSelectScratchBytes); }

// dst = bit ? src0 : src1, lane by lane. SELMODE 0 reuses the first `lanes` bits of selMask in
// every repeat (they sit in the CMPMASK register); modes 1 and 2 consume `lanes` bits per repeat.
// `src1At(r, lane)` gives the src1 operand (a tensor element or the scalar).
template <typename T, typename U, typename F>
void SelectLanes(const char* api, const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                 SELMODE mode, bool scalarSrc1, const LanePlan& p, const Layout& ld, const Layout& l0, F&& src1At) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, float>, "Select: half or float only on A2/A3");
  // dav_c220 checks selMask's type with an ASCENDC_ASSERT (kernel_operator_vec_cmpsel_impl.h): it compiles.
  EMU_REQUIRE((std::is_same_v<U, uint8_t> || std::is_same_v<U, uint16_t> || std::is_same_v<U, uint32_t> ||
               std::is_same_v<U, uint64_t>), api, "dtype", "selMask is uint8_t/uint16_t/uint32_t/uint64_t");
  RequireVectorCore(api);
  if (mode != SELMODE::VSEL_CMPMASK_SPR) ClobberSelectScratch();  // before the vsel reads its operands
  EMU_REQUIRE(scalarSrc1 == (mode == SELMODE::VSEL_TENSOR_SCALAR_MODE), api, "sel-mode",
              "SELMODE %d %s; a scalar src1 needs VSEL_TENSOR_SCALAR_MODE, a tensor src1 VSEL_CMPMASK_SPR or "
              "VSEL_TENSOR_TENSOR_MODE", static_cast<int>(mode), scalarSrc1 ? "with a scalar src1" : "with a tensor src1");
  uint8_t* d = PrepareWrite(api, "dst", dst, p, ld);
  const uint8_t* s0 = PrepareRead(api, "src0", src0, p, l0);
  const bool perRepeat = mode != SELMODE::VSEL_CMPMASK_SPR;
  selMask.CheckAlign(api, "selMask", 32);
  uint64_t bits = 0;
  for (uint32_t r = p.repeats >= 2 ? p.repeats - 2 : 0; r < p.repeats; ++r)
    if (p.MaxLane(r) != ~0u) bits = std::max<uint64_t>(bits, (perRepeat ? uint64_t(r) * p.lanes : 0) + p.MaxLane(r) + 1);
  if (bits) selMask.Reads(api, "selMask", 0, (bits + 7) / 8);
  const uint8_t* m = selMask.Data();
  CountVector(p, api);
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
  const uint8_t* s1 = PrepareRead(api, "src1", src1, p, l1);
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

// dst bit i = (src0[i] <cmpMode> src1[i]); count * sizeof(T) must be a multiple of 256 bytes
// (include/basic_api/kernel_operator_vec_cmpsel_intf.h). Runs under the vector mask register.
template <typename T, typename U>
void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, uint32_t count) {
  emu::CompareCount("Compare", dst, src0, &src1, T(), cmpMode, count);
}

template <typename T, typename U>
void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode, uint32_t count) {
  emu::CompareCount<T, U>("CompareScalar", dst, src0, nullptr, src1Scalar, cmpMode, count);
}

// Count forms. Modes 0 / 2 take a tensor src1, mode 1 a scalar.
template <typename T, typename U>
void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
            const LocalTensor<T>& src1, SELMODE selMode, uint32_t count) {
  emu::SelectTensor(dst, selMask, src0, src1, selMode, emu::PlanCountForm("Select", emu::LanesFor(sizeof(T)), count),
                                 BinaryRepeatParams());
}
template <typename T, typename U>
void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
            SELMODE selMode, uint32_t count) {
  emu::SelectScalar(dst, selMask, src0, src1, selMode, emu::PlanCountForm("Select", emu::LanesFor(sizeof(T)), count),
                    BinaryRepeatParams());
}

// Mask/repeat forms (continuous or bitwise mask). dav_c220 sets the mask in these whatever isSetMask
// says (kernel_operator_vec_cmpsel_impl.h, VselImpl).
#define EMU_SELECT_REPEAT(MASK_TYPE)                                                                                \
  template <typename T, typename U, bool isSetMask = true>                                                          \
  void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,                 \
              const LocalTensor<T>& src1, SELMODE selMode, MASK_TYPE mask, uint8_t repeatTime,                      \
              const BinaryRepeatParams& repeatParams) {                                                             \
    emu::SelectTensor(dst, selMask, src0, src1, selMode,                                               \
                                   emu::PlanMask("Select", emu::LanesFor(sizeof(T)), mask, repeatTime, true), \
                                   repeatParams);                                                                   \
  }                                                                                                                 \
  template <typename T, typename U, bool isSetMask = true>                                                          \
  void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,         \
              SELMODE selMode, MASK_TYPE mask, uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {        \
    emu::SelectScalar(dst, selMask, src0, src1, selMode,                                                            \
                      emu::PlanMask("Select", emu::LanesFor(sizeof(T)), mask, repeatTime, true), repeatParams); \
  }
EMU_SELECT_REPEAT(uint64_t)
EMU_SELECT_REPEAT(uint64_t*)
#undef EMU_SELECT_REPEAT

namespace emu {
// GatherMask: per repeat, the lanes whose pattern bit is set are packed, in order, into dst.
// Normal mode (reduceMode false) runs 256 bytes per repeat; counter mode (true) runs `mask`
// elements per repeat (A2/A3 "configuration 1"). patternBit(r, i) gives the bit of element i.
template <typename T, typename F>
uint64_t GatherMaskLanes(const LocalTensor<T>& dst, const LocalTensor<T>& src0, bool reduceMode, uint32_t mask,
                         const GatherMaskParams& gp, F&& patternBit) {
  const char* api = "GatherMask";
  // dav_c220 kernel_operator_vec_gather_mask_impl.h checks the type with ASCENDC_ASSERT: it compiles.
  EMU_REQUIRE(sizeof(T) == 2 || sizeof(T) == 4, api, "dtype", "16- or 32-bit elements only on A2/A3");
  RequireVectorCore(api);
  EMU_REQUIRE(!reduceMode || mask >= 1, api, "param-range", "counter mode (reduceMode) needs mask >= 1");
  EMU_REQUIRE(gp.repeatTimes <= 255, api, "param-range", "repeatTimes %u exceeds 255", gp.repeatTimes);
  const uint32_t perRepeat = reduceMode ? mask : LanesFor(sizeof(T));
  const Layout ls{sizeof(T), gp.src0BlockStride, gp.src0RepeatStride};
  src0.CheckAlign(api, "src0", 32);
  dst.CheckAlign(api, "dst", 32);
  if (gp.repeatTimes) src0.Reads(api, "src0", 0, ls.Offset(gp.repeatTimes - 1, perRepeat - 1) + sizeof(T));
  uint64_t kept = 0;
  for (uint32_t r = 0; r < gp.repeatTimes; ++r)
    for (uint32_t i = 0; i < perRepeat; ++i) kept += patternBit(r, i);
  if (kept) dst.Writes(api, "dst", 0, kept * sizeof(T));
  const uint8_t* s = src0.Data();
  uint8_t* d = dst.Data();
  uint64_t n = 0;
  for (uint32_t r = 0; r < gp.repeatTimes; ++r)
    for (uint32_t i = 0; i < perRepeat; ++i)
      if (patternBit(r, i)) Store<T>(d + (n++) * sizeof(T), Load<T>(s + ls.Offset(r, i)));
  auto& c = Core().counters;
  c.vecCalls++;
  c.vecElemOps += uint64_t(gp.repeatTimes) * perRepeat;
  TraceVector(api, gp.repeatTimes, uint64_t(gp.repeatTimes) * perRepeat, sizeof(T));
  // dav_c220 (kernel_operator_vec_gather_mask_impl.h) leaves normal mode with MASK = (0, mask).
  Core().maskCounterMode = false;
  WriteMask(0, mask);
  return kept;
}
template <GatherMaskMode mode>
void RequireGatherMaskV2() {
  EMU_REQUIRE(mode == GatherMaskMode::VERSION_V2, "GatherMask", "param-range",
              "GatherMaskMode::VERSION_V1 is not supported on A2/A3 (dav_c220 reports it)");
}
}  // namespace emu

// Built-in patterns: 1 even lanes, 2 odd lanes, 3..6 lane k-3 of every 4, 7 all lanes.
template <typename T, GatherMaskMode mode = defaultGatherMaskMode>
void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t src1Pattern, const bool reduceMode,
                const uint32_t mask, const GatherMaskParams& gatherMaskParams, uint64_t& rsvdCnt) {
  emu::RequireGatherMaskV2<mode>();
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
  const char* api = "GatherMask";
  // dav_c220 has a GatherMaskCal for uint16_t and for uint32_t patterns, each checking the element type
  // with an ASCENDC_ASSERT (kernel_operator_vec_gather_mask_impl.h): another pattern type does not
  // compile, a pattern of the other width compiles and fails when called.
  static_assert(std::is_same_v<U, uint16_t> || std::is_same_v<U, uint32_t>, "GatherMask: src1Pattern is uint16_t or uint32_t");
  EMU_REQUIRE((std::is_same_v<U, uint16_t> && sizeof(T) == 2) || (std::is_same_v<U, uint32_t> && sizeof(T) == 4), api,
              "dtype", "src1Pattern is uint16_t for 16-bit data, uint32_t for 32-bit data");
  emu::RequireGatherMaskV2<mode>();
  const uint32_t perRepeat = reduceMode ? mask : emu::LanesFor(sizeof(T));
  const uint64_t stride = uint64_t(gatherMaskParams.src1RepeatStride) * 256;  // bits
  src1Pattern.CheckAlign(api, "src1Pattern", 32);
  if (gatherMaskParams.repeatTimes && perRepeat)
    src1Pattern.Reads(api, "src1Pattern", 0, ((gatherMaskParams.repeatTimes - 1) * stride + perRepeat + 7) / 8);
  const uint8_t* m = src1Pattern.Data();
  rsvdCnt = emu::GatherMaskLanes(dst, src0, reduceMode, mask, gatherMaskParams,
                                 [m, stride](uint32_t r, uint32_t i) { return emu::MaskBit(m, r * stride + i); });
}

namespace emu {
// vgather: lane (r, l) reads the byte offset srcOffset[r * lanes + l] (relative to src + srcBaseAddr)
// and writes dst element l of repeat r, repeats dstRepStride blocks apart.
template <typename T>
void GatherLanes(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
                 uint32_t srcBaseAddr, const LanePlan& p, uint16_t dstRepStride) {
  const char* api = "Gather";
  // dav_c220 kernel_operator_vec_gather_impl.h: ASCENDC_ASSERT (size of dtype 2 / 4): it compiles.
  EMU_REQUIRE(sizeof(T) == 2 || sizeof(T) == 4, api, "dtype", "16- or 32-bit elements only on A2/A3");
  RequireVectorCore(api);
  src.CheckAlign(api, "src", 32);
  uint8_t* d = PrepareWrite(api, "dst", dst, p, Layout{sizeof(T), 1, dstRepStride});
  const uint8_t* off = PrepareRead(api, "srcOffset", srcOffset, p, Layout{4, 1, 32 / sizeof(T)});
  auto byteOf = [&](uint32_t r, uint32_t lane) { return uint64_t(srcBaseAddr) + Load<uint32_t>(off + (uint64_t(r) * p.lanes + lane) * 4); };
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {  // every element read is checked and noted before the vgather issues
    const uint64_t byte = byteOf(r, lane);
    EMU_REQUIRE(byte % sizeof(T) == 0, api, "alignment", "byte offset %llu of element %llu is not a multiple of %zu",
                (unsigned long long)byte, (unsigned long long)(uint64_t(r) * p.lanes + lane), sizeof(T));
    src.Reads(api, "src", byte, byte + sizeof(T));
  });
  CountVector(p, api);
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    Store<T>(d + Layout{sizeof(T), 1, dstRepStride}.Offset(r, lane), Load<T>(src.Data() + byteOf(r, lane)));
  });
}
}  // namespace emu

// include/basic_api/kernel_operator_vec_gather_intf.h. Offsets are in bytes.
template <typename T>
void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
            const uint32_t srcBaseAddr, const uint64_t mask, const uint8_t repeatTime, const uint16_t dstRepStride) {
  // dav_c220 always sets the mask here (kernel_operator_vec_gather_impl.h).
  const emu::LanePlan p = emu::PlanMask("Gather", emu::LanesFor(sizeof(T)), mask, repeatTime, true);
  emu::GatherLanes(dst, src, srcOffset, srcBaseAddr, p, dstRepStride);
}
template <typename T>
void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
            const uint32_t srcBaseAddr, const uint64_t mask[], const uint8_t repeatTime, const uint16_t dstRepStride) {
  const emu::LanePlan p = emu::PlanMask("Gather", emu::LanesFor(sizeof(T)), mask, repeatTime, true);
  emu::GatherLanes(dst, src, srcOffset, srcBaseAddr, p, dstRepStride);
}
// The count form is two mask forms, whole repeats then the tail, as kernel_operator_vec_gather_intf_impl.h
// does it: the mask register keeps the last one's mask, and the repeat count is a uint8_t there.
template <typename T>
void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
            const uint32_t srcBaseAddr, const uint32_t count) {
  constexpr uint32_t lanes = emu::LanesFor(sizeof(T));
  EMU_REQUIRE(count / lanes <= 255, "Gather", "param-range",
              "count %u needs %u repeats; CANN passes the repeat count as uint8_t (at most 255 x %u elements)", count,
              count / lanes, lanes);
  if (count / lanes) Gather(dst, src, srcOffset, srcBaseAddr, uint64_t(lanes), uint8_t(count / lanes), 8);
  if (count % lanes) {
    const uint32_t at = count - count % lanes;
    Gather(dst[at], src, srcOffset[at], srcBaseAddr, uint64_t(count % lanes), 1, 8);
  }
}

}  // namespace AscendC
