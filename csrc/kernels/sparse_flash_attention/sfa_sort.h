// Sparse Flash Attention: an item's list of selected cache rows sorted into increasing cache row
// (runs of contiguous rows then cost the gathers one GM copy each), in steps that a caller may
// issue one at a time: Sort32 (with the list's read from GM), each 4-way MrgSort round, then
// Extract and the list's write back. The rows sort as the uint32 indices of (-row, row) pairs
// (descending keys, so increasing rows), padded with -inf keys: the rows stay exact, only the keys
// pass through fp32 (an inexact key above 2^24 only weakens the runs). Padded to 32 x 4^k pairs,
// every round has one length; with `exact`, to whole runs of 32 only, and each round merges just
// the pairs there are (MrgSort costs a cycle per two of them): a whole row of 640 ids is 20 runs,
// where padded it sorted 2,048 pairs a round (GLM-5 prefill rows of 513-2,048 keys: ~3.1K vector
// cycles a row; 640 ids now ~1K; sfa-sortexact).
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "sparse_flash_attention_tiling.h"

namespace ascend_glm5 {

class SfaRowSorter {
 public:
  // Starts sorting list[0, n) (n <= kSfaMaxSparseCount, in GM once the caller's MTE3 is done) in
  // `scratch`: kSfaSortScratchBytes of UB (32-byte aligned), the sorter's until the last step.
  // exact: padded to whole runs of 32 pairs; else to 32 x 4^k (every round the same length).
  // ub: where the list is in UB too, at least AlignUp(n, 32) entries long (a whole row's one chunk,
  // SfaSelector), read there rather than back from GM; unused with padding to 32 x 4^k.
  __aicore__ inline void Start(const AscendC::LocalTensor<uint8_t>& scratch, const AscendC::GlobalTensor<int32_t>& list,
                               uint32_t n, bool exact, const AscendC::LocalTensor<int32_t>* ub = nullptr) {
    buf_[0] = scratch.ReinterpretCast<float>();
    buf_[1] = scratch[kSfaSortScratchBytes / 2].ReinterpretCast<float>();
    list_ = list;
    n_ = n;
    rounds_ = Rounds(n);
    pairs_ = exact && n > 32 ? AlignUp(n, 32) : 32u << (2 * rounds_);
    hasUb_ = exact && ub != nullptr;
    if (hasUb_) ub_ = *ub;
    step_ = 0;
    src_ = 1;  // Sort32 writes buffer 1
    pending_ = true;
  }
  // Steps of a sort of n rows: Sort32, the MrgSort rounds, Extract.
  __aicore__ inline static uint32_t Steps(uint32_t n) { return Rounds(n) + 2; }
  // 4-way MrgSort rounds that merge n rows' runs of 32 pairs into one.
  __aicore__ inline static uint32_t Rounds(uint32_t n) {
    uint32_t rounds = 0;
    for (uint32_t pairs = 32; pairs < n; pairs *= 4) ++rounds;
    return rounds;
  }
  __aicore__ inline bool Pending() const { return pending_; }
  // After the last step: the sorted list's first entries (up to kSfaSlotRows) in the scratch, until
  // the caller reuses it (a work slot carries them).
  __aicore__ inline uint32_t HeadRows(AscendC::LocalTensor<int32_t>& rows) const {
    rows = Rows(src_ ^ 1);
    return n_ < kSfaSlotRows ? n_ : kSfaSlotRows;
  }
  __aicore__ inline void Finish() {
    while (pending_) Step();
  }

  // Issues the next step; the last one leaves the sorted list in GM (on MTE3, before any later copy;
  // the caller waits for it before it rewrites the scratch).
  __aicore__ inline void Step() {
    if (step_ == 0) SortRuns();
    else if (step_ <= rounds_) MergeRound(32u << (2 * (step_ - 1)));
    else WriteBack();
    ++step_;
  }

 private:
  // Buffer 0 holds the rows (int32, first half) and their keys (second half), buffer 1 the pairs.
  __aicore__ inline AscendC::LocalTensor<int32_t> Rows(uint32_t b) const { return buf_[b].ReinterpretCast<int32_t>(); }
  __aicore__ inline AscendC::LocalTensor<float> Keys(uint32_t b) const { return buf_[b][kSfaMaxSparseCount]; }

