// Host side of moe_finalize_routing: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/moe_finalize_routing/moe_finalize_routing_tiling.h"

namespace ascend_glm5::host {

// Checks the sizes and chooses tile size and cores. `aivCores` is the SoC's vector core count.
MoeFinalizeRoutingTiling MakeMoeFinalizeRoutingTiling(uint64_t tokens, uint32_t topK, uint32_t hidden, uint32_t dtype,
                                                      bool rowOrder, bool hasSkip1, bool hasSkip2, uint32_t experts,
                                                      bool hasBias, bool hasScales, uint32_t aivCores);

// rows [T*K, H], skip1 / skip2 [T, H], bias [experts, H] (all of the dtype), scales fp32 [T, K],
// dst int32 [T*K], expertIds int32 [T, K]; absent ones null. out [T, H] of the dtype.
void MoeFinalizeRoutingCpu(const void* rows, const void* skip1, const void* skip2, const void* bias, const float* scales,
                           const int32_t* dst, const int32_t* expertIds, void* out, uint64_t tokens, uint32_t topK,
                           uint32_t hidden, uint32_t dtype, bool rowOrder, uint32_t experts);

// NPU: enqueue on `stream` (an aclrtStream); only in builds with CANN. Returns the aclrtlaunch
// status (0: launched).
uint32_t MoeFinalizeRoutingNpu(void* stream, uint32_t blockDim, void* rows, void* skip1, void* skip2, void* bias,
                               void* scales, void* dst, void* expertIds, void* out, void* tilingOnDevice);

}  // namespace ascend_glm5::host
