// Sparse Flash Attention (absorbed MLA, attention_mode 2): per query token, softmax attention of
// all N1 heads over the latent-cache rows its sparse_indices select, in one mixed kernel
// (KERNEL_TYPE_MIX_AIC_1_2). The vector cores turn the indices into cache rows, the cube gathers
// the rows and computes q.k and P.V, the vector cores run the online softmax, accumulate, and merge
// the pieces of rows split across cores. See docs/ops/sparse_flash_attention.md.
#include "kernel_operator.h"
#include "../common/tiling.h"
#include "sfa_cube.h"
#include "sfa_vector.h"
#include "sparse_flash_attention_tiling.h"

using namespace ascend_glm5;

namespace {
template <typename T>
__aicore__ inline void RunCube(GM_ADDR query, GM_ADDR queryRope, GM_ADDR key, GM_ADDR value, GM_ADDR keyRope,
                               GM_ADDR plan, GM_ADDR workspace, const SparseFlashAttentionTiling& t) {
  SfaCube<T> op;
  op.Init(query, queryRope, key, value, keyRope, plan, workspace, t);
  op.Process();
}
template <typename T>
__aicore__ inline void RunVector(GM_ADDR key, GM_ADDR value, GM_ADDR keyRope, GM_ADDR indices, GM_ADDR blockTable,
                                 GM_ADDR plan, GM_ADDR out, GM_ADDR softmaxMax, GM_ADDR softmaxSum, GM_ADDR workspace,
                                 const SparseFlashAttentionTiling& t, AscendC::TPipe& pipe) {
  SfaVector<T> op(pipe);
  op.Init(key, value, keyRope, plan, indices, blockTable, out, softmaxMax, softmaxSum, workspace, t);
  op.Process();
}
}  // namespace

extern "C" __global__ __aicore__ void sparse_flash_attention(GM_ADDR query, GM_ADDR queryRope, GM_ADDR key,
                                                             GM_ADDR value, GM_ADDR keyRope, GM_ADDR sparseIndices,
                                                             GM_ADDR blockTable, GM_ADDR plan, GM_ADDR out,
                                                             GM_ADDR softmaxMax, GM_ADDR softmaxSum, GM_ADDR workspace,
                                                             GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  SparseFlashAttentionTiling t;
  if ASCEND_IS_AIC {
    LoadTiling(t, tiling);
    if (t.dtype == kBFloat16) RunCube<bfloat16_t>(query, queryRope, key, value, keyRope, plan, workspace, t);
    else RunCube<half>(query, queryRope, key, value, keyRope, plan, workspace, t);
  }
  if ASCEND_IS_AIV {
    // The tiling's two lines in one copy through UB: one GM latency instead of two scalar misses;
    // meanwhile the scalar misses on the core head where the heads open the plan (SfaPlan::Init then
    // hits; elsewhere the line is another of the plan's records).
    AscendC::TPipe pipe;
    LoadTilingThroughUb(pipe, t, tiling, SfaPlan::HeadLine(plan, uint32_t(AscendC::GetBlockIdx()) / 2));
    if (t.dtype == kBFloat16)
      RunVector<bfloat16_t>(key, value, keyRope, sparseIndices, blockTable, plan, out, softmaxMax, softmaxSum, workspace, t, pipe);
    else RunVector<half>(key, value, keyRope, sparseIndices, blockTable, plan, out, softmaxMax, softmaxSum, workspace, t, pipe);
  }
}
