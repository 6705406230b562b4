// Element conversions to and from fp32 working tiles, one overload per storage type, so kernels
// templated on fp16 / bf16 / fp32 data need no `if constexpr`.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

__aicore__ inline void ToFloat(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<half>& src, uint32_t n) {
  AscendC::Cast(dst, src, AscendC::RoundMode::CAST_NONE, n);  // exact
}
__aicore__ inline void ToFloat(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<bfloat16_t>& src,
                               uint32_t n) {
  AscendC::Cast(dst, src, AscendC::RoundMode::CAST_NONE, n);  // exact
}
__aicore__ inline void ToFloat(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src, uint32_t n) {
  AscendC::Muls(dst, src, 1.0f, n);  // an exact copy within UB
}

// fp32 -> the storage type, rounding half-to-even (Cast.md: fp32 -> bf16 has no CAST_NONE).
__aicore__ inline void FromFloat(const AscendC::LocalTensor<half>& dst, const AscendC::LocalTensor<float>& src,
                                 uint32_t n) {
  AscendC::Cast(dst, src, AscendC::RoundMode::CAST_RINT, n);
}
__aicore__ inline void FromFloat(const AscendC::LocalTensor<bfloat16_t>& dst, const AscendC::LocalTensor<float>& src,
                                 uint32_t n) {
  AscendC::Cast(dst, src, AscendC::RoundMode::CAST_RINT, n);
}
__aicore__ inline void FromFloat(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
                                 uint32_t n) {
  AscendC::Muls(dst, src, 1.0f, n);
}

}  // namespace ascend_glm5
