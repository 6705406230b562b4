// Reductions (ReduceMax, ReduceSum, WholeReduceMax, WholeReduceSum, BlockReduceMax / Min / Sum)
// and Brcb.
//
// Summation order, as CANN documents it for A2/A3 (the rounding inside is not published, so
// the emulator defines it and references mirror it):
//  - within a repeat, a binary tree over the repeat's lane positions: lanes (0+1), (2+3), ...,
//    then the pair sums the same way, until one value is left; inactive lanes count as +0;
//  - BlockReduceSum: the same tree within each 32-byte block of the repeat, so two of them (a
//    repeat's 8 block sums, then those) add a 64-lane float row exactly as WholeReduceSum does;
//  - the count form of ReduceSum adds the per-repeat sums in repeat order.
// Every addition is a vector add in T: computed in fp32 and rounded once to T; overflow gives inf
// as in the other vector ops (CANN's ReduceSum page shows half sums saturating at 65504 instead).
// Max: the lowest lane wins ties; a NaN wins over numbers (the first NaN), so a reduction that
// reads poisoned (never written) data shows NaN instead of hiding it.
#pragma once

#include "pipe.h"
#include "vec_elementwise.h"

namespace AscendC {

enum class ReduceOrder : uint8_t { ORDER_VALUE_INDEX = 0, ORDER_INDEX_VALUE, ORDER_ONLY_VALUE, ORDER_ONLY_INDEX };

// include/basic_api/kernel_struct_brcb.h (only the dst strides are used by Brcb).
struct BrcbRepeatParams {
  BrcbRepeatParams() {}
  BrcbRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t dstRepStrideIn)
      : dstRepStride(dstRepStrideIn), dstBlkStride(dstBlkStrideIn) {}
  uint32_t blockNumber = 8;
  uint16_t dstRepStride = 8;
  uint16_t dstBlkStride = 1;
  uint8_t src0BlkStride = 1;
  uint8_t src1BlkStride = 1;
  uint8_t src0RepStride = 8;
  uint8_t src1RepStride = 8;
  bool repeatStrideMode = false;
  bool strideSizeMode = false;
};

