#include <vector>

#include "../cpu_launch.h"
#include "../plan_time.h"
#include "grouped_matmul_a8w4_host.h"

extern "C" void grouped_matmul_a8w4(GM_ADDR x, GM_ADDR weight, GM_ADDR scale, GM_ADDR perTokenScale, GM_ADDR groupList,
                                    GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void GroupedMatmulA8W4Cpu(const void* x, const void* weight, const float* scale, const float* perTokenScale,
                          const int64_t* groupList, void* y, uint64_t m, uint32_t n, uint32_t k, uint32_t experts,
                          uint32_t outDtype) {
  if (m == 0) return;
  const QGemmPlan plan =
      TimedPlan([&] { return MakeGroupedMatmulA8W4Plan(m, n, k, experts, outDtype, AscendC::emu::Soc().aicNum); });
  const QGemmTiling& t = plan.tiling;
  std::vector<uint8_t> workspace(plan.workspaceBytes);
  const uint64_t outBytes = m * n * (outDtype == kFloat32 || outDtype == kInt32 ? 4 : 2);
  AscendC::emu::Launch(
      "grouped_matmul_a8w4", AscendC::KernelMode::MIX_MODE, t.blockDim,
      [&] {
        grouped_matmul_a8w4(GmArg(x), GmArg(weight), GmArg(scale), GmArg(perTokenScale), GmArg(groupList), GmArg(y),
                            GmArg(workspace.data()), GmArg(&t));
      },
      {{x, m * k}, {weight, uint64_t(experts) * k * n / 2}, {scale, uint64_t(experts) * n * 4}, {perTokenScale, m * 4},
       {groupList, uint64_t(experts) * 8}, {y, outBytes}, {workspace.data(), workspace.size()}, {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
