// NPU launch of the Lightning Indexer (built only with CANN).
#include "aclrtlaunch_lightning_indexer.h"
#include "lightning_indexer_host.h"

namespace ascend_glm5::host {

uint32_t LightningIndexerNpu(void* stream, uint32_t blockDim, void* query, void* key, void* weights, void* blockTable,
                             void* plan, void* indices, void* values, void* workspace, void* tiling) {
  return ACLRT_LAUNCH_KERNEL(lightning_indexer)(blockDim, stream, query, key, weights, blockTable, plan, indices,
                                                values, workspace, tiling);
}

}  // namespace ascend_glm5::host
