// NPU launch of dynamic_quant (built only with CANN). The tiling already lives in device memory.
#include "aclrtlaunch_dynamic_quant.h"
#include "dynamic_quant_host.h"

namespace ascend_glm5::host {

uint32_t DynamicQuantNpu(void* stream, uint32_t blockDim, void* x, void* smooth, void* y, void* scale,
                         void* workspace, void* tilingOnDevice) {
  return ACLRT_LAUNCH_KERNEL(dynamic_quant)(blockDim, stream, x, smooth, y, scale, workspace, tilingOnDevice);
}

}  // namespace ascend_glm5::host
