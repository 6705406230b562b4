// Sorting: Sort32, MrgSort (+ GetMrgSortResult), Extract, and CreateVecIndex.
//
// Sorted data is a list of 8-byte (score, index) pairs: a float score in bytes 0-3, or a half
// score in bytes 0-1 with bytes 2-3 reserved (Sort32 writes 0); the uint32 index in bytes 4-7.
// Order: descending score. The hardware's NaN order is not published; the emulator ranks NaN
// above every number ("NaN first", as AscendC TopK documents) and +0 equal to -0. Ties keep their
// order: the lower position first in Sort32, the lower-numbered queue first in MrgSort.
// Destinations must not overlap their sources (pairs are wider than scores, so any overlap would
// be partial and the result would depend on the hardware's access order).
#pragma once

#include <algorithm>
#include <numeric>

#include "vec_reduce.h"

namespace AscendC {

template <typename T>
struct MrgSortSrcList {
  MrgSortSrcList() = default;
  MrgSortSrcList(const LocalTensor<T>& src1In, const LocalTensor<T>& src2In, const LocalTensor<T>& src3In,
                 const LocalTensor<T>& src4In)
      : src1(src1In), src2(src2In), src3(src3In), src4(src4In) {}
  LocalTensor<T> src1, src2, src3, src4;  // src3 / src4 may stay empty when fewer queues are merged
};

// elementLengths in pairs. The CANN constructor takes repeatTimes as uint16_t and truncates it.
struct MrgSort4Info {
  MrgSort4Info() = default;
  MrgSort4Info(const uint16_t elementLengthsIn[4], const bool ifExhaustedSuspensionIn, const uint16_t validBitIn,
               const uint16_t repeatTimesIn)
      : ifExhaustedSuspension(ifExhaustedSuspensionIn), validBit(validBitIn), repeatTimes(static_cast<uint8_t>(repeatTimesIn)) {
    std::copy(elementLengthsIn, elementLengthsIn + 4, elementLengths);
  }
  uint16_t elementLengths[4] = {0, 0, 0, 0};
  bool ifExhaustedSuspension = false;
  uint16_t validBit = 0;
  uint8_t repeatTimes = 1;
};

namespace emu {

constexpr uint32_t kPairBytes = 8;
constexpr uint32_t kSortGroup = 32;  // elements per Sort32 / Extract repeat
template <typename T> inline constexpr bool kIsSortType = std::is_same_v<T, half> || std::is_same_v<T, float>;

inline void CheckSortRepeat(const char* api, int32_t repeat) {
  EMU_REQUIRE(repeat >= 0 && repeat <= 255, api, "param-range", "repeatTime %d outside [0, 255]", repeat);
}

// True if bytes [0, an) of a and [0, bn) of b share a byte of the same memory.
template <typename T, typename U>
bool Overlap(const LocalTensor<T>& a, uint64_t an, const LocalTensor<U>& b, uint64_t bn) {
  return a.EmuMem() == b.EmuMem() && an && bn && a.EmuAddr() < b.EmuAddr() + bn && b.EmuAddr() < a.EmuAddr() + an;
}
template <typename T, typename U>
void RequireNoOverlap(const char* api, const char* dstName, const LocalTensor<T>& dst, uint64_t dstBytes,
                      const char* srcName, const LocalTensor<U>& src, uint64_t srcBytes) {
  EMU_REQUIRE(!Overlap(dst, dstBytes, src, srcBytes), api, "overlap", "%s [%u, %llu) overlaps %s [%u, %llu)", dstName,
              dst.EmuAddr(), (unsigned long long)(dst.EmuAddr() + dstBytes), srcName, src.EmuAddr(),
              (unsigned long long)(src.EmuAddr() + srcBytes));
}

// True if the score at a (a T, or the first bytes of a pair) sorts strictly before the one at b.
template <typename T>
bool ScoreBefore(const uint8_t* a, const uint8_t* b) {
  return Beats(Load<T>(a), Load<T>(b));
}

}  // namespace emu

// Per repeat: 32 scores of src0 and 32 indices of src1 -> 32 pairs in dst, sorted descending.
template <typename T>
void Sort32(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<uint32_t>& src1, const int32_t repeatTime) {
  static_assert(emu::kIsSortType<T>, "Sort32: half or float scores only on A2/A3");
  const char* api = "Sort32";
  emu::RequireVectorCore(api);
  emu::CheckSortRepeat(api, repeatTime);
  dst.CheckAlign(api, "dst", 32);
  src0.CheckAlign(api, "src0", 32);
  src1.CheckAlign(api, "src1", 32);
  if (repeatTime == 0) return;
  const uint64_t n = uint64_t(repeatTime) * emu::kSortGroup;
  src0.Reads(api, "src0", 0, n * sizeof(T));
  src1.Reads(api, "src1", 0, n * 4);
  dst.Writes(api, "dst", 0, n * emu::kPairBytes);
  emu::RequireNoOverlap(api, "dst", dst, n * emu::kPairBytes, "src0", src0, n * sizeof(T));
  emu::RequireNoOverlap(api, "dst", dst, n * emu::kPairBytes, "src1", src1, n * 4);
  const uint8_t* s = src0.Data();
  const uint8_t* ix = src1.Data();
  uint8_t* d = dst.Data();
  for (uint64_t base = 0; base < n; base += emu::kSortGroup) {
    uint32_t order[emu::kSortGroup];
    std::iota(order, order + emu::kSortGroup, 0u);
    std::stable_sort(order, order + emu::kSortGroup, [&](uint32_t a, uint32_t b) {
      return emu::ScoreBefore<T>(s + (base + a) * sizeof(T), s + (base + b) * sizeof(T));
    });
    for (uint32_t i = 0; i < emu::kSortGroup; ++i) {
      uint8_t* pair = d + (base + i) * emu::kPairBytes;
      std::memset(pair, 0, 4);
      emu::Store<T>(pair, emu::Load<T>(s + (base + order[i]) * sizeof(T)));
      emu::Store<uint32_t>(pair + 4, emu::Load<uint32_t>(ix + (base + order[i]) * 4));
    }
  }
  auto& c = emu::Core().counters;
  c.vecCalls++;
  c.vecElemOps += n;
  emu::TraceVector(api, static_cast<uint32_t>(repeatTime), n, sizeof(T));
}

// Merges 2, 3 or 4 sorted queues of pairs into dst. With repeatTimes > 1 (four equal, contiguous
// queues only) repeat r merges the four runs starting at src1 + r*4*len pairs into dst + r*4*len.
template <typename T>
void MrgSort(const LocalTensor<T>& dst, const MrgSortSrcList<T>& src, const MrgSort4Info& params) {
  static_assert(emu::kIsSortType<T>, "MrgSort: half or float scores only on A2/A3");
  const char* api = "MrgSort";
  emu::RequireVectorCore(api);
  const uint16_t vb = params.validBit;
  EMU_REQUIRE(vb == 0b11 || vb == 0b111 || vb == 0b1111, api, "param-range",
              "validBit %u is not 0b11, 0b111 or 0b1111 (2, 3 or 4 queues)", vb);
  const uint32_t queues = vb == 0b11 ? 2 : vb == 0b111 ? 3 : 4;
  const LocalTensor<T>* q[4] = {&src.src1, &src.src2, &src.src3, &src.src4};
  const char* names[4] = {"src1", "src2", "src3", "src4"};
  const uint16_t* len = params.elementLengths;
  const uint32_t repeats = params.repeatTimes;
  EMU_REQUIRE(repeats >= 1, api, "param-range", "repeatTimes 0 outside [1, 255]");
  uint64_t total = 0;  // pairs per repeat
  for (uint32_t i = 0; i < queues; ++i) {
    EMU_REQUIRE(len[i] <= 4095, api, "param-range", "elementLengths[%u] = %u exceeds 4095", i, len[i]);
    total += len[i];
  }
  if (repeats > 1) {
    EMU_REQUIRE(queues == 4 && !params.ifExhaustedSuspension && len[1] == len[0] && len[2] == len[0] && len[3] == len[0],
                api, "mrgsort-repeat",
                "repeatTimes %u > 1 needs validBit 0b1111, four equal elementLengths and ifExhaustedSuspension false", repeats);
    for (uint32_t i = 1; i < 4; ++i)
      EMU_REQUIRE(q[i]->EmuMem() == q[0]->EmuMem() && q[i]->EmuAddr() == q[0]->EmuAddr() + i * len[0] * emu::kPairBytes,
                  api, "mrgsort-repeat", "repeatTimes %u > 1 needs contiguous queues: %s is not src1 + %u pairs", repeats,
                  names[i], i * len[0]);
  }
  dst.CheckAlign(api, "dst", 32);
  const uint64_t dstBytes = repeats * total * emu::kPairBytes;
  if (dstBytes) dst.Writes(api, "dst", 0, dstBytes);
  for (uint32_t i = 0; i < queues; ++i) {
    q[i]->CheckAlign(api, names[i], 8);
    const uint64_t bytes = ((repeats - 1) * total + len[i]) * emu::kPairBytes;
    if (len[i]) q[i]->Reads(api, names[i], 0, bytes);
    emu::RequireNoOverlap(api, "dst", dst, dstBytes, names[i], *q[i], len[i] ? bytes : 0);
  }
  uint8_t* d = dst.Data();
  uint64_t written = 0;
  uint32_t pos[4] = {0, 0, 0, 0};
  for (uint32_t r = 0; r < repeats; ++r) {
    const uint8_t* head[4] = {};
    for (uint32_t i = 0; i < queues; ++i) {
      pos[i] = 0;
      if (len[i]) head[i] = q[i]->Data() + r * total * emu::kPairBytes;
    }
    for (;;) {
      int best = -1;
      bool exhausted = false;
      for (uint32_t i = 0; i < queues; ++i) {
        if (pos[i] == len[i]) {
          exhausted = true;
          continue;
        }
        // Strictly better only: ties stay with the lower-numbered queue.
        if (best < 0 || emu::ScoreBefore<T>(head[i] + pos[i] * emu::kPairBytes, head[best] + pos[best] * emu::kPairBytes))
          best = static_cast<int>(i);
      }
      if (best < 0 || (exhausted && params.ifExhaustedSuspension)) break;
      std::memcpy(d + written * emu::kPairBytes, head[best] + pos[best] * emu::kPairBytes, emu::kPairBytes);
      pos[best]++;
      written++;
    }
  }
  // VMS4_SR: what the last repeat consumed of each queue.
  for (uint32_t i = 0; i < 4; ++i) emu::Core().mrgSortResult[i] = static_cast<uint16_t>(pos[i]);
  auto& c = emu::Core().counters;
  c.vecCalls++;
  c.vecElemOps += written;
  emu::TraceVector(api, repeats, written, sizeof(T));  // the model costs a merge per element written
}

// Pairs of each queue that the last MrgSort consumed (all of them unless it was suspended).
inline void GetMrgSortResult(uint16_t& mrgSortList1, uint16_t& mrgSortList2, uint16_t& mrgSortList3, uint16_t& mrgSortList4) {
  const auto& r = emu::Core().mrgSortResult;
  mrgSortList1 = r[0];
  mrgSortList2 = r[1];
  mrgSortList3 = r[2];
  mrgSortList4 = r[3];
  emu::Core().counters.scalarOps++;
}

// Per repeat: 32 pairs -> 32 scores and 32 indices.
template <typename T>
void Extract(const LocalTensor<T>& dstValueLocal, const LocalTensor<uint32_t>& dstIndexLocal, const LocalTensor<T>& sortedLocal,
             const int32_t repeatTimes) {
  const char* api = "Extract";
  // kernel_operator_proposal_intf_impl.h checks the type with ASCENDC_ASSERT: other types compile.
  EMU_REQUIRE(emu::kIsSortType<T>, api, "dtype", "half or float scores only on A2/A3");
  emu::RequireVectorCore(api);
  emu::CheckSortRepeat(api, repeatTimes);
  dstValueLocal.CheckAlign(api, "dstValueLocal", 32);
  dstIndexLocal.CheckAlign(api, "dstIndexLocal", 32);
  sortedLocal.CheckAlign(api, "sortedLocal", 32);
  if (repeatTimes == 0) return;
  const uint64_t n = uint64_t(repeatTimes) * emu::kSortGroup;
  sortedLocal.Reads(api, "sortedLocal", 0, n * emu::kPairBytes);
  dstValueLocal.Writes(api, "dstValueLocal", 0, n * sizeof(T));
  dstIndexLocal.Writes(api, "dstIndexLocal", 0, n * 4);
  emu::RequireNoOverlap(api, "dstValueLocal", dstValueLocal, n * sizeof(T), "sortedLocal", sortedLocal, n * emu::kPairBytes);
  emu::RequireNoOverlap(api, "dstIndexLocal", dstIndexLocal, n * 4, "sortedLocal", sortedLocal, n * emu::kPairBytes);
  emu::RequireNoOverlap(api, "dstIndexLocal", dstIndexLocal, n * 4, "dstValueLocal", dstValueLocal, n * sizeof(T));
  const uint8_t* s = sortedLocal.Data();
  uint8_t* v = dstValueLocal.Data();
  uint8_t* ix = dstIndexLocal.Data();
  for (uint64_t i = 0; i < n; ++i) {
    emu::Store<T>(v + i * sizeof(T), emu::Load<T>(s + i * emu::kPairBytes));
    emu::Store<uint32_t>(ix + i * 4, emu::Load<uint32_t>(s + i * emu::kPairBytes + 4));
  }
  auto& c = emu::Core().counters;
  c.vecCalls++;
  c.vecElemOps += n;
  emu::TraceVector(api, static_cast<uint32_t>(repeatTimes), n, sizeof(T));
}

// dst[i] = firstValue + i for i < count, computed as dav_c220 does it
// (kernel_operator_vec_createvecindex_impl.h): the first 32-byte block by the scalar unit in float
// (float(firstValue) + float(i), converted to T), each further block by a vector Adds of the block
// before it plus the block (then repeat) length, in T. So the mask register keeps the last Adds'
// mask, integers wrap, and a value that passes through float is exact only up to 2^24 (half: 2^11).
// The emulator refuses starts whose indices would come out inexact (rule "index-range").
template <typename T>
void CreateVecIndex(LocalTensor<T> dst, const T& firstValue, uint32_t count) {
  static_assert(std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t> || emu::kIsSortType<T>,
                "CreateVecIndex: int16_t, int32_t, half or float on A2/A3");
  const char* api = "CreateVecIndex";
  emu::RequireVectorCore(api);
  dst.CheckAlign(api, "dst", 32);
  constexpr uint32_t blk = 32 / sizeof(T), rep = 256 / sizeof(T);
  const double first = static_cast<double>(static_cast<float>(firstValue));
  if constexpr (!std::is_same_v<T, int16_t>) {
    // Values computed in float (first block; all of them for float / half) must be exact there.
    const double exact = std::is_same_v<T, half> ? 2048.0 : 16777216.0;
    const uint32_t viaFloat = std::is_same_v<T, int32_t> ? std::min(count, blk) : count;
    const double last = first + (viaFloat ? viaFloat - 1 : 0);
    EMU_REQUIRE(std::fabs(first) <= exact && std::fabs(last) <= exact, api, "index-range",
                "indices %.0f .. %.0f pass through float on the NPU and are exact only within +-%.0f", first, last, exact);
  }
  if (count == 0) return;
  const uint32_t head = std::min(count, blk);
  dst.CheckBytes(api, "dst", 0, uint64_t(head) * sizeof(T));
  for (uint32_t i = 0; i < head; ++i) dst.SetValue(i, static_cast<float>(firstValue) + static_cast<float>(i));
  emu::InternalFlag(HardEvent::S_V);  // CreateVecIndexOneBlk's SetFlag / WaitFlag<S_V> after the scalar writes
  if (count <= blk) return;
  const UnaryRepeatParams unit;
  // The rest of the first repeat, block by block, then whole repeats; each step has a partial tail.
  const uint32_t blocks = count >= rep ? rep / blk - 1 : count / blk - 1;
  for (uint32_t i = 0; i < blocks; ++i) Adds(dst[(i + 1) * blk], dst[i * blk], static_cast<T>(static_cast<int>(blk)), uint64_t(blk), 1, unit);
  if (count < rep && count % blk) {
    const uint32_t at = count / blk * blk;
    Adds(dst[at], dst[at - blk], static_cast<T>(static_cast<int>(blk)), uint64_t(count % blk), 1, unit);
  }
  if (count <= rep) return;
  for (uint32_t i = 0; i + 1 < count / rep; ++i) Adds(dst[(i + 1) * rep], dst[i * rep], static_cast<T>(static_cast<int>(rep)), uint64_t(rep), 1, unit);
  if (count % rep) {
    const uint32_t at = count / rep * rep;
    Adds(dst[at], dst[at - rep], static_cast<T>(static_cast<int>(rep)), uint64_t(count % rep), 1, unit);
  }
}

}  // namespace AscendC
