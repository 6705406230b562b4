// MoE combine (torch_npu npu_moe_finalize_routing, dropless):
//   out[t] = skip1[t] + skip2[t] + sum_k scales[t, k] * (rows[dst(t, k)] + bias[expert(t, k)])
// in fp32, k in order, rounded once to the output dtype. Work is a grid of (token, column chunk)
// tiles spread evenly over the vector cores. Within a tile the next slot's row is loaded while
// the current one is accumulated. A dst outside [0, T*K) (a dropped pair) is skipped, so its row
// is never read. GM traffic: each routed row read once, each skip / bias row once per use, out
// written once.
#include "kernel_operator.h"
#include "../common/float_convert.h"
#include "../common/gm_copy.h"
#include "../common/tiling.h"
#include "moe_finalize_routing_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

template <typename T>
class MoeFinalizeRoutingKernel {
 public:
  __aicore__ inline void Init(GM_ADDR rows, GM_ADDR skip1, GM_ADDR skip2, GM_ADDR bias, GM_ADDR scales, GM_ADDR dst,
                              GM_ADDR experts, GM_ADDR out, const MoeFinalizeRoutingTiling& t) {
    t_ = t;
    pairs_ = t.tokens * t.topK;
    chunks_ = CeilDiv(t.hidden, t.chunk);
    SplitEvenly(uint64_t(t.tokens) * chunks_, t.blockDim, GetBlockIdx(), tileBegin_, tileEnd_);
    rows_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(rows), uint64_t(pairs_) * t.hidden);
    if (t.hasSkip1) skip1_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(skip1), uint64_t(t.tokens) * t.hidden);
    if (t.hasSkip2) skip2_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(skip2), uint64_t(t.tokens) * t.hidden);
    if (t.hasBias) {
      bias_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(bias), uint64_t(t.experts) * t.hidden);
      experts_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(experts), pairs_);
    }
    if (t.hasScales) scales_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scales), pairs_);
    dst_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(dst), pairs_);
    out_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(out), uint64_t(t.tokens) * t.hidden);

    pipe_.InitBuffer(inQue_, 2, 2 * t.chunk * sizeof(T));  // a row (or skip1) and its bias (or skip2)
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(T));
    pipe_.InitBuffer(workBuf_, 3 * t.chunk * sizeof(float));  // accumulator, row, bias
  }

  __aicore__ inline void Process() {
    for (uint64_t i = tileBegin_; i < tileEnd_; ++i) Tile(static_cast<uint32_t>(i / chunks_), static_cast<uint32_t>(i % chunks_));
  }

 private:
  __aicore__ inline uint32_t TileLen(uint32_t c) const { return ChunkLen(t_.hidden, t_.chunk, c); }
  __aicore__ inline LocalTensor<float> Work(uint32_t slot) {  // TBuf::GetWithOffset is non-const in CANN
    return workBuf_.GetWithOffset<float>(t_.chunk, slot * t_.chunk * sizeof(float));
  }
  __aicore__ inline uint32_t Slot(uint32_t token, uint32_t k) const {
    return t_.rowOrder ? token * t_.topK + k : k * t_.tokens + token;
  }

  // Loads `len` elements at column `col` of a row of `src` (and of `src2`) into one input buffer.
  __aicore__ inline void CopyInPair(const GlobalTensor<T>& src, uint64_t row, bool second, const GlobalTensor<T>& src2,
                                    uint64_t row2, uint32_t col, uint32_t len) {
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    CopyGmToUb(tile, src[row * t_.hidden + col], len);
    if (second) CopyGmToUb(tile[t_.chunk], src2[row2 * t_.hidden + col], len);
    inQue_.EnQue(tile);
  }
  __aicore__ inline void CopyInSlot(uint32_t token, uint32_t k, uint32_t col, uint32_t len) {
    const uint32_t s = Slot(token, k);
    // An expert id outside [0, E) (refused by the CPU op; the NPU op does not read ids on the host) is
    // clamped so that the bias read stays inside the bias tensor (a negative id, as uint32, is large).
    uint32_t expert = t_.hasBias ? static_cast<uint32_t>(experts_.GetValue(token * t_.topK + k)) : 0;
    if (expert >= t_.experts) expert = t_.experts - 1;
    CopyInPair(rows_, static_cast<uint32_t>(dst_.GetValue(s)), t_.hasBias != 0, bias_, expert, col, len);
  }
  // The pair CopyInPair loaded, summed in fp32: dst = first (+ second). scratch: an fp32 tile.
  __aicore__ inline void SumPair(const LocalTensor<float>& dst, const LocalTensor<float>& scratch, bool second,
                                 uint32_t len) {
    LocalTensor<T> tile = inQue_.DeQue<T>();
    ToFloat(dst, tile, len);
    if (second) {
      ToFloat(scratch, tile[t_.chunk], len);
      Add(dst, dst, scratch, len);
    }
    inQue_.FreeTensor(tile);
  }

  __aicore__ inline void Tile(uint32_t token, uint32_t c) {
    const uint32_t len = TileLen(c), col = c * t_.chunk;
    // Slots of this token whose row exists (a dropped pair has dst -1).
    uint64_t valid = 0;
    for (uint32_t k = 0; k < t_.topK; ++k) {
      const int32_t d = dst_.GetValue(Slot(token, k));
      if (d >= 0 && uint32_t(d) < pairs_) valid |= uint64_t(1) << k;
    }
    LocalTensor<float> acc = Work(0), row = Work(1), bias = Work(2);
    if (t_.hasSkip1) CopyInPair(skip1_, token, t_.hasSkip2 != 0, skip2_, token, col, len);
    uint32_t k = NextSlot(valid, 0);
    if (k < t_.topK) CopyInSlot(token, k, col, len);
    if (t_.hasSkip1) {  // acc = 0 + skip1 (+ skip2), as the reference sums
      SumPair(acc, row, t_.hasSkip2 != 0, len);
    } else {
      Duplicate(acc, 0.0f, static_cast<int32_t>(len));
    }
    while (k < t_.topK) {
      const uint32_t next = NextSlot(valid, k + 1);
      if (next < t_.topK) CopyInSlot(token, next, col, len);  // prefetch
      const float w = t_.hasScales ? scales_.GetValue(token * t_.topK + k) : 1.0f;
      SumPair(row, bias, t_.hasBias != 0, len);  // row (+ bias)
      Muls(row, row, w, len);
      Add(acc, acc, row, len);
      k = next;
    }
    LocalTensor<T> o = outQue_.AllocTensor<T>();
    FromFloat(o, acc, len);
    WriteOutTile(outQue_, o, out_[uint64_t(token) * t_.hidden + col], len);
  }
  __aicore__ inline uint32_t NextSlot(uint64_t valid, uint32_t from) const {
    for (uint32_t k = from; k < t_.topK; ++k)
      if ((valid >> k) & 1) return k;
    return t_.topK;
  }

  MoeFinalizeRoutingTiling t_;
  uint32_t pairs_ = 0, chunks_ = 0;
  uint64_t tileBegin_ = 0, tileEnd_ = 0;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> inQue_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> workBuf_;
  GlobalTensor<T> rows_, skip1_, skip2_, bias_, out_;
  GlobalTensor<float> scales_;
  GlobalTensor<int32_t> dst_, experts_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void moe_finalize_routing(GM_ADDR rows, GM_ADDR skip1, GM_ADDR skip2, GM_ADDR bias,
                                                           GM_ADDR scales, GM_ADDR dst, GM_ADDR experts, GM_ADDR out,
                                                           GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  ascend_glm5::MoeFinalizeRoutingTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  if (t.dtype == ascend_glm5::kBFloat16) {
    ascend_glm5::MoeFinalizeRoutingKernel<bfloat16_t> op;
    op.Init(rows, skip1, skip2, bias, scales, dst, experts, out, t);
    op.Process();
  } else if (t.dtype == ascend_glm5::kFloat32) {
    ascend_glm5::MoeFinalizeRoutingKernel<float> op;
    op.Init(rows, skip1, skip2, bias, scales, dst, experts, out, t);
    op.Process();
  } else {
    ascend_glm5::MoeFinalizeRoutingKernel<half> op;
    op.Init(rows, skip1, skip2, bias, scales, dst, experts, out, t);
    op.Process();
  }
}
