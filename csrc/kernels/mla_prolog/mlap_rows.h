// Row operations of the MLA prolog's vector side, all in fp32 on UB: GM rows in and out (with the
// conversion), RMSNorm, per-token symmetric int8 quantization and the interleaved RoPE.
//
// The order of operations is the reference's (ascend_glm5/reference/mla_prolog.py), so that the
// only differences are the fp32 summation order of the reductions:
//   RMSNorm   v * rsqrt(sum(v^2) / n + eps) * gamma [* scale]
//   quantize  m = max|v|, q = rint(v * (127 / m)), scale = m / 127   (dynamic_quant)
//   RoPE      out = [even | odd] * cos + [-odd | even] * sin   (pairs (v[2j], v[2j+1]) rotated,
//             written de-interleaved as CANN and HF do)
#pragma once

#include "kernel_operator.h"
#include "../common/block_reduce.h"
#include "../common/host_device.h"
#include "mla_prolog_tiling.h"

namespace ascend_glm5 {

template <AscendC::HardEvent evt>
__aicore__ inline void MlapSync() {
  AscendC::SetFlag<evt>(0);
  AscendC::WaitFlag<evt>(0);
}

// UB scratch of one vector core, carved from one buffer (at most 8 buffers per TPosition).
struct MlapScratch {
  AscendC::LocalTensor<float> row;    // Lrow floats: the row being worked on
  AscendC::LocalTensor<float> tmp;    // Lrow floats (>= 4096): squares, |v| (reduced in place), RoPE temporaries
  AscendC::LocalTensor<uint8_t> in;   // raw GM row before conversion
  AscendC::LocalTensor<uint8_t> out;  // converted row before its copy to GM
  AscendC::LocalTensor<float> red;    // 8 floats: reduction results
};

class MlapRows {
 public:
  __aicore__ inline void Init(const MlapScratch& s) { s_ = s; }
  __aicore__ inline const MlapScratch& Scratch() const { return s_; }

  // dst[0, n) = the n elements of src, converted to fp32 (int32 rounds to nearest even).
  template <typename S>
  __aicore__ inline void Load(const AscendC::LocalTensor<float>& dst, const AscendC::GlobalTensor<S>& src, uint32_t n) {
    using namespace AscendC;
    MlapSync<HardEvent::V_MTE2>();  // earlier vector reads of the staging buffer are done
    const LocalTensor<S> raw = s_.in.ReinterpretCast<S>();
    DataCopyPad(raw, src, DataCopyExtParams(1, n * uint32_t(sizeof(S)), 0, 0, 0), DataCopyPadExtParams<S>());
    MlapSync<HardEvent::MTE2_V>();
    Cast(dst, raw, SameType<S, int32_t>::value ? RoundMode::CAST_RINT : RoundMode::CAST_NONE, n);
    AscendC::PipeBarrier<PIPE_V>();
  }

  // The n fp32 values of src rounded (to nearest even) to D in the output staging buffer, which is
  // returned; copy it out with Store.
  template <typename D>
  __aicore__ inline AscendC::LocalTensor<D> Convert(const AscendC::LocalTensor<float>& src, uint32_t n) {
    using namespace AscendC;
    MlapSync<HardEvent::MTE3_V>();  // the previous copy-out of the staging buffer is done
    const LocalTensor<D> o = s_.out.ReinterpretCast<D>();
    Cast(o, src, RoundMode::CAST_RINT, n);
    MlapSync<HardEvent::V_MTE3>();
    return o;
  }

  // count rows of n elements from UB (rows packed, 32-byte aligned) to GM rows `stride` elements apart.
  template <typename D>
  __aicore__ inline void Store(const AscendC::GlobalTensor<D>& dst, const AscendC::LocalTensor<D>& src, uint32_t n,
                               uint32_t count = 1, uint32_t stride = 0) {
    const uint32_t bytes = n * uint32_t(sizeof(D));
    const uint32_t gap = count > 1 ? (stride - n) * uint32_t(sizeof(D)) : 0;
    AscendC::DataCopyPad(dst, src, AscendC::DataCopyExtParams(uint16_t(count), bytes, 0, gap, 0));
  }

  // In place: v = v * rsqrt(mean(v^2) + eps) * gamma, times scale unless it is 1. gamma is in the
  // float dtype of the inputs (converted exactly to fp32 here).
  template <typename G>
  __aicore__ inline void RmsNorm(const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<G>& gamma,
                                 uint32_t n, float eps, float scale) {
    using namespace AscendC;
    Mul(s_.tmp, v, v, n);
    PipeBarrier<PIPE_V>();
    ReduceByBlocks<false>(s_.red, s_.tmp, n);
    MlapSync<HardEvent::V_S>();
    const float meanEps = s_.red.GetValue(0) / float(n) + eps;
    MlapSync<HardEvent::S_V>();
    Duplicate(s_.red, meanEps, 8);
    PipeBarrier<PIPE_V>();
    Rsqrt(s_.red, s_.red, 8);
    MlapSync<HardEvent::V_S>();
    const float r = s_.red.GetValue(0);
    MlapSync<HardEvent::S_V>();  // the next write of `red` waits for the read
    Muls(v, v, r, n);
    Cast(s_.tmp, gamma, RoundMode::CAST_NONE, n);
    PipeBarrier<PIPE_V>();
    Mul(v, v, s_.tmp, n);
    PipeBarrier<PIPE_V>();
    if (scale != 1.0f) {
      Muls(v, v, scale, n);
      PipeBarrier<PIPE_V>();
    }
  }

