// Tiling of quant_matmul: the quantized GEMM engine's (common/qgemm_tiling.h) with one group,
// int8 activations used as they are and int8 weights ([K, N] or [N, K]).
#pragma once

#include "../common/qgemm_tiling.h"

namespace ascend_glm5 {

using QuantMatmulTiling = QGemmTiling;

}  // namespace ascend_glm5
