// Exact, stable running top-k over a stream of scores, on the vector unit.
//
// Lists are sorted (score, index) pairs, 8 bytes each (float score, uint32 index), best first,
// as Sort32 / MrgSort produce them. Keys arrive in increasing index order, which makes the
// tie rule (equal scores: lower index first) fall out of stable merging: earlier lists are
// always merged as the lower-numbered MrgSort queue.
//
// Per block of up to 64 scores: keep only scores above the current k-th best (Compare +
// GatherMask), Sort32 the few survivors into runs of 32 (padded with (-inf, -1)), and append
// the runs to a candidate buffer. When the buffer is full, merge its runs (4-way MrgSort
// rounds) and then merge them into the best list, keeping k. Once the best list is full, most
// blocks have no survivors, so the cost approaches one compare per key instead of a full sort.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

constexpr uint32_t kPairFloats = 2;       // a pair is two 32-bit words
constexpr uint32_t kRunPairs = 32;        // Sort32 output run
constexpr uint32_t kTopKBlock = 64;       // scores filtered per call (one fp32 repeat)
constexpr float kNegInf = -__builtin_huge_valf();

// Fills `pairs` (a multiple of 32) pairs of `list` with (-inf, index -1): two masked Duplicates
// over the 32-bit words, even lanes the scores, odd lanes the indices.
__aicore__ inline void FillEmptyPairs(const AscendC::LocalTensor<float>& list, uint32_t pairs) {
  using namespace AscendC;
  LocalTensor<int32_t> words = list.ReinterpretCast<int32_t>();
  const uint8_t repeats = static_cast<uint8_t>(pairs * kPairFloats / 64);
  uint64_t scoreLanes[2] = {0x5555555555555555ull, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
  uint64_t indexLanes[2] = {0xAAAAAAAAAAAAAAAAull, 0};
  Duplicate(words, static_cast<int32_t>(0xFF800000u), scoreLanes, repeats, 1, 8);  // -inf
  Duplicate(words, int32_t(-1), indexLanes, repeats, 1, 8);
}

// Scratch a RunningTopK needs, carved by the caller (all 32-byte aligned).
struct TopKScratch {
  AscendC::LocalTensor<float> scores;      // kTopKBlock floats: survivors' scores, padded
  AscendC::LocalTensor<uint32_t> indices;  // kTopKBlock: survivors' indices, padded
  AscendC::LocalTensor<uint8_t> mask;      // 32 bytes: compare result
  AscendC::LocalTensor<float> mergeA;      // (bestPairs + candPairs) pairs
  AscendC::LocalTensor<float> mergeB;      // (bestPairs + candPairs) pairs
};

class RunningTopK {
 public:
  // best: bestPairs pairs (k rounded up to 32); cand: candPairs pairs (multiple of 32, >= 64).
  __aicore__ inline void Init(const AscendC::LocalTensor<float>& best, uint32_t k, uint32_t bestPairs,
                              const AscendC::LocalTensor<float>& cand, uint32_t candPairs) {
    best_ = best;
    cand_ = cand;
    k_ = k;
    bestPairs_ = bestPairs;
    candPairs_ = candPairs;
    count_ = 0;
    runs_ = 0;
    threshold_ = kNegInf;
    FillEmptyPairs(best_, bestPairs_);
  }

  // Offers `n` (<= 64) scores whose keys are idx[0..n) (increasing). Scores past n must already
  // be -inf. Uses the scratch's scores/indices/mask.
  __aicore__ inline void Offer(const AscendC::LocalTensor<float>& scores, const AscendC::LocalTensor<uint32_t>& idx,
                               const TopKScratch& s) {
    using namespace AscendC;
    // Survivors: score > k-th best. A tie with the k-th best loses: its key index is higher.
    // The count-form compare runs under the vector mask register (Compare.md), which the caller's
    // last mask-form instruction or GatherMask may have left partial: set it to all lanes first.
    SetMaskNorm();
    ResetMask();
    CompareScalar(s.mask, scores, threshold_, CMPMODE::GT, kTopKBlock);
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;
    const GatherMaskParams oneRepeat(1, 1, 8, 0);
    GatherMask(s.scores, scores, s.mask.ReinterpretCast<uint32_t>(), false, 0, oneRepeat, kept);
    GatherMask(s.indices.ReinterpretCast<float>(), idx.ReinterpretCast<float>(), s.mask.ReinterpretCast<uint32_t>(), false,
               0, oneRepeat, kept);
    if (kept == 0) return;
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    const uint32_t runs = CeilDiv(static_cast<uint32_t>(kept), kRunPairs);
    PadSurvivors(s, static_cast<uint32_t>(kept), runs * kRunPairs);
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
    Sort32(cand_[runs_ * kRunPairs * kPairFloats], s.scores, s.indices, static_cast<int32_t>(runs));
    runs_ += runs;
    added_ += static_cast<uint32_t>(kept);
    if ((runs_ + 2) * kRunPairs > candPairs_) Flush(s);  // no room for another block's 2 runs
  }

  // Merges pending candidates into the best list.
  __aicore__ inline void Flush(const TopKScratch& s) {
    using namespace AscendC;
    if (runs_ == 0) return;
    uint32_t candLen = 0;
    bool inA = false;
    AscendC::LocalTensor<float> sorted = MergeRuns(s, candLen, inA);
    // best (lower keys) is queue 1, so ties keep the lower index.
    AscendC::LocalTensor<float> out = inA ? s.mergeB : s.mergeA;
    PipeBarrier<PIPE_V>();
    Merge2(out, best_, bestPairs_, sorted, candLen);
    PipeBarrier<PIPE_V>();
    DataCopy(best_, out, bestPairs_ * kPairFloats);
    count_ = count_ + added_ < k_ ? count_ + added_ : k_;
    runs_ = 0;
    added_ = 0;
    if (count_ >= k_) {
      SetFlag<HardEvent::V_S>(0);
      WaitFlag<HardEvent::V_S>(0);
      threshold_ = best_.GetValue((k_ - 1) * kPairFloats);
    }
  }

  __aicore__ inline const AscendC::LocalTensor<float>& Best() const { return best_; }

 private:
  __aicore__ inline void PadSurvivors(const TopKScratch& s, uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; ++i) {
      s.scores.SetValue(i, kNegInf);
      s.indices.SetValue(i, 0xFFFFFFFFu);
    }
  }

  // 4-way MrgSort rounds over the candidate runs (each 32 pairs) until one run is left.
  // The result is in cand_ (one run), s.mergeA (inA) or s.mergeB.
  __aicore__ inline AscendC::LocalTensor<float> MergeRuns(const TopKScratch& s, uint32_t& total, bool& inA) {
    using namespace AscendC;
    uint16_t lens[kMaxRuns];
    uint32_t n = runs_;
    for (uint32_t i = 0; i < n; ++i) lens[i] = kRunPairs;
    AscendC::LocalTensor<float> src = cand_;
    inA = false;
    while (n > 1) {
      const AscendC::LocalTensor<float> dst = inA ? s.mergeB : s.mergeA;
      uint32_t in = 0, out = 0, srcOff = 0, dstOff = 0;
      while (in < n) {
        const uint32_t q = n - in < 4 ? n - in : 4;
        uint16_t qlen[4] = {0, 0, 0, 0};
        uint32_t sum = 0;
        for (uint32_t j = 0; j < q; ++j) { qlen[j] = lens[in + j]; sum += lens[in + j]; }
        if (q == 1) {
          DataCopy(dst[dstOff * kPairFloats], src[srcOff * kPairFloats], sum * kPairFloats);
        } else {
          const uint32_t o1 = srcOff + qlen[0], o2 = o1 + qlen[1], o3 = o2 + qlen[2];
          MrgSortSrcList<float> list(src[srcOff * kPairFloats], src[o1 * kPairFloats],
                                     src[(q > 2 ? o2 : srcOff) * kPairFloats], src[(q > 3 ? o3 : srcOff) * kPairFloats]);
          MrgSort(dst[dstOff * kPairFloats], list, MrgSort4Info(qlen, false, static_cast<uint16_t>((1u << q) - 1), 1));
        }
        lens[out++] = static_cast<uint16_t>(sum);
        srcOff += sum;
        dstOff += sum;
        in += q;
      }
      PipeBarrier<PIPE_V>();
      n = out;
      src = dst;
      inA = !inA;
    }
    total = lens[0];
    return src;
  }

  __aicore__ inline void Merge2(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& a, uint32_t aLen,
                                const AscendC::LocalTensor<float>& b, uint32_t bLen) {
    using namespace AscendC;
    uint16_t lens[4] = {static_cast<uint16_t>(aLen), static_cast<uint16_t>(bLen), 0, 0};
    MrgSortSrcList<float> list(a, b, a, a);
    MrgSort(dst, list, MrgSort4Info(lens, false, 3, 1));
  }

  static constexpr uint32_t kMaxRuns = 64;
  AscendC::LocalTensor<float> best_, cand_;
  uint32_t k_ = 0, bestPairs_ = 0, candPairs_ = 0, count_ = 0, runs_ = 0, added_ = 0;
  float threshold_ = 0;
};

}  // namespace ascend_glm5