namespace emu {

template <typename T> inline constexpr bool kIsReduceType = std::is_same_v<T, half> || std::is_same_v<T, float>;

// The index of a Max result, stored as the bits of a T (uint16 in a half, uint32 in a float).
template <typename T>
T IndexBits(uint32_t index) {
  if constexpr (sizeof(T) == 2) {
    const uint16_t low = static_cast<uint16_t>(index);
    return Load<T>(reinterpret_cast<const uint8_t*>(&low));
  } else {
    return Load<T>(reinterpret_cast<const uint8_t*>(&index));
  }
}

// True if x replaces the running maximum: larger, or the first NaN (which is then never replaced).
template <typename T>
bool Beats(T x, T best) {
  const float a = static_cast<float>(x), b = static_cast<float>(best);
  return !std::isnan(b) && (std::isnan(a) || a > b);
}

// One repeat's lanes, inactive ones as +0 (sum) and skipped (max).
template <typename T>
struct RepeatValues {
  T v[128];
  bool active[128];
  uint32_t n;
  RepeatValues(const uint8_t* base, const LanePlan& p, const Layout& l, uint32_t r) : n(p.lanes) {
    for (uint32_t lane = 0; lane < n; ++lane) {
      active[lane] = p.Active(r, lane);
      v[lane] = active[lane] ? Load<T>(base + l.Offset(r, lane)) : T(0.0f);
    }
  }
  T TreeSum() {
    for (uint32_t w = n; w > 1; w /= 2)
      for (uint32_t i = 0; i < w / 2; ++i) v[i] = Arith(v[2 * i], v[2 * i + 1], [](float a, float b) { return a + b; });
    return v[0];
  }
  bool Max(T& value, uint32_t& index) const {  // false if no lane is active
    bool found = false;
    for (uint32_t lane = 0; lane < n; ++lane) {
      if (!active[lane]) continue;
      if (!found || Beats(v[lane], value)) { value = v[lane]; index = lane; found = true; }
    }
    return found;
  }
};

// Count forms over `count` contiguous src elements. `reduce(src, plan, out)` fills the dstSlots
// results. workLocal must hold the first level of CANN's size formula (slotsPerRepeat results per
// repeat, rounded up to a 32-byte block); it is scratch, so its contents are undefined afterwards.
template <typename T, typename F>
void ReduceCount(const char* api, const LocalTensor<T>& dst, uint32_t dstSlots, const LocalTensor<T>& src,
                 const LocalTensor<T>& work, int32_t count, uint32_t slotsPerRepeat, F&& reduce) {
  RequireVectorCore(api);
  EMU_REQUIRE(count >= 1, api, "param-range", "count %d must be at least 1", count);
  const LanePlan p = PlanCount(api, LanesFor(sizeof(T)), count);
  src.CheckAlign(api, "src", 32);
  src.Reads(api, "src", 0, uint64_t(count) * sizeof(T));
  work.CheckAlign(api, "workLocal", 32);
  const uint64_t workBytes = (uint64_t(p.repeats) * slotsPerRepeat * sizeof(T) + 31) / 32 * 32;
  work.Writes(api, "workLocal", 0, workBytes);
  dst.Writes(api, "dst", 0, dstSlots * sizeof(T));
  CountVector(p, api);
  T out[2] = {};  // a reduction may fill only the first
  reduce(src.Data(), p, out);
  // dav_c220 runs these as several vector steps with masks of their own (kernel_operator_vec_reduce_impl.h,
  // ReduceImpl): the mask register is left in a state the emulator does not model.
  UndefineMask(api);
  Poison(work.Data(), static_cast<uint32_t>(workBytes));
  for (uint32_t i = 0; i < dstSlots; ++i) Store<T>(dst.Data() + i * sizeof(T), out[i]);
}

template <typename T, typename M>
void WholeReduce(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src, M mask, int32_t repeatTimes,
                 int32_t dstRepStride, int32_t srcBlkStride, int32_t srcRepStride, bool isSetMask, ReduceOrder order, bool isMax) {
  RequireVectorCore(api);
  EMU_REQUIRE(repeatTimes >= 0 && dstRepStride >= 0 && srcBlkStride >= 0 && srcRepStride >= 0, api, "param-range",
              "repeatTimes/strides must not be negative (%d, %d, %d, %d)", repeatTimes, dstRepStride, srcBlkStride, srcRepStride);
  EMU_REQUIRE(static_cast<uint8_t>(order) <= 3, api, "param-range", "ReduceOrder %d is not defined", static_cast<int>(order));
  const LanePlan p = PlanMask(api, LanesFor(sizeof(T)), mask, static_cast<uint32_t>(repeatTimes), isSetMask);
  const Layout ls{sizeof(T), static_cast<uint32_t>(srcBlkStride), static_cast<uint32_t>(srcRepStride)};
  const uint8_t* s = PrepareRead(api, "src", src, p, ls);
  // A result is a T (sum, or max value only), a uint32 index, or a (value, index) pair of T slots.
  const bool pair = isMax && (order == ReduceOrder::ORDER_VALUE_INDEX || order == ReduceOrder::ORDER_INDEX_VALUE);
  const uint32_t unit = pair ? 2 * sizeof(T) : (isMax && order == ReduceOrder::ORDER_ONLY_INDEX) ? 4 : sizeof(T);
  dst.CheckAlign(api, "dst", unit);
  if (p.repeats) dst.Writes(api, "dst", 0, uint64_t(p.repeats - 1) * dstRepStride * unit + unit);
  CountVector(p, api);
  uint8_t* d = dst.Data();
  for (uint32_t r = 0; r < p.repeats; ++r) {
    RepeatValues<T> rv(s, p, ls, r);
    uint8_t* out = d + uint64_t(r) * dstRepStride * unit;
    if (!isMax) { Store<T>(out, rv.TreeSum()); continue; }
    T value{};
    uint32_t index = 0;
    if (!rv.Max(value, index)) continue;
    switch (order) {
      case ReduceOrder::ORDER_VALUE_INDEX: Store<T>(out, value); Store<T>(out + sizeof(T), IndexBits<T>(index)); break;
      case ReduceOrder::ORDER_INDEX_VALUE: Store<T>(out, IndexBits<T>(index)); Store<T>(out + sizeof(T), value); break;
      case ReduceOrder::ORDER_ONLY_VALUE: Store<T>(out, value); break;
      case ReduceOrder::ORDER_ONLY_INDEX: Store<uint32_t>(out, index); break;
    }
  }
}

// BlockReduce*: per repeat, one result per 32-byte block of the source (8 a repeat), the block's
// active lanes reduced (the tree sum above, or the max / min with the lowest lane winning ties and a
// NaN winning over numbers). Results land at dst + (r * dstRepStride * 8 + block) elements
// (BlockReduceMax.md: dstRepStride counts a repeat's 8 results). A block with no active lane:
// its result is not documented, so the emulator writes the poison pattern there.
enum class BlockOp { kMax, kMin, kSum };
template <typename T, typename M>
void BlockReduce(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src, int32_t repeatTime, M mask,
                 int32_t dstRepStride, int32_t srcBlkStride, int32_t srcRepStride, bool isSetMask, BlockOp op) {
  RequireVectorCore(api);
  EMU_REQUIRE(repeatTime >= 0 && repeatTime <= 255, api, "param-range", "repeatTime %d is outside [0, 255]", repeatTime);
  EMU_REQUIRE(dstRepStride >= 0 && srcBlkStride >= 0 && srcRepStride >= 0, api, "param-range",
              "strides must not be negative (%d, %d, %d)", dstRepStride, srcBlkStride, srcRepStride);
  const LanePlan p = PlanMask(api, LanesFor(sizeof(T)), mask, static_cast<uint32_t>(repeatTime), isSetMask);
  const Layout ls{sizeof(T), static_cast<uint32_t>(srcBlkStride), static_cast<uint32_t>(srcRepStride)};
  const uint8_t* s = PrepareRead(api, "src", src, p, ls);
  dst.CheckAlign(api, "dst", sizeof(T) == 2 ? 16 : 32);  // BlockReduceMax.md: 16 B for half, 32 B for float
  if (p.repeats) dst.Writes(api, "dst", 0, (uint64_t(p.repeats - 1) * dstRepStride * 8 + 8) * sizeof(T));
  CountVector(p, api);
  const uint32_t perBlock = 32 / sizeof(T);
  uint8_t* d = dst.Data();
  for (uint32_t r = 0; r < p.repeats; ++r) {
    RepeatValues<T> rv(s, p, ls, r);
    for (uint32_t b = 0; b * perBlock < p.lanes; ++b) {
      uint8_t* out = d + (uint64_t(r) * dstRepStride * 8 + b) * sizeof(T);
      T* v = rv.v + b * perBlock;
      const bool* active = rv.active + b * perBlock;
      if (op == BlockOp::kSum) {
        for (uint32_t w = perBlock; w > 1; w /= 2)
          for (uint32_t i = 0; i < w / 2; ++i) v[i] = Arith(v[2 * i], v[2 * i + 1], [](float a, float c) { return a + c; });
        Store<T>(out, v[0]);
        continue;
      }
      bool found = false;
      T best{};
      for (uint32_t lane = 0; lane < perBlock; ++lane) {
        if (!active[lane]) continue;
        const float a = static_cast<float>(v[lane]), c = static_cast<float>(best);
        const bool wins = !std::isnan(c) && (std::isnan(a) || (op == BlockOp::kMax ? a > c : a < c));
        if (!found || wins) { best = v[lane]; found = true; }
      }
      if (found) Store<T>(out, best);
      else Poison(out, sizeof(T));
    }
  }
}

}  // namespace emu

