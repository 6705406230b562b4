#include <algorithm>
#include <stdexcept>

#include "../../kernels/common/host_device.h"
#include "sparse_flash_attention_host.h"

namespace ascend_glm5::host {

SparseFlashAttentionPlan MakeSparseFlashAttentionPlan(const SparseFlashAttentionProblem& p, uint32_t aiCores) {
  if (p.heads == 0 || p.heads > kSfaMaxHeads || (p.heads & (p.heads - 1)))
    throw std::invalid_argument("sparse_flash_attention: heads must be one of 1, 2, 4, ..., 128");
  if (p.sparseCount == 0 || p.sparseCount > kSfaMaxSparseCount)
    throw std::invalid_argument("sparse_flash_attention: sparse_count must be in [1, 2048]");
  if (p.dtype != kFloat16 && p.dtype != kBFloat16)
    throw std::invalid_argument("sparse_flash_attention: dtype must be fp16 or bf16");
  if (p.sparseMode != 0 && p.sparseMode != 3)
    throw std::invalid_argument("sparse_flash_attention: sparse_mode must be 0 or 3");
  if (p.paged && p.blockSize == 0) throw std::invalid_argument("sparse_flash_attention: block_size must be positive");
  const size_t batches = p.queryStart.size();
  if (p.queryLen.size() != batches || p.keyStart.size() != batches || p.keyLen.size() != batches)
    throw std::invalid_argument("sparse_flash_attention: per-batch spans must have one entry per batch");

  SparseFlashAttentionPlan plan;
  SparseFlashAttentionTiling& t = plan.tiling;
  t.numRows = p.numRows;
  t.heads = p.heads;
  t.sparseCount = p.sparseCount;
  t.dtype = p.dtype;
  t.paged = p.paged ? 1 : 0;
  t.blockSize = p.blockSize;
  t.maxBlocks = p.maxBlocks;
  t.blockDim = std::max<uint32_t>(1, std::min(aiCores, p.numRows));
  t.returnLse = p.returnLse ? 1 : 0;
  t.scale = p.scale;
  t.wsSlotS = p.heads * kSfaTileRows * 4;
  t.wsSlotP = p.heads * kSfaTileRows * 2;
  t.wsSlotO = p.heads * kSfaLatentDim * 4;
  t.wsBlockBytes = AlignUp(2 * (t.wsSlotS + t.wsSlotP + t.wsSlotO), 512);
  plan.workspaceBytes = uint64_t(t.blockDim) * t.wsBlockBytes;

  // Rows outside every batch keep batch -1 and end 0: they attend nothing.
  plan.table.assign(size_t(p.numRows) * kSfaRowWords, 0);
  for (uint32_t r = 0; r < p.numRows; ++r) plan.table[size_t(r) * kSfaRowWords] = -1;
  for (size_t b = 0; b < batches; ++b) {
    const int64_t nq = p.queryLen[b], nk = p.keyLen[b];
    if (p.queryStart[b] < 0 || nq < 0 || p.queryStart[b] + nq > p.numRows || nk < 0 || nk > INT32_MAX)
      throw std::invalid_argument("sparse_flash_attention: a batch's query rows or key length are out of range");
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t end = p.sparseMode == 3 ? nk - nq + i + 1 : nk;  // right-down causal
      int32_t* row = &plan.table[size_t(p.queryStart[b] + i) * kSfaRowWords];
      row[0] = static_cast<int32_t>(b);
      row[1] = p.paged ? 0 : static_cast<int32_t>(p.keyStart[b]);
      row[2] = static_cast<int32_t>(std::max<int64_t>(end, 0));
    }
  }
  return plan;
}

}  // namespace ascend_glm5::host
