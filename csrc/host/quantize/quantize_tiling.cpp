#include <algorithm>
#include <stdexcept>

#include "../../kernels/common/host_device.h"
#include "quantize_host.h"

namespace ascend_glm5::host {

QuantizeTiling MakeQuantizeTiling(uint64_t rows, uint32_t cols, uint32_t dtype, bool perChannel, bool hasOffset,
                                  bool divMode, uint32_t aivCores) {
  if (cols == 0) throw std::invalid_argument("quantize: the last dimension must be >= 1");
  if (dtype != kFloat16 && dtype != kBFloat16 && dtype != kFloat32)
    throw std::invalid_argument("quantize: x must be fp16, bf16 or fp32");
  QuantizeTiling t{};
  t.rowsLo = static_cast<uint32_t>(rows);
  t.rowsHi = static_cast<uint32_t>(rows >> 32);
  t.cols = cols;
  t.chunk = std::min(kQuantizeChunk, AlignUp(cols, 64));
  if (perChannel) {
    // Per-channel scales and offsets are read once per core that covers a column chunk. Cores are
    // split into rowGroups x colGroups so that this stays ~4 * rowGroups / rows (<= 1/16) of the
    // x traffic: with few rows (decode) every core takes its own narrow column block.
    const uint64_t rowGroups = std::max<uint64_t>(1, std::min<uint64_t>(aivCores, rows / 64));
    const uint32_t colGroups = std::max<uint32_t>(1, aivCores / static_cast<uint32_t>(rowGroups));
    t.chunk = std::min(t.chunk, std::max<uint32_t>(64, AlignUp(CeilDiv(cols, colGroups), 64)));
  }
  t.dtype = dtype;
  t.perChannel = perChannel ? 1 : 0;
  t.hasOffset = hasOffset ? 1 : 0;
  t.divMode = divMode ? 1 : 0;
  const uint64_t tiles = rows * CeilDiv(cols, t.chunk);
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(tiles, aivCores)));
  return t;
}

}  // namespace ascend_glm5::host
