// NPU launch of grouped_matmul_a8w4 (built only with CANN). Tiling and workspace live in device memory.
#include "aclrtlaunch_grouped_matmul_a8w4.h"
#include "grouped_matmul_a8w4_host.h"

namespace ascend_glm5::host {

uint32_t GroupedMatmulA8W4Npu(void* stream, uint32_t blockDim, void* x, void* weight, void* scale, void* perTokenScale,
                              void* groupList, void* y, void* workspace, void* tiling) {
  return ACLRT_LAUNCH_KERNEL(grouped_matmul_a8w4)(blockDim, stream, x, weight, scale, perTokenScale, groupList, y,
                                                  workspace, tiling);
}

}  // namespace ascend_glm5::host
