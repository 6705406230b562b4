// Sparse Flash Attention, vector side (AIV): a finished row (SfaSplit::finisher, sfa-finish).
//
// A split row whose one late piece L is its core's last item, every other piece done well before
// it, is written by L's vector cores rather than merged (docs/ops/sparse_flash_attention.md,
// "Finished rows"). Note reads the item's split record (one scalar miss, at the item's start).
// Prepare, once L's statistics are final (after L's last softmax, while the cube still runs L's last
// P . V), weighs every piece against the largest reference max R, w_i = exp(r_i - R) / l with
// l = sum_i exp(r_i - R) l_i, and sums the other pieces' rows of this core's heads into acc, weighed.
// Write adds L's own sum once the cube has it in GM, then casts and writes the row (and m, l
// against the largest true max). An L that selected nothing finishes its row from the other pieces
// alone after the core's items (WriteAlone).
#pragma once

#include "kernel_operator.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "sfa_output.h"
#include "sfa_plan.h"
#include "sfa_row_scale.h"

namespace ascend_glm5 {

template <typename T>
class SfaFinish {
 public:
  // Chunk buffers (MTE2 -> V events 1 .. kBufs), then the first other piece's chunks' events.
  static constexpr uint32_t kPieces = kSfaFinishPieces, kBufs = 3, kEvFirst = 1 + kBufs;
  static_assert(kEvFirst + (kSfaFinishHeads / 2 + kSfaStageRows - 1) / kSfaStageRows <= 8, "MTE2 -> V event ids 0..7");
  // UB past the item phase's P buffer (Init's `at`): the statistics, the bank offset, the chunk buffers.
  static constexpr uint32_t kUbBytes = 5 * kPieces * (kSfaFinishHeads / 2) * 4 + 1024 + kBufs * kSfaStageRows * kSfaLatentDim * 4;

  // The vector core's heads [h0, h0 + h) (hAlign: h rounded up to 8), its arena and where in it this
  // UB starts (at) and acc (accAt); the output stage (stageSlots slots of kSfaStageRows rows);
  // scratch0 / scratch1: hAlign floats each, free at Prepare and Write. enabled: the launch may
  // finish rows (split rows, not merged early, no O^T sums).
  __aicore__ inline void Init(const SparseFlashAttentionTiling& t, SfaOutput<T>& io, AscendC::TBuf<AscendC::TPosition::VECCALC>& arena,
                              uint32_t at, const AscendC::LocalTensor<float>& acc, uint32_t accAt,
                              const AscendC::LocalTensor<float>& stage, uint32_t stageSlots, uint32_t h0, uint32_t h, uint32_t hAlign,
                              SfaRowScale& scale, const AscendC::LocalTensor<float>& scratch0,
                              const AscendC::LocalTensor<float>& scratch1, bool enabled) {
    t_ = &t;
    io_ = &io;
    arena_ = &arena;
    at_ = at;
    acc_ = acc;
    accAt_ = accAt;
    stage_ = stage;
    stageSlots_ = stageSlots;
    h0_ = h0;
    h_ = h;
    hAlign_ = hAlign;
    scale_ = &scale;
    scratch0_ = scratch0;
    scratch1_ = scratch1;
    enabled_ = enabled;
  }

  // Whether `item` (the core's last) finishes its row; remembers the row if so.
  __aicore__ inline bool Note(const SfaItem& item, const SfaPlan& plan) {
    slot_ = -1;
    if (!enabled_ || item.piece < 0) return false;
    const SfaSplit split = plan.Split(uint32_t(item.piece) / SfaPieceGroup(*t_));
    if (split.finisher != 1 + item.piece - split.firstPiece) return false;
    split_ = split;
    slot_ = item.piece;
    return true;
  }
  // The same for a last item that selected nothing: its row is then written by WriteAlone.
  __aicore__ inline bool NoteEmpty(const SfaItem& item, const SfaPlan& plan) {
    alone_ = Note(item, plan);
    return alone_;
  }
  __aicore__ inline bool Finishes(const SfaTile& tile) const { return slot_ >= 0 && tile.info.piece == slot_; }
  __aicore__ inline bool Prepared() const { return prepared_; }

