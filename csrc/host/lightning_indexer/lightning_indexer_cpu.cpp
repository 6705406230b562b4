#include <algorithm>
#include <cstdint>
#include <vector>

#include "../cpu_launch.h"
#include "../plan_time.h"
#include "lightning_indexer_host.h"

extern "C" void lightning_indexer(GM_ADDR query, GM_ADDR key, GM_ADDR weights, GM_ADDR blockTable, GM_ADDR plan,
                                  GM_ADDR indices, GM_ADDR values, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void LightningIndexerCpu(const LightningIndexerProblem& p, const LightningIndexerBuffers& b) {
  const LightningIndexerPlan plan = TimedPlan([&] { return MakeLightningIndexerPlan(p, AscendC::emu::Soc().aicNum); });
  // On a 64-byte line, as device memory is: the cube's head of the tiling is one line.
  alignas(64) const LightningIndexerTiling t = plan.tiling;
  if (t.numItems == 0) return;
  // The plan on a 64-byte line too (its core records are one line each, as in device memory).
  std::vector<int32_t> planStore(plan.table.size() + 16);
  int32_t* planWords = reinterpret_cast<int32_t*>((reinterpret_cast<uintptr_t>(planStore.data()) + 63) & ~uintptr_t(63));
  std::copy(plan.table.begin(), plan.table.end(), planWords);
  std::vector<uint8_t> workspace(plan.workspaceBytes);
  AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // GM workspace is not zeroed on the NPU
  const uint64_t outBytes = uint64_t(p.numRows) * p.sparseCount * 4;
  AscendC::emu::Launch(
      "lightning_indexer", AscendC::KernelMode::MIX_MODE, t.blockDim,
      [&] {
        lightning_indexer(GmArg(b.query), GmArg(b.key), GmArg(b.weights), GmArg(b.blockTable), GmArg(planWords),
                          GmArg(b.indices), GmArg(b.values), GmArg(workspace.data()), GmArg(&t));
      },
      {{b.query, b.queryBytes}, {b.key, b.keyBytes}, {b.weights, b.weightsBytes}, {b.blockTable, b.blockTableBytes},
       {planWords, plan.table.size() * 4}, {b.indices, outBytes}, {b.values, b.values ? outBytes : 0},
       {workspace.data(), workspace.size()}, {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