// dst[0] = max of src[0, count); with calIndex dst[1] holds the index bits (read it through a
// uint16_t (half) / uint32_t (float) view).
template <typename T>
void ReduceMax(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const LocalTensor<T>& workLocal,
               const int32_t count, bool calIndex = 0) {
  static_assert(emu::kIsReduceType<T>, "ReduceMax: half or float only");
  emu::ReduceCount("ReduceMax", dstLocal, calIndex ? 2 : 1, srcLocal, workLocal, count, 2,
                   [](const uint8_t* s, const emu::LanePlan& p, T* out) {
                     T best{};
                     uint32_t bestIndex = 0;
                     for (uint32_t r = 0; r < p.repeats; ++r) {
                       T v{};
                       uint32_t i = 0;
                       emu::RepeatValues<T>(s, p, emu::Contiguous(sizeof(T), 256), r).Max(v, i);
                       if (r == 0 || emu::Beats(v, best)) { best = v; bestIndex = r * p.lanes + i; }
                     }
                     out[0] = best;
                     out[1] = emu::IndexBits<T>(bestIndex);
                   });
}

// dst[0] = sum of src[0, count), in the order described at the top of this file.
template <typename T, bool isSetMask = true>
void ReduceSum(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const LocalTensor<T>& workLocal,
               const int32_t count) {
  static_assert(emu::kIsReduceType<T>, "ReduceSum: half or float only");
  emu::ReduceCount("ReduceSum", dstLocal, 1, srcLocal, workLocal, count, 1,
                   [](const uint8_t* s, const emu::LanePlan& p, T* out) {
                     for (uint32_t r = 0; r < p.repeats; ++r) {
                       const T part = emu::RepeatValues<T>(s, p, emu::Contiguous(sizeof(T), 256), r).TreeSum();
                       out[0] = r == 0 ? part : emu::Arith(out[0], part, [](float a, float b) { return a + b; });
                     }
                   });
}

