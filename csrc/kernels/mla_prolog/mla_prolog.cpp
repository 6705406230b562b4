// MLA prolog (MLAPO): the MLA front end of a decoder layer in one mixed kernel
// (KERNEL_TYPE_MIX_AIC_1_2): optional input RMSNorm (+ int8 quant), x @ [W_dq | W_dkv_kr],
// RMSNorm(c^Q) (+ int8 quant), c^Q @ W_uq_qr, the W_UK absorption, RoPE of q and k, RMSNorm(c^KV)
// and the cache writes. The cube runs the matmuls, the vector cores the rest; see
// mla_prolog_tiling.h and docs/ops/mla_prolog.md.
#include "kernel_operator.h"
#include "../common/tiling.h"
#include "mla_prolog_tiling.h"
#include "mlap_cube.h"
#include "mlap_vector.h"

using namespace ascend_glm5;

namespace {

struct MlapArgs {
  GM_ADDR tokenX;
  GM_ADDR weightDq;
  GM_ADDR weightUqQr;
  GM_ADDR weightUk;
  GM_ADDR weightDkvKr;
  GM_ADDR query;
  GM_ADDR workspace;
  MlapVectorArgs vec;
};

template <typename T, uint32_t kMode>
__aicore__ inline void Run(const MlapArgs& a, const MlaPrologTiling& t) {
  if ASCEND_IS_AIC {
    MlapCube<T, kMode> op;
    op.Init(a.tokenX, a.weightDq, a.weightUqQr, a.weightUk, a.weightDkvKr, a.query, a.workspace, t);
    op.Process();
  }
  if ASCEND_IS_AIV {
    MlapVector<T, kMode> op;
    op.Init(a.vec, t);
    op.Process();
  }
}

template <typename T>
__aicore__ inline void RunMode(const MlapArgs& a, const MlaPrologTiling& t) {
  if (t.mode == kMlapW8A8) Run<T, kMlapW8A8>(a, t);
  else if (t.mode == kMlapInt8Uq) Run<T, kMlapInt8Uq>(a, t);
  else Run<T, kMlapBf16>(a, t);
}

}  // namespace

extern "C" __global__ __aicore__ void mla_prolog(GM_ADDR tokenX, GM_ADDR weightDq, GM_ADDR weightUqQr, GM_ADDR weightUk,
                                                 GM_ADDR weightDkvKr, GM_ADDR gammaCq, GM_ADDR gammaCkv, GM_ADDR ropeSin,
                                                 GM_ADDR ropeCos, GM_ADDR cacheIndex, GM_ADDR kvCache, GM_ADDR krCache,
                                                 GM_ADDR scaleX, GM_ADDR scaleWDq, GM_ADDR scaleWUqQr,
                                                 GM_ADDR scaleWDkvKr, GM_ADDR smooth, GM_ADDR gammaX, GM_ADDR query,
                                                 GM_ADDR queryRope, GM_ADDR queryNorm, GM_ADDR queryNormScale,
                                                 GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  MlaPrologTiling t;
  LoadTiling(t, tiling);
  MlapArgs a{tokenX, weightDq, weightUqQr, weightUk, weightDkvKr, query, workspace,
             MlapVectorArgs{tokenX, gammaX, gammaCq, gammaCkv, ropeSin, ropeCos, cacheIndex, kvCache, krCache, scaleX,
                            scaleWDq, scaleWUqQr, scaleWDkvKr, smooth, queryRope, queryNorm, queryNormScale, workspace}};
  if (t.dtype == kBFloat16) RunMode<bfloat16_t>(a, t);
  else RunMode<half>(a, t);
}
