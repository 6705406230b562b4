// Sparse Flash Attention, vector side (AIV): where the vector cores' results land in GM, for both
// of their phases (the items, sfa_vector.h; the merge of split rows, sfa_merge.h): the op's outputs
// (out, softmax_max / softmax_sum), the pieces of split rows in the workspace (each piece's acc and
// statistics) and the rows' flags that count the posted pieces (gm_flag.h); and the writes both
// phases make to them (rows of zeros, the statistics, a piece's post).
#pragma once

#include "kernel_operator.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/tiling.h"
#include "sparse_flash_attention_tiling.h"

namespace ascend_glm5 {

template <typename T>
struct SfaOutput {
  __aicore__ inline void Init(GM_ADDR outAddr, GM_ADDR softmaxMax, GM_ADDR softmaxSum, GM_ADDR plan, GM_ADDR workspace,
                              const SparseFlashAttentionTiling& tiling) {
    t = &tiling;
    if (tiling.numSplits > 0)
      rowFlags.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan) + SfaRowFlagOffset(tiling),
                               uint64_t(tiling.numRows) * kSfaRowFlagWords);
    const uint64_t outRows = uint64_t(tiling.numRows) * tiling.heads;
    out.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(outAddr), outRows * kSfaLatentDim);
    if (tiling.returnLse) {
      max.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxMax), outRows);
      sum.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxSum), outRows);
    }
    pieces.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + tiling.wsPieceOffset),
                           uint64_t(tiling.numPieces) * tiling.pieceBytes / sizeof(float));
    stats.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaStatOffset(tiling)),
                          uint64_t(tiling.numPieces) * SfaStatRows(tiling) * SfaStatRowFloats(tiling.heads));
  }

  // Float offset of a piece's acc [N1, 512] in `pieces`.
  __aicore__ inline uint64_t PieceAcc(uint32_t p) const { return uint64_t(p) * (t->pieceBytes / sizeof(float)); }
  // This vector core's part of a piece is in GM (the cube's acc, which its flag for the piece's last
  // tile reported, and the statistics this core wrote): counted in word 0 of the row's flag, on
  // which the row's merge waits; word kSfaRowFlagStreamed counts the statistics and the streamed
  // columns. scratch: 8 int32 of UB free for the atomic add's copy.
  // In a late-merge launch the whole-piece post (word 0) counts in the pair words of the row with
  // the row before and the row after too (kSfaRowFlagPair).
  __aicore__ inline void PostPiece(const SfaItem& item, uint32_t word, const AscendC::LocalTensor<int32_t>& scratch) {
    const uint64_t line = uint64_t(item.row) * kSfaRowFlagWords;
    GmFlagAdd(rowFlags[line + word], 1, scratch);
    if (word != 0 || SfaEarlyMerge(*t)) return;
    if (item.row > 0) GmFlagAdd(rowFlags[line - kSfaRowFlagWords + kSfaRowFlagPair], 1, scratch);
    GmFlagAdd(rowFlags[line + kSfaRowFlagPair], 1, scratch);
  }
  // The whole-piece post: PostPiece's word 0, or where one row has a piece on every core
  // (kSfaOneRefAllCores) this vector core's set of the all-AIV flag, on MTE2 once the cube's P . V
  // is in (cubeWaited: its flag waited for on MTE2), else on MTE3 after this core's own writes (an
  // empty piece's zeros and statistics).
  __aicore__ inline void PostWhole(const SfaItem& item, const AscendC::LocalTensor<int32_t>& scratch, bool cubeWaited) {
    if (t->oneRef != kSfaOneRefAllCores) PostPiece(item, 0, scratch);
    else if (cubeWaited) AscendC::CrossCoreSetFlag<0, PIPE_MTE2>(kSfaFlagAllPosted);
    else AscendC::CrossCoreSetFlag<0, PIPE_MTE3>(kSfaFlagAllPosted);
  }

  // out rows [outRow, + n), columns [lo, hi) (multiples of 16) = those of `rows` (n rows of 512,
  // cast already): one strided copy.
  __aicore__ inline void WriteColumns(uint64_t outRow, uint32_t n, uint32_t lo, uint32_t hi, const AscendC::LocalTensor<T>& rows) {
    const uint16_t gap = uint16_t((kSfaLatentDim - (hi - lo)) * sizeof(T) / 32);
    AscendC::DataCopy(out[outRow * kSfaLatentDim + lo], rows[lo],
                      AscendC::DataCopyParams(uint16_t(n), uint16_t((hi - lo) * sizeof(T) / 32), gap, gap));
  }

  // out rows [row * N1 + head0, + h) = zeros (and m = l = 0 if asked), through `stage` (up to
  // kSfaStageRows rows of floats); `zeros` (AlignUp(h, 8) floats) is overwritten.
  __aicore__ inline void WriteZeroRows(uint32_t row, uint32_t head0, uint32_t h, const AscendC::LocalTensor<float>& stage,
                                       const AscendC::LocalTensor<float>& zeros) {
    using namespace AscendC;
    constexpr uint32_t kStageRows = kSfaStageRows;
    const uint32_t rows = h < kStageRows ? h : kStageRows;
    Duplicate(stage.ReinterpretCast<int16_t>(), int16_t(0), rows * kSfaLatentDim);  // +0 in fp16 and bf16
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    for (uint32_t r = 0; r < h; r += kStageRows) {
      const uint32_t n = h - r < kStageRows ? h - r : kStageRows;
      DataCopy(out[(uint64_t(row) * t->heads + head0 + r) * kSfaLatentDim], stage.ReinterpretCast<T>(), n * kSfaLatentDim);
    }
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    if (!t->returnLse) return;
    Duplicate(zeros, 0.0f, AlignUp(h, 8));
    WriteStats(uint64_t(row) * t->heads + head0, h, zeros, zeros);
  }

  // Row `row`'s statistics of heads [head0, + h) against their true max m: softmax_max = m,
  // softmax_sum = l exp(r - m) (l relative to the reference max r); scratch: h floats.
  __aicore__ inline void WriteLse(uint32_t row, uint32_t head0, uint32_t h, const AscendC::LocalTensor<float>& ref,
                                  const AscendC::LocalTensor<float>& l, const AscendC::LocalTensor<float>& m,
                                  const AscendC::LocalTensor<float>& scratch) {
    using namespace AscendC;
    Sub(scratch, ref, m, h);
    PipeBarrier<PIPE_V>();
    Exp(scratch, scratch, h);
    PipeBarrier<PIPE_V>();
    Mul(scratch, scratch, l, h);
    PipeBarrier<PIPE_V>();
    WriteStats(uint64_t(row) * t->heads + head0, h, m, scratch);
  }

  __aicore__ inline void WriteStats(uint64_t at, uint32_t h, const AscendC::LocalTensor<float>& m,
                                    const AscendC::LocalTensor<float>& l) {
    IssueStats(at, h, m, l);
    AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
  }
  // m, l -> softmax_max / softmax_sum at `at` (h values each) once V has written them; the caller
  // waits for the copies before it writes m or l again.
  __aicore__ inline void IssueStats(uint64_t at, uint32_t h, const AscendC::LocalTensor<float>& m,
                                    const AscendC::LocalTensor<float>& l) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const DataCopyExtParams one(1, h * sizeof(float), 0, 0, 0);
    DataCopyPad(max[at], m, one);
    DataCopyPad(sum[at], l, one);
  }

  const SparseFlashAttentionTiling* t = nullptr;
  AscendC::GlobalTensor<T> out;                // [rows x N1, 512]
  AscendC::GlobalTensor<float> max, sum;       // [rows x N1], when the tiling's returnLse
  AscendC::GlobalTensor<float> pieces;         // the split rows' pieces' accs (PieceAcc)
  AscendC::GlobalTensor<float> stats;          // their statistics (SfaStatAt)
  AscendC::GlobalTensor<int32_t> rowFlags;     // per query row, kSfaRowFlagWords (numSplits > 0)
};

}  // namespace ascend_glm5
