// Host side of the Lightning Indexer: the work plan, the CPU-emulator launch, the NPU launch.
#pragma once

#include <cstdint>
#include <vector>

#include "../../kernels/lightning_indexer/lightning_indexer_tiling.h"

namespace ascend_glm5::host {

struct LightningIndexerProblem {
  // Per batch: first row and number of valid rows in the flattened query tensor, first key row
  // (BSND / TND; 0 when paged) and number of keys.
  std::vector<int64_t> queryStart, queryLen, keyStart, keyLen;
  uint32_t numRows = 0;  // rows of the flattened query tensor (B * S1 or T)
  uint32_t heads = 0;
  uint32_t sparseCount = 0;
  uint32_t sparseMode = 3;
  uint32_t queryDtype = 0;
  uint32_t weightDtype = 0;
  bool paged = false;
  uint32_t blockSize = 0;
  uint32_t maxBlocks = 0;
  bool returnValue = false;
};

struct LightningIndexerPlan {
  LightningIndexerTiling tiling{};
  std::vector<int32_t> table;  // rows, batches, items, core offsets (see the tiling's offsets)
  uint64_t workspaceBytes = 0;
};

// Splits the work over `aiCores` AI cores (1 AIC + 2 AIV each). tiling.numItems == 0: nothing to launch.
LightningIndexerPlan MakeLightningIndexerPlan(const LightningIndexerProblem& p, uint32_t aiCores);

// Runs on the CPU emulator. indices / values (values may be null) must be pre-filled with -1 / -inf:
// rows without visible keys are not written. Sizes are in bytes, for the GM bounds checks.
struct LightningIndexerBuffers {
  const void* query; uint64_t queryBytes;
  const void* key; uint64_t keyBytes;
  const void* weights; uint64_t weightsBytes;
  const void* blockTable; uint64_t blockTableBytes;
  void* indices; void* values;
};
void LightningIndexerCpu(const LightningIndexerProblem& p, const LightningIndexerBuffers& b);

// NPU: enqueue on `stream`; plan, tiling and workspace already in device memory. Returns the aclrtlaunch
// status (0: launched).
uint32_t LightningIndexerNpu(void* stream, uint32_t blockDim, void* query, void* key, void* weights, void* blockTable,
                             void* plan, void* indices, void* values, void* workspace, void* tiling);

}  // namespace ascend_glm5::host
