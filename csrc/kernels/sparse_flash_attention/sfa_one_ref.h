// Sparse Flash Attention, vector side (AIV): the split rows of a one-reference launch (sfa-oneref,
// SfaOneRef in sparse_flash_attention_tiling.h). Every piece of such a row took the scores of the
// row's first key, R, as its reference max, and the cube added its P . V into the row's sum, so the
// row needs no merge: out = w sum / l, with M the row's true max, w = exp(R - M) and l the pieces'
// sums weighed alike. A vector core whose heads tripped (their max passed R by more than the slack,
// or the row's first key was not a valid one) left its rows in its own piece's acc against its own
// reference r, and its statistic 3 at 1: those rows are weighed in by exp(r - M), as a merge would.
//
// Also here: each vector core's share of zeroing the row sums at the launch's start (the cube's first
// add waits for every share, through the vector cores' waits before their P).
#pragma once

#include "kernel_operator.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "sfa_merge.h"
#include "sfa_output.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

template <typename T>
class SfaOneRef {
 public:
  __aicore__ inline void Init(const SparseFlashAttentionTiling& t, const SfaPlan& plan, SfaOutput<T>& io, GM_ADDR workspace) {
    t_ = &t;
    plan_ = &plan;
    io_ = &io;
    sums_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaOneRefOffset(t)), SfaOneRefBytes(t) / sizeof(float));
    group_ = SfaPieceGroup(t);
  }

  // At the vector core's start: its share of the row sums = 0 from `buf` (free until the caller's
  // first scores copy, which Scores orders after these copies), counted in row 0's flag line.
  // flag: 8 int32 of UB past the share's floats in `buf`.
  __aicore__ inline void ZeroShare(const AscendC::LocalTensor<float>& buf) {
    using namespace AscendC;
    const uint64_t total = SfaOneRefBytes(*t_) / sizeof(float), cores = 2 * uint64_t(t_->blockDim);
    const uint64_t share = AlignUp((total + cores - 1) / cores, uint64_t(8)), at = GetBlockIdx() * share;
    const uint32_t n = at < total ? uint32_t(total - at < share ? total - at : share) : 0;
    if (n > 0) {
      Duplicate(buf, 0.0f, n);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(sums_[at], buf, n);
    }
    // The add follows the copy on MTE3 (GmFlagAdd's barrier) and leaves the scalar going on.
    GmFlagAdd(io_->rowFlags[kSfaRowFlagZeroed], 1, buf[uint32_t(share)].template ReinterpretCast<int32_t>(), false);
    zeroPending_ = true;
  }
  // Before this vector core's first P of a one-reference piece: every share is zero. The caller's
  // next MTE2 copy into ZeroShare's buffer waits for its copies (MTE3 -> MTE2).
  __aicore__ inline void WaitZeroed() {
    using namespace AscendC;
    if (!zeroPending_) return;
    zeroPending_ = false;
    SetFlag<HardEvent::MTE3_MTE2>(0);
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    GmFlagWaitAtLeast(io_->rowFlags[kSfaRowFlagZeroed], int32_t(2 * t_->blockDim));
  }
  // After the items: this vector core's (split, head, 64-column chunk) units of the split rows
  // (SfaCoreHead::merge), a row's units at a time, each once its row's pieces are all posted.
  // arena: the vector core's UB (the item phase's buffers are free); merge: holds this core's last
  // piece's whole-piece post (SfaMerge::HoldPiece), made here first.
  // The first run is weighed before the held post (the pieces post their statistics after their
  // softmax), so that its vector work overlaps the cube's P . V.
  __aicore__ inline void Normalize(AscendC::TBuf<AscendC::TPosition::VECCALC>& arena, SfaMerge<T>& merge) {
    Carve(arena);
    uint64_t u, end;
    plan_->MergeUnits(AscendC::GetSubBlockIdx(), u, end);
    const uint64_t perRow = uint64_t(t_->heads) * kChunks;
    bool held = true;
    while (u < end) {
      const uint32_t j = uint32_t(u / perRow), a = uint32_t(u % perRow);
      uint32_t b = uint32_t(perRow - a < end - u ? perRow - a : end - u);
      if (b > kMaxUnits) b = kMaxUnits;
      const SfaSplit split = plan_->Split(j);
      Weigh(split, j, a, a + b);
      ReadScales(a, a + b);
      if (held) merge.PostHeld(flag_);
      held = false;
      Write(split, j, a, a + b);
      u += b;
    }
    if (held) merge.PostHeld(flag_);  // no units
    WaitAllPosted();  // each vector core takes the all-AIV flag's delivery once
  }

 private:
  static constexpr uint32_t kChunks = kSfaLatentDim / kSfaMergeCols;  // units a head
  static constexpr uint32_t kMaxUnits = 64;                             // units a run (16 KiB of sum)
  static constexpr uint32_t kMaxHeads = kMaxUnits / kChunks + 1;
  static constexpr float kNegMax = -3.402823466e38f;

  template <typename U>
  __aicore__ inline AscendC::LocalTensor<U> Take(AscendC::TBuf<AscendC::TPosition::VECCALC>& arena, uint32_t elems) {
    AscendC::LocalTensor<U> out = arena.GetWithOffset<U>(elems, used_);
    used_ += AlignUp(elems * sizeof(U), 32);
    return out;
  }
  __aicore__ inline void Carve(AscendC::TBuf<AscendC::TPosition::VECCALC>& arena) {
    used_ = 0;
    const uint32_t ps = AlignUp(kMaxHeads, 8);
    stats_ = Take<float>(arena, 4 * kSfaOneRefMaxPieces * ps);
    weights_ = Take<float>(arena, kSfaOneRefMaxPieces * ps);
    trips_ = Take<float>(arena, kSfaOneRefMaxPieces * ps);
    sum_ = Take<float>(arena, kMaxUnits * kSfaMergeCols);
    piece_ = Take<float>(arena, kSfaLatentDim);
    out_ = Take<T>(arena, kMaxUnits * kSfaMergeCols);
    lse_ = Take<float>(arena, 2 * ps);
    flag_ = Take<int32_t>(arena, 8);
  }

  // Units [a, b) of split j (row-local: head a / 8, chunk a % 8), all in one row's sum and output:
  // their heads' weights, from the statistics the pieces post with their streamed columns.
  __aicore__ inline void Weigh(const SfaSplit& split, uint32_t j, uint32_t a, uint32_t b) {
    using namespace AscendC;
    const uint32_t pieces = uint32_t(split.pieces), h0 = a / kChunks, hn = (b - 1) / kChunks - h0 + 1;
    const uint32_t ps = AlignUp(hn, 8), g = group_, rowFloats = SfaStatRowFloats(t_->heads);
    const uint64_t line = uint64_t(split.row) * kSfaRowFlagWords;
    // The pieces' r, l, true max and tripped of heads [h0, h0 + hn) (rows of ps floats, G of each),
    // posted after their softmax, while the cube still runs their P . V.
    GmFlagWaitAtLeast(io_->rowFlags[line + kSfaRowFlagStats], int32_t(2 * pieces));
    SetFlag<HardEvent::V_MTE2>(0);  // the previous run's vector work is done with the buffers
    WaitFlag<HardEvent::V_MTE2>(0);
    SetFlag<HardEvent::MTE3_MTE2>(0);  // and its output copies
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::S_MTE2>(0);  // and its scalar reads
    WaitFlag<HardEvent::S_MTE2>(0);
    DataCopyPad(stats_, io_->stats[SfaStatAt(*t_, j * g, 0) + h0],
                DataCopyExtParams(uint16_t(4 * g), hn * 4, (rowFloats - hn) * 4, 0, 0), DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    const LocalTensor<float> w = stats_, l = stats_[g * ps], m = stats_[2 * g * ps], trip = stats_[3 * g * ps];
    const uint32_t len = pieces * ps;
    // M = the largest true max (floored: a head whose every piece is empty weighs 0, not NaN).
    Reduce<true>(m, pieces, ps);
    Maxs(m, m, kNegMax, int32_t(ps));
    PipeBarrier<PIPE_V>();
    // W_i = exp(r_i - M) (over r); l = sum W_i l_i; the row sum's weight = the largest W_i of the
    // pieces on R (exp(R - M)); whether any piece of a head tripped.
    const uint8_t psBlocks = uint8_t(ps / 8);
    Sub(w, w, m, int32_t(ps), uint8_t(pieces), BinaryRepeatParams(1, 1, 1, psBlocks, psBlocks, 0));
    Muls(weights_, trip, -1.0f, int32_t(len));
    Adds(trips_, trip, 0.0f, int32_t(len));
    PipeBarrier<PIPE_V>();
    Exp(w, w, int32_t(len));
    Adds(weights_, weights_, 1.0f, int32_t(len));
    PipeBarrier<PIPE_V>();
    Mul(l, l, w, int32_t(len));
    Mul(weights_, weights_, w, int32_t(len));
    PipeBarrier<PIPE_V>();
    Reduce<false>(l, pieces, ps);
    Reduce<true>(weights_, pieces, ps);
    Reduce<true>(trips_, pieces, ps);
  }
  // kSfaOneRefAllCores: every vector core of the launch has set kSfaFlagAllPosted (the row's pieces
  // are all in its sum), taken once; the row sum's reads on MTE2 wait for it.
  __aicore__ inline void WaitAllPosted() {
    if (t_->oneRef != kSfaOneRefAllCores || allPosted_) return;
    AscendC::CrossCoreWaitFlag<0, PIPE_MTE2>(kSfaFlagAllPosted);
    allPosted_ = true;
  }
  // Each head's scale w / l of units [a, b) and whether a piece of it tripped, into the scalar's
  // registers: read before this core's own post (the cube's last P . V is still running then), so
  // that once the row sum lands only vector work is left.
  __aicore__ inline void ReadScales(uint32_t a, uint32_t b) {
    using namespace AscendC;
    const uint32_t h0 = a / kChunks, hn = (b - 1) / kChunks - h0 + 1, ps = AlignUp(hn, 8);
    const LocalTensor<float> l = stats_[group_ * ps];
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    for (uint32_t k = 0; k < hn; ++k) {
      headSums_[k] = l.GetValue(k);
      scales_[k] = headSums_[k] > 0.0f ? weights_.GetValue(k) / headSums_[k] : 0.0f;
      tripped_[k] = headSums_[k] > 0.0f && trips_.GetValue(k) > 0.0f;
    }
  }
  // Then the row sum's floats of the units, once every piece is whole, scaled (and the tripped
  // pieces' rows weighed in), cast and written.
  __aicore__ inline void Write(const SfaSplit& split, uint32_t j, uint32_t a, uint32_t b) {
    using namespace AscendC;
    const uint32_t pieces = uint32_t(split.pieces), h0 = a / kChunks, hn = (b - 1) / kChunks - h0 + 1;
    const uint32_t ps = AlignUp(hn, 8), g = group_, n = (b - a) * kSfaMergeCols;
    const LocalTensor<float> l = stats_[g * ps], m = stats_[2 * g * ps];
    if (t_->oneRef == kSfaOneRefAllCores) WaitAllPosted();
    else GmFlagWaitAtLeast(io_->rowFlags[uint64_t(split.row) * kSfaRowFlagWords], int32_t(2 * pieces));
    DataCopy(sum_, sums_[SfaOneRefSum(*t_, j) + uint64_t(a) * kSfaMergeCols], n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    for (uint32_t k = 0; k < hn; ++k) {
      const uint32_t head = h0 + k;
      uint32_t lo, hi;
      HeadUnits(head, a, b, lo, hi);
      const LocalTensor<float> part = sum_[(lo - a) * kSfaMergeCols];
      const uint32_t cols = (hi - lo) * kSfaMergeCols;
      Muls(part, part, scales_[k], int32_t(cols));
      if (tripped_[k]) AddTripped(part, j, pieces, ps, k, head, (lo % kChunks) * kSfaMergeCols, cols, headSums_[k]);
    }
    VectorAfterScalar();  // the next run's vector work rewrites the statistics read here
    PipeBarrier<PIPE_V>();
    Cast(out_, sum_, RoundMode::CAST_RINT, int32_t(n));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(io_->out[uint64_t(split.row) * t_->heads * kSfaLatentDim + uint64_t(a) * kSfaMergeCols], out_, n);
    if (t_->returnLse) WriteLse(split.row, h0, hn, a, b, l, m);
  }

  // Rows [0, n) of buf (ps floats each) -> row 0 = their max (kMax) or sum, by halving rounds.
  template <bool kMax>
  __aicore__ inline void Reduce(const AscendC::LocalTensor<float>& buf, uint32_t n, uint32_t ps) {
    using namespace AscendC;
    while (n > 1) {
      const uint32_t h = n / 2;
      if (kMax) Max(buf, buf, buf[(n - h) * ps], int32_t(h * ps));
      else Add(buf, buf, buf[(n - h) * ps], int32_t(h * ps));
      PipeBarrier<PIPE_V>();
      n -= h;
    }
  }
  // The units of head `head` within [a, b): [lo, hi).
  __aicore__ inline static void HeadUnits(uint32_t head, uint32_t a, uint32_t b, uint32_t& lo, uint32_t& hi) {
    lo = head * kChunks > a ? head * kChunks : a;
    hi = (head + 1) * kChunks < b ? (head + 1) * kChunks : b;
  }
  // part += (W_i / l) acc_i over the pieces i whose vector core tripped (their rows of head `head`,
  // columns [c0, c0 + cols), in their own acc).
  __aicore__ inline void AddTripped(const AscendC::LocalTensor<float>& part, uint32_t j, uint32_t pieces, uint32_t ps,
                                    uint32_t k, uint32_t head, uint32_t c0, uint32_t cols, float sum) {
    using namespace AscendC;
    const LocalTensor<float> trip = stats_[3 * group_ * ps];
    for (uint32_t i = 0; i < pieces; ++i) {
      if (trip.GetValue(i * ps + k) == 0.0f) continue;
      const float w = stats_.GetValue(i * ps + k) / sum;  // W_i (the r rows hold W now)
      SetFlag<HardEvent::V_MTE2>(0);  // the last Axpy is done with piece_
      WaitFlag<HardEvent::V_MTE2>(0);
      DataCopy(piece_, io_->pieces[io_->PieceAcc(j * group_ + i) + uint64_t(head) * kSfaLatentDim + c0], cols);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      PipeBarrier<PIPE_V>();
      Axpy(part, piece_, w, int32_t(cols));
    }
  }
  // softmax_max / softmax_sum of the heads whose last chunk is in [a, b): M and l (0, 0 where the
  // head attends nothing, as the reference).
  __aicore__ inline void WriteLse(int32_t row, uint32_t h0, uint32_t hn, uint32_t a, uint32_t b,
                                  const AscendC::LocalTensor<float>& l, const AscendC::LocalTensor<float>& m) {
    using namespace AscendC;
    uint32_t first = hn, count = 0;
    for (uint32_t k = 0; k < hn; ++k) {
      const uint32_t last = (h0 + k) * kChunks + kChunks - 1;
      if (last < a || last >= b) continue;
      if (first == hn) first = k;
      ++count;
    }
    if (count == 0) return;
    const uint32_t ps = AlignUp(count, 8);
    for (uint32_t k = 0; k < count; ++k) {
      const float sum = l.GetValue(first + k);
      lse_.SetValue(k, sum > 0.0f ? m.GetValue(first + k) : 0.0f);
      lse_.SetValue(ps + k, sum);
    }
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    const uint64_t at = uint64_t(row) * t_->heads + h0 + first;
    const DataCopyExtParams one(1, count * sizeof(float), 0, 0, 0);
    DataCopyPad(io_->max[at], lse_, one);
    DataCopyPad(io_->sum[at], lse_[ps], one);
    SetFlag<HardEvent::MTE3_S>(0);  // lse_ is written again by the next run's scalar
    WaitFlag<HardEvent::MTE3_S>(0);
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  const SfaPlan* plan_ = nullptr;
  SfaOutput<T>* io_ = nullptr;
  AscendC::GlobalTensor<float> sums_;
  uint32_t group_ = 1, used_ = 0;
  bool zeroPending_ = false, allPosted_ = false;
  float headSums_[kMaxHeads] = {}, scales_[kMaxHeads] = {};  // ReadScales': l and w / l a head
  bool tripped_[kMaxHeads] = {};
  AscendC::LocalTensor<float> stats_, weights_, trips_, sum_, piece_, lse_;
  AscendC::LocalTensor<T> out_;
  AscendC::LocalTensor<int32_t> flag_;
};

}  // namespace ascend_glm5
