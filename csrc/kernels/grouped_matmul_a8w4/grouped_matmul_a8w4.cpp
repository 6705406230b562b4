// grouped_matmul_a8w4: per-expert y = (x @ w) * scale * per_token_scale, int8 x with int4 expert
// weights, in one mixed kernel (KERNEL_TYPE_MIX_AIC_1_2). The vector cores split x into int4 hi /
// lo rows (gmm_msd_split.h); after a vector SyncAll and a flag to each cube, the cube runs int4 x int4 tiles into exact int32 sums
// (common/qgemm_cube.h) and the vector cores combine and dequantise them (common/qgemm_epilogue.h).
// See docs/ops/grouped_matmul_a8w4.md.
#include "kernel_operator.h"
#include "../common/qgemm_cube.h"
#include "../common/qgemm_epilogue.h"
#include "../common/tiling.h"
#include "../common/qgemm_schedule.h"
#include "gmm_msd_split.h"
#include "grouped_matmul_a8w4_tiling.h"

using namespace ascend_glm5;

namespace {
// Cross-core flag: the vector cores' split is in GM (ids 1 and 2 are the handoff's, qgemm_handoff.h).
constexpr uint16_t kGmmFlagSplitDone = 3;
}  // namespace

namespace {
template <typename OutT>
__aicore__ inline void RunVector(AscendC::TPipe& pipe, GM_ADDR x, GM_ADDR scale, GM_ADDR perTokenScale, GM_ADDR groupList,
                                 GM_ADDR y, GM_ADDR workspace, const QGemmTiling& t) {
  QGemmSchedule rows;
  rows.Init(t, groupList, 0);
  GmmMsdSplit<OutT> split;
  split.Init(pipe, x, y, workspace, t, rows.TotalRows());
  split.Process();
  pipe.Reset();
  AscendC::PipeBarrier<PIPE_ALL>();  // the split's last stores are done
  AscendC::SyncAll<true>();          // every vector core's hi / lo rows are in GM
  // Tell the block's cube (mode 2: it waits for both vector cores) that it may read them.
  AscendC::CrossCoreSetFlag<2, PIPE_MTE3>(kGmmFlagSplitDone);
  QGemmVector<OutT, true> epilogue;
  epilogue.Init(pipe, scale, perTokenScale, nullptr, y, groupList, workspace, t);
  epilogue.Process();
}
}  // namespace

extern "C" __global__ __aicore__ void grouped_matmul_a8w4(GM_ADDR x, GM_ADDR weight, GM_ADDR scale, GM_ADDR perTokenScale,
                                                          GM_ADDR groupList, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  QGemmTiling t;
  if ASCEND_IS_AIC {
    AscendC::TPipe pipe;
    QGemmCube<AscendC::int4b_t, true> cube;
    cube.Start(pipe, tiling, t, nullptr, weight, groupList, workspace);  // the first weight loads overlap the split
    // The hi / lo rows are in GM. The wait holds MTE2 only, behind the weight loads already queued
    // (a SyncAll would first drain them: its cores arrive with every pipe idle).
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(kGmmFlagSplitDone);
    cube.Process();
  }
  if ASCEND_IS_AIV {
    AscendC::TPipe pipe;
    // The group list's first line is read (into the DataCache) while the tiling's copy is in flight:
    // the split needs both before it starts.
    LoadTilingThroughUb(pipe, t, tiling, groupList);
    if (t.outDtype == kBFloat16) RunVector<bfloat16_t>(pipe, x, scale, perTokenScale, groupList, y, workspace, t);
    else if (t.outDtype == kFloat16) RunVector<half>(pipe, x, scale, perTokenScale, groupList, y, workspace, t);
    else if (t.outDtype == kFloat32) RunVector<float>(pipe, x, scale, perTokenScale, groupList, y, workspace, t);
    else RunVector<int32_t>(pipe, x, scale, perTokenScale, groupList, y, workspace, t);
  }
}
