// Sparse Flash Attention, vector side (AIV): a whole row's output from an O^T sum (SfaItemOutT:
// the cube sums P^T . V as [512, N1], a row per latent column), normalised in steps.
//
// Accumulate reads this core's h columns of the sum into acc as [512, h], 64-row chunks, two a
// MTE2 -> V event (ids 0..3). Per chunk: scaled by 1 / l by column, cast, transposed (by
// TransDataTo5HD, or by Gather from BuildTable's offsets) and written as columns [64 c, 64 c + 64)
// of the core's output rows (one strided copy). Start takes the first chunk; each later Accumulate
// takes one more (Step), where the vector unit waits for the next scores: the transposes stay off
// the softmaxes that follow (GLM-5 B = 64 x 8K / 32K / 128K, cycles, transposed by Gather, ~3,200 V
// cycles a row at h = 32: all at once 242,331 / 244,174 / 243,311; 2 chunks a step 232,971 /
// 235,695 / 234,342; 1: 232,942 / 234,780 / 234,958, also better at seeds 1 and 2; 4: 238,203 /
// 239,654 / 237,417; by TransDataTo5HD, ~1,700: all at once 237,297 / 239,138 / 239,591, 1: 233,023
// / 235,048 / 234,859). Pending steps are finished before anything else takes acc (Finish). A
// chunk's cast and rows go to P's buffer (chunk 0: free until the next softmax, which waits for its
// copy: WaitOut(0)) or to the acc rows of the chunk before it (read by then).
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "sfa_kept_columns.h"
#include "sfa_output.h"

namespace ascend_glm5 {

template <typename T>
class SfaFinalizeT {
 public:
  static constexpr uint32_t kRows = 64, kChunks = kSfaLatentDim / kRows, kStepChunks = 1;
  static constexpr uint32_t kTableEntries = 8 * 64;  // the Gather offsets
  // UB: the Gather offsets and 1 / l (up to 64 heads).
  static constexpr uint32_t kUbBytes = kTableEntries * 4 + 64 * 4;

  // acc: the sum's [512, h] (Accumulate's reads); probs: P's buffer; bcast: 8 floats a head;
  // table: kTableEntries; inv: h floats (rounded up to 8). Heads [h0, h0 + h) of the output rows.
  __aicore__ inline void Init(const SparseFlashAttentionTiling& t, SfaOutput<T>& io, const AscendC::LocalTensor<float>& acc,
                              const AscendC::LocalTensor<T>& probs, const AscendC::LocalTensor<float>& bcast,
                              const AscendC::LocalTensor<uint32_t>& table, const AscendC::LocalTensor<float>& inv, uint32_t h0,
                              uint32_t h) {
    t_ = &t;
    io_ = &io;
    acc_ = acc;
    probs_ = probs;
    bcast_ = bcast;
    table_ = table;
    inv_ = inv;
    h0_ = h0;
    h_ = h;
  }

  // Row `row`, its statistics (reference max, sum relative to it, true max; scratch: h floats for
  // the LSE): 1 / l, softmax_max / softmax_sum if asked, then the first step.
  __aicore__ inline void Start(uint32_t row, const AscendC::LocalTensor<float>& ref, const AscendC::LocalTensor<float>& lRun,
                               const AscendC::LocalTensor<float>& mTrue, const AscendC::LocalTensor<float>& scratch) {
    using namespace AscendC;
    Duplicate(inv_, 1.0f, h_);
    PipeBarrier<PIPE_V>();
    Div(inv_, inv_, lRun, h_);
    if (h_ % 16 != 0) BuildTable();
    row_ = row;
    next_ = 0;
    if (t_->returnLse) io_->WriteLse(row, h0_, h_, ref, lRun, mTrue, scratch);
    Step();
  }
  // The next kStepChunks chunks of a pending finalize (at each later Accumulate).
  __aicore__ inline void Step() {
    using namespace AscendC;
    const uint32_t n = kRows * h_, end = next_ + kStepChunks < kChunks ? next_ + kStepChunks : kChunks;
    for (; next_ < end; ++next_) {
      const uint32_t c = next_;
      if (c % 2 == 0) WaitFlag<HardEvent::MTE2_V>(int32_t(c / 2));
      const int32_t ev = kEvOut + int32_t(c % 4);
      WaitOut(c % 4);  // chunk c - 4's copy (its event is set again below)
      const LocalTensor<float> a = acc_[c * n];
      SfaScaleColumns(a, inv_, bcast_, kRows, h_);
      const LocalTensor<half> buf = c == 0 ? probs_.template ReinterpretCast<half>()
                                           : acc_[(c - 1) * n].template ReinterpretCast<half>();
      const LocalTensor<half> rows = buf[n];
      Cast(buf.ReinterpretCast<T>(), a, RoundMode::CAST_RINT, n);
      PipeBarrier<PIPE_V>();
      Transpose(rows, buf);
      SetFlag<HardEvent::V_MTE3>(ev);
      WaitFlag<HardEvent::V_MTE3>(ev);
      DataCopy(io_->out[(uint64_t(row_) * t_->heads + h0_) * kSfaLatentDim + c * kRows], rows.ReinterpretCast<T>(),
               DataCopyParams(uint16_t(h_), uint16_t(kRows * sizeof(T) / 32), 0,
                              uint16_t((kSfaLatentDim - kRows) * sizeof(T) / 32)));
      SetFlag<HardEvent::MTE3_V>(ev);
      ev_[c % 4] = true;
    }
  }
  // A pending finalize's remaining steps, and every output copy of it waited for (acc is free).
  __aicore__ inline void Finish() {
    while (next_ < kChunks) Step();
    for (uint32_t i = 0; i < 4; ++i) WaitOut(i);
  }
  // Chunk i % 4's last output copy has left UB.
  __aicore__ inline void WaitOut(uint32_t i) {
    if (!ev_[i]) return;
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(kEvOut + int32_t(i));
    ev_[i] = false;
  }

