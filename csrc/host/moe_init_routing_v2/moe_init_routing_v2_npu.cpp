// NPU launch of moe_init_routing_v2 (built only with CANN). The tiling already lives in device memory.
#include "aclrtlaunch_moe_init_routing_v2.h"
#include "moe_init_routing_v2_host.h"

namespace ascend_glm5::host {

uint32_t MoeInitRoutingNpu(void* stream, uint32_t blockDim, void* x, void* expertIdx, void* scale, void* expandedX,
                           void* expandedRowIdx, void* expertTokens, void* expandedScale, void* workspace,
                           void* tilingOnDevice) {
  return ACLRT_LAUNCH_KERNEL(moe_init_routing_v2)(blockDim, stream, x, expertIdx, scale, expandedX, expandedRowIdx,
                                                  expertTokens, expandedScale, workspace, tilingOnDevice);
}

}  // namespace ascend_glm5::host
