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
// The cube's part of the tiling: its first kLiTilingHeadWords words.
__aicore__ inline void LoadTilingHead(LightningIndexerTiling& out, GM_ADDR tiling) {
  AscendC::GlobalTensor<uint32_t> src;
  src.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(tiling), kLiTilingHeadWords);
  uint32_t* dst = reinterpret_cast<uint32_t*>(&out);
  for (uint32_t i = 0; i < kLiTilingHeadWords; ++i) dst[i] = src.GetValue(i);
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
    LoadTilingHead(t, tiling);
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
