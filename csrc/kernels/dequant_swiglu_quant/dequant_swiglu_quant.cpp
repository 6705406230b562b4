// Dequant -> SwiGLU -> per-token int8 quant (torch_npu npu_dequant_swiglu_quant, dynamic mode).
//
// x [T, 2H] is the gate/up GEMM output of an expert MLP: int32 sums (dequantized here with the
// per-channel weight scale of the row's group and the row's activation scale) or fp16/bf16. Each
// vector core takes a contiguous range of rows. A row is read tile by tile, both halves of a tile
// at once; silu(a) * b (times the smooth scale) goes into a resident fp32 row buffer while its
// max |.| is tracked, then the row is scaled by 127/max, rounded half-to-even and written as int8
// with its fp32 scale, exactly as dynamic_quant does. The next tile's load is issued before the
// current tile is computed, also across rows. The group of a row comes from group_index (counts),
// scanned once per core; a group's scales are loaded when the first row of the group arrives.
// GM traffic: x read once, y and the scales written once, the scales of each group a core meets
// read once by that core.
#include "kernel_operator.h"
#include "../common/float_convert.h"
#include "../common/gm_copy.h"
#include "../common/int8_quant.h"
#include "../common/scale_batch.h"
#include "../common/tiling.h"
#include "dequant_swiglu_quant_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