  // Symmetric int8 quantization of v (n values) into the output staging buffer (returned);
  // `scale` receives max|v| / 127 (0 for an all-zero row, whose q is 0). v is destroyed.
  __aicore__ inline AscendC::LocalTensor<int8_t> Quantize(const AscendC::LocalTensor<float>& v, uint32_t n, float& scale) {
    using namespace AscendC;
    Abs(s_.tmp, v, n);
    PipeBarrier<PIPE_V>();
    ReduceByBlocks<true>(s_.red, s_.tmp, n);
    MlapSync<HardEvent::V_S>();
    const float m = s_.red.GetValue(0);
    MlapSync<HardEvent::S_V>();  // the next write of `red` waits for the read
    const float factor = m > 0.0f ? 127.0f / m : 0.0f;
    scale = m / 127.0f;
    Muls(v, v, factor, n);
    PipeBarrier<PIPE_V>();
    Cast(v, v, RoundMode::CAST_RINT, n);  // integral fp32, |v| <= 127
    PipeBarrier<PIPE_V>();
    MlapSync<HardEvent::MTE3_V>();
    const LocalTensor<half> h = s_.tmp.ReinterpretCast<half>();
    Cast(h, v, RoundMode::CAST_NONE, n);  // exact
    PipeBarrier<PIPE_V>();
    const LocalTensor<int8_t> q = s_.out.ReinterpretCast<int8_t>();
    Cast(q, h, RoundMode::CAST_NONE, n);  // exact
    MlapSync<HardEvent::V_MTE3>();
    return q;
  }

  // RoPE of `rows` rows of 64 (packed in v), each with its own cos / signed sin row
  // (sinSigned = [-sin[0:32] | sin[32:64]]). deint holds byte offsets (rows x 64) that gather
  // [even | odd] of each row. Result in place in v.
  __aicore__ inline void Rope(const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<float>& cos,
                              const AscendC::LocalTensor<float>& sinSigned, const AscendC::LocalTensor<uint32_t>& deint,
                              uint32_t rows) {
    using namespace AscendC;
    constexpr uint32_t kHalf = kMlapRopeDim / 2;
    const uint32_t n = rows * kMlapRopeDim;
    const LocalTensor<float> a = s_.tmp, b = s_.tmp[kMlapMaxRopeRows * kMlapRopeDim];
    Gather(a, v, deint, 0, n);  // a = [even | odd]
    PipeBarrier<PIPE_V>();
    // b = [odd | even]: swap the halves of every row (blocks of 32 bytes).
    const uint16_t halfBlocks = kHalf * sizeof(float) / 32;
    DataCopy(b, a[kHalf], DataCopyParams(uint16_t(rows), halfBlocks, halfBlocks, halfBlocks));
    DataCopy(b[kHalf], a, DataCopyParams(uint16_t(rows), halfBlocks, halfBlocks, halfBlocks));
    PipeBarrier<PIPE_V>();
    Mul(a, a, cos, n);
    Mul(b, b, sinSigned, n);
    PipeBarrier<PIPE_V>();
    Add(v, a, b, n);
    PipeBarrier<PIPE_V>();
  }

  // The de-interleaving gather offsets (bytes) for kMlapMaxRopeRows rows, built once: the first
  // row on the scalar unit, then doubling the rows with vector adds of the row pitch.
  __aicore__ inline void BuildDeinterleave(const AscendC::LocalTensor<uint32_t>& deint) {
    using namespace AscendC;
    constexpr uint32_t kHalf = kMlapRopeDim / 2, kPitch = kMlapRopeDim * sizeof(float);
    for (uint32_t j = 0; j < kMlapRopeDim; ++j)
      deint.SetValue(j, (j < kHalf ? 2 * j : 2 * (j - kHalf) + 1) * uint32_t(sizeof(float)));
    MlapSync<HardEvent::S_V>();
    const LocalTensor<int32_t> words = deint.ReinterpretCast<int32_t>();
    for (uint32_t rows = 1; rows < kMlapMaxRopeRows; rows *= 2) {
      Adds(words[rows * kMlapRopeDim], words, int32_t(rows * kPitch), int32_t(rows * kMlapRopeDim));
      PipeBarrier<PIPE_V>();
    }
  }

  // cos and signed sin rows of `rows` tokens from the [T, 64] tables (float dtype T).
  template <typename T>
  __aicore__ inline void LoadCosSin(const AscendC::LocalTensor<float>& cos, const AscendC::LocalTensor<float>& sinSigned,
                                    const AscendC::GlobalTensor<T>& cosGm, const AscendC::GlobalTensor<T>& sinGm,
                                    uint32_t rows) {
    using namespace AscendC;
    const uint32_t n = rows * kMlapRopeDim;
    Load(cos, cosGm, n);
    Load(sinSigned, sinGm, n);
    // Negate the first half of every row: lanes 0-31 of each 64-lane repeat.
    Muls(sinSigned, sinSigned, -1.0f, uint64_t(kMlapRopeDim / 2), uint8_t(rows), UnaryRepeatParams(1, 1, 8, 8));
    PipeBarrier<PIPE_V>();
  }

 private:
  MlapScratch s_;
};

}  // namespace ascend_glm5
