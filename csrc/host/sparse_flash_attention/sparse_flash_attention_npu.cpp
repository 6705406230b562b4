// NPU launch of Sparse Flash Attention (built only with CANN).
#include "aclrtlaunch_sparse_flash_attention.h"
#include "sparse_flash_attention_host.h"

namespace ascend_glm5::host {

uint32_t SparseFlashAttentionNpu(void* stream, uint32_t blockDim, void* query, void* queryRope, void* key, void* value,
                                 void* keyRope, void* sparseIndices, void* blockTable, void* plan, void* out,
                                 void* softmaxMax, void* softmaxSum, void* workspace, void* tiling) {
  return ACLRT_LAUNCH_KERNEL(sparse_flash_attention)(blockDim, stream, query, queryRope, key, value, keyRope,
                                                     sparseIndices, blockTable, plan, out, softmaxMax, softmaxSum,
                                                     workspace, tiling);
}

}  // namespace ascend_glm5::host
