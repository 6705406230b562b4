#include "../cpu_launch.h"
#include "../../kernels/common/host_device.h"
#include "quantize_host.h"

extern "C" void quantize(GM_ADDR x, GM_ADDR scales, GM_ADDR offsets, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void QuantizeCpu(const void* x, const float* scales, const float* offsets, void* y, uint64_t rows, uint32_t cols,
                 uint32_t dtype, bool perChannel, bool divMode) {
  const QuantizeTiling t =
      MakeQuantizeTiling(rows, cols, dtype, perChannel, offsets != nullptr, divMode, AscendC::emu::Soc().aivNum);
  if (rows == 0) return;
  const uint64_t n = rows * cols;
  const uint64_t paramBytes = (perChannel ? cols : 1) * 4ull;
  AscendC::emu::Launch("quantize", AscendC::KernelMode::AIV_MODE, t.blockDim,
                       [&] { quantize(GmArg(x), GmArg(scales), GmArg(offsets), GmArg(y), nullptr, GmArg(&t)); },
                       {{x, n * (dtype == kFloat32 ? 4 : 2)},
                        {scales, paramBytes},
                        {offsets, offsets ? paramBytes : 0},
                        {y, n},
                        {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
