// Host side of quantize: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/quantize/quantize_tiling.h"

namespace ascend_glm5::host {

// Chooses cores and tile size. `aivCores` is the SoC's vector core count.
QuantizeTiling MakeQuantizeTiling(uint64_t rows, uint32_t cols, uint32_t dtype, bool perChannel, bool hasOffset,
                                  bool divMode, uint32_t aivCores);

// x [rows, cols] fp16/bf16/fp32; scales and offsets fp32 [cols] (per channel) or [1], offsets may be
// null; y [rows, cols] int8.
void QuantizeCpu(const void* x, const float* scales, const float* offsets, void* y, uint64_t rows, uint32_t cols,
                 uint32_t dtype, bool perChannel, bool divMode);

// NPU: enqueue on `stream` (an aclrtStream); only in builds with CANN. Returns the aclrtlaunch
// status (0: launched).
uint32_t QuantizeNpu(void* stream, uint32_t blockDim, void* x, void* scales, void* offsets, void* y,
                     void* tilingOnDevice);

}  // namespace ascend_glm5::host
