// Host side of quant_matmul: tiling, the CPU-emulator launch and the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/common/qgemm_host_tiling.h"
#include "../../kernels/quant_matmul/quant_matmul_tiling.h"

namespace ascend_glm5::host {

struct QuantMatmulShape {
  uint64_t m = 0;
  uint32_t n = 0, k = 0;
  bool weightNK = false;  // x2 buffer is row-major [N, K] (x2 passed as w.t())
  uint32_t biasKind = kBiasNone;
  bool hasPertoken = false;
  uint32_t outDtype = kBFloat16;
};

QGemmPlan MakeQuantMatmulPlan(const QuantMatmulShape& s, uint32_t aiCores);

// x1 [m, k] int8, x2 [k, n] or [n, k] int8, scale [n] fp32, pertoken [m] fp32 or null, bias [n]
// int32 / fp32 or null, y [m, n] of the output dtype.
void QuantMatmulCpu(const QuantMatmulShape& s, const void* x1, const void* x2, const float* scale, const float* pertoken,
                    const void* bias, void* y);

// NPU: enqueue on `stream`; tiling and workspace already in device memory. Returns the aclrtlaunch
// status (0: launched).
uint32_t QuantMatmulNpu(void* stream, uint32_t blockDim, void* x1, void* x2, void* scale, void* pertoken, void* bias,
                        void* y, void* workspace, void* tiling);

}  // namespace ascend_glm5::host
