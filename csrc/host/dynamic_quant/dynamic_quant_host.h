// Host side of dynamic_quant: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/dynamic_quant/dynamic_quant_tiling.h"

namespace ascend_glm5::host {

// Chooses cores and tile size. `aivCores` is the SoC's vector core count.
DynamicQuantTiling MakeDynamicQuantTiling(uint64_t rows, uint32_t cols, uint32_t dtype, bool hasSmooth, uint32_t aivCores);

// GM workspace the launch needs (0 unless rows are split over cores: 32 bytes per core then).
uint64_t DynamicQuantWorkspaceBytes(const DynamicQuantTiling& t);

// x [rows, cols] fp16/bf16, smooth [cols] or null, y [rows, cols] int8, scale [rows] fp32.
void DynamicQuantCpu(const void* x, const void* smooth, void* y, float* scale, uint64_t rows, uint32_t cols, uint32_t dtype);

// NPU: enqueue on `stream` (an aclrtStream); only in builds with CANN. Returns the aclrtlaunch
// status (0: launched).
uint32_t DynamicQuantNpu(void* stream, uint32_t blockDim, void* x, void* smooth, void* y, void* scale,
                         void* workspace, void* tilingOnDevice);

}  // namespace ascend_glm5::host
