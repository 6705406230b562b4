// Host side of grouped_matmul_a8w4: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/common/qgemm_host_tiling.h"
#include "../../kernels/grouped_matmul_a8w4/grouped_matmul_a8w4_tiling.h"

namespace ascend_glm5::host {

// x [m, k] int8, weight [experts, k, n] int4 (n / 2 bytes per row), output `outDtype` (DTypeId).
QGemmPlan MakeGroupedMatmulA8W4Plan(uint64_t m, uint32_t n, uint32_t k, uint32_t experts, uint32_t outDtype,
                                    uint32_t aiCores);

// scale [experts, n] fp32, perTokenScale [m] fp32, groupList [experts] int64 counts, y [m, n].
void GroupedMatmulA8W4Cpu(const void* x, const void* weight, const float* scale, const float* perTokenScale,
                          const int64_t* groupList, void* y, uint64_t m, uint32_t n, uint32_t k, uint32_t experts,
                          uint32_t outDtype);

// NPU: enqueue on `stream` (an aclrtStream); tiling and workspace already in device memory. Returns
// the aclrtlaunch status (0: launched).
uint32_t GroupedMatmulA8W4Npu(void* stream, uint32_t blockDim, void* x, void* weight, void* scale, void* perTokenScale,
                              void* groupList, void* y, void* workspace, void* tiling);

}  // namespace ascend_glm5::host
