// Sparse Flash Attention, vector side (AIV): online softmax, rescaled accumulation, normalisation.
//
// Vector core s of an AI core owns a contiguous half of the heads (rows of every cube tile).
// Per tile g, in the cube's order:
//   Softmax(g)     S rows from the S ring; columns past the tile's selected rows -> -inf;
//                  z = scale * S; m' = max(m, rowmax z); alpha = exp(m - m'); p = exp(z - m');
//                  l = l * alpha + sum p; P = round(p) to the input dtype -> P ring (for the cube).
//   Accumulate(g-1) acc = acc * alpha + O (the cube's P . V of the previous tile, fp32);
//                  after a row's last tile: out = acc / l in the input dtype, and m, l if asked.
// The running m and l are kept per row parity and alpha per tile parity, because Softmax of a
// row's first tile runs before the previous row's last Accumulate.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "../common/tiling.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

template <typename T>
class SfaVector {
 public:
  __aicore__ inline void Init(GM_ADDR plan, GM_ADDR indices, GM_ADDR out, GM_ADDR softmaxMax, GM_ADDR softmaxSum,
                              GM_ADDR workspace, const SparseFlashAttentionTiling& t) {
    t_ = &t;
    const uint32_t block = uint32_t(AscendC::GetBlockIdx()) / 2;
    uint64_t begin, end;
    SplitEvenly(t.numRows, t.blockDim, block, begin, end);
    tiles_.Init(plan, indices, t, uint32_t(begin), uint32_t(end));
    const uint32_t half = (t.heads + 1) / 2;  // N1 = 1: the second core has no head
    h0_ = AscendC::GetSubBlockIdx() == 0 ? 0 : half;
    h_ = AscendC::GetSubBlockIdx() == 0 ? half : t.heads - half;
    const uint64_t outRows = uint64_t(t.numRows) * t.heads;
    out_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(out), outRows * kSfaLatentDim);
    if (t.returnLse) {
      max_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxMax), outRows);
      sum_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxSum), outRows);
    }
    GM_ADDR ring = workspace + uint64_t(block) * t.wsBlockBytes;
    sRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring), 2 * t.wsSlotS / sizeof(float));
    pRing_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ring + 2 * t.wsSlotS), 2 * t.wsSlotP / sizeof(T));
    oRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring + 2 * (t.wsSlotS + t.wsSlotP)), 2 * t.wsSlotO / sizeof(float));
    const uint32_t h = h_ > 0 ? h_ : 1;
    hAlign_ = AlignUp(h, 8);
    pipe_.InitBuffer(scores_, h * kSfaTileRows * sizeof(float));
    pipe_.InitBuffer(probs_, h * kSfaTileRows * sizeof(T));
    pipe_.InitBuffer(acc_, h * kSfaLatentDim * sizeof(float));
    pipe_.InitBuffer(stage_, kStageRows * kSfaLatentDim * sizeof(float));
    pipe_.InitBuffer(stats_, kStatVectors * hAlign_ * sizeof(float));
    pipe_.InitBuffer(bcast_, hAlign_ * 8 * sizeof(float));
  }

  __aicore__ inline void Process() {
    SfaTile tile, pending;
    uint32_t g = 0, rowParity = 1, pendingParity = 0;
    bool hasPending = false;
    while (tiles_.Next(tile)) {
      if (tile.rows == 0) {
        WriteEmptyRow(tile.row);
        continue;
      }
      if (tile.first) rowParity ^= 1;
      Softmax(tile, g, rowParity);
      if (hasPending) Accumulate(pending, g - 1, pendingParity);
      pending = tile;
      pendingParity = rowParity;
      hasPending = true;
      ++g;
    }
    if (hasPending) Accumulate(pending, g - 1, pendingParity);
  }

 private:
  static constexpr uint32_t kStageRows = 8;  // O / output rows moved per copy
  enum Stat : uint32_t { kMax0 = 0, kMax1, kSum0, kSum1, kAlpha0, kAlpha1, kTileMax, kTileSum, kStatVectors };
  static constexpr float kNegInf = -__builtin_huge_valf();

  __aicore__ inline AscendC::LocalTensor<float> Stat(uint32_t i) { return stats_.Get<float>()[i * hAlign_]; }

  __aicore__ inline void Softmax(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t n = h_ * kSfaTileRows;
    const LocalTensor<float> s = scores_.Get<float>();
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagScores);
    if (h_ > 0) {
      DataCopy(s, sRing_[(g % 2) * (t_->wsSlotS / sizeof(float)) + h0_ * kSfaTileRows], n);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagScoresFree);
    if (h_ > 0) {
      Probabilities(tile, g, parity);
      const LocalTensor<T> p = probs_.Get<T>();
      Cast(p, s, RoundMode::CAST_RINT, n);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(pRing_[(g % 2) * (t_->wsSlotP / sizeof(T)) + h0_ * kSfaTileRows], p, n);
    }
    CrossCoreSetFlag<2, PIPE_MTE3>(kSfaFlagProbs);
    if (h_ > 0) {
      SetFlag<HardEvent::MTE3_V>(0);  // P's UB buffer is rewritten next tile
      WaitFlag<HardEvent::MTE3_V>(0);
    }
  }

  // In place on the scores: p = exp(scale * S - m'), with the row statistics updated:
  // m' = max(m, row max), alpha = exp(m - m'), l = l * alpha + row sum of p.
  __aicore__ inline void Probabilities(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t h = h_, n = h * kSfaTileRows;
    const LocalTensor<float> s = scores_.Get<float>(), b = bcast_.Get<float>();
    const LocalTensor<float> mRun = Stat(kMax0 + parity), lRun = Stat(kSum0 + parity), alpha = Stat(kAlpha0 + g % 2);
    const LocalTensor<float> tileMax = Stat(kTileMax), tileSum = Stat(kTileSum);
    Muls(s, s, t_->scale, n);
    PipeBarrier<PIPE_V>();
    if (tile.rows < kSfaTileRows) {  // columns past the tile's rows: padding or stale ring data
      uint64_t mask[2] = {~0ull << tile.rows, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
      Duplicate(s, kNegInf, mask, uint8_t(h), 1, kSfaTileRows / 8);
      PipeBarrier<PIPE_V>();
    }
    WholeReduceMax(tileMax, s, kSfaTileRows, h, 1, 1, kSfaTileRows / 8, ReduceOrder::ORDER_ONLY_VALUE);
    PipeBarrier<PIPE_V>();
    if (!tile.first) {
      Max(tileMax, tileMax, mRun, h);
      PipeBarrier<PIPE_V>();
      Sub(alpha, mRun, tileMax, h);
      PipeBarrier<PIPE_V>();
      Exp(alpha, alpha, h);
      PipeBarrier<PIPE_V>();
    }
    DataCopy(mRun, tileMax, hAlign_);
    Brcb(b, tileMax, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    Sub(s, s, b, kSfaTileRows, uint8_t(h), BinaryRepeatParams(1, 1, 0, kSfaTileRows / 8, kSfaTileRows / 8, 1));
    PipeBarrier<PIPE_V>();
    Exp(s, s, n);
    PipeBarrier<PIPE_V>();
    WholeReduceSum(tileSum, s, kSfaTileRows, h, 1, 1, kSfaTileRows / 8);
    PipeBarrier<PIPE_V>();
    if (tile.first) {
      DataCopy(lRun, tileSum, hAlign_);
    } else {
      Mul(lRun, lRun, alpha, h);
      PipeBarrier<PIPE_V>();
      Add(lRun, lRun, tileSum, h);
    }
    PipeBarrier<PIPE_V>();
  }

  __aicore__ inline void Accumulate(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t h = h_;
    const LocalTensor<float> acc = acc_.Get<float>(), stage = stage_.Get<float>();
    const uint64_t slot = (g % 2) * (t_->wsSlotO / sizeof(float)) + uint64_t(h0_) * kSfaLatentDim;
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    if (h > 0 && tile.first) {
      SetFlag<HardEvent::V_MTE2>(0);  // the previous row's output has been read out of acc
      WaitFlag<HardEvent::V_MTE2>(0);
      DataCopy(acc, oRing_[slot], h * kSfaLatentDim);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    } else if (h > 0) {
      ScaleRows(acc, Stat(kAlpha0 + g % 2), false);
      for (uint32_t r = 0; r < h; r += kStageRows) {
        const uint32_t rows = h - r < kStageRows ? h - r : kStageRows;
        SetFlag<HardEvent::V_MTE2>(0);  // the previous chunk's Add has read the stage
        WaitFlag<HardEvent::V_MTE2>(0);
        DataCopy(stage, oRing_[slot + r * kSfaLatentDim], rows * kSfaLatentDim);
        SetFlag<HardEvent::MTE2_V>(0);
        WaitFlag<HardEvent::MTE2_V>(0);
        Add(acc[r * kSfaLatentDim], acc[r * kSfaLatentDim], stage, rows * kSfaLatentDim);
      }
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
    if (h > 0 && tile.last) Finalize(tile.row, parity);
  }

  // acc[r, :] *= v[r] (or /= v[r]), one 64-column strip of all rows per instruction.
  __aicore__ inline void ScaleRows(const AscendC::LocalTensor<float>& acc, const AscendC::LocalTensor<float>& v, bool divide) {
    using namespace AscendC;
    const LocalTensor<float> b = bcast_.Get<float>();
    PipeBarrier<PIPE_V>();
    Brcb(b, v, uint8_t(CeilDiv(h_, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const BinaryRepeatParams rows(1, 1, 0, kSfaLatentDim / 8, kSfaLatentDim / 8, 1);
    for (uint32_t c = 0; c < kSfaLatentDim; c += 64) {
      if (divide) Div(acc[c], acc[c], b, 64, uint8_t(h_), rows);
      else Mul(acc[c], acc[c], b, 64, uint8_t(h_), rows);
    }
    PipeBarrier<PIPE_V>();
  }

  __aicore__ inline void Finalize(uint32_t row, uint32_t parity) {
    using namespace AscendC;
    const LocalTensor<float> acc = acc_.Get<float>();
    ScaleRows(acc, Stat(kSum0 + parity), true);
    const LocalTensor<T> o = stage_.Get<T>();
    for (uint32_t r = 0; r < h_; r += kStageRows) {
      const uint32_t rows = h_ - r < kStageRows ? h_ - r : kStageRows;
      Cast(o, acc[r * kSfaLatentDim], RoundMode::CAST_RINT, rows * kSfaLatentDim);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(out_[OutRow(row, r) * kSfaLatentDim], o, rows * kSfaLatentDim);
      SetFlag<HardEvent::MTE3_V>(0);
      WaitFlag<HardEvent::MTE3_V>(0);
    }
    if (t_->returnLse) WriteStats(row, Stat(kMax0 + parity), Stat(kSum0 + parity));
  }

  // A row that attends nothing: zeros (and m = l = 0), as the reference.
  __aicore__ inline void WriteEmptyRow(uint32_t row) {
    using namespace AscendC;
    if (h_ == 0) return;
    const uint32_t rows = h_ < kStageRows ? h_ : kStageRows;
    Duplicate(stage_.Get<int16_t>(), int16_t(0), rows * kSfaLatentDim);  // +0 in fp16 and bf16
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    for (uint32_t r = 0; r < h_; r += kStageRows) {
      const uint32_t n = h_ - r < kStageRows ? h_ - r : kStageRows;
      DataCopy(out_[OutRow(row, r) * kSfaLatentDim], stage_.Get<T>(), n * kSfaLatentDim);
    }
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    if (!t_->returnLse) return;
    const LocalTensor<float> zeros = Stat(kTileMax);
    Duplicate(zeros, 0.0f, hAlign_);
    WriteStats(row, zeros, zeros);
  }

  __aicore__ inline void WriteStats(uint32_t row, const AscendC::LocalTensor<float>& m, const AscendC::LocalTensor<float>& l) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const DataCopyExtParams one(1, h_ * sizeof(float), 0, 0, 0);
    DataCopyPad(max_[OutRow(row, 0)], m, one);
    DataCopyPad(sum_[OutRow(row, 0)], l, one);
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  // Flattened (row, head) index of this core's head h0 + r.
  __aicore__ inline uint64_t OutRow(uint32_t row, uint32_t r) const { return uint64_t(row) * t_->heads + h0_ + r; }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaTiles tiles_;
  uint32_t h0_ = 0, h_ = 0, hAlign_ = 8;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> scores_, probs_, acc_, stage_, stats_, bcast_;
  AscendC::GlobalTensor<T> out_, pRing_;
  AscendC::GlobalTensor<float> sRing_, oRing_, max_, sum_;
};

}  // namespace ascend_glm5