  // L's final statistics (this core's heads): the row's weights, and the other pieces' rows in acc.
  __aicore__ inline void Prepare(const AscendC::LocalTensor<float>& ref, const AscendC::LocalTensor<float>& sum,
                                 const AscendC::LocalTensor<float>& trueMax) {
    Weigh(true, ref, sum, trueMax);
  }
  // Once the cube's last P . V of L is in GM: L's sum added in, the row written.
  __aicore__ inline void Write() { WriteRow(true); }
  // After the core's items (acc and the stage are free then): the row of an L that selected nothing.
  __aicore__ inline void WriteAlone() {
    if (!alone_) return;
    alone_ = false;
    if (h_ == 0) return;
    Weigh(false, scratch0_, scratch0_, scratch0_);
    WriteRow(false);
  }

 private:
  static constexpr float kNegInf = -__builtin_huge_valf();

  // Per piece its r, l and true max (k = 0, 1, 2), then its weight w (3); k = 4 holds R (piece 0),
  // l (1) and the largest true max (2). A statistic's rows run to its set's end (one instruction
  // over all pieces).
  __aicore__ inline AscendC::LocalTensor<float> Stat(uint32_t k, uint32_t piece) {
    return arena_->GetWithOffset<float>((kPieces - piece) * hAlign_, at_ + (k * kPieces + piece) * hAlign_ * 4);
  }
  // A chunk buffer starts 8 blocks past a 16-block boundary, acc (and so each of its chunks) on one:
  // the Add of a chunk into acc then reads the two in different UB bank groups.
  __aicore__ inline AscendC::LocalTensor<float> Chunk(uint32_t b) {
    const uint32_t at = (at_ + (5 * kPieces) * hAlign_ * 4 + 511) / 512 * 512 + 256 + accAt_ % 512;
    return arena_->GetWithOffset<float>(kSfaStageRows * kSfaLatentDim, at + b * kSfaStageRows * kSfaLatentDim * 4);
  }
  // own: L's statistics are ref / sum / trueMax; else L selected nothing (weight 0).
  __aicore__ inline void Weigh(bool own, const AscendC::LocalTensor<float>& ownRef, const AscendC::LocalTensor<float>& ownSum,
                               const AscendC::LocalTensor<float>& ownMax) {
    using namespace AscendC;
    prepared_ = true;
    firstFree_ = 0;
    const SfaSplit& split = split_;
    const uint32_t n = uint32_t(split.pieces), self = uint32_t(slot_ - split.firstPiece), h = h_;
    // The other pieces' posts (two vector cores each), then their statistics of this core's heads.
    GmFlagWaitAtLeast(io_->rowFlags[uint64_t(split.row) * kSfaRowFlagWords], int32_t(2 * (n - 1)));
    SetFlag<HardEvent::MTE3_MTE2>(0);  // the list and the last gathered rows have left this UB
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    const DataCopyExtParams one(1, h * sizeof(float), 0, 0, 0);
    const DataCopyPadExtParams<float> none(false, 0, 0, 0.0f);
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t k = 0; k < 3 && i != self; ++k)
        DataCopyPad(Stat(k, i), io_->stats[SfaStatAt(*t_, uint32_t(split.firstPiece) + i, k) + h0_], one, none);
    SetFlag<HardEvent::MTE2_V>(0);
    // The other pieces' rows: the first into acc_, then the others' first kBufs chunks
    // (Load), all landing while the weights are made.
    const uint32_t chunks = CeilDiv(h, kSfaStageRows);
    uint32_t firstOther = n, jobs = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (i == self) continue;
      if (firstOther == n) firstOther = i;
      else jobs += chunks;
    }
    if (firstOther < n) {  // by chunks (MTE2 -> V events kEvFirst + c), scaled as each lands
      for (uint32_t c = 0; c < chunks; ++c) {
        DataCopy(acc_[c * kSfaStageRows * kSfaLatentDim], OtherAcc(firstOther)[uint64_t(c) * kSfaStageRows * kSfaLatentDim],
                 SfaChunkRows(h_, c) * kSfaLatentDim);
        SetFlag<HardEvent::MTE2_V>(int32_t(kEvFirst + c));
      }
      for (uint32_t k = 0; k < jobs && k < kBufs; ++k) Load(k, k);
    }
    WaitFlag<HardEvent::MTE2_V>(0);
    if (own) {
      Adds(Stat(0, self), ownRef, 0.0f, h);
      Adds(Stat(1, self), ownSum, 0.0f, h);
      Adds(Stat(2, self), ownMax, 0.0f, h);
    } else {  // L selected nothing: weight 0
      Duplicate(Stat(0, self), kNegInf, h);
      Duplicate(Stat(1, self), 0.0f, h);
      Duplicate(Stat(2, self), kNegInf, h);
    }
    const LocalTensor<float> r = Stat(4, 0), l = Stat(4, 1), m = Stat(4, 2);
    PipeBarrier<PIPE_V>();
    Adds(r, Stat(0, 0), 0.0f, h);
    Adds(m, Stat(2, 0), 0.0f, h);
    for (uint32_t i = 1; i < n; ++i) {
      PipeBarrier<PIPE_V>();
      Max(r, r, Stat(0, i), h);
      Max(m, m, Stat(2, i), h);
    }
    // R floored at -FLT_MAX: where every piece is empty (r_i = -inf), w_i = exp(-inf) = 0, not NaN.
    // Then all pieces at once (their rows hAlign_ apart): w_i = exp(r_i - R), l_i *= w_i; l = sum l_i.
    PipeBarrier<PIPE_V>();
    Maxs(r, r, -3.402823466e38f, h);
    uint64_t lanes[2] = {h >= 64 ? ~0ull : (1ull << h) - 1, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
    const uint8_t rowBlocks = uint8_t(hAlign_ / 8);
    const BinaryRepeatParams byRow(1, 1, 1, rowBlocks, rowBlocks, 0);  // src1 (R, 1 / l) the same every piece
    PipeBarrier<PIPE_V>();
    Sub(Stat(3, 0), Stat(0, 0), r, lanes, uint8_t(n), byRow);
    PipeBarrier<PIPE_V>();
    Exp(Stat(3, 0), Stat(3, 0), int32_t(n * hAlign_));
    PipeBarrier<PIPE_V>();
    Mul(Stat(1, 0), Stat(1, 0), Stat(3, 0), int32_t(n * hAlign_));
    PipeBarrier<PIPE_V>();
    Add(l, Stat(1, 0), Stat(1, 1), h);
    for (uint32_t i = 2; i < n; ++i) {
      PipeBarrier<PIPE_V>();
      Add(l, l, Stat(1, i), h);
    }
    empty_ = ReadVectorResult(l, 0) == 0.0f;  // every piece empty (all heads alike): zeros
    if (empty_) {  // the loads issued above land before anything else uses their UB
      for (uint32_t c = 0; firstOther < n && c < chunks; ++c) WaitFlag<HardEvent::MTE2_V>(int32_t(kEvFirst + c));
      for (uint32_t k = 0; k < jobs && k < kBufs; ++k) WaitFlag<HardEvent::MTE2_V>(int32_t(1 + k));
      return;
    }
    const LocalTensor<float> inv = scratch0_;
    Duplicate(inv, 1.0f, h);
    PipeBarrier<PIPE_V>();
    Div(inv, inv, l, h);
    PipeBarrier<PIPE_V>();
    Mul(Stat(3, 0), Stat(3, 0), inv, lanes, uint8_t(n), byRow);
    PipeBarrier<PIPE_V>();
    // The other pieces' rows, weighed, into acc_: the first by chunks, the others chunk by chunk
    // through kBufs buffers, each chunk's copy issued that many chunks ahead.
    if (firstOther == n) {  // a row of L alone
      Duplicate(acc_, 0.0f, h * kSfaLatentDim);
      PipeBarrier<PIPE_V>();
      return;
    }
    for (uint32_t c = 0; c < chunks; ++c) {
      WaitFlag<HardEvent::MTE2_V>(int32_t(kEvFirst + c));
      scale_->Apply(acc_[c * kSfaStageRows * kSfaLatentDim], Stat(3, firstOther)[c * kSfaStageRows], SfaChunkRows(h_, c));
    }
    for (uint32_t k = 0; k < jobs; ++k) {
      const uint32_t b = k % kBufs, i = OtherPiece(k / chunks + 1), c = k % chunks, r0 = c * kSfaStageRows;
      WaitFlag<HardEvent::MTE2_V>(int32_t(1 + b));
      scale_->Apply(Chunk(b), Stat(3, i)[r0], SfaChunkRows(h_, c));
      Add(acc_[r0 * kSfaLatentDim], acc_[r0 * kSfaLatentDim], Chunk(b), SfaChunkRows(h_, c) * kSfaLatentDim);
      PipeBarrier<PIPE_V>();
      SetFlag<HardEvent::V_MTE2>(int32_t(1 + b));  // buffer b's rows are added in
      if (k + kBufs < jobs) {
        WaitFlag<HardEvent::V_MTE2>(int32_t(1 + b));
        Load(k + kBufs, b);
      } else {  // its last job: Write's loads into it wait for this (FreeBuffer)
        freed_ |= 1u << b;
      }
    }
    firstFree_ = jobs % kBufs;
  }
  // Buffer b for a new copy: Weigh's last Add from it is done.
  __aicore__ inline void FreeBuffer(uint32_t b) {
    if ((freed_ & (1u << b)) == 0) return;
    AscendC::WaitFlag<AscendC::HardEvent::V_MTE2>(int32_t(1 + b));
    freed_ &= ~(1u << b);
  }
  // The j-th piece of the finished row other than L (0-based), and this core's heads of its acc.
  __aicore__ inline uint32_t OtherPiece(uint32_t j) const {
    const uint32_t self = uint32_t(slot_ - split_.firstPiece);
    return j < self ? j : j + 1;
  }
  __aicore__ inline AscendC::GlobalTensor<float> OtherAcc(uint32_t i) {
    return io_->pieces[io_->PieceAcc(uint32_t(split_.firstPiece) + i) + uint64_t(h0_) * kSfaLatentDim];
  }
  // Job k of Weigh's chunk loop (the second other piece on: chunk k % chunks of other piece
  // k / chunks + 1) -> chunk buffer b, with its MTE2 -> V event 1 + b.
  __aicore__ inline void Load(uint32_t k, uint32_t b) {
    const uint32_t chunks = CeilDiv(h_, kSfaStageRows), c = k % chunks;
    AscendC::DataCopy(Chunk(b), OtherAcc(OtherPiece(k / chunks + 1))[uint64_t(c) * kSfaStageRows * kSfaLatentDim],
                      SfaChunkRows(h_, c) * kSfaLatentDim);
    AscendC::SetFlag<AscendC::HardEvent::MTE2_V>(int32_t(1 + b));
  }
  // own: add L's sum (in GM: the cube's last P . V is in); else the row is the other pieces' alone.
  __aicore__ inline void WriteRow(bool own) {
    using namespace AscendC;
    const uint32_t row = uint32_t(split_.row), self = uint32_t(slot_ - split_.firstPiece);
    prepared_ = false;
    if (empty_) {
      io_->WriteZeroRows(row, h0_, h_, stage_, scratch0_);
      return;
    }
    // L's chunks take the buffers in the order Weigh's last Adds free them (its rows of a 3-piece
    // row are still being added in when the cube's flag comes).
    const uint32_t first = firstFree_;
    const LocalTensor<T> stage = stage_.ReinterpretCast<T>();
    const uint32_t rowFloats = kSfaStageRows * kSfaLatentDim, chunks = CeilDiv(h_, kSfaStageRows);
    const GlobalTensor<float> sum = io_->pieces[io_->PieceAcc(uint32_t(slot_)) + uint64_t(h0_) * kSfaLatentDim];
    if (own) {
      for (uint32_t c = 0; c < chunks && c < kBufs; ++c) {
        FreeBuffer((first + c) % kBufs);
        DataCopy(Chunk((first + c) % kBufs), sum[uint64_t(c) * rowFloats], SfaChunkRows(h_, c) * kSfaLatentDim);
        SetFlag<HardEvent::MTE2_V>(int32_t(c));
      }
    }
    for (uint32_t b = 0; b < kBufs; ++b) FreeBuffer(b);  // the events of the buffers L does not use
    for (uint32_t c = 0; c < chunks; ++c) {
      const uint32_t r0 = c * kSfaStageRows, rows = SfaChunkRows(h_, c), slot = c % stageSlots_;
      const LocalTensor<float> a = acc_[r0 * kSfaLatentDim];
      if (own) {
        const LocalTensor<float> chunk = Chunk((first + c) % kBufs);
        WaitFlag<HardEvent::MTE2_V>(int32_t(c % kBufs));
        scale_->Apply(chunk, Stat(3, self)[r0], rows);
        Add(a, a, chunk, rows * kSfaLatentDim);
        PipeBarrier<PIPE_V>();
        if (c + kBufs < chunks) {  // the chunk kBufs on into this buffer
          SetFlag<HardEvent::V_MTE2>(0);
          WaitFlag<HardEvent::V_MTE2>(0);
          DataCopy(chunk, sum[uint64_t(c + kBufs) * rowFloats], SfaChunkRows(h_, c + kBufs) * kSfaLatentDim);
          SetFlag<HardEvent::MTE2_V>(int32_t(c % kBufs));
        }
      }
      if (c >= stageSlots_) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));  // the slot's previous rows are out
      Cast(stage[slot * rowFloats], a, RoundMode::CAST_RINT, rows * kSfaLatentDim);
      SetFlag<HardEvent::V_MTE3>(int32_t(slot));
      WaitFlag<HardEvent::V_MTE3>(int32_t(slot));
      DataCopy(io_->out[(uint64_t(row) * t_->heads + h0_ + r0) * kSfaLatentDim], stage[slot * rowFloats], rows * kSfaLatentDim);
      SetFlag<HardEvent::MTE3_V>(int32_t(slot));
    }
    for (uint32_t slot = 0; slot < stageSlots_ && slot < chunks; ++slot) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));
    if (t_->returnLse) io_->WriteLse(row, h0_, h_, Stat(4, 0), Stat(4, 1), Stat(4, 2), scratch1_);
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaOutput<T>* io_ = nullptr;
  AscendC::TBuf<AscendC::TPosition::VECCALC>* arena_ = nullptr;
  SfaRowScale* scale_ = nullptr;
  AscendC::LocalTensor<float> acc_, stage_, scratch0_, scratch1_;
  uint32_t at_ = 0, accAt_ = 0, stageSlots_ = 2, h0_ = 0, h_ = 0, hAlign_ = 8;
  SfaSplit split_{};  // the row this core's last item finishes
  int32_t slot_ = -1;  // that item's piece slot; -1: it finishes no row
  uint32_t freed_ = 0, firstFree_ = 0;  // Weigh's buffers with a pending V -> MTE2 event; the first it frees
  bool enabled_ = false, prepared_ = false, empty_ = false, alone_ = false;
};

}  // namespace ascend_glm5