 private:
  static constexpr int32_t kEvOut = 1;  // MTE3 -> V: chunk c's output copy (kEvOut + c % 4)

  // A chunk's [64, h] 16-bit O^T (buf) -> its h output rows of 64 (rows). Heads by 16: 16 x 16
  // tiles by TransDataTo5HD, a 16-latent-row step a repeat (~24 cycles a tile against Gather's ~48:
  // pto's scatter_vnchwconv and vgather profiles); else 8 rows a Gather from the offset table.
  __aicore__ inline void Transpose(const AscendC::LocalTensor<half>& rows, const AscendC::LocalTensor<half>& buf) {
    using namespace AscendC;
    if (h_ % 16 != 0) {
      for (uint32_t r0 = 0; r0 < h_; r0 += 8) Gather(rows[r0 * kRows], buf, table_, r0 * 2, 8 * kRows);
      return;
    }
    for (uint32_t hb = 0; hb < h_; hb += 16) {
      LocalTensor<half> dst[NCHW_CONV_ADDR_LIST_SIZE], src[NCHW_CONV_ADDR_LIST_SIZE];
      for (uint32_t i = 0; i < NCHW_CONV_ADDR_LIST_SIZE; ++i) {
        src[i] = buf[i * h_ + hb];
        dst[i] = rows[(hb + i) * kRows];
      }
      TransDataTo5HD(dst, src, TransDataTo5HDParams(false, false, uint8_t(kRows / 16), 1, uint16_t(h_ * 16 * 2 / 32)));
    }
  }
  // The Gather offsets (once): element (r, c) of 8 output rows of 64 (r a head, c a latent
  // column of the chunk) is the 16-bit element c x h + r of the chunk's [64, h] O^T, 2 bytes each
  // (each group of 8 heads adds its first head's bytes as Gather's base). Row 0's first 8 entries
  // by the scalar, the rest by vector Adds.
  __aicore__ inline void BuildTable() {
    using namespace AscendC;
    if (tableReady_) return;
    tableReady_ = true;
    const LocalTensor<int32_t> t = table_.ReinterpretCast<int32_t>();
    for (uint32_t c = 0; c < 8; ++c) t.SetValue(c, int32_t(2 * c * h_));
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
    for (uint32_t c = 8; c < kRows; c += 8) Adds(t[c], t, int32_t(2 * c * h_), 8);
    PipeBarrier<PIPE_V>();
    for (uint32_t r = 1; r < 8; ++r) Adds(t[r * kRows], t, int32_t(2 * r), int32_t(kRows));
    PipeBarrier<PIPE_V>();
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaOutput<T>* io_ = nullptr;
  AscendC::LocalTensor<float> acc_, bcast_, inv_;
  AscendC::LocalTensor<T> probs_;
  AscendC::LocalTensor<uint32_t> table_;
  uint32_t h0_ = 0, h_ = 0, row_ = 0, next_ = kChunks;  // next_: the next chunk (kChunks: none pending)
  bool ev_[4] = {false, false, false, false};  // the output copies' MTE3 -> V events (kEvOut + i) set
  bool tableReady_ = false;
};

}  // namespace ascend_glm5
