// NPU launch of moe_finalize_routing (built only with CANN). The tiling already lives in device memory.
#include "aclrtlaunch_moe_finalize_routing.h"
#include "moe_finalize_routing_host.h"

namespace ascend_glm5::host {

uint32_t MoeFinalizeRoutingNpu(void* stream, uint32_t blockDim, void* rows, void* skip1, void* skip2, void* bias,
                               void* scales, void* dst, void* expertIds, void* out, void* tilingOnDevice) {
  return ACLRT_LAUNCH_KERNEL(moe_finalize_routing)(blockDim, stream, rows, skip1, skip2, bias, scales, dst, expertIds,
                                                   out, nullptr, tilingOnDevice);
}

}  // namespace ascend_glm5::host
