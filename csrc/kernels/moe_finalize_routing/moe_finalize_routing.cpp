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

    // Load buffers: a row (or skip1) and, if used, its bias row (or skip2) behind it.
    loadLen_ = (t.hasBias || t.hasSkip2 ? 2 : 1) * t.chunk;
    const uint32_t fit = kMoeFinalizeLoadBytes / (loadLen_ * sizeof(T));
    loads_ = fit < kMoeFinalizeMaxLoads ? fit : kMoeFinalizeMaxLoads;
    pipe_.InitBuffer(loadBuf_, loads_ * loadLen_ * sizeof(T));
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(T));
    // The accumulator, the row and its bias (WorkOffsets), then the index words.
    WorkOffsets(loads_ * loadLen_ * sizeof(T) + 2 * t.chunk * sizeof(T));
    pipe_.InitBuffer(workBuf_, workBytes_);
    // dst, scales and expert ids of a batch of tokens, read by the scalar unit from UB.
    slotOrder_ = t.rowOrder || t.topK == 1;  // K = 1: both layouts agree
    batchMax_ = (kMoeFinalizeIndexWords / t.topK) & ~7u;
    pipe_.InitBuffer(indexBuf_, 3 * kMoeFinalizeIndexWords * sizeof(int32_t));
    dstUb_ = indexBuf_.GetWithOffset<int32_t>(kMoeFinalizeIndexWords, 0);
    scaleUb_ = indexBuf_.GetWithOffset<float>(kMoeFinalizeIndexWords, kMoeFinalizeIndexWords * sizeof(int32_t));
    expertUb_ = indexBuf_.GetWithOffset<int32_t>(kMoeFinalizeIndexWords, 2 * kMoeFinalizeIndexWords * sizeof(int32_t));
  }

  __aicore__ inline void Process() {
    if (tileBegin_ >= tileEnd_) return;
    const uint32_t lastToken = static_cast<uint32_t>((tileEnd_ - 1) / chunks_);
    for (uint64_t i = tileBegin_; i < tileEnd_; ++i) {
      const uint32_t token = static_cast<uint32_t>(i / chunks_);
      if (i == tileBegin_ || token >= batchEnd_) {  // every load of the previous batch has been used
        LoadIndexBatch(token, lastToken);
        const uint64_t batchTiles = uint64_t(batchEnd_) * chunks_;
        loadTile_ = i;
        loadSlot_ = kFirstLoad;
        loadLimit_ = batchTiles < tileEnd_ ? batchTiles : tileEnd_;
        IssueLoads();
        if (indexPending_) WaitFlag<HardEvent::MTE2_S>(0);  // the scales / expert ids, once the loads are issued
        indexPending_ = false;
      }
      Tile(token, static_cast<uint32_t>(i % chunks_));
    }
    for (uint32_t u = issued_ > loads_ ? issued_ - loads_ : 0; u < issued_; ++u)
      WaitFlag<HardEvent::V_MTE2>(u % loads_);  // every SetFlag gets its WaitFlag
  }

 private:
  static constexpr uint32_t kFirstLoad = 0xFFFFFFFFu;  // loadSlot_ before a tile's skip rows / first slot

  __aicore__ inline uint32_t TileLen(uint32_t c) const { return ChunkLen(t_.hidden, t_.chunk, c); }
  __aicore__ inline LocalTensor<float> Work(uint32_t slot) {  // TBuf::GetWithOffset is non-const in CANN
    return workBuf_.GetWithOffset<float>(t_.chunk, workAt_[slot]);
  }
  // Where the fp32 tiles sit in workBuf_ (at UB offset `base`: the pipe allocates in order from 0).
  // The sums `acc += row` and `row += bias` run in place, a repeat reading 256 B of each source and
  // writing the previous repeat's 256 B: the row 256 B past the accumulator and the bias modulo 512
  // puts a repeat's sources in complementary halves of UB's 16 bank groups (32-B rows, group =
  // address bits [8:5]), and the row in another 64-KiB bank than the two keeps the writes off its
  // banks: one beat a repeat, not two. Without room for that, the three tiles back to back.
  __aicore__ inline void WorkOffsets(uint32_t base) {
    const uint32_t tile = t_.chunk * sizeof(float), bias = AlignUp(tile, 512);
    const uint32_t next = AlignUp(base + bias + tile, 65536) + (base + 256) % 512;  // the next bank's first fit
    const bool apart = next + tile + 3 * kMoeFinalizeIndexWords * sizeof(int32_t) <= kMoeFinalizeUbBytes;
    workAt_[0] = 0;
    workAt_[1] = apart ? next - base : tile;
    workAt_[2] = apart ? bias : 2 * tile;
    workBytes_ = apart ? next - base + tile : 3 * tile;
  }
  // Where dst(token, k) of the loaded batch sits in dstUb_ (the batch's layout follows dst's).
  __aicore__ inline uint32_t DstAt(uint32_t token, uint32_t k) const {
    const uint32_t i = token - batchBegin_;
    return slotOrder_ ? i * t_.topK + k : k * batchStride_ + i;
  }
  // Where scales / expert ids of (token, k) sit ([T, K] in GM, so [batch, K] in UB).
  __aicore__ inline uint32_t PairAt(uint32_t token, uint32_t k) const { return (token - batchBegin_) * t_.topK + k; }
  // The first slot >= k of `token` whose row exists (a dropped pair has a dst outside [0, T*K)), or K.
  __aicore__ inline int32_t Dst(uint32_t token, uint32_t k) const {
    return dstInGm_ ? dst_.GetValue(uint64_t(token) * t_.topK + k) : dstUb_.GetValue(DstAt(token, k));
  }
  __aicore__ inline uint32_t NextSlot(uint32_t token, uint32_t k) const {
    for (; k < t_.topK; ++k) {
      const int32_t d = Dst(token, k);
      if (d >= 0 && uint32_t(d) < pairs_) return k;
    }
    return t_.topK;
  }

  // Copies dst, scales and expert ids of tokens [token, token + batchMax_) (at most up to `last`)
  // into UB with one copy each: the scalar unit then reads them from UB, not GM word by word.
  __aicore__ inline void LoadIndexBatch(uint32_t token, uint32_t last) {
    const uint32_t n = last - token < batchMax_ ? last - token + 1 : batchMax_;
    SetFlag<HardEvent::S_MTE2>(0);  // the scalar reads of the previous batch are done
    WaitFlag<HardEvent::S_MTE2>(0);
    const DataCopyPadExtParams<int32_t> noPad(false, 0, 0, 0);
    const DataCopyExtParams pairs(1, n * t_.topK * sizeof(int32_t), 0, 0, 0);
    // One token in row order without bias: its K dst words (one or two 64-byte lines) are read by the
    // scalar unit from GM (input data: the DataCache cannot be stale), so the row loads need not wait
    // for a copy (the bias rows would: their expert ids come through UB).
    dstInGm_ = slotOrder_ && n == 1 && t_.topK <= kMoeFinalizeGmDst && !t_.hasBias;
    if (!dstInGm_) {
      if (slotOrder_) {
        DataCopyPad(dstUb_, dst_[uint64_t(token) * t_.topK], pairs, noPad);
      } else {  // K runs of n tokens, T apart in GM; each run starts on a 32-byte boundary in UB
        const DataCopyExtParams runs(static_cast<uint16_t>(t_.topK), n * sizeof(int32_t),
                                     (t_.tokens - n) * sizeof(int32_t), 0, 0);
        DataCopyPad(dstUb_, dst_[token], runs, noPad);
      }
    }
    if (t_.hasScales)
      DataCopyPad(scaleUb_, scales_[uint64_t(token) * t_.topK], pairs, DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    if (t_.hasBias) DataCopyPad(expertUb_, experts_[uint64_t(token) * t_.topK], pairs, noPad);
    if (!dstInGm_) {
      SetFlag<HardEvent::MTE2_S>(0);
      WaitFlag<HardEvent::MTE2_S>(0);
    } else if (t_.hasScales) {  // waited for once the row loads are issued (Process)
      SetFlag<HardEvent::MTE2_S>(0);
      indexPending_ = true;
    }
    batchBegin_ = token;
    batchEnd_ = token + n;
    batchStride_ = AlignUp(n, 8);
  }

  // Loads run ahead of the vector unit by up to loads_ row pieces, across tiles (within
  // the loaded index batch), in the order Tile consumes them: per tile its skip rows, then its
  // existing slots in k order.
  __aicore__ inline void IssueLoads() {
    while (issued_ - used_ < loads_ && loadTile_ < loadLimit_) {
      const uint32_t token = static_cast<uint32_t>(loadTile_ / chunks_), c = static_cast<uint32_t>(loadTile_ % chunks_);
      const uint32_t col = c * t_.chunk, len = TileLen(c);
      if (loadSlot_ == kFirstLoad) {
        if (t_.hasSkip1) Load(skip1_, token, t_.hasSkip2 != 0, skip2_, token, col, len);
        loadSlot_ = NextSlot(token, 0);
      } else if (loadSlot_ < t_.topK) {
        // An expert id outside [0, E) (refused by the CPU op; the NPU op does not read ids on the host)
        // is clamped so that the bias read stays inside the bias tensor (a negative id, as uint32, is large).
        uint32_t expert = t_.hasBias ? static_cast<uint32_t>(expertUb_.GetValue(PairAt(token, loadSlot_))) : 0;
        if (expert >= t_.experts) expert = t_.experts - 1;
        const uint32_t row = static_cast<uint32_t>(Dst(token, loadSlot_));
        Load(rows_, row, t_.hasBias != 0, bias_, expert, col, len);
        loadSlot_ = NextSlot(token, loadSlot_ + 1);
      } else {
        ++loadTile_;
        loadSlot_ = kFirstLoad;
      }
    }
  }
  // Loads `len` elements at column `col` of a row of `src` (and of `src2`) into the next load buffer.
  __aicore__ inline void Load(const GlobalTensor<T>& src, uint64_t row, bool second, const GlobalTensor<T>& src2,
                              uint64_t row2, uint32_t col, uint32_t len) {
    const uint32_t b = issued_ % loads_;
    if (issued_ >= loads_) WaitFlag<HardEvent::V_MTE2>(b);  // the vector unit is done with it
    LocalTensor<T> buf = LoadBuffer(b);
    CopyGmToUb(buf, src[row * t_.hidden + col], len);
    if (second) CopyGmToUb(buf[t_.chunk], src2[row2 * t_.hidden + col], len);
    SetFlag<HardEvent::MTE2_V>(b);
    ++issued_;
  }
  __aicore__ inline LocalTensor<T> LoadBuffer(uint32_t b) {
    return loadBuf_.GetWithOffset<T>(loadLen_, b * loadLen_ * sizeof(T));
  }
  // The next load, summed in fp32: dst = first (+ second). scratch: an fp32 tile. Frees its buffer
  // for the loads ahead.
  __aicore__ inline void SumLoad(const LocalTensor<float>& dst, const LocalTensor<float>& scratch, bool second,
                                 uint32_t len) {
    const uint32_t b = used_ % loads_;
    WaitFlag<HardEvent::MTE2_V>(b);
    LocalTensor<T> buf = LoadBuffer(b);
    ToFloat(dst, buf, len);
    if (second) {
      ToFloat(scratch, buf[t_.chunk], len);
      Add(dst, dst, scratch, len);
    }
    SetFlag<HardEvent::V_MTE2>(b);
    ++used_;
    IssueLoads();
  }

  __aicore__ inline void Tile(uint32_t token, uint32_t c) {
    const uint32_t len = TileLen(c), col = c * t_.chunk;
    LocalTensor<float> acc = Work(0), row = Work(1), bias = Work(2);
    bool empty = true;                                           // acc holds nothing yet
    if (t_.hasSkip1) {                                           // acc = 0 + skip1 (+ skip2), as the reference sums
      SumLoad(acc, row, t_.hasSkip2 != 0, len);
      empty = false;
    }
    for (uint32_t k = NextSlot(token, 0); k < t_.topK; k = NextSlot(token, k + 1)) {
      const float w = t_.hasScales ? scaleUb_.GetValue(PairAt(token, k)) : 1.0f;
      SumLoad(row, bias, t_.hasBias != 0, len);  // row (+ bias)
      Muls(row, row, w, len);
      if (empty) {
        Adds(acc, row, 0.0f, len);  // 0 + the first term, as the reference sums (-0 becomes +0)
      } else {
        Add(acc, acc, row, len);
      }
      empty = false;
    }
    if (empty) Duplicate(acc, 0.0f, static_cast<int32_t>(len));
    LocalTensor<T> o = outQue_.AllocTensor<T>();
    FromFloat(o, acc, len);
    WriteOutTile(outQue_, o, out_[uint64_t(token) * t_.hidden + col], len);
  }

  MoeFinalizeRoutingTiling t_;
  uint32_t pairs_ = 0, chunks_ = 0, loadLen_ = 0, loads_ = 0;  // loads_: load buffers (one event id each)
  uint32_t workAt_[3] = {0, 0, 0}, workBytes_ = 0;              // accumulator, row, bias (WorkOffsets)
  uint64_t tileBegin_ = 0, tileEnd_ = 0;
  uint32_t batchMax_ = 0, batchBegin_ = 0, batchEnd_ = 0, batchStride_ = 0;
  bool slotOrder_ = true, dstInGm_ = false, indexPending_ = false;
  uint64_t loadTile_ = 0, loadLimit_ = 0;  // the tile whose loads are issued next; loads stop at loadLimit_
  uint32_t loadSlot_ = kFirstLoad;         // its next load: kFirstLoad (skip rows), a slot, or K (done)
  uint32_t issued_ = 0, used_ = 0;         // loads issued / consumed so far
  TPipe pipe_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> loadBuf_, workBuf_, indexBuf_;
  LocalTensor<int32_t> dstUb_, expertUb_;
  LocalTensor<float> scaleUb_;
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
