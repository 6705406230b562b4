// Lightning Indexer: indices = TopK_k(sum_h w[h] * relu(q[h] . k^T)) per query token, in one
// mixed kernel (KERNEL_TYPE_MIX_AIC_1_2): the cube computes score tiles with ReLU in the
// fixpipe, the vector cores weight and sum the heads and keep a running top-k, so the full
// score matrix never reaches GM. See docs/ops/lightning_indexer.md.
#include "kernel_operator.h"
#include "../common/tiling.h"
#include "li_cube.h"
#include "li_vector.h"
#include "lightning_indexer_tiling.h"

using namespace ascend_glm5;

namespace {
// The cube's tiling fields, from its core record alone (one 64-byte line: one GM miss before the
// first loads; see LiCoreRecord).
__aicore__ inline void LoadCubeTiling(LightningIndexerTiling& t, GM_ADDR plan) {
  AscendC::GlobalTensor<int32_t> rec;
  rec.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan) + uint64_t(AscendC::GetBlockIdx()) * kLiCoreWords,
                      kLiCoreWords);
  const uint32_t shape = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, shape) / 4));
  t.heads = shape & 0xFFu;
  t.groupRows = (shape >> 8) & 0xFFu;
  t.queryDtype = (shape >> 16) & 0xFFu;
  t.ringSlots = (shape >> 24) & 0xFu;
  t.rowSplit = (shape >> 28) & 1u;
  t.paged = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, paged) / 4));
  t.blockSize = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, blockSize) / 4));
  t.maxBlocks = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, maxBlocks) / 4));
  t.itemOffset = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, itemOffset) / 4));
  t.planWords = static_cast<uint32_t>(rec.GetValue(__builtin_offsetof(LiCoreRecord, planWords) / 4));
  t.coreOffset = 0;
  t.wsRingBytes = LiRingBytes(t.groupRows, t.heads, t.ringSlots);
}

template <typename W>
__aicore__ inline void RunVector(GM_ADDR weights, GM_ADDR plan, GM_ADDR indices, GM_ADDR values, GM_ADDR workspace,
                                 const LightningIndexerTiling& t) {
  LiVector<W> op;
  op.Init(weights, plan, indices, values, workspace, t);
  op.Process();
}
template <typename T>
__aicore__ inline void RunCube(GM_ADDR query, GM_ADDR key, GM_ADDR blockTable, GM_ADDR plan, GM_ADDR workspace,
                               const LightningIndexerTiling& t) {
  LiCube<T> op;
  op.Init(query, key, blockTable, plan, workspace, t);
  op.Process();
}
}  // namespace

extern "C" __global__ __aicore__ void lightning_indexer(GM_ADDR query, GM_ADDR key, GM_ADDR weights, GM_ADDR blockTable,
                                                        GM_ADDR plan, GM_ADDR indices, GM_ADDR values, GM_ADDR workspace,
                                                        GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  LightningIndexerTiling t{};
  if ASCEND_IS_AIC {
    LoadCubeTiling(t, plan);
    if (t.queryDtype == kBFloat16) RunCube<bfloat16_t>(query, key, blockTable, plan, workspace, t);
    else RunCube<half>(query, key, blockTable, plan, workspace, t);
  }
  if ASCEND_IS_AIV {
    LoadTiling(t, tiling);
    if (t.weightDtype == kBFloat16) RunVector<bfloat16_t>(weights, plan, indices, values, workspace, t);
    else if (t.weightDtype == kFloat16) RunVector<half>(weights, plan, indices, values, workspace, t);
    else RunVector<float>(weights, plan, indices, values, workspace, t);
  }
}