template <typename T>
class DequantSwigluQuantKernel {
 public:
  __aicore__ inline void Init(GM_ADDR x, GM_ADDR weightScale, GM_ADDR activationScale, GM_ADDR quantScale,
                              GM_ADDR groupIndex, GM_ADDR y, GM_ADDR scale, const DequantSwigluQuantTiling& t) {
    t_ = t;
    rows_ = (uint64_t(t.rowsHi) << 32) | t.rowsLo;
    SplitEvenly(rows_, t.blockDim, GetBlockIdx(), rowBegin_, rowEnd_);
    chunks_ = CeilDiv(t.half, t.chunk);
    span_ = chunks_ * t.chunk;
    const uint64_t width = 2ull * t.half;
    activeOff_ = t.activateLeft ? 0 : t.half;
    linearOff_ = t.activateLeft ? t.half : 0;
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x), rows_ * width);
    y_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(y), rows_ * t.half);
    if (t.weightScaleRows) {
      weightScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(weightScale), t.weightScaleRows * width);
      activationScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(activationScale), rows_);
    }
    if (t.quantScaleRows)
      quantScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(quantScale), uint64_t(t.quantScaleRows) * t.half);
    if (t.groupCount) groupIndex_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(groupIndex), t.groupCount);

    pipe_.InitBuffer(inQue_, 2, 2 * t.chunk * sizeof(T));  // activated half, then linear half
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(int8_t));
    pipe_.InitBuffer(rowBuf_, span_ * sizeof(float));
    // Scales of the current group: weight scale (activated half, linear half), then quant_scale.
    quantScaleOffset_ = t.weightScaleRows ? 2 * span_ : 0;
    const uint32_t paramFloats = quantScaleOffset_ + (t.quantScaleRows ? span_ : 0);
    if (paramFloats) pipe_.InitBuffer(paramBuf_, paramFloats * sizeof(float));
    // Three fp32 tiles (a, b, exp) and one half tile for the int8 narrowing.
    pipe_.InitBuffer(workBuf_, 3 * t.chunk * sizeof(float) + t.chunk * sizeof(half));
    // 8 floats for ReduceMax, a batch of output scales, a batch of activation scales.
    pipe_.InitBuffer(smallBuf_, (8 + 2 * kBatch) * sizeof(float));
    GlobalTensor<float> scaleGm;
    scaleGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scale), rows_);
    scales_.Init(scaleGm, Small(8, kBatch), kBatch);
    ScanGroups();
  }

  __aicore__ inline void Process() {
    if (rowBegin_ < validEnd_) {
      const uint64_t tiles = (validEnd_ - rowBegin_) * chunks_;
      CopyIn(0);
      for (uint64_t i = 0; i < tiles; ++i) {
        if (i + 1 < tiles) CopyIn(i + 1);  // prefetch, possibly the next row's first tile
        const uint32_t c = static_cast<uint32_t>(i % chunks_);
        const uint64_t row = rowBegin_ + i / chunks_;
        if (c == 0) StartRow(row);
        ComputeTile(c);
        if (c + 1 == chunks_) QuantizeRow(row);
      }
    }
    // Rows past sum(group_index) get q = 0 and scale = 0 (torch_npu leaves them unwritten).
    for (uint64_t row = rowBegin_ > validEnd_ ? rowBegin_ : validEnd_; row < rowEnd_; ++row) {
      Duplicate(rowBuf_.Get<float>(), 0.0f, static_cast<int32_t>(span_));
      rowMax_ = 0.0f;
      QuantizeRow(row);
    }
    scales_.Flush();
  }

 private:
  static constexpr uint32_t kBatch = 64;  // output / activation scales per DataCopyPad

  __aicore__ inline uint32_t TileLen(uint32_t c) const { return ChunkLen(t_.half, t_.chunk, c); }
  __aicore__ inline LocalTensor<float> Work(uint32_t slot) {  // TBuf::GetWithOffset is non-const in CANN
    return workBuf_.GetWithOffset<float>(t_.chunk, slot * t_.chunk * sizeof(float));
  }
  __aicore__ inline LocalTensor<float> Small(uint32_t offset, uint32_t len) {
    return smallBuf_.GetWithOffset<float>(len, offset * sizeof(float));
  }

  __aicore__ inline uint64_t GroupRows(uint32_t g) const {
    const int64_t v = groupIndex_.GetValue(g);
    return v > 0 ? static_cast<uint64_t>(v) : 0;  // the op validates counts; stay in bounds anyway
  }

  // Rows [rowBegin_, validEnd_) of this core lie inside sum(group_index); group_ / groupEnd_ is
  // the group of rowBegin_ (groups of 0 rows are skipped).
  __aicore__ inline void ScanGroups() {
    validEnd_ = rowEnd_;
    if (!t_.groupCount) return;
    uint64_t end = 0;
    bool found = false;
    for (uint32_t g = 0; g < t_.groupCount; ++g) {
      end += GroupRows(g);
      if (!found && end > rowBegin_) {
        group_ = g;
        groupEnd_ = end;
        found = true;
      }
    }
    if (end < validEnd_) validEnd_ = end;
  }

  // Loads tile i (row-major over this core's rows): both halves into one input buffer.
  __aicore__ inline void CopyIn(uint64_t i) {
    const uint32_t c = static_cast<uint32_t>(i % chunks_);
    const uint64_t offset = (rowBegin_ + i / chunks_) * 2 * t_.half + uint64_t(c) * t_.chunk;
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    CopyGmToUb(tile, x_[offset + activeOff_], TileLen(c));
    CopyGmToUb(tile[t_.chunk], x_[offset + linearOff_], TileLen(c));
    inQue_.EnQue(tile);
  }

  // Group bookkeeping, the group's scales and the row's activation scale.
  __aicore__ inline void StartRow(uint64_t row) {
    if (t_.groupCount) {
      while (row >= groupEnd_) groupEnd_ += GroupRows(++group_);
    }
    bool loaded = false;
    const uint32_t wsRow = t_.weightScaleRows == 1 ? 0 : group_;
    if (t_.weightScaleRows && wsRow != weightScaleRow_) {
      WaitVectorBeforeParamLoad();
      const uint64_t base = uint64_t(wsRow) * 2 * t_.half;
      LocalTensor<float> p = paramBuf_.Get<float>();
      CopyGmToUb(p, weightScale_[base + activeOff_], t_.half);
      CopyGmToUb(p[span_], weightScale_[base + linearOff_], t_.half);
      weightScaleRow_ = wsRow;
      loaded = true;
    }
    const uint32_t qsRow = t_.quantScaleRows == 1 ? 0 : group_;
    if (t_.quantScaleRows && qsRow != quantScaleRow_) {
      if (!loaded) WaitVectorBeforeParamLoad();
      CopyGmToUb(paramBuf_.Get<float>()[quantScaleOffset_], quantScale_[uint64_t(qsRow) * t_.half], t_.half);
      quantScaleRow_ = qsRow;
      loaded = true;
    }
    if (loaded) {
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    }
    if (t_.weightScaleRows) rowActivationScale_ = ActivationScale(row);
  }
  __aicore__ inline void WaitVectorBeforeParamLoad() {  // the previous group's scales are still being read
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
  }

  // activation_scale[row], loaded kBatch rows at a time.
  __aicore__ inline float ActivationScale(uint64_t row) {
    LocalTensor<float> batch = Small(8 + kBatch, kBatch);
    const uint32_t idx = static_cast<uint32_t>((row - rowBegin_) % kBatch);
    if (idx == 0) {
      const uint64_t rest = validEnd_ - row;
      const uint32_t count = rest < kBatch ? static_cast<uint32_t>(rest) : kBatch;
      SetFlag<HardEvent::S_MTE2>(0);  // earlier scalar reads of the batch are done
      WaitFlag<HardEvent::S_MTE2>(0);
      CopyGmToUb(batch, activationScale_[row], count);
      SetFlag<HardEvent::MTE2_S>(0);
      WaitFlag<HardEvent::MTE2_S>(0);
    }
    return batch.GetValue(idx);
  }

  // s = silu(a) * b (* quant_scale) into the row buffer; running max |s| of the row.
  __aicore__ inline void ComputeTile(uint32_t c) {
    const uint32_t len = TileLen(c);
    const uint32_t at = c * t_.chunk;
    LocalTensor<float> a = Work(0), b = Work(1), e = Work(2);
    LocalTensor<T> tile = inQue_.DeQue<T>();
    ToFloat(a, tile, len);
    ToFloat(b, tile[t_.chunk], len);
    inQue_.FreeTensor(tile);
    if (t_.weightScaleRows) {  // (x * weight_scale) * activation_scale, in this order
      LocalTensor<float> p = paramBuf_.Get<float>();
      Mul(a, a, p[at], len);
      Mul(b, b, p[span_ + at], len);
      Muls(a, a, rowActivationScale_, len);
      Muls(b, b, rowActivationScale_, len);
    }
    Muls(e, a, -1.0f, len);
    Exp(e, e, len);
    Adds(e, e, 1.0f, len);
    Div(e, a, e, len);  // silu(a) = a / (1 + exp(-a))
    LocalTensor<float> s = rowBuf_.Get<float>()[at];
    Mul(s, e, b, len);
    if (t_.quantScaleRows) Mul(s, s, paramBuf_.Get<float>()[quantScaleOffset_ + at], len);
    const float m = TileAbsMax(s, a, b, Small(0, 8), len);
    rowMax_ = RowAbsMaxUpdate(rowMax_, m, c == 0);
  }

  // q = rint(s * 127 / max) as int8; the scale max / 127 joins the batch.
  __aicore__ inline void QuantizeRow(uint64_t row) {
    scales_.Push(row, Int8RowScale(rowMax_));
    LocalTensor<half> h = workBuf_.GetWithOffset<half>(t_.chunk, 3 * t_.chunk * sizeof(float));
    QuantizeRowInt8(outQue_, y_[row * t_.half], rowBuf_.Get<float>(), h, t_.half, t_.chunk, rowMax_);
  }

  DequantSwigluQuantTiling t_;
  uint64_t rows_ = 0, rowBegin_ = 0, rowEnd_ = 0, validEnd_ = 0;
  uint32_t chunks_ = 0, span_ = 0, activeOff_ = 0, linearOff_ = 0, quantScaleOffset_ = 0;
  uint32_t group_ = 0;
  uint64_t groupEnd_ = 0;
  uint32_t weightScaleRow_ = 0xFFFFFFFFu, quantScaleRow_ = 0xFFFFFFFFu;  // rows resident in paramBuf_
  float rowActivationScale_ = 0.0f;
  float rowMax_ = 0.0f;
  ScaleBatchWriter scales_;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> inQue_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> rowBuf_, paramBuf_, workBuf_, smallBuf_;
  GlobalTensor<T> x_;
  GlobalTensor<float> weightScale_, activationScale_, quantScale_;
  GlobalTensor<int64_t> groupIndex_;
  GlobalTensor<int8_t> y_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void dequant_swiglu_quant(GM_ADDR x, GM_ADDR weightScale, GM_ADDR activationScale,
                                                           GM_ADDR quantScale, GM_ADDR groupIndex, GM_ADDR y,
                                                           GM_ADDR scale, GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  ascend_glm5::DequantSwigluQuantTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  if (t.dtype == ascend_glm5::kInt32) {
    ascend_glm5::DequantSwigluQuantKernel<int32_t> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, t);
    op.Process();
  } else if (t.dtype == ascend_glm5::kBFloat16) {
    ascend_glm5::DequantSwigluQuantKernel<bfloat16_t> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, t);
    op.Process();
  } else {
    ascend_glm5::DequantSwigluQuantKernel<half> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, t);
    op.Process();
  }
}
