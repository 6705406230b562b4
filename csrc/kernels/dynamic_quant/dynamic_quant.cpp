// Per-token dynamic int8 quantization (torch_npu npu_dynamic_quant semantics).
//
// Each vector core takes a contiguous range of rows. A row is loaded once, tile by tile,
// converted to fp32 (times smooth_scales) into a resident row buffer while its max |v| is
// tracked; then it is scaled by 127/max, rounded half-to-even and written as int8. The next
// tile's load is always issued before the current tile is computed (double buffering), also
// across rows, so MTE2 overlaps the vector work. GM traffic is the minimum: x read once,
// q and the scale written once.
#include "kernel_operator.h"
#include "../common/float_convert.h"
#include "../common/gm_copy.h"
#include "../common/int8_quant.h"
#include "../common/scale_batch.h"
#include "../common/tiling.h"
#include "dynamic_quant_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

template <typename T>
class DynamicQuantKernel {
 public:
  __aicore__ inline void Init(GM_ADDR x, GM_ADDR smooth, GM_ADDR y, GM_ADDR scale, GM_ADDR workspace,
                              const DynamicQuantTiling& t) {
    t_ = t;
    const uint64_t rows = (uint64_t(t.rowsHi) << 32) | t.rowsLo;
    if (t.split > 1) {  // one tile (part) of one row per core; rows * split = blockDim
      rowBegin_ = GetBlockIdx() / t.split;
      rowEnd_ = rowBegin_ + 1;
      part_ = GetBlockIdx() % t.split;
      chunks_ = 1;
      maxima_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace), uint64_t(t.blockDim) * kSlotFloats);
      pipe_.InitBuffer(gatherBuf_, t.split * kDynamicQuantSplitSlotBytes);
    } else {
      SplitEvenly(rows, t.blockDim, GetBlockIdx(), rowBegin_, rowEnd_);
      chunks_ = CeilDiv(t.cols, t.chunk);
    }
    const uint32_t rowElems = chunks_ * t.chunk;
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x), rows * t.cols);
    y_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(y), rows * t.cols);
    if (t.hasSmooth) smooth_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(smooth), t.cols);

    // The buffers in PlanDynamicQuantUb's order, its pads placing them for UB's banks (the pipe
    // allocates in order, 32-B aligned). An input tile of the first row also holds the smooth scales
    // of its columns (behind x's).
    const DynamicQuantUbPlan plan = PlanDynamicQuantUb(rowElems, t.chunk, t.hasSmooth, t.split);
    pipe_.InitBuffer(inQue_, 2, (t.hasSmooth ? 2 : 1) * t.chunk * sizeof(T));
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(int8_t));
    pipe_.InitBuffer(rowBuf_, rowElems * sizeof(float));
    if (plan.tmpPad > 0) pipe_.InitBuffer(pads_[0], plan.tmpPad);
    pipe_.InitBuffer(tmpBuf_, t.chunk * sizeof(float));
    if (plan.workPad > 0) pipe_.InitBuffer(pads_[1], plan.workPad);
    pipe_.InitBuffer(workBuf_, t.chunk * sizeof(float));
    if (plan.maskPad > 0) pipe_.InitBuffer(pads_[2], plan.maskPad);
    pipe_.InitBuffer(maxBuf_, 2 * 32);
    pipe_.InitBuffer(halfBuf_, t.chunk * sizeof(half));
    pipe_.InitBuffer(scaleBuf_, kScaleBatch * sizeof(float));
    if (t.hasSmooth) {
      if (plan.smoothPad > 0) pipe_.InitBuffer(pads_[3], plan.smoothPad);
      pipe_.InitBuffer(smoothBuf_, rowElems * sizeof(float));
    }
    GlobalTensor<float> scaleGm;
    scaleGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scale), rows);
    scales_.Init(scaleGm, scaleBuf_.Get<float>(), kScaleBatch);
  }

  __aicore__ inline void Process() {
    if (t_.split > 1) return ProcessPart();
    if (rowBegin_ >= rowEnd_) return;
    const uint64_t tiles = (rowEnd_ - rowBegin_) * chunks_;
    CopyIn(0);
    // Two 32-byte blocks of 0x7FFFFFFF: And-ing a tile's bits with one (every block against it)
    // clears their signs, NaN's too.
    Duplicate(maxBuf_.Get<int32_t>(), int32_t(0x7FFFFFFF), 16);
    for (uint64_t i = 0; i < tiles; ++i) {
      if (i + 1 < tiles) CopyIn(i + 1);  // prefetch, possibly the next row's first tile
      const uint32_t c = static_cast<uint32_t>(i % chunks_);
      AccumulateTile(c, i < chunks_);
      if (c + 1 == chunks_) QuantizeRow(rowBegin_ + i / chunks_);
    }
    scales_.Flush();
  }

 private:
  static constexpr uint32_t kScaleBatch = 64;  // scales written per DataCopyPad
  static constexpr uint32_t kTreeLanes = 512;  // TileAbsMaxByBits: Max steps while a tile is wider
  static constexpr uint32_t kSlotFloats = kDynamicQuantSplitSlotBytes / sizeof(float);

  // Split rows (decode: fewer rows than cores): this core holds tile part_ of row rowBegin_. Its
  // tile's max goes to its workspace slot; after SyncAll it reads the slots of its row's cores
  // (one copy), folds them as the tiles of a row are folded, and quantizes its own tile.
  __aicore__ inline void ProcessPart() {
    const uint64_t row = rowBegin_;
    const uint32_t len = TileLen(part_);
    const uint64_t offset = row * t_.cols + uint64_t(part_) * t_.chunk;
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    CopyGmToUb(tile, x_[offset], len);
    if (t_.hasSmooth) CopyGmToUb(tile[t_.chunk], smooth_[uint64_t(part_) * t_.chunk], len);
    inQue_.EnQue(tile);
    Duplicate(maxBuf_.Get<int32_t>(), int32_t(0x7FFFFFFF), 16);
    const LocalTensor<float> v = rowBuf_.Get<float>();
    tile = inQue_.DeQue<T>();
    ToFloat(v, tile, len);
    if (t_.hasSmooth) {
      ToFloat(smoothBuf_.Get<float>(), tile[t_.chunk], len);
      inQue_.FreeTensor(tile);
      Mul(v, v, smoothBuf_.Get<float>(), len);
    } else {
      inQue_.FreeTensor(tile);
    }
    TileAbsMaxByBits(v, len, 0, false);  // the max also stays in halfBuf_[0] (as fp32)
    const TEventID toMte3 = pipe_.FetchEventID(HardEvent::V_MTE3);
    SetFlag<HardEvent::V_MTE3>(toMte3);
    WaitFlag<HardEvent::V_MTE3>(toMte3);
    rowMax_ = ExchangeSplitRowMax(maxima_, halfBuf_.Get<float>(), gatherBuf_.Get<float>(), kSlotFloats, t_.split, row,
                                  pipe_);
    if (part_ == 0) {  // the scale's copy goes out while the tile is quantized
      scales_.Push(row, Int8RowScale(rowMax_));
      scales_.Flush();
    }
    QuantizeRowInt8(outQue_, y_[offset], v, halfBuf_.Get<half>(), len, t_.chunk, rowMax_);
  }

  __aicore__ inline uint32_t TileLen(uint32_t c) const { return ChunkLen(t_.cols, t_.chunk, c); }

  // Loads tile i (row-major over this core's rows) into the input queue; the tiles of the first
  // row bring the smooth scales along, so they load in parallel with x instead of before it.
  __aicore__ inline void CopyIn(uint64_t i) {
    const uint32_t c = static_cast<uint32_t>(i % chunks_);
    const uint64_t offset = (rowBegin_ + i / chunks_) * t_.cols + uint64_t(c) * t_.chunk;
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    CopyGmToUb(tile, x_[offset], TileLen(c));
    if (t_.hasSmooth && i < chunks_) CopyGmToUb(tile[t_.chunk], smooth_[uint64_t(c) * t_.chunk], TileLen(c));
    inQue_.EnQue(tile);
  }

  // v = x * smooth into the row buffer; running max |v| of the row. firstRow: the tile also
  // holds smooth_scales, which stay resident in fp32 for all rows of this core.
  __aicore__ inline void AccumulateTile(uint32_t c, bool firstRow) {
    const uint32_t len = TileLen(c);
    LocalTensor<float> v = rowBuf_.Get<float>()[c * t_.chunk];
    LocalTensor<T> tile = inQue_.DeQue<T>();
    ToFloat(v, tile, len);
    if (t_.hasSmooth && firstRow) ToFloat(smoothBuf_.Get<float>()[c * t_.chunk], tile[t_.chunk], len);
    inQue_.FreeTensor(tile);
    if (t_.hasSmooth) Mul(v, v, smoothBuf_.Get<float>()[c * t_.chunk], len);
    const float m = TileAbsMaxByBits(v, len, c * t_.chunk / 64 % 2, true);
    rowMax_ = RowAbsMaxUpdate(rowMax_, m, c == 0);
  }

  // max |v[0, len)| as TileAbsMax computes it, in fewer vector cycles: the bits of |v| (v with its
  // sign bit cleared, NaN included) ordered as int32 are ordered as the values, with any NaN above
  // inf; so halving int32 Max steps bring the tile down to at most kTreeLanes lanes that hold its max
  // (a NaN if it has one), and a ReduceMax of those reads it out (the first NaN wins there). A step
  // pays a barrier's drain, so it stops where a step would cost more than the ReduceMax it saves.
  // UB banks (whole rows a core; the layout: PlanDynamicQuantUb): a repeat of v reads one
  // half of the 16 bank groups (v starts `tileParity` halves past the row), so the repeats of each
  // half get their own And with the mask block in the other half; a Max step reads lanes h apart, h an
  // odd multiple of 64 (the other half of the groups), and writes the other scratch tile, in another
  // 64-KiB bank where UB allows. A split row's one tile is on the latency path, where a second And
  // and the longer steps cost more than the conflicts they save (B = 1 2,006 -> 2,026 cycles, B = 16
  // 2,931 -> 2,942): one And, halving steps in place.
  __aicore__ inline float TileAbsMaxByBits(const LocalTensor<float>& v, uint32_t len, uint32_t tileParity,
                                           bool wholeRows) {
    LocalTensor<int32_t> from = tmpBuf_.Get<int32_t>(), to = workBuf_.Get<int32_t>();
    const uint32_t full = len / 64, tail = len % 64;  // 64 fp32 lanes (128 int16) per repeat
    if (wholeRows) {
      const BinaryRepeatParams everyOther(1, 1, 0, 16, 16, 0);  // src1: the mask block, for every block
      for (uint32_t p = 0; p < 2 && p < full; ++p) {
        And(from[p * 64].ReinterpretCast<int16_t>(), v[p * 64].ReinterpretCast<int16_t>(), SignMask(p + tileParity),
            uint64_t(128), static_cast<uint8_t>((full - p + 1) / 2), everyOther);
      }
    } else if (full) {
      const BinaryRepeatParams everyRepeat(1, 1, 0, 8, 8, 0);
      And(from.ReinterpretCast<int16_t>(), v.ReinterpretCast<int16_t>(), SignMask(tileParity), uint64_t(128),
          static_cast<uint8_t>(full), everyRepeat);
    }
    if (tail) {
      And(from[full * 64].ReinterpretCast<int16_t>(), v[full * 64].ReinterpretCast<int16_t>(), SignMask(full + tileParity),
          uint64_t(2 * tail), 1, BinaryRepeatParams(1, 1, 0, 8, 8, 0));
    }
    uint32_t n = len;
    while (n > kTreeLanes) {
      PipeBarrier<PIPE_V>();
      if (wholeRows) {  // lanes [h, n) and [0, n - h) onto [0, n - h) of the other tile
        const uint32_t h = n / 128 * 64 - (n / 128 % 2 == 0 ? 64 : 0);
        Max(to, from, from[h], static_cast<int32_t>(n - h));
        n -= h;
        const LocalTensor<int32_t> last = from;
        from = to;
        to = last;
      } else {  // lanes [h, n) onto [0, n - h), h = n / 2 rounded up to a multiple of 64
        const uint32_t h = CeilDiv(n, 128) * 64;
        Max(from, from, from[h], static_cast<int32_t>(n - h));
        n = h;
      }
    }
    PipeBarrier<PIPE_V>();
    // The result in the half scratch, unused until the row is quantized (maxBuf_ holds the mask).
    const LocalTensor<float> result = halfBuf_.Get<float>();
    ReduceMax(result, from.ReinterpretCast<float>(), to.ReinterpretCast<float>(), static_cast<int32_t>(n));
    return ReadVectorResult(result, 0);
  }
  // The mask block for a repeat reading the groups half `half` (mod 2) past the row's: block 1 sits
  // in the row's group 8 (the second half), block 0 in group 7 (the first).
  __aicore__ inline LocalTensor<int16_t> SignMask(uint32_t half) { return maxBuf_.Get<int16_t>()[(half % 2 == 0) ? 16 : 0]; }

  // q = rint(v * 127 / max) as int8; the scale max / 127 joins the batch.
  __aicore__ inline void QuantizeRow(uint64_t row) {
    scales_.Push(row, Int8RowScale(rowMax_));
    QuantizeRowInt8(outQue_, y_[row * t_.cols], rowBuf_.Get<float>(), halfBuf_.Get<half>(), t_.cols, t_.chunk, rowMax_);
  }

  DynamicQuantTiling t_;
  uint64_t rowBegin_ = 0, rowEnd_ = 0;
  uint32_t chunks_ = 0, part_ = 0;
  float rowMax_ = 0.0f;
  ScaleBatchWriter scales_;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> inQue_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> rowBuf_, tmpBuf_, workBuf_, maxBuf_, halfBuf_, scaleBuf_, smoothBuf_, gatherBuf_;
  TBuf<TPosition::VECCALC> pads_[4];  // PlanDynamicQuantUb's pads: before tmp, work, the mask, the smooth scales
  GlobalTensor<T> x_, smooth_;
  GlobalTensor<float> maxima_;  // split rows: one 32-byte slot per core (workspace)
  GlobalTensor<int8_t> y_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void dynamic_quant(GM_ADDR x, GM_ADDR smooth, GM_ADDR y, GM_ADDR scale,
                                                    GM_ADDR workspace, GM_ADDR tiling) {
  // MIX_AIV_1_0: vector cores only, as AIV_ONLY, with the inter-core sync hardware (SyncAll) on.
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);
  ascend_glm5::DynamicQuantTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  if (t.dtype == ascend_glm5::kBFloat16) {
    ascend_glm5::DynamicQuantKernel<bfloat16_t> op;
    op.Init(x, smooth, y, scale, workspace, t);
    op.Process();
  } else {
    ascend_glm5::DynamicQuantKernel<half> op;
    op.Init(x, smooth, y, scale, workspace, t);
    op.Process();
  }
}
