// Fields every attention problem (LightningIndexerProblem, SparseFlashAttentionProblem) shares:
// per-batch spans of the flattened query and key, sizes, mask mode and the paged-cache shape.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ascend_glm5::host {

template <typename Problem>
void SetCommon(Problem& p, std::vector<int64_t> queryStart, std::vector<int64_t> queryLen, std::vector<int64_t> keyStart,
               std::vector<int64_t> keyLen, uint32_t numRows, uint32_t heads, uint32_t sparseCount, uint32_t sparseMode,
               bool paged, uint32_t blockSize, uint32_t maxBlocks) {
  p.queryStart = std::move(queryStart);
  p.queryLen = std::move(queryLen);
  p.keyStart = std::move(keyStart);
  p.keyLen = std::move(keyLen);
  p.numRows = numRows;
  p.heads = heads;
  p.sparseCount = sparseCount;
  p.sparseMode = sparseMode;
  p.paged = paged;
  p.blockSize = blockSize;
  p.maxBlocks = maxBlocks;
}

}  // namespace ascend_glm5::host
