// Tiling of the static int8 quantization kernel (torch_npu npu_quantize), shared by host and kernel.
#pragma once

#include <cstdint>

namespace ascend_glm5 {

struct QuantizeTiling {
  uint32_t rowsLo;      // rows = numel / cols, low and high 32 bits
  uint32_t rowsHi;
  uint32_t cols;        // K, the last dimension (the per-channel axis)
  uint32_t chunk;       // columns per tile, a multiple of 64
  uint32_t dtype;       // DTypeId of x: kFloat16, kBFloat16 or kFloat32
  uint32_t perChannel;  // 1: scales / zero_points are [K] fp32; 0: one fp32 value each
  uint32_t hasOffset;   // 1 if zero_points is given
  uint32_t divMode;     // 1: x / scale + offset; 0: x * scale + offset
  uint32_t blockDim;    // vector cores used
  uint32_t reserved;
};

constexpr uint32_t kQuantizeChunk = 2048;

}  // namespace ascend_glm5
