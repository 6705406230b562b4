// Sparse Flash Attention, vector side: the kept columns' correction (SfaKeptColumns, owned by
// SfaVector). The cube sums P . V of latent columns [0, SfaKeptCols) in its L0C over an item's
// tiles. L0C cannot be rescaled, so a rebase at tile g leaves that sum A mixed: tiles before g
// against r, later ones against r'. The cube writes a snapshot Y of it before adding tile g (it
// reads the rebase word this core wrote with P), and this core keeps a correction D (GM, per item
// parity) with A + D = the sum against the current reference: at a rebase D' = alpha (D + Y) - Y.
// After the item's last tile (the cube has written A into the item's sum) D is added to it.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

// buf[r, :] *= v for `rows` rows of h floats (an O^T sum, SfaOutT: a row per latent column, a column
// per head; h a multiple of 8, rows x h of 64): Muls of 64 floats a repeat with v's repeat stride 0.
// Where h divides 64, 64 / h rows a repeat against v tiled in bcast (64 floats); else a row a repeat.
__aicore__ inline void SfaScaleColumns(const AscendC::LocalTensor<float>& buf, const AscendC::LocalTensor<float>& v,
                                       const AscendC::LocalTensor<float>& bcast, uint32_t rows, uint32_t h) {
  using namespace AscendC;
  constexpr uint32_t kMaxRepeats = 255;
  PipeBarrier<PIPE_V>();
  if (64 % h == 0) {
    for (uint32_t i = 0; i < 64; i += h) Adds(bcast[i], v, 0.0f, int32_t(h));
    PipeBarrier<PIPE_V>();
    const uint32_t reps = rows * h / 64;
    for (uint32_t r = 0; r < reps; r += kMaxRepeats) {
      const uint32_t n = reps - r < kMaxRepeats ? reps - r : kMaxRepeats;
      Mul(buf[r * 64], buf[r * 64], bcast, 64, uint8_t(n), BinaryRepeatParams(1, 1, 1, 8, 8, 0));
    }
  } else {
    const uint8_t stride = uint8_t(h / 8);
    for (uint32_t r = 0; r < rows; r += kMaxRepeats) {
      const uint32_t n = rows - r < kMaxRepeats ? rows - r : kMaxRepeats;
      Mul(buf[r * h], buf[r * h], v, uint64_t(h), uint8_t(n), BinaryRepeatParams(1, 1, 1, stride, stride, 0));
    }
  }
  PipeBarrier<PIPE_V>();
}

