// Tiling of grouped_matmul_a8w4: the quantized GEMM engine's (common/qgemm_tiling.h) with MSD on
// and int4 [K, N] weights.
#pragma once

#include "../common/qgemm_tiling.h"

namespace ascend_glm5 {

using GroupedMatmulA8W4Tiling = QGemmTiling;

}  // namespace ascend_glm5
