#include <vector>

#include "../cpu_launch.h"
#include "dynamic_quant_host.h"

extern "C" void dynamic_quant(GM_ADDR x, GM_ADDR smooth, GM_ADDR y, GM_ADDR scale, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void DynamicQuantCpu(const void* x, const void* smooth, void* y, float* scale, uint64_t rows, uint32_t cols, uint32_t dtype) {
  if (rows == 0) return;
  const DynamicQuantTiling t = MakeDynamicQuantTiling(rows, cols, dtype, smooth != nullptr, AscendC::emu::Soc().aivNum);
  const uint64_t n = rows * cols;
  std::vector<uint8_t> workspace(DynamicQuantWorkspaceBytes(t));
  if (!workspace.empty()) AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // not zeroed on the NPU
  uint8_t* ws = workspace.empty() ? nullptr : workspace.data();
  AscendC::emu::Launch("dynamic_quant", AscendC::KernelMode::AIV_MODE, t.blockDim,
                       [&] { dynamic_quant(GmArg(x), GmArg(smooth), GmArg(y), GmArg(scale), GmArg(ws), GmArg(&t)); },
                       {{x, n * 2}, {smooth, smooth ? cols * 2ull : 0}, {y, n}, {scale, rows * 4},
                        {ws, workspace.size()}, {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
