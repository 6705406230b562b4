// NPU launch of quant_matmul (built only with CANN). Tiling and workspace live in device memory.
#include "aclrtlaunch_quant_matmul.h"
#include "quant_matmul_host.h"

namespace ascend_glm5::host {

uint32_t QuantMatmulNpu(void* stream, uint32_t blockDim, void* x1, void* x2, void* scale, void* pertoken, void* bias,
                        void* y, void* workspace, void* tiling) {
  return ACLRT_LAUNCH_KERNEL(quant_matmul)(blockDim, stream, x1, x2, scale, pertoken, bias, y, workspace, tiling);
}

}  // namespace ascend_glm5::host
