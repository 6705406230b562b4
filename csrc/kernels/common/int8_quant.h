// Symmetric int8 quantization of fp32 data in UB, in pieces a kernel composes:
//   TileAbsMax       max |v| of a tile, read back by the scalar unit (a row's max = max over its tiles)
//   StoreInt8        an fp32 tile of integers in [-128, 127] -> int8 -> GM, exactly
//   QuantizeRowInt8  a resident fp32 row -> rint(v * 127 / max|v|) as int8 in GM
// with Int8RowScale the row's scale max|v| / 127 (the caller stores it, e.g. with ScaleBatchWriter).
// A row whose max is 0 gives q = 0 and scale 0. Numerics are those of torch_npu's dynamic quant:
// factor 127 / max in fp32 on the scalar unit, v * factor in fp32, rounded half to even.
#pragma once

#include "kernel_operator.h"
#include "gm_copy.h"
#include "block_reduce.h"
#include "host_device.h"
#include "scalar_read.h"

namespace ascend_glm5 {

// max |v[0, len)|. absV: fp32 scratch of len elements (it may not alias v); result: 8 floats
// (32 B), read as ReadVectorResult reads. By BlockReduceMax levels (block_reduce.h), not ReduceMax.
__aicore__ inline float TileAbsMax(const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<float>& absV,
                                   const AscendC::LocalTensor<float>& result, uint32_t len) {
  AscendC::Abs(absV, v, len);
  AscendC::PipeBarrier<PIPE_V>();
  ReduceByBlocks<true>(result, absV, len);
  return ReadVectorResult(result, 0);
}

// A row's running max |v| over its tiles, NaN-sticky like the reference's amax: a plain
// `tileMax > rowMax` is false for a NaN tile max and would drop it (then the row got a finite
// scale). first: the row's first tile.
__aicore__ inline float RowAbsMaxUpdate(float rowMax, float tileMax, bool first) {
  return (first || tileMax > rowMax || tileMax != tileMax) ? tileMax : rowMax;
}

__aicore__ inline float Int8RowScale(float absMax) { return absMax / 127.0f; }

// A row split over `split` cores (its cores' blocks consecutive, one slot of `slotFloats` floats
// each in the GM workspace `maxima`): this core's part max (mine[0], already written by its pipe)
// goes to its slot; after SyncAll the core reads its row's slots in one copy and folds them as a
// row's tiles are folded. Every core of the launch must call it once: SyncAll needs them all.
__aicore__ inline float ExchangeSplitRowMax(const AscendC::GlobalTensor<float>& maxima,
                                           const AscendC::LocalTensor<float>& mine,
                                           const AscendC::LocalTensor<float>& slots, uint32_t slotFloats,
                                           uint32_t split, uint64_t row, AscendC::TPipe& pipe) {
  CopyUbToGm(maxima[uint64_t(AscendC::GetBlockIdx()) * slotFloats], mine, 1);
  AscendC::SyncAll();  // every core's slot is in GM (SyncAll drains the pipes first)
  const uint32_t rowSlots = split * slotFloats;
  CopyGmToUb(slots, maxima[row * rowSlots], rowSlots);
  const AscendC::TEventID toS = pipe.FetchEventID(AscendC::HardEvent::MTE2_S);
  AscendC::SetFlag<AscendC::HardEvent::MTE2_S>(toS);
  AscendC::WaitFlag<AscendC::HardEvent::MTE2_S>(toS);
  float rowMax = 0.0f;
  for (uint32_t p = 0; p < split; ++p) rowMax = RowAbsMaxUpdate(rowMax, slots.GetValue(p * slotFloats), p == 0);
  return rowMax;
}

// v holds integers in [-128, 127] (already rounded and saturated): narrowed through half, which
// holds them exactly, since A2 has no direct fp32 -> int8 Cast (Cast.md); written to dst through
// a tile of outQue (VECOUT, int8). h: half scratch of len elements.
template <typename Que>
__aicore__ inline void StoreInt8(Que& outQue, const AscendC::GlobalTensor<int8_t>& dst,
                                 const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<half>& h,
                                 uint32_t len) {
  AscendC::Cast(h, v, AscendC::RoundMode::CAST_NONE, len);
  AscendC::LocalTensor<int8_t> q = outQue.template AllocTensor<int8_t>();
  AscendC::Cast(q, h, AscendC::RoundMode::CAST_NONE, len);
  WriteOutTile(outQue, q, dst, len);
}

// The fp32 row [0, cols) of UB (overwritten) -> q = rint(v * 127 / absMax) as int8 at dst, chunk
// elements at a time. |q| <= 127 since absMax is the row's max |v|; absMax = 0 gives q = 0.
template <typename Que>
__aicore__ inline void QuantizeRowInt8(Que& outQue, const AscendC::GlobalTensor<int8_t>& dst,
                                       const AscendC::LocalTensor<float>& row, const AscendC::LocalTensor<half>& h,
                                       uint32_t cols, uint32_t chunk, float absMax) {
  const float factor = absMax > 0.0f ? 127.0f / absMax : 0.0f;
  const uint32_t chunks = CeilDiv(cols, chunk);
  for (uint32_t c = 0; c < chunks; ++c) {
    const uint32_t len = ChunkLen(cols, chunk, c);
    AscendC::LocalTensor<float> v = row[c * chunk];
    AscendC::Muls(v, v, factor, len);
    AscendC::Cast(v, v, AscendC::RoundMode::CAST_RINT, len);
    StoreInt8(outQue, dst[uint64_t(c) * chunk], v, h, len);
  }
}

}  // namespace ascend_glm5
