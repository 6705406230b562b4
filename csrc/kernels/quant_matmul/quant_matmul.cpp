// quant_matmul: y = (x1 @ x2 [+ int32 bias]) * scale * pertoken_scale [+ float bias], int8 x int8,
// in one mixed kernel (KERNEL_TYPE_MIX_AIC_1_2): the cube runs int8 tiles into exact int32 sums
// (common/qgemm_cube.h), the vector cores dequantise them (common/qgemm_epilogue.h).
// See docs/ops/quant_matmul.md.
#include "kernel_operator.h"
#include "../common/qgemm_cube.h"
#include "../common/qgemm_epilogue.h"
#include "../common/tiling.h"
#include "quant_matmul_tiling.h"

using namespace ascend_glm5;

namespace {
template <typename OutT>
__aicore__ inline void RunVector(AscendC::TPipe& pipe, GM_ADDR scale, GM_ADDR pertoken, GM_ADDR bias, GM_ADDR y,
                                 GM_ADDR workspace, const QGemmTiling& t) {
  QGemmVector<OutT, false> epilogue;
  epilogue.Init(pipe, scale, pertoken, bias, y, nullptr, workspace, t);
  epilogue.Process();
}
}  // namespace

extern "C" __global__ __aicore__ void quant_matmul(GM_ADDR x1, GM_ADDR x2, GM_ADDR scale, GM_ADDR pertoken, GM_ADDR bias,
                                                   GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  QGemmTiling t;
  if ASCEND_IS_AIC {
    AscendC::TPipe pipe;
    QGemmCube<int8_t, false> cube;
    cube.Start(pipe, tiling, t, x1, x2, nullptr, workspace);
    cube.Process();
  }
  if ASCEND_IS_AIV {
    AscendC::TPipe pipe;
    LoadTilingThroughUb(pipe, t, tiling);
    if (t.outDtype == kBFloat16) RunVector<bfloat16_t>(pipe, scale, pertoken, bias, y, workspace, t);
    else if (t.outDtype == kFloat16) RunVector<half>(pipe, scale, pertoken, bias, y, workspace, t);
    else if (t.outDtype == kFloat32) RunVector<float>(pipe, scale, pertoken, bias, y, workspace, t);
    else RunVector<int32_t>(pipe, scale, pertoken, bias, y, workspace, t);
  }
}
