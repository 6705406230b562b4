#include <algorithm>
#include <stdexcept>
#include <string>

#include "../../kernels/common/host_device.h"
#include "dynamic_quant_host.h"

namespace ascend_glm5::host {

DynamicQuantTiling MakeDynamicQuantTiling(uint64_t rows, uint32_t cols, uint32_t dtype, bool hasSmooth, uint32_t aivCores) {
  if (cols == 0 || cols > kDynamicQuantMaxCols)
    throw std::invalid_argument("dynamic_quant: cols must be in [1, " + std::to_string(kDynamicQuantMaxCols) + "]");
  if (dtype != kFloat16 && dtype != kBFloat16) throw std::invalid_argument("dynamic_quant: dtype must be fp16 or bf16");
  DynamicQuantTiling t{};
  t.rowsLo = static_cast<uint32_t>(rows);
  t.rowsHi = static_cast<uint32_t>(rows >> 32);
  t.cols = cols;
  t.chunk = std::min(kDynamicQuantChunk, AlignUp(cols, 64));
  t.dtype = dtype;
  t.hasSmooth = hasSmooth ? 1 : 0;
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(rows, aivCores)));
  return t;
}

}  // namespace ascend_glm5::host
