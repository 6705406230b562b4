// The max or the sum of a long fp32 vector in UB by levels of BlockReduceMax / BlockReduceSum: each
// level leaves one value per 32-byte block, 8 a repeat, at 1 vector cycle a repeat on fp32 (pto's
// vcgmax / vcgadd profiles), where ReduceMax / ReduceSum run vcmax / vcadd at 7 a repeat. n floats
// take ceil(n / 64) + ceil(n / 512) + ... repeats and a barrier a level (CANN's softmax reduces its
// rows the same way: softmax_common_nd_reduce.h).
// A sum adds each block's 8 lanes as a tree, then those block sums 8 at a time, level by level.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

// One level: per repeat (64 floats, `srcRepStride` 32-byte blocks after the one before) its 8 blocks'
// max or sum, the repeats' results back to back in dst.
template <bool kMax>
__aicore__ inline void BlockReduceLevel(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
                                        uint32_t repeats, uint32_t lanes, uint32_t srcRepStride = 8) {
  if (kMax) AscendC::BlockReduceMax(dst, src, int32_t(repeats), int32_t(lanes), 1, 1, int32_t(srcRepStride));
  else AscendC::BlockReduceSum(dst, src, int32_t(repeats), int32_t(lanes), 1, 1, int32_t(srcRepStride));
}

// dst[0] = the max (kMax) or the sum of buf[0, n), n >= 1; dst holds 8 floats (32 B, the other 7
// undefined). buf is destroyed: each level writes its results over the blocks the level read
// first (a repeat's 8 results land where an earlier repeat's source was, which CANN allows for an
// overlapping dst: BlockReduceMax.md). Ends with the vector pipe's last write to dst.
template <bool kMax>
__aicore__ inline void ReduceByBlocks(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& buf, uint32_t n) {
  using namespace AscendC;
  while (n > 8) {
    const uint32_t full = n / 64, rest = n % 64;
    if (full > 0) BlockReduceLevel<kMax>(buf, buf, full, 64);
    if (full > 0 && rest > 0) PipeBarrier<PIPE_V>();  // the tail's results land on blocks the full repeats read
    if (rest > 0) BlockReduceLevel<kMax>(buf[full * 8], buf[full * 64], 1, rest);
    PipeBarrier<PIPE_V>();
    n = CeilDiv(n, 8u);
  }
  BlockReduceLevel<kMax>(dst, buf, 1, n);
}

}  // namespace ascend_glm5