class SfaKeptColumns {
 public:
  // h0_ / h: this vector core's heads. UB it borrows: scratch (2 x h x SfaKeptCols fp32; the item
  // phase's accumulator, free between an item's tiles), word (one int32, the rebase word's copy
  // source), alpha0 / alpha1 (a rebase's exp(r - r') per tile parity, until its snapshot is read)
  // and bcast (h rounded up to 8, x 8 fp32).
  __aicore__ inline void Init(GM_ADDR workspace, const SparseFlashAttentionTiling& t, uint32_t block, uint32_t h0,
                              uint32_t h, const AscendC::LocalTensor<float>& scratch,
                              const AscendC::LocalTensor<int32_t>& word, const AscendC::LocalTensor<float>& alpha0,
                              const AscendC::LocalTensor<float>& alpha1, const AscendC::LocalTensor<float>& bcast) {
    t_ = &t;
    cols_ = SfaKeptCols(t);
    itemTiles_ = SfaItemTiles(t);
    h0_ = h0;
    h_ = h;
    // Per AI core: snapshots of the kept columns' L0C sum (tile parity), then corrections (item parity).
    gm_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaKeptOffset(t)) + uint64_t(block) * 4 * t.heads * cols_,
                        4 * uint64_t(t.heads) * cols_);
    words_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + SfaWordOffset(t)),
                           uint64_t(t.numItems) * itemTiles_ * kSfaWordLineInts);
    scratch_ = scratch;
    // Rows a pass of the correction takes: y and d ([rows, cols_] fp32 each) fit the scratch ([h, 512]);
    // a part of h starts on a 32-byte line of alpha (8 rows).
    blockRows_ = 2 * cols_ <= kSfaLatentDim ? h : (h * kSfaLatentDim / (2 * cols_)) / 8 * 8;
    word_ = word;
    alpha_[0] = alpha0;
    alpha_[1] = alpha1;
    bcast_ = bcast;
  }

  // A rebase at tile g (alpha = exp(r - r') of this core's heads): the tile's word says so, and the
  // correction is updated once the cube's snapshot of the tile is in (Update).
  __aicore__ inline void NoteRebase(uint32_t g, const AscendC::LocalTensor<float>& alpha) {
    if (cols_ == 0) return;
    AscendC::Adds(alpha_[g % 2], alpha, 0.0f, h_);
    rebased_ = true;
    snapPending_[g % 2] = true;
  }
  // This core's rebase word of `tile` (1: rebased at it), in the tile's line, before P is posted;
  // an item's first tile has none (the cube starts its sum there).
  __aicore__ inline void PostWord(const SfaTile& tile) {
    if (cols_ > 0 && !tile.first) WriteWord(tile, rebased_);
    rebased_ = false;
  }
  // A one-reference piece's tile (sfa-oneref; its first and only): 1 if this core's heads keep their
  // own reference (tripped), for the cube's choice of where their P . V goes.
  __aicore__ inline void PostTrip(const SfaTile& tile, bool tripped) { WriteWord(tile, tripped); }
  // No rebase of tile g or of the item (parity) is left to correct.
  __aicore__ inline bool Clean(uint32_t g, uint32_t parity) const { return !snapPending_[g % 2] && !hasCorrection_[parity]; }
  __aicore__ inline bool HasCorrection(uint32_t parity) const { return hasCorrection_[parity]; }

  // After the cube's flag for tile g: D' = alpha (D + Y) - Y, if the tile was rebased. ot: the item's
  // sum and the snapshot are O^T (SfaItemOutT); D is then [cols, h] (a row per latent column).
  __aicore__ inline void Update(uint32_t g, uint32_t parity, bool ot) {
    if (!snapPending_[g % 2]) return;
    if (ot) {
      for (uint32_t k0 = 0; k0 < cols_; k0 += kOutTRows)
        UpdateRowsT(g, parity, k0, cols_ - k0 < kOutTRows ? cols_ - k0 : kOutTRows);
      hasCorrection_[parity] = true;
    } else {
      UpdateCorrection(g, parity);
    }
    snapPending_[g % 2] = false;
  }

  // The item's sum (this core's rows of it in GM, `sum`: kept columns) += D, after the cube has
  // written them.
  // ot: the sum is O^T (`sum`: this core's first column).
  __aicore__ inline void Fold(const AscendC::GlobalTensor<float>& sum, uint32_t parity, bool ot) {
    if (ot)
      for (uint32_t k0 = 0; k0 < cols_; k0 += kOutTRows) FoldRowsT(sum, parity, k0, cols_ - k0 < kOutTRows ? cols_ - k0 : kOutTRows);
    else
      for (uint32_t r0 = 0; r0 < h_; r0 += blockRows_)
        FoldRows(sum[uint64_t(r0) * kSfaLatentDim], parity, r0, h_ - r0 < blockRows_ ? h_ - r0 : blockRows_);
    hasCorrection_[parity] = false;
  }

  // At the end of the items: the last word's copy has left UB.
  __aicore__ inline void Drain() {
    if (wordPending_) AscendC::WaitFlag<AscendC::HardEvent::MTE3_S>(kEvWord);
    wordPending_ = false;
  }

 private:
  static constexpr int32_t kEvWord = 1;  // S <-> MTE3 (0: SfaVector::PostSlot)
  // O^T: latent rows a pass (y and d, [rows, h] each, within the scratch [h, 512]).
  static constexpr uint32_t kOutTRows = kSfaLatentDim / 2;
  // This core's h columns of `rows` O^T rows (N1 floats apart in GM) to and from UB rows of h.
  __aicore__ inline AscendC::DataCopyParams ColumnsIn(uint32_t rows) const {
    return AscendC::DataCopyParams(uint16_t(rows), uint16_t(h_ / 8), uint16_t((t_->heads - h_) / 8), 0);
  }
  __aicore__ inline AscendC::DataCopyParams ColumnsOut(uint32_t rows) const {
    return AscendC::DataCopyParams(uint16_t(rows), uint16_t(h_ / 8), 0, uint16_t((t_->heads - h_) / 8));
  }
  // FoldRows of an O^T sum: latent rows [k0, k0 + rows) (sum: this core's first column).
  __aicore__ inline void FoldRowsT(const AscendC::GlobalTensor<float>& sum, uint32_t parity, uint32_t k0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t n = rows * h_;
    const LocalTensor<float> a = scratch_, d = scratch_[n];
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopy(a, sum[uint64_t(k0) * t_->heads], ColumnsIn(rows));
    DataCopy(d, Correction(parity)[uint64_t(k0) * h_], n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Add(a, a, d, int32_t(n));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(sum[uint64_t(k0) * t_->heads], a, ColumnsOut(rows));
    SetFlag<HardEvent::MTE3_MTE2>(0);  // the sum is read back after this copy (a whole row's output)
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
  }
  // UpdateRows of an O^T snapshot ([cols, N1]): latent rows [k0, k0 + rows), D [cols, h].
  __aicore__ inline void UpdateRowsT(uint32_t g, uint32_t parity, uint32_t k0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t n = rows * h_;
    const LocalTensor<float> y = scratch_, d = scratch_[n];
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopy(y, gm_[uint64_t(g % 2) * t_->heads * cols_ + uint64_t(k0) * t_->heads + h0_], ColumnsIn(rows));
    if (hasCorrection_[parity]) DataCopy(d, Correction(parity)[uint64_t(k0) * h_], n);
    AddSnapshot(parity, d, y, n);
    SfaScaleColumns(d, alpha_[g % 2], bcast_, rows, h_);
    Sub(d, d, y, int32_t(n));
    StoreCorrection(parity, uint64_t(k0) * h_, d, n);
  }

  // Fold's rows [r0, r0 + rows) of this core's (sum: the first of them).
  __aicore__ inline void FoldRows(const AscendC::GlobalTensor<float>& sum, uint32_t parity, uint32_t r0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t kc = cols_, n = rows * kc;
    const LocalTensor<float> a = scratch_, d = scratch_[n];
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    // Rows of 512 in GM, kc of them each (DataCopyPad(ISASI).md: from GM srcStride counts bytes).
    DataCopyPad(a, sum, DataCopyExtParams(uint16_t(rows), kc * 4, (kSfaLatentDim - kc) * 4, 0, 0),
                DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    DataCopy(d, Correction(parity)[uint64_t(r0) * kc], n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Add(a, a, d, int32_t(n));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(sum, a, DataCopyExtParams(uint16_t(rows), kc * 4, 0, (kSfaLatentDim - kc) * 4, 0));
    SetFlag<HardEvent::MTE3_MTE2>(0);  // the sum is read back after this copy (a whole row's output)
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  __aicore__ inline void WriteWord(const SfaTile& tile, bool rebased) {
    using namespace AscendC;
    if (wordPending_) WaitFlag<HardEvent::MTE3_S>(kEvWord);  // the previous word has left UB
    word_.SetValue(0, rebased ? 1 : 0);
    SetFlag<HardEvent::S_MTE3>(kEvWord);
    WaitFlag<HardEvent::S_MTE3>(kEvWord);
    const uint64_t line = (uint64_t(tile.item) * itemTiles_ + tile.start / t_->tileRows) * kSfaWordLineInts;
    DataCopyPad(words_[line + AscendC::GetSubBlockIdx() * (kSfaWordLineInts / 2)], word_, DataCopyExtParams(1, 4, 0, 0, 0));
    SetFlag<HardEvent::MTE3_S>(kEvWord);
    wordPending_ = true;
  }

  // D' = alpha (D + Y) - Y for this core's rows, Y the cube's snapshot of tile g (in after its flag).
  __aicore__ inline void UpdateCorrection(uint32_t g, uint32_t parity) {
    for (uint32_t r0 = 0; r0 < h_; r0 += blockRows_)
      UpdateRows(g, parity, r0, h_ - r0 < blockRows_ ? h_ - r0 : blockRows_);
    hasCorrection_[parity] = true;
  }
  // UpdateCorrection's rows [r0, r0 + rows) of this core's.
  __aicore__ inline void UpdateRows(uint32_t g, uint32_t parity, uint32_t r0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t kc = cols_, n = rows * kc;
    const LocalTensor<float> y = scratch_, d = scratch_[n];
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopy(y, gm_[uint64_t(g % 2) * t_->heads * kc + uint64_t(h0_ + r0) * kc], n);
    if (hasCorrection_[parity]) DataCopy(d, Correction(parity)[uint64_t(r0) * kc], n);
    AddSnapshot(parity, d, y, n);
    PipeBarrier<PIPE_V>();
    ScaleCols(d, alpha_[g % 2][r0], rows, kc);
    Sub(d, d, y, int32_t(n));
    StoreCorrection(parity, uint64_t(r0) * kc, d, n);
  }
  // d = D + Y (or Y, before the parity's first correction), once both copies have landed.
  __aicore__ inline void AddSnapshot(uint32_t parity, const AscendC::LocalTensor<float>& d,
                                     const AscendC::LocalTensor<float>& y, uint32_t n) {
    using namespace AscendC;
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    if (hasCorrection_[parity]) Add(d, d, y, int32_t(n));
    else Adds(d, y, 0.0f, int32_t(n));
  }
  // The updated correction d back to the parity's GM copy at `at`.
  __aicore__ inline void StoreCorrection(uint32_t parity, uint64_t at, const AscendC::LocalTensor<float>& d, uint32_t n) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(Correction(parity)[at], d, n);
    SetFlag<HardEvent::MTE3_MTE2>(0);  // read back by the next update or the fold
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);  // the scratch is written again only after the copy
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  __aicore__ inline AscendC::GlobalTensor<float> Correction(uint32_t parity) {
    return gm_[uint64_t(2 + parity) * t_->heads * cols_ + uint64_t(h0_) * cols_];
  }

  // d[r, :] *= v[r] for `rows` rows of `cols` floats (a multiple of 64).
  __aicore__ inline void ScaleCols(const AscendC::LocalTensor<float>& d, const AscendC::LocalTensor<float>& v, uint32_t rows,
                                   uint32_t cols) {
    using namespace AscendC;
    const LocalTensor<float> b = bcast_;
    Brcb(b, v, uint8_t(CeilDiv(rows, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const BinaryRepeatParams strides(1, 1, 0, uint8_t(cols / 8), uint8_t(cols / 8), 1);
    for (uint32_t c = 0; c < cols; c += 64) Mul(d[c], d[c], b, 64, uint8_t(rows), strides);
    PipeBarrier<PIPE_V>();
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  uint32_t cols_ = 0, itemTiles_ = 0, h0_ = 0, h_ = 0, blockRows_ = 0;
  bool rebased_ = false, wordPending_ = false;  // a rebase at the tile being softmaxed; a word copy in flight
  bool snapPending_[2] = {false, false};        // per tile parity: a rebase whose snapshot is not read yet
  bool hasCorrection_[2] = {false, false};      // per item parity: D holds a correction
  AscendC::GlobalTensor<float> gm_;             // snapshots (tile parity), then corrections (item parity)
  AscendC::GlobalTensor<int32_t> words_;
  AscendC::LocalTensor<float> scratch_, bcast_, alpha_[2];
  AscendC::LocalTensor<int32_t> word_;
};

}  // namespace ascend_glm5
