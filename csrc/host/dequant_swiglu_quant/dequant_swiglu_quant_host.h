// Host side of dequant_swiglu_quant: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/dequant_swiglu_quant/dequant_swiglu_quant_tiling.h"

namespace ascend_glm5::host {

// Chooses cores and tile size and checks the sizes. `aivCores` is the SoC's vector core count.
DequantSwigluQuantTiling MakeDequantSwigluQuantTiling(uint64_t rows, uint32_t half, uint32_t dtype, uint32_t groupCount,
                                                      uint32_t weightScaleRows, uint32_t quantScaleRows,
                                                      bool activateLeft, uint32_t aivCores);

// GM workspace the launch needs (0 unless rows are split over cores: 32 bytes per core then).
uint64_t DequantSwigluQuantWorkspaceBytes(const DequantSwigluQuantTiling& t);

// x [rows, 2*half] int32/fp16/bf16; weightScale [weightScaleRows, 2*half] fp32 and activationScale
// [rows] fp32 (int32 x only, else null); quantScale [quantScaleRows, half] fp32 or null; groupIndex
// [groupCount] int64 or null; y [rows, half] int8; scale [rows] fp32.
void DequantSwigluQuantCpu(const void* x, const float* weightScale, const float* activationScale,
                           const float* quantScale, const int64_t* groupIndex, void* y, float* scale, uint64_t rows,
                           uint32_t half, uint32_t dtype, uint32_t groupCount, uint32_t weightScaleRows,
                           uint32_t quantScaleRows, bool activateLeft);

// NPU: enqueue on `stream` (an aclrtStream); only in builds with CANN. Returns the aclrtlaunch
// status (0: launched).
uint32_t DequantSwigluQuantNpu(void* stream, uint32_t blockDim, void* x, void* weightScale, void* activationScale,
                               void* quantScale, void* groupIndex, void* y, void* scale, void* workspace,
                               void* tilingOnDevice);

}  // namespace ascend_glm5::host
