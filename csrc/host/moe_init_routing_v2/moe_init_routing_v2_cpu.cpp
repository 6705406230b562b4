#include <vector>

#include "../cpu_launch.h"
#include "moe_init_routing_v2_host.h"

extern "C" void moe_init_routing_v2(GM_ADDR x, GM_ADDR expertIdx, GM_ADDR scale, GM_ADDR expandedX,
                                    GM_ADDR expandedRowIdx, GM_ADDR expertTokens, GM_ADDR expandedScale,
                                    GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void MoeInitRoutingCpu(const void* x, const int32_t* expertIdx, const float* scale, void* expandedX,
                       int32_t* expandedRowIdx, int64_t* expertTokens, float* expandedScale, uint64_t pairs,
                       uint32_t topK, uint64_t rowBytes, uint32_t expertStart, uint32_t experts, uint32_t rowIdxType,
                       uint32_t countType) {
  const MoeInitRoutingTiling t = MakeMoeInitRoutingTiling(pairs, topK, rowBytes, expertStart, experts, rowIdxType,
                                                          countType, scale != nullptr, AscendC::emu::Soc().aivNum);
  if (t.pairs == 0) return;
  const uint64_t tokens = t.pairs / t.topK;
  std::vector<uint8_t> workspace(MoeInitRoutingWorkspaceBytes(t));
  if (!workspace.empty()) AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // not zeroed on the NPU
  uint8_t* ws = workspace.empty() ? nullptr : workspace.data();
  AscendC::emu::Launch(
      "moe_init_routing_v2", AscendC::KernelMode::AIV_MODE, t.blockDim,
      [&] {
        moe_init_routing_v2(GmArg(x), GmArg(expertIdx), GmArg(scale), GmArg(expandedX), GmArg(expandedRowIdx),
                            GmArg(expertTokens), GmArg(expandedScale), GmArg(ws), GmArg(&t));
      },
      {{x, tokens * t.rowBytes},
       {expertIdx, t.pairs * 4ull},
       {scale, scale ? tokens * 4 : 0},
       {expandedX, uint64_t(t.pairs) * t.rowBytes},
       {expandedRowIdx, t.pairs * 4ull},
       {expertTokens, t.experts * 8ull},
       {expandedScale, scale ? t.pairs * 4ull : 0},
       {ws, workspace.size()},
       {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