// One (value, index) result per repeat at dst + r * dstRepStride results; the index is the lane
// within the repeat. dstRepStride counts results of the chosen order (pair, value or uint32 index).
#define EMU_WHOLE_REDUCE(NAME, IS_MAX, ORDER_PARAM, ORDER_ARG)                                                     \
  template <typename T, bool isSetMask = true>                                                                     \
  void NAME(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const int32_t mask,                    \
            const int32_t repeatTimes, const int32_t dstRepStride, const int32_t srcBlkStride,                     \
            const int32_t srcRepStride ORDER_PARAM) {                                                              \
    static_assert(emu::kIsReduceType<T>, #NAME ": half or float only");                                           \
    emu::WholeReduce(#NAME, dstLocal, srcLocal, static_cast<uint64_t>(mask), repeatTimes, dstRepStride,            \
                     srcBlkStride, srcRepStride, isSetMask, ORDER_ARG, IS_MAX);                                    \
  }                                                                                                                \
  template <typename T, bool isSetMask = true>                                                                     \
  void NAME(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const uint64_t mask[],                 \
            const int32_t repeatTimes, const int32_t dstRepStride, const int32_t srcBlkStride,                     \
            const int32_t srcRepStride ORDER_PARAM) {                                                              \
    static_assert(emu::kIsReduceType<T>, #NAME ": half or float only");                                           \
    emu::WholeReduce(#NAME, dstLocal, srcLocal, mask, repeatTimes, dstRepStride, srcBlkStride, srcRepStride,       \
                     isSetMask, ORDER_ARG, IS_MAX);                                                                \
  }

// BlockReduceMax / BlockReduceMin / BlockReduceSum (kernel_operator_vec_reduce_intf.h; BlockReduceMax.md):
// 8 results a repeat, one per 32-byte block of src (emu::BlockReduce).
#define EMU_BLOCK_REDUCE(NAME, OP)                                                                                 \
  template <typename T, bool isSetMask = true>                                                                     \
  void NAME(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const int32_t repeatTime,              \
            const int32_t mask, const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride) { \
    static_assert(emu::kIsReduceType<T>, #NAME ": half or float only");                                           \
    emu::BlockReduce(#NAME, dstLocal, srcLocal, repeatTime, static_cast<uint64_t>(mask), dstRepStride, srcBlkStride, \
                     srcRepStride, isSetMask, OP);                                                                 \
  }                                                                                                                \
  template <typename T, bool isSetMask = true>                                                                     \
  void NAME(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, const int32_t repeatTime,              \
            const uint64_t mask[], const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride) { \
    static_assert(emu::kIsReduceType<T>, #NAME ": half or float only");                                           \
    emu::BlockReduce(#NAME, dstLocal, srcLocal, repeatTime, mask, dstRepStride, srcBlkStride, srcRepStride,        \
                     isSetMask, OP);                                                                               \
  }
EMU_BLOCK_REDUCE(BlockReduceMax, emu::BlockOp::kMax)
EMU_BLOCK_REDUCE(BlockReduceMin, emu::BlockOp::kMin)
EMU_BLOCK_REDUCE(BlockReduceSum, emu::BlockOp::kSum)
#undef EMU_BLOCK_REDUCE

#define EMU_COMMA ,
EMU_WHOLE_REDUCE(WholeReduceMax, true, EMU_COMMA ReduceOrder order = ReduceOrder::ORDER_VALUE_INDEX, order)
EMU_WHOLE_REDUCE(WholeReduceSum, false, , ReduceOrder::ORDER_ONLY_VALUE)
#undef EMU_COMMA
#undef EMU_WHOLE_REDUCE

// Broadcast: each repeat reads 8 consecutive src elements; element j fills the 32-byte block
// j of the repeat at dst + (r * dstRepStride + j * dstBlkStride) * 32 bytes.
template <typename T>
void Brcb(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint8_t repeatTime, const BrcbRepeatParams& repeatParams) {
  const char* api = "Brcb";
  // dav_c220 kernel_operator_vec_brcb_impl.h: ASCENDC_ASSERT for other sizes, so they compile.
  EMU_REQUIRE(sizeof(T) == 2 || sizeof(T) == 4, api, "dtype", "16- or 32-bit elements only");
  emu::RequireVectorCore(api);
  ResetMask();  // dav_c220 kernel_operator_vec_brcb_impl.h
  if (repeatTime == 0) return;
  src.CheckAlign(api, "src", 32);
  dst.CheckAlign(api, "dst", 32);
  src.Reads(api, "src", 0, uint64_t(repeatTime) * 8 * sizeof(T));
  const uint64_t last = (uint64_t(repeatTime - 1) * repeatParams.dstRepStride + 7ull * repeatParams.dstBlkStride) * 32;
  dst.CheckBytes(api, "dst", 0, last + 32);
  for (uint32_t r = 0; r < repeatTime; ++r)
    for (uint32_t j = 0; j < 8; ++j) {
      const uint64_t at = dst.EmuAddr() + (uint64_t(r) * repeatParams.dstRepStride + uint64_t(j) * repeatParams.dstBlkStride) * 32;
      emu::NoteAccess(dst.EmuMem(), at, at + 32, true);
    }
  const uint8_t* s = src.Data();
  uint8_t* d = dst.Data();
  for (uint32_t r = 0; r < repeatTime; ++r)
    for (uint32_t j = 0; j < 8; ++j) {
      const T v = emu::Load<T>(s + (r * 8 + j) * sizeof(T));
      uint8_t* block = d + (uint64_t(r) * repeatParams.dstRepStride + uint64_t(j) * repeatParams.dstBlkStride) * 32;
      for (uint32_t k = 0; k < 32 / sizeof(T); ++k) emu::Store<T>(block + k * sizeof(T), v);
    }
  auto& c = emu::Core().counters;
  c.vecCalls++;
  c.vecElemOps += uint64_t(repeatTime) * 256 / sizeof(T);
  if (!emu::ActiveTrace()) return emu::TraceVector(api, repeatTime, uint64_t(repeatTime) * 256 / sizeof(T), sizeof(T));
  // UB bank beats (emu/runtime/ub_banks.cpp): a repeat reads one row (a 16-bit Brcb's 16 bytes are
  // priced as a row of their own) and writes its 8 blocks, dstBlkStride rows apart: 8 blocks in one
  // bank group take 8 beats (CANN guide "避免bank冲突（NPU架构版本2201）", the write case).
  emu::LanePlan full;
  full.lanes = 256 / sizeof(T);
  full.repeats = repeatTime;
  full.bits[0] = ~0ull;
  full.bits[1] = sizeof(T) == 2 ? ~0ull : 0;
  const emu::BankOperand read{src.EmuAddr(), emu::Layout{32, 0, 1}};
  const emu::BankOperand write{dst.EmuAddr(), emu::Layout{sizeof(T), repeatParams.dstBlkStride, repeatParams.dstRepStride}};
  emu::TraceVector(api, repeatTime, uint64_t(repeatTime) * 256 / sizeof(T), sizeof(T),
                   emu::UbBankBeats(full, &read, 1, write));
}

}  // namespace AscendC
