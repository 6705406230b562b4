// Host side of moe_init_routing_v2: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/moe_init_routing_v2/moe_init_routing_v2_tiling.h"

namespace ascend_glm5::host {

// Checks the sizes and chooses the cores. `aivCores` is the SoC's vector core count.
MoeInitRoutingTiling MakeMoeInitRoutingTiling(uint64_t pairs, uint32_t topK, uint64_t rowBytes, uint32_t expertStart,
                                              uint32_t experts, uint32_t rowIdxType, uint32_t countType,
                                              bool hasScale, uint32_t aivCores);

// GM workspace the launch needs (split counts: one core's counts per core, each written before read).
uint64_t MoeInitRoutingWorkspaceBytes(const MoeInitRoutingTiling& t);

// x [pairs / topK, rowBytes] (any element type, copied as bytes), expertIdx int32 [pairs], scale fp32
// [pairs / topK] or null; outputs expandedX [pairs, rowBytes], expandedRowIdx int32 [pairs],
// expertTokens int64 [experts], expandedScale fp32 [pairs] (written only with a scale).
void MoeInitRoutingCpu(const void* x, const int32_t* expertIdx, const float* scale, void* expandedX,
                       int32_t* expandedRowIdx, int64_t* expertTokens, float* expandedScale, uint64_t pairs,
                       uint32_t topK, uint64_t rowBytes, uint32_t expertStart, uint32_t experts, uint32_t rowIdxType,
                       uint32_t countType);

// NPU: enqueue on `stream` (an aclrtStream); only in builds with CANN. Returns the aclrtlaunch
// status (0: launched).
uint32_t MoeInitRoutingNpu(void* stream, uint32_t blockDim, void* x, void* expertIdx, void* scale, void* expandedX,
                           void* expandedRowIdx, void* expertTokens, void* expandedScale, void* workspace,
                           void* tilingOnDevice);

}  // namespace ascend_glm5::host
