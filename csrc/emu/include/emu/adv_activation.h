// High-level activation APIs (CANN's adv_api), built from the emulated vector instructions the way
// CANN's A2/A3 implementation builds them, so rounding, the mask register, pipes and the
// happens-before notes are those of the instructions the NPU runs.
#pragma once

#include "sync.h"
#include "vec_elementwise.h"

namespace AscendC {

// Silu(x) = x / (1 + exp(-x)), element-wise over dataSize elements (half or float).
// Declaration: asc-devkit 8.5 include/adv_api/activation/silu.h and Silu.md (template <T,
// isReuseSource = false>; isReuseSource is reserved). On __NPU_ARCH__ 2201 CANN runs, in counter
// mode with MASK = dataSize, Muls(-1), Exp, Adds(1), Div(src, .) into dst, a PipeBarrier<PIPE_V>
// after each, then normal mode with a full mask (impl/adv_api/detail/activation/silu/
// silu_common_impl.h), so each step rounds to T. Silu.md: dst and src must not overlap (dst holds
// the intermediate while src is still read); half and float only (Silu.md; another type fails to
// compile in CANN's Muls / Exp / Div as in the emulated ones).
template <typename T, bool isReuseSource = false>
void Silu(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, uint32_t dataSize) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, float>, "Silu: half or float only (Silu.md)");
  if ASCEND_IS_AIC {  // "Only for AI Vector Core": a no-op on the AIC (silu.h)
    return;
  }
  EMU_REQUIRE(dataSize <= srcLocal.GetSize() && dataSize <= dstLocal.GetSize(), "Silu", "param-range",
              "dataSize %u exceeds src (%u) or dst (%u) elements", dataSize, srcLocal.GetSize(), dstLocal.GetSize());
  const uint64_t bytes = uint64_t(dataSize) * sizeof(T);
  const uint64_t d0 = dstLocal.EmuAddr(), s0 = srcLocal.EmuAddr();
  EMU_REQUIRE(dataSize == 0 || dstLocal.EmuMem() != srcLocal.EmuMem() || d0 + bytes <= s0 || s0 + bytes <= d0,
              "Silu", "overlap", "dst bytes [%llu, %llu) overlap src bytes [%llu, %llu) (Silu.md: not supported)",
              (unsigned long long)d0, (unsigned long long)(d0 + bytes), (unsigned long long)s0,
              (unsigned long long)(s0 + bytes));
  SetMaskCount();
  SetVectorMask<T, MaskMode::COUNTER>(static_cast<int32_t>(dataSize));
  const UnaryRepeatParams unary;
  const BinaryRepeatParams binary;
  Muls<T, false>(dstLocal, srcLocal, T(-1.0f), MASK_PLACEHOLDER, 1, unary);
  PipeBarrier<PIPE_V>();
  Exp<T, false>(dstLocal, dstLocal, MASK_PLACEHOLDER, 1, unary);
  PipeBarrier<PIPE_V>();
  Adds<T, false>(dstLocal, dstLocal, T(1.0f), MASK_PLACEHOLDER, 1, unary);
  PipeBarrier<PIPE_V>();
  Div<T, false>(dstLocal, srcLocal, dstLocal, MASK_PLACEHOLDER, 1, binary);
  PipeBarrier<PIPE_V>();
  SetMaskNorm();
  ResetMask();
}

}  // namespace AscendC
