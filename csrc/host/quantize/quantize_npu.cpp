// NPU launch of quantize (built only with CANN). The tiling already lives in device memory.
#include "aclrtlaunch_quantize.h"
#include "quantize_host.h"

namespace ascend_glm5::host {

uint32_t QuantizeNpu(void* stream, uint32_t blockDim, void* x, void* scales, void* offsets, void* y,
                     void* tilingOnDevice) {
  return ACLRT_LAUNCH_KERNEL(quantize)(blockDim, stream, x, scales, offsets, y, nullptr, tilingOnDevice);
}

}  // namespace ascend_glm5::host
