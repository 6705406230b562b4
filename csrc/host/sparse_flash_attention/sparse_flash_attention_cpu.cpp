#include <algorithm>
#include <cstdint>
#include <vector>

#include "../cpu_launch.h"
#include "../plan_time.h"
#include "sparse_flash_attention_host.h"

extern "C" void sparse_flash_attention(GM_ADDR query, GM_ADDR queryRope, GM_ADDR key, GM_ADDR value, GM_ADDR keyRope,
                                       GM_ADDR sparseIndices, GM_ADDR blockTable, GM_ADDR plan, GM_ADDR out,
                                       GM_ADDR softmaxMax, GM_ADDR softmaxSum, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void SparseFlashAttentionCpu(const SparseFlashAttentionProblem& p, const SparseFlashAttentionBuffers& b) {
  const SparseFlashAttentionPlan plan =
      TimedPlan([&] { return MakeSparseFlashAttentionPlan(p, AscendC::emu::Soc().aicNum); });
  const SparseFlashAttentionTiling& t = plan.tiling;
  if (t.numRows == 0) return;
  // The plan on a 64-byte line, as device memory is (a core head is then one scalar cache line).
  std::vector<int32_t> planStore(plan.table.size() + 16);
  int32_t* planWords = reinterpret_cast<int32_t*>((reinterpret_cast<uintptr_t>(planStore.data()) + 63) & ~uintptr_t(63));
  std::copy(plan.table.begin(), plan.table.end(), planWords);
  std::vector<uint8_t> workspace(plan.workspaceBytes);
  AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // GM workspace is not zeroed on the NPU
  const uint64_t outBytes = uint64_t(p.numRows) * p.heads * kSfaLatentDim * 2;
  const uint64_t lseBytes = p.returnLse ? uint64_t(p.numRows) * p.heads * 4 : 0;
  AscendC::emu::Launch(
      "sparse_flash_attention", AscendC::KernelMode::MIX_MODE, t.blockDim,
      [&] {
        sparse_flash_attention(GmArg(b.query), GmArg(b.queryRope), GmArg(b.key), GmArg(b.value), GmArg(b.keyRope),
                               GmArg(b.sparseIndices), GmArg(b.blockTable), GmArg(planWords), GmArg(b.out),
                               GmArg(b.softmaxMax), GmArg(b.softmaxSum), GmArg(workspace.data()), GmArg(&t));
      },
      {{b.query, b.queryBytes}, {b.queryRope, b.queryRopeBytes}, {b.key, b.keyBytes},
       {b.value, b.value == b.key ? 0 : b.valueBytes}, {b.keyRope, b.keyRopeBytes},
       {b.sparseIndices, b.sparseIndicesBytes}, {b.blockTable, b.blockTableBytes},
       {planWords, plan.table.size() * 4}, {b.out, outBytes}, {b.softmaxMax, lseBytes},
       {b.softmaxSum, lseBytes}, {workspace.data(), workspace.size()}, {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
