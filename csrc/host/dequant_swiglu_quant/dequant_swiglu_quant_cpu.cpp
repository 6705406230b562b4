#include <vector>

#include "../cpu_launch.h"
#include "../../kernels/common/host_device.h"
#include "dequant_swiglu_quant_host.h"

extern "C" void dequant_swiglu_quant(GM_ADDR x, GM_ADDR weightScale, GM_ADDR activationScale, GM_ADDR quantScale,
                                     GM_ADDR groupIndex, GM_ADDR y, GM_ADDR scale, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void DequantSwigluQuantCpu(const void* x, const float* weightScale, const float* activationScale,
                           const float* quantScale, const int64_t* groupIndex, void* y, float* scale, uint64_t rows,
                           uint32_t half, uint32_t dtype, uint32_t groupCount, uint32_t weightScaleRows,
                           uint32_t quantScaleRows, bool activateLeft) {
  const DequantSwigluQuantTiling t = MakeDequantSwigluQuantTiling(
      rows, half, dtype, groupCount, weightScaleRows, quantScaleRows, activateLeft, AscendC::emu::Soc().aivNum);
  if (rows == 0) return;
  const uint64_t width = 2ull * t.half;
  const uint64_t xBytes = rows * width * (t.dtype == kInt32 ? 4 : 2);
  std::vector<uint8_t> workspace(DequantSwigluQuantWorkspaceBytes(t));
  if (!workspace.empty()) AscendC::emu::PoisonGm(workspace.data(), workspace.size());  // not zeroed on the NPU
  uint8_t* ws = workspace.empty() ? nullptr : workspace.data();
  AscendC::emu::Launch(
      "dequant_swiglu_quant", AscendC::KernelMode::AIV_MODE, t.blockDim,
      [&] {
        dequant_swiglu_quant(GmArg(x), GmArg(weightScale), GmArg(activationScale), GmArg(quantScale), GmArg(groupIndex),
                             GmArg(y), GmArg(scale), GmArg(ws), GmArg(&t));
      },
      {{x, xBytes},
       {weightScale, weightScale ? t.weightScaleRows * width * 4 : 0},
       {activationScale, activationScale ? rows * 4 : 0},
       {quantScale, quantScale ? uint64_t(t.quantScaleRows) * t.half * 4 : 0},
       {groupIndex, groupIndex ? uint64_t(t.groupCount) * 8 : 0},
       {y, rows * t.half},
       {scale, rows * 4},
       {ws, workspace.size()},
       {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
