// NPU launch of dequant_swiglu_quant (built only with CANN). The tiling already lives in device memory.
#include "aclrtlaunch_dequant_swiglu_quant.h"
#include "dequant_swiglu_quant_host.h"

namespace ascend_glm5::host {

uint32_t DequantSwigluQuantNpu(void* stream, uint32_t blockDim, void* x, void* weightScale, void* activationScale,
                               void* quantScale, void* groupIndex, void* y, void* scale, void* workspace,
                               void* tilingOnDevice) {
  return ACLRT_LAUNCH_KERNEL(dequant_swiglu_quant)(blockDim, stream, x, weightScale, activationScale, quantScale,
                                                   groupIndex, y, scale, workspace, tilingOnDevice);
}

}  // namespace ascend_glm5::host
