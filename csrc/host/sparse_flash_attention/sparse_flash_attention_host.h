// Host side of Sparse Flash Attention: the work plan, the CPU-emulator launch, the NPU launch.
#pragma once

#include <cstdint>
#include <vector>

#include "../../kernels/sparse_flash_attention/sparse_flash_attention_tiling.h"

namespace ascend_glm5::host {

struct SparseFlashAttentionProblem {
  // Per batch: first row and valid rows of the flattened query, first key row (BSND / TND; 0 when
  // paged) and number of key tokens.
  std::vector<int64_t> queryStart, queryLen, keyStart, keyLen;
  uint32_t numRows = 0;      // rows of the flattened query (B * S1 or T1)
  uint32_t heads = 0;        // N1
  uint32_t sparseCount = 0;  // K
  uint32_t sparseMode = 3;
  uint32_t dtype = 0;        // DTypeId of every input and of the output
  bool paged = false;
  uint32_t blockSize = 0;
  uint32_t maxBlocks = 0;
  float scale = 1.0f;
  bool returnLse = false;
  bool separateValue = false;  // V rows come from `value` (same layout as key), not from key
  bool combinedKv = false;     // key (and a separate value) rows are 576 wide (latent, then rope); no key_rope
  bool deterministic = false;  // bit-identical runs: no fp32 sums added in the cores' arrival order (no SfaOneRef)
};

struct SparseFlashAttentionPlan {
  SparseFlashAttentionTiling tiling{};
  std::vector<int32_t> table;  // rows, items, core offsets, split rows (see the tiling's offsets)
  uint64_t workspaceBytes = 0;
};

// Spreads the rows over up to `aiCores` AI cores, cutting rows into pieces when there are few of
// them. Throws std::invalid_argument for shapes the kernel does not support. tiling.numRows == 0:
// nothing to launch.
SparseFlashAttentionPlan MakeSparseFlashAttentionPlan(const SparseFlashAttentionProblem& p, uint32_t aiCores);

// Sizes are in bytes, for the emulator's GM bounds checks. softmaxMax / softmaxSum: null unless
// returnLse. Every output row is written (zeros for rows that attend nothing).
struct SparseFlashAttentionBuffers {
  const void* query; uint64_t queryBytes;
  const void* queryRope; uint64_t queryRopeBytes;
  const void* key; uint64_t keyBytes;
  const void* value; uint64_t valueBytes;  // == key unless separateValue
  const void* keyRope; uint64_t keyRopeBytes;  // null with combinedKv
  const void* sparseIndices; uint64_t sparseIndicesBytes;
  const void* blockTable; uint64_t blockTableBytes;
  void* out; void* softmaxMax; void* softmaxSum;
};
void SparseFlashAttentionCpu(const SparseFlashAttentionProblem& p, const SparseFlashAttentionBuffers& b);

// NPU: enqueue on `stream`; plan, tiling and workspace already in device memory. Returns the aclrtlaunch
// status (0: launched).
uint32_t SparseFlashAttentionNpu(void* stream, uint32_t blockDim, void* query, void* queryRope, void* key, void* value,
                                 void* keyRope, void* sparseIndices, void* blockTable, void* plan, void* out,
                                 void* softmaxMax, void* softmaxSum, void* workspace, void* tiling);

}  // namespace ascend_glm5::host
