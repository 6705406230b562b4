#include <vector>

#include "../cpu_launch.h"
#include "../plan_time.h"
#include "quant_matmul_host.h"

extern "C" void quant_matmul(GM_ADDR x1, GM_ADDR x2, GM_ADDR scale, GM_ADDR pertoken, GM_ADDR bias, GM_ADDR y,
                             GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void QuantMatmulCpu(const QuantMatmulShape& s, const void* x1, const void* x2, const float* scale, const float* pertoken,
                    const void* bias, void* y) {
  if (s.m == 0) return;
  const QGemmPlan plan = TimedPlan([&] { return MakeQuantMatmulPlan(s, AscendC::emu::Soc().aicNum); });
  const QGemmTiling& t = plan.tiling;
  std::vector<uint8_t> workspace(plan.workspaceBytes);
  const uint64_t outBytes = s.m * s.n * (s.outDtype == kFloat32 || s.outDtype == kInt32 ? 4 : 2);
  AscendC::emu::Launch(
      "quant_matmul", AscendC::KernelMode::MIX_MODE, t.blockDim,
      [&] {
        quant_matmul(GmArg(x1), GmArg(x2), GmArg(scale), GmArg(pertoken), GmArg(bias), GmArg(y), GmArg(workspace.data()),
                     GmArg(&t));
      },
      {{x1, s.m * s.k}, {x2, uint64_t(s.n) * s.k}, {scale, uint64_t(s.n) * 4}, {pertoken, pertoken ? s.m * 4 : 0},
       {bias, bias ? uint64_t(s.n) * 4 : 0}, {y, outBytes}, {workspace.data(), workspace.size()}, {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
