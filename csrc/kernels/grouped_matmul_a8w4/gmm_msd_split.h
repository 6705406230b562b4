// grouped_matmul_a8w4, vector pre-pass (AIV): the MSD split of the int8 activations into two
// int4 matrices, so that the cube's int4 x int4 matmuls give the exact int8 x int4 product:
//   x = 16 hi + lo + 8,  hi = floor(x / 16) in [-8, 7],  lo = x - 16 hi - 8 in [-8, 7]
//   sum_k x w = 16 sum_k hi w + sum_k lo w + 8 sum_k w
// (the split of CANN's A8W4 kernel, hicann/ops-transformer gmm/grouped_matmul README). The last
// term comes from a "ones" row (1 for k < K, 0 after) the cube multiplies along with hi and lo,
// so the correction is exact and needs no bias input. Rows are padded with zeros to kPad (a
// multiple of 64, one int4 fractal row): zero hi and lo contribute nothing whatever the weight
// rows past K hold. Also zeroes the output rows that belong to no group.
//
// All arithmetic is exact in half: int8 -> half, x / 16 (a power of two), floor to int4, and
// x - 16 hi - 8 in [-8, 7]. Padding uses x = 8, which splits into hi = 0, lo = 0.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "../common/qgemm_tiling.h"

namespace ascend_glm5 {

template <typename OutT>
class GmmMsdSplit {
 public:
  __aicore__ inline void Init(AscendC::TPipe& pipe, GM_ADDR x, GM_ADDR out, GM_ADDR workspace, const QGemmTiling& t,
                              uint32_t totalRows) {
    t_ = &t;
    totalRows_ = totalRows;
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(x));
    out_.SetGlobalBuffer(reinterpret_cast<__gm__ OutT*>(out));
    hi_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsHiOffsetLo, t.wsHiOffsetHi)));
    lo_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsLoOffsetLo, t.wsLoOffsetHi)));
    ones_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsOnesOffsetLo, t.wsOnesOffsetHi)));
    const uint32_t c = t.splitChunk;
    pipe.InitBuffer(xBuf_, c);
    pipe.InitBuffer(xh_, c * sizeof(half));
    pipe.InitBuffer(tmp_, c * sizeof(half));
    pipe.InitBuffer(hiBuf_, c / 2);
    pipe.InitBuffer(loBuf_, c / 2);
    pipe.InitBuffer(zero_, kZeroBytes);
  }

  __aicore__ inline void Process() {
    const uint32_t core = uint32_t(AscendC::GetBlockIdx()), cores = 2 * t_->blockDim;
    const uint32_t per = t_->splitRowsPerCore;
    const uint32_t r0 = core * per < totalRows_ ? core * per : totalRows_;
    const uint32_t r1 = r0 + per < totalRows_ ? r0 + per : totalRows_;
    const uint32_t kPad = t_->kPad, chunk = t_->splitChunk;
    if (kPad <= chunk) {  // whole rows, several per step
      const uint32_t batch = chunk / kPad;
      for (uint32_t r = r0; r < r1; r += batch) SplitRows(r, r1 - r < batch ? r1 - r : batch);
    } else {  // one row in column chunks
      for (uint32_t r = r0; r < r1; ++r)
        for (uint32_t c = 0; c < kPad; c += chunk) SplitChunk(r, c, kPad - c < chunk ? kPad - c : chunk);
    }
    // The ones row on the last vector core, which holds the fewest rows (none at decode), so that it
    // runs next to the row splits rather than after core 0's.
    if (core == cores - 1) WriteOnes();
    ZeroRowsWithoutGroup(core, cores);
  }

 private:
  static constexpr uint32_t kZeroBytes = 8192;
  using Ev = AscendC::HardEvent;

  // Fills `elems` int8 of the x buffer with 8 (splits to hi = lo = 0): int16 lanes of 0x0808.
  __aicore__ inline void FillEights(uint32_t elems) {
    AscendC::Duplicate(xBuf_.Get<int16_t>(), int16_t(0x0808), int32_t(elems / 2));
    AscendC::SetFlag<Ev::V_MTE2>(0);
    AscendC::WaitFlag<Ev::V_MTE2>(0);
  }

  // `rows` whole rows from row r: each padded to kPad in UB (the copy's row pitch).
  __aicore__ inline void SplitRows(uint32_t r, uint32_t rows) {
    using namespace AscendC;
    const uint32_t k = t_->k, kPad = t_->kPad, rowPad = AlignUp(k, 32);
    FillEights(rows * kPad);
    DataCopyPad(xBuf_.Get<int8_t>(), x_[uint64_t(r) * k],
                DataCopyExtParams(uint16_t(rows), k, 0, (kPad - rowPad) / 32, 0),
                DataCopyPadExtParams<int8_t>(true, 0, uint8_t(rowPad - k), int8_t(8)));
    SetFlag<Ev::MTE2_V>(0);
    WaitFlag<Ev::MTE2_V>(0);
    Split(rows * kPad);
    Store(hi_[uint64_t(r) * kPad / 2], lo_[uint64_t(r) * kPad / 2], rows * kPad);
  }

  // Columns [c, c + len) of row r (len a multiple of 64 inside kPad).
  __aicore__ inline void SplitChunk(uint32_t r, uint32_t c, uint32_t len) {
    using namespace AscendC;
    const uint32_t valid = t_->k > c ? (t_->k - c < len ? t_->k - c : len) : 0;
    FillEights(len);
    if (valid > 0)
      DataCopyPad(xBuf_.Get<int8_t>(), x_[uint64_t(r) * t_->k + c], DataCopyExtParams(1, valid, 0, 0, 0),
                  DataCopyPadExtParams<int8_t>(true, 0, uint8_t(AlignUp(valid, 32) - valid), int8_t(8)));
    SetFlag<Ev::MTE2_V>(0);
    WaitFlag<Ev::MTE2_V>(0);
    Split(len);
    Store(hi_[(uint64_t(r) * t_->kPad + c) / 2], lo_[(uint64_t(r) * t_->kPad + c) / 2], len);
  }

  // x buffer (n int8, n a multiple of 64) -> hi, lo int4 buffers.
  __aicore__ inline void Split(uint32_t n) {
    using namespace AscendC;
    const LocalTensor<half> xh = xh_.Get<half>(), t = tmp_.Get<half>();
    const int32_t cnt = int32_t(n);
    Cast(xh, xBuf_.Get<int8_t>(), RoundMode::CAST_NONE, n);
    PipeBarrier<PIPE_V>();
    Muls(t, xh, half(0.0625f), cnt);
    PipeBarrier<PIPE_V>();
    Cast(hiBuf_.Get<int4b_t>(), t, RoundMode::CAST_FLOOR, n);  // hi = floor(x / 16)
    PipeBarrier<PIPE_V>();
    Cast(t, hiBuf_.Get<int4b_t>(), RoundMode::CAST_NONE, n);
    PipeBarrier<PIPE_V>();
    Muls(t, t, half(-16.0f), cnt);
    PipeBarrier<PIPE_V>();
    Add(t, t, xh, cnt);
    PipeBarrier<PIPE_V>();
    Adds(t, t, half(-8.0f), cnt);
    PipeBarrier<PIPE_V>();
    Cast(loBuf_.Get<int4b_t>(), t, RoundMode::CAST_RINT, n);  // lo = x - 16 hi - 8, an integer
    SetFlag<Ev::V_MTE3>(0);
    WaitFlag<Ev::V_MTE3>(0);
  }

  // n int4 values (n / 2 bytes, a multiple of 32) of each buffer -> GM.
  __aicore__ inline void Store(const AscendC::GlobalTensor<int8_t>& hi, const AscendC::GlobalTensor<int8_t>& lo, uint32_t n) {
    AscendC::DataCopy(hi, hiBuf_.Get<int8_t>(), n / 2);
    AscendC::DataCopy(lo, loBuf_.Get<int8_t>(), n / 2);
    AscendC::SetFlag<Ev::MTE3_V>(0);  // the buffers are refilled next step
    AscendC::WaitFlag<Ev::MTE3_V>(0);
  }

  // The ones row: lo of x = 9 (hi = 0, lo = 1) for k < K, of x = 8 (zeros) after.
  __aicore__ inline void WriteOnes() {
    using namespace AscendC;
    const uint32_t kPad = t_->kPad, chunk = t_->splitChunk;
    for (uint32_t c = 0; c < kPad; c += chunk) {
      const uint32_t len = kPad - c < chunk ? kPad - c : chunk;
      const uint32_t valid = t_->k > c ? (t_->k - c < len ? t_->k - c : len) : 0;
      AscendC::Duplicate(xBuf_.Get<int16_t>(), int16_t(0x0808), int32_t(len / 2));
      if (valid / 2 > 0) {
        PipeBarrier<PIPE_V>();
        AscendC::Duplicate(xBuf_.Get<int16_t>(), int16_t(0x0909), int32_t(valid / 2));
      }
      if (valid % 2) {
        SetFlag<Ev::V_S>(0);
        WaitFlag<Ev::V_S>(0);
        xBuf_.Get<int8_t>().SetValue(valid - 1, int8_t(9));
        SetFlag<Ev::S_V>(0);
        WaitFlag<Ev::S_V>(0);
      }
      PipeBarrier<PIPE_V>();
      Split(len);
      DataCopy(ones_[c / 2], loBuf_.Get<int8_t>(), len / 2);
      SetFlag<Ev::MTE3_V>(0);
      WaitFlag<Ev::MTE3_V>(0);
    }
  }

  // Output rows [totalRows, m) belong to no group: zeros, split over the vector cores.
  __aicore__ inline void ZeroRowsWithoutGroup(uint32_t core, uint32_t cores) {
    using namespace AscendC;
    const uint64_t first = uint64_t(totalRows_) * t_->n, total = uint64_t(t_->m) * t_->n;
    if (first >= total) return;
    const uint64_t elems = total - first, per = CeilDiv64(elems, cores);
    const uint64_t b = first + core * per < total ? first + core * per : total;
    const uint64_t e = b + per < total ? b + per : total;
    if (b >= e) return;
    const LocalTensor<OutT> z = zero_.Get<OutT>();
    Duplicate(z.template ReinterpretCast<int32_t>(), int32_t(0), int32_t(kZeroBytes / 4));
    SetFlag<Ev::V_MTE3>(0);
    WaitFlag<Ev::V_MTE3>(0);
    const uint64_t step = kZeroBytes / sizeof(OutT);
    for (uint64_t i = b; i < e; i += step) {
      const uint64_t n = e - i < step ? e - i : step;
      DataCopyPad(out_[i], z, DataCopyExtParams(1, uint32_t(n * sizeof(OutT)), 0, 0, 0));
    }
  }

  __aicore__ static inline uint64_t CeilDiv64(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

  const QGemmTiling* t_ = nullptr;
  uint32_t totalRows_ = 0;
  AscendC::TBuf<AscendC::TPosition::VECCALC> xBuf_, xh_, tmp_, hiBuf_, loBuf_, zero_;
  AscendC::GlobalTensor<int8_t> x_;
  AscendC::GlobalTensor<OutT> out_;
  AscendC::GlobalTensor<int8_t> hi_, lo_, ones_;  // int4 pairs, addressed in bytes
};

}  // namespace ascend_glm5
