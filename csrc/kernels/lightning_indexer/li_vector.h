// Lightning Indexer, vector side (AIV): head-weighted sum, masking, running top-k, and the final
// merge of each row's partial lists.
//
// Phase 1, per item: vector core s owns the item's key half s. Per step it copies its 64 columns
// of the score tile out of the ring, releases the slot, and for each row computes
// score[t] = sum_h w[h] * relu_qk[h][t], masks keys the row may not see, and offers the 64 scores
// to the row's RunningTopK. At the item's end each row's best list goes to its partial slot.
// Phase 2 (after SyncAll over the vector cores): each row's partial lists, in key order, are
// merged 4 at a time into the final top-k; indices (and scores) are written to the output.
#pragma once

#include "../common/tiling.h"
#include "../common/topk.h"
#include "kernel_operator.h"
#include "li_plan.h"

namespace ascend_glm5 {

template <typename W>
class LiVector {
 public:
  __aicore__ inline void Init(GM_ADDR weights, GM_ADDR plan, GM_ADDR indices, GM_ADDR values, GM_ADDR workspace,
                              const LightningIndexerTiling& t) {
    t_ = &t;
    plan_.Init(plan, t);
    weights_.SetGlobalBuffer(reinterpret_cast<__gm__ W*>(weights), uint64_t(t.numRows) * t.heads);
    indices_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(indices), uint64_t(t.numRows) * t.sparseCount);
    if (t.returnValue) values_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(values), uint64_t(t.numRows) * t.sparseCount);
    ring_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + uint64_t(AscendC::GetBlockIdx() / 2) * t.wsRingBytes),
                          t.wsRingBytes / sizeof(float));
    partials_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + t.wsPartialOffset),
                              uint64_t(t.numPartials) * t.sparseCount * kPairFloats);
    pipe_.InitBuffer(arena_, kArenaBytes);
  }

  __aicore__ inline void Process() {
    uint32_t first, last;
    plan_.CoreItems(AscendC::GetBlockIdx() / 2, first, last);
    CarvePhase1();
    for (uint32_t i = first; i < last; ++i) ProcessItem(plan_.Item(i));
    AscendC::SyncAll<true>();  // every partial list is in GM
    MergeRows();
  }

 private:
  static constexpr uint32_t kArenaBytes = 180 * 1024;

  // Bump allocation of 32-byte aligned slices of the UB arena.
  template <typename T>
  __aicore__ inline AscendC::LocalTensor<T> Take(uint32_t elems) {
    AscendC::LocalTensor<T> out = arena_.GetWithOffset<T>(elems, used_);
    used_ += AlignUp(elems * sizeof(T), 32);
    return out;
  }

  __aicore__ inline void CarvePhase1() {
    used_ = 0;
    const uint32_t maxM = t_->groupRows * t_->heads;
    tile_ = Take<float>(maxM * kLiHalfKeys);
    wRaw_ = Take<W>(maxM);
    wF32_ = Take<float>(maxM);
    score_ = Take<float>(kLiHalfKeys);
    term_ = Take<float>(kLiHalfKeys);
    keyIdx_ = Take<int32_t>(kLiHalfKeys);
    scratch_.scores = Take<float>(kLiHalfKeys);
    scratch_.indices = Take<uint32_t>(kLiHalfKeys);
    scratch_.mask = Take<uint8_t>(32);
    const uint32_t mergePairs = t_->bestPairs + kLiCandPairs;
    scratch_.mergeA = Take<float>(mergePairs * kPairFloats);
    scratch_.mergeB = Take<float>(mergePairs * kPairFloats);
    for (uint32_t g = 0; g < t_->groupRows; ++g) {
      best_[g] = Take<float>(t_->bestPairs * kPairFloats);
      cand_[g] = Take<float>(kLiCandPairs * kPairFloats);
    }
  }

  __aicore__ inline void ProcessItem(const LiItem& item) {
    using namespace AscendC;
    const uint32_t sub = AscendC::GetSubBlockIdx(), heads = t_->heads, m = item.rows * heads;
    LoadWeights(item.row0, m);
    int32_t visible[kMaxGroupRows];
    for (uint32_t g = 0; g < uint32_t(item.rows); ++g) {
      visible[g] = plan_.Row(item.row0 + g).visible;
      topk_[g].Init(best_[g], t_->sparseCount, t_->bestPairs, cand_[g], kLiCandPairs);
    }
    const int32_t lo = item.keyBegin + int32_t(sub) * item.halfKeys;
    const int32_t hi = lo + item.halfKeys < item.keyEnd ? lo + item.halfKeys : item.keyEnd;
    const uint32_t steps = item.halfKeys / kLiHalfKeys;
    for (uint32_t j = 0; j < steps; ++j, ++step_) {
      CrossCoreWaitFlag<2, PIPE_MTE2>(kLiFlagTileReady);
      const uint64_t slot = uint64_t(step_ % 2) * (t_->wsRingBytes / 2 / sizeof(float));
      // Rows of 128 scores: take our 64 (8 blocks), skip the other core's 64.
      DataCopy(tile_, ring_[slot + sub * kLiHalfKeys], DataCopyParams(m, kLiHalfKeys / 8, kLiHalfKeys / 8, 0));
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      CrossCoreSetFlag<2, PIPE_MTE2>(kLiFlagTileFree);
      const int32_t base = lo + int32_t(j * kLiHalfKeys);
      AscendC::CreateVecIndex(keyIdx_, base, kLiHalfKeys);
      for (uint32_t g = 0; g < uint32_t(item.rows); ++g) {
        const int32_t limit = (visible[g] < hi ? visible[g] : hi) - base;  // keys of this block the row sees
        if (limit <= 0) continue;
        WeightedSum(g);
        if (limit < int32_t(kLiHalfKeys)) MaskTail(static_cast<uint32_t>(limit));
        topk_[g].Offer(score_, keyIdx_.ReinterpretCast<uint32_t>(), scratch_);
      }
    }
    for (uint32_t g = 0; g < uint32_t(item.rows); ++g) {
      topk_[g].Flush(scratch_);
      const LiRow row = plan_.Row(item.row0 + g);
      const uint64_t slot = uint64_t(row.partialBase + 2 * item.split + int32_t(sub));
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopyPad(partials_[slot * t_->sparseCount * kPairFloats], best_[g],
                  DataCopyExtParams(1, t_->sparseCount * kPairFloats * sizeof(float), 0, 0, 0));
      SetFlag<HardEvent::MTE3_V>(0);  // best_[g] is reused by the next item
      WaitFlag<HardEvent::MTE3_V>(0);
    }
  }

  // weights rows [row0, row0 + rows) -> fp32, kept as scalars for the head loop.
  __aicore__ inline void LoadWeights(uint32_t row0, uint32_t m) {
    using namespace AscendC;
    DataCopyPad(wRaw_, weights_[uint64_t(row0) * t_->heads], DataCopyExtParams(1, m * sizeof(W), 0, 0, 0),
                DataCopyPadExtParams<W>(false, 0, 0, W(0.0f)));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    if constexpr (SameType<W, float>::value) {
      DataCopy(wF32_, wRaw_, AlignUp(m, 8));
    } else {
      Cast(wF32_, wRaw_, RoundMode::CAST_NONE, m);
    }
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    for (uint32_t i = 0; i < m; ++i) w_[i] = wF32_.GetValue(i);
  }

  // score = sum_h w[g, h] * tile[g * heads + h, :], in head order.
  __aicore__ inline void WeightedSum(uint32_t g) {
    using namespace AscendC;
    const uint32_t heads = t_->heads;
    Muls(score_, tile_[g * heads * kLiHalfKeys], w_[g * heads], kLiHalfKeys);
    for (uint32_t h = 1; h < heads; ++h) {
      Muls(term_, tile_[(g * heads + h) * kLiHalfKeys], w_[g * heads + h], kLiHalfKeys);
      PipeBarrier<PIPE_V>();
      Add(score_, score_, term_, kLiHalfKeys);
    }
    PipeBarrier<PIPE_V>();
  }

  // Keys at or past `limit` in this block are invisible to the row: their score becomes -inf.
  __aicore__ inline void MaskTail(uint32_t limit) {
    using namespace AscendC;
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    for (uint32_t i = limit; i < kLiHalfKeys; ++i) score_.SetValue(i, kNegInf);
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
  }

  // Phase 2: rows are dealt round-robin to all vector cores.
  __aicore__ inline void MergeRows() {
    using namespace AscendC;
    used_ = 0;
    const uint32_t pairs = t_->bestPairs;
    LocalTensor<float> acc = Take<float>(pairs * kPairFloats);
    LocalTensor<float> lists[3] = {Take<float>(pairs * kPairFloats), Take<float>(pairs * kPairFloats),
                                   Take<float>(pairs * kPairFloats)};
    LocalTensor<float> merged = Take<float>(4 * pairs * kPairFloats);
    LocalTensor<float> outScores = Take<float>(pairs);
    LocalTensor<uint32_t> outIdx = Take<uint32_t>(pairs);
    const uint32_t k = t_->sparseCount, vectorCores = 2 * t_->blockDim;
    for (uint32_t r = AscendC::GetBlockIdx(); r < t_->numRows; r += vectorCores) {
      const LiRow row = plan_.Row(r);
      if (row.partials <= 0) continue;  // output already holds -1 (and -inf)
      FillEmptyPairs(acc, pairs);
      LoadList(acc, row.partialBase);
      for (int32_t p = 1; p < row.partials; p += 3) {
        const uint32_t q = row.partials - p < 3 ? row.partials - p : 3;
        for (uint32_t i = 0; i < q; ++i) LoadList(lists[i], row.partialBase + p + int32_t(i));
        // acc holds lower keys than lists[0], which holds lower keys than lists[1]: ties stay stable.
        uint16_t lens[4] = {uint16_t(k), uint16_t(k), uint16_t(q > 1 ? k : 0), uint16_t(q > 2 ? k : 0)};
        AscendC::MrgSort(merged, AscendC::MrgSortSrcList<float>(acc, lists[0], q > 1 ? lists[1] : acc, q > 2 ? lists[2] : acc),
                AscendC::MrgSort4Info(lens, false, static_cast<uint16_t>((1u << (q + 1)) - 1), 1));
        PipeBarrier<PIPE_V>();
        DataCopy(acc, merged, pairs * kPairFloats);
        PipeBarrier<PIPE_V>();
      }
      FillTail(acc, k, pairs);
      AscendC::Extract(outScores, outIdx, acc, static_cast<int32_t>(pairs / kRunPairs));
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopyPad(indices_[uint64_t(r) * k], outIdx.ReinterpretCast<int32_t>(), DataCopyExtParams(1, k * 4, 0, 0, 0));
      if (t_->returnValue) DataCopyPad(values_[uint64_t(r) * k], outScores, DataCopyExtParams(1, k * 4, 0, 0, 0));
      SetFlag<HardEvent::MTE3_V>(0);
      WaitFlag<HardEvent::MTE3_V>(0);
    }
  }

  __aicore__ inline void LoadList(const AscendC::LocalTensor<float>& dst, int32_t slot) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopyPad(dst, partials_[uint64_t(slot) * t_->sparseCount * kPairFloats],
                DataCopyExtParams(1, t_->sparseCount * kPairFloats * sizeof(float), 0, 0, 0),
                DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
  }

  // Pairs [k, pairs) are padding: make them (-inf, -1) so Extract reads defined data.
  __aicore__ inline void FillTail(const AscendC::LocalTensor<float>& list, uint32_t k, uint32_t pairs) {
    AscendC::LocalTensor<int32_t> words = list.ReinterpretCast<int32_t>();
    for (uint32_t i = k; i < pairs; ++i) {
      words.SetValue(2 * i, static_cast<int32_t>(0xFF800000u));
      words.SetValue(2 * i + 1, -1);
    }
  }

  static constexpr uint32_t kMaxGroupRows = 4;
  const LightningIndexerTiling* t_ = nullptr;
  LiPlan plan_;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> arena_;
  uint32_t used_ = 0;
  uint32_t step_ = 0;
  AscendC::GlobalTensor<W> weights_;
  AscendC::GlobalTensor<int32_t> indices_;
  AscendC::GlobalTensor<float> values_, ring_, partials_;
  AscendC::LocalTensor<float> tile_, wF32_, score_, term_;
  AscendC::LocalTensor<W> wRaw_;
  AscendC::LocalTensor<int32_t> keyIdx_;
  AscendC::LocalTensor<float> best_[kMaxGroupRows], cand_[kMaxGroupRows];
  TopKScratch scratch_;
  RunningTopK topk_[kMaxGroupRows];
  float w_[kMaxGroupRows * kLiMaxHeads];
};

}  // namespace ascend_glm5
