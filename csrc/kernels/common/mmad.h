// The m an Mmad is issued with.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

// Mmad with m == 1 runs as a GEMV on A2/A3 and reads L0A as ND, not Zz (Mmad.md). Our kernels load
// L0A as Zz, so a single row is issued as m = 16, as CANN's own Matmul does (GetFixedMadM in
// impl/adv_api/detail/matmul/scheduler/base/scheduler_norm_base.h): rows 1-15 are padding that the
// fixpipe never writes out.
__aicore__ inline uint16_t MmadM(uint32_t rows) { return static_cast<uint16_t>(rows == 1 ? 16 : rows); }

}  // namespace ascend_glm5