  // The list -> buffer 0 (or in UB already: ub_), its keys -row (padding -inf), and Sort32 into runs
  // of 32 pairs in buffer 1.
  __aicore__ inline void SortRuns() {
    using namespace AscendC;
    const LocalTensor<float> keys = Keys(0);
    LocalTensor<int32_t> rows = Rows(0);
    if (hasUb_) {
      rows = ub_;
      SetFlag<HardEvent::MTE2_V>(0);  // the scratch's earlier copies in and out are done
      WaitFlag<HardEvent::MTE2_V>(0);
      SetFlag<HardEvent::MTE3_V>(0);
      WaitFlag<HardEvent::MTE3_V>(0);
    } else {
      SetFlag<HardEvent::MTE3_MTE2>(0);  // the list is in GM; the scratch's copies out are done
      WaitFlag<HardEvent::MTE3_MTE2>(0);
      SetFlag<HardEvent::V_MTE2>(0);  // the scratch's previous vector user is done
      WaitFlag<HardEvent::V_MTE2>(0);
      DataCopyPad(rows, list_, DataCopyExtParams(1, n_ * 4, 0, 0, 0), DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
    }
    SetMaskNorm();
    ResetMask();
    Duplicate(keys, -__builtin_huge_valf(), int32_t(pairs_));
    if (!hasUb_) {
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    }
    PipeBarrier<PIPE_V>();
    Cast(keys, rows, RoundMode::CAST_NONE, int32_t(n_));
    PipeBarrier<PIPE_V>();
    Muls(keys, keys, -1.0f, int32_t(n_));
    PipeBarrier<PIPE_V>();
    Sort32(buf_[1], keys, rows.ReinterpretCast<uint32_t>(), int32_t(pairs_ / 32));
    PipeBarrier<PIPE_V>();
  }

  // Runs of `len` pairs -> runs of 4 * len, from one buffer into the other. Whole groups of 4 runs
  // in one MrgSort (its repeats need 4 lists of one length: MrgSort.md); the pairs after them (1 to
  // 4 runs, the last one shorter) in one more, or copied where they are a single run.
  __aicore__ inline void MergeRound(uint32_t len) {
    using namespace AscendC;
    const LocalTensor<float> q = buf_[src_], d = buf_[src_ ^ 1];
    const uint32_t groups = pairs_ / (4 * len), at = groups * 8 * len, rest = pairs_ - groups * 4 * len;
    if (groups > 0) {
      const uint16_t lens[4] = {uint16_t(len), uint16_t(len), uint16_t(len), uint16_t(len)};
      MrgSort(d, MrgSortSrcList<float>(q, q[2 * len], q[4 * len], q[6 * len]), MrgSort4Info(lens, false, 0b1111, uint16_t(groups)));
    }
    const uint32_t runs = CeilDiv(rest, len);
    if (runs == 1) {
      DataCopy(d[at], q[at], 2 * rest);
    } else if (runs > 1) {
      uint16_t lens[4] = {0, 0, 0, 0};
      for (uint32_t i = 0; i < runs; ++i) lens[i] = uint16_t(rest - i * len < len ? rest - i * len : len);
      const uint16_t valid = uint16_t((1u << runs) - 1);  // 3, 7 or 15: the first 2, 3 or 4 lists
      const LocalTensor<float> r = q[at];
      MrgSort(d[at], MrgSortSrcList<float>(r, r[2 * len], r[runs > 2 ? 4 * len : 0], r[runs > 3 ? 6 * len : 0]),
              MrgSort4Info(lens, false, valid, 1));
    }
    PipeBarrier<PIPE_V>();
    src_ ^= 1;
  }

  // The sorted pairs' rows (Extract into the other buffer) -> the list in GM.
  __aicore__ inline void WriteBack() {
    using namespace AscendC;
    const uint32_t dst = src_ ^ 1;
    Extract(Keys(dst), Rows(dst).ReinterpretCast<uint32_t>(), buf_[src_], int32_t(pairs_ / 32));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(list_, Rows(dst), DataCopyExtParams(1, n_ * 4, 0, 0, 0));
    pending_ = false;
  }

  AscendC::LocalTensor<float> buf_[2];
  AscendC::GlobalTensor<int32_t> list_;
  AscendC::LocalTensor<int32_t> ub_;
  bool hasUb_ = false;
  uint32_t n_ = 0, pairs_ = 32, rounds_ = 0, step_ = 0, src_ = 1;
  bool pending_ = false;
};

}  // namespace ascend_glm5
