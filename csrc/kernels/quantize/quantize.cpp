// Static int8 quantization (torch_npu npu_quantize with an int8 output): q = sat(rint(x / s + o)) or
// sat(rint(x * s + o)), with s, o one value or one per column (the last axis).
//
// Work is a grid of tiles (chunk columns of one row), numbered column-chunk major, and each vector
// core takes a contiguous range of tiles: a core meets few column chunks, so per-channel scales
// and offsets are read once per chunk it meets, and short inputs (decode: a few rows of 6144)
// still spread over many cores. The next tile's load is issued before the current one is computed.
#include "kernel_operator.h"
#include "../common/float_convert.h"
#include "../common/tiling.h"
#include "quantize_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

template <typename T>
class QuantizeKernel {
 public:
  __aicore__ inline void Init(GM_ADDR x, GM_ADDR scales, GM_ADDR offsets, GM_ADDR y, const QuantizeTiling& t) {
    t_ = t;
    rows_ = (uint64_t(t.rowsHi) << 32) | t.rowsLo;
    chunks_ = CeilDiv(t.cols, t.chunk);
    SplitEvenly(rows_ * chunks_, t.blockDim, GetBlockIdx(), tileBegin_, tileEnd_);
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x), rows_ * t.cols);
    y_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(y), rows_ * t.cols);
    const uint32_t paramLen = t.perChannel ? t.cols : 1;
    scales_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scales), paramLen);
    if (t.hasOffset) offsets_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(offsets), paramLen);

    pipe_.InitBuffer(inQue_, 2, t.chunk * sizeof(T));
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(int8_t));
    // fp32 value tile, the chunk's scales, the chunk's offsets, a half tile for the int8 narrowing.
    pipe_.InitBuffer(workBuf_, 3 * t.chunk * sizeof(float) + t.chunk * sizeof(half));
    if (!t.perChannel) BroadcastScalars();
  }

  __aicore__ inline void Process() {
    if (tileBegin_ >= tileEnd_) return;
    CopyIn(tileBegin_);
    for (uint64_t i = tileBegin_; i < tileEnd_; ++i) {
      if (i + 1 < tileEnd_) CopyIn(i + 1);
      const uint32_t c = static_cast<uint32_t>(i / rows_);
      if (t_.perChannel && c != loadedChunk_) LoadParams(c);
      Compute(c, i % rows_);
    }
  }

 private:
  __aicore__ inline uint32_t TileLen(uint32_t c) const {
    const uint32_t rest = t_.cols - c * t_.chunk;
    return rest < t_.chunk ? rest : t_.chunk;
  }
  __aicore__ inline LocalTensor<float> Work(uint32_t slot) {  // TBuf::GetWithOffset is non-const in CANN
    return workBuf_.GetWithOffset<float>(t_.chunk, slot * t_.chunk * sizeof(float));
  }

  // Per-tensor: the one scale and offset fill the parameter tiles once.
  __aicore__ inline void BroadcastScalars() {
    const float s = scales_.GetValue(0);
    const float o = t_.hasOffset ? offsets_.GetValue(0) : 0.0f;
    Duplicate(Work(1), s, static_cast<int32_t>(t_.chunk));
    Duplicate(Work(2), o, static_cast<int32_t>(t_.chunk));
  }

  // Per-channel: the scales and offsets of column chunk c.
  __aicore__ inline void LoadParams(uint32_t c) {
    SetFlag<HardEvent::V_MTE2>(0);  // the previous chunk's parameters are no longer read
    WaitFlag<HardEvent::V_MTE2>(0);
    const DataCopyExtParams p(1, TileLen(c) * sizeof(float), 0, 0, 0);
    const DataCopyPadExtParams<float> pad(false, 0, 0, 0.0f);
    DataCopyPad(Work(1), scales_[uint64_t(c) * t_.chunk], p, pad);
    if (t_.hasOffset) DataCopyPad(Work(2), offsets_[uint64_t(c) * t_.chunk], p, pad);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    loadedChunk_ = c;
  }

  // Tile i = column chunk i / rows, row i % rows.
  __aicore__ inline void CopyIn(uint64_t i) {
    const uint32_t c = static_cast<uint32_t>(i / rows_);
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    DataCopyPad(tile, x_[(i % rows_) * t_.cols + uint64_t(c) * t_.chunk],
                DataCopyExtParams(1, TileLen(c) * sizeof(T), 0, 0, 0), DataCopyPadExtParams<T>(false, 0, 0, T(0.0f)));
    inQue_.EnQue(tile);
  }

  // v = x / s + o (or x * s + o) in fp32, rounded half-to-even, saturated to [-128, 127], then
  // narrowed exactly through half (A2 has no direct fp32 -> int8 cast).
  __aicore__ inline void Compute(uint32_t c, uint64_t row) {
    const uint32_t len = TileLen(c);
    LocalTensor<float> v = Work(0);
    LocalTensor<T> tile = inQue_.DeQue<T>();
    ToFloat(v, tile, len);
    inQue_.FreeTensor(tile);
    if (t_.divMode) {
      Div(v, v, Work(1), len);
    } else {
      Mul(v, v, Work(1), len);
    }
    if (t_.hasOffset) Add(v, v, Work(2), len);
    Cast(v, v, RoundMode::CAST_RINT, len);
    Maxs(v, v, -128.0f, len);
    Mins(v, v, 127.0f, len);
    LocalTensor<half> h = workBuf_.GetWithOffset<half>(t_.chunk, 3 * t_.chunk * sizeof(float));
    Cast(h, v, RoundMode::CAST_NONE, len);
    LocalTensor<int8_t> q = outQue_.AllocTensor<int8_t>();
    Cast(q, h, RoundMode::CAST_NONE, len);
    outQue_.EnQue(q);
    q = outQue_.DeQue<int8_t>();
    DataCopyPad(y_[row * t_.cols + uint64_t(c) * t_.chunk], q, DataCopyExtParams(1, len, 0, 0, 0));
    outQue_.FreeTensor(q);
  }

  QuantizeTiling t_;
  uint64_t rows_ = 0, tileBegin_ = 0, tileEnd_ = 0;
  uint32_t chunks_ = 0;
  uint32_t loadedChunk_ = 0xFFFFFFFFu;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> inQue_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> workBuf_;
  GlobalTensor<T> x_;
  GlobalTensor<float> scales_, offsets_;
  GlobalTensor<int8_t> y_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void quantize(GM_ADDR x, GM_ADDR scales, GM_ADDR offsets, GM_ADDR y,
                                               GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  ascend_glm5::QuantizeTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  if (t.dtype == ascend_glm5::kBFloat16) {
    ascend_glm5::QuantizeKernel<bfloat16_t> op;
    op.Init(x, scales, offsets, y, t);
    op.Process();
  } else if (t.dtype == ascend_glm5::kFloat32) {
    ascend_glm5::QuantizeKernel<float> op;
    op.Init(x, scales, offsets, y, t);
    op.Process();
  } else {
    ascend_glm5::QuantizeKernel<half> op;
    op.Init(x, scales, offsets, y, t);
    op.Process();
  }
}
