#include <vector>

#include "../cpu_launch.h"
#include "../plan_time.h"
#include "mla_prolog_host.h"

extern "C" void mla_prolog(GM_ADDR tokenX, GM_ADDR weightDq, GM_ADDR weightUqQr, GM_ADDR weightUk, GM_ADDR weightDkvKr,
                           GM_ADDR gammaCq, GM_ADDR gammaCkv, GM_ADDR ropeSin, GM_ADDR ropeCos, GM_ADDR cacheIndex,
                           GM_ADDR kvCache, GM_ADDR krCache, GM_ADDR scaleX, GM_ADDR scaleWDq, GM_ADDR scaleWUqQr,
                           GM_ADDR scaleWDkvKr, GM_ADDR smooth, GM_ADDR gammaX, GM_ADDR query, GM_ADDR queryRope,
                           GM_ADDR queryNorm, GM_ADDR queryNormScale, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void MlaPrologCpu(const MlaPrologProblem& p, const MlaPrologBuffers& b) {
  const MlaPrologPlan plan = TimedPlan([&] { return MakeMlaPrologPlan(p, AscendC::emu::Soc().aicNum); });
  const MlaPrologTiling& t = plan.tiling;
  if (t.tokens == 0) return;
  std::vector<uint8_t> workspace(plan.workspaceBytes);
  AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // GM workspace is not zeroed on the NPU
  std::vector<AscendC::emu::GmRegion> regions;
  for (uint32_t i = 0; i < kMlapArgCount; ++i) regions.push_back({b.ptr[i], b.ptr[i] ? b.bytes[i] : 0});
  regions.push_back({workspace.data(), workspace.size()});
  regions.push_back({&t, sizeof(t)});
  auto a = [&](uint32_t i) { return GmArg(b.ptr[i]); };
  AscendC::emu::Launch(
      "mla_prolog", AscendC::KernelMode::MIX_MODE, t.blockDim,
      [&] {
        mla_prolog(a(kMlapTokenX), a(kMlapWeightDq), a(kMlapWeightUqQr), a(kMlapWeightUk), a(kMlapWeightDkvKr),
                   a(kMlapGammaCq), a(kMlapGammaCkv), a(kMlapRopeSin), a(kMlapRopeCos), a(kMlapCacheIndex),
                   a(kMlapKvCache), a(kMlapKrCache), a(kMlapScaleX), a(kMlapScaleWDq), a(kMlapScaleWUqQr),
                   a(kMlapScaleWDkvKr), a(kMlapSmooth), a(kMlapGammaX), a(kMlapQuery), a(kMlapQueryRope),
                   a(kMlapQueryNorm), a(kMlapQueryNormScale), GmArg(workspace.data()), GmArg(&t));
      },
      regions);
}

}  // namespace ascend_glm5::host
