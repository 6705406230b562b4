#include <algorithm>
#include <stdexcept>
#include <string>

#include "../../kernels/common/host_device.h"
#include "dequant_swiglu_quant_host.h"

namespace ascend_glm5::host {
namespace {

// UB the kernel allocates with `slots` copies of a group's scales (dequant_swiglu_quant_tiling.h).
uint32_t UbBytes(const DequantSwigluQuantTiling& t, uint32_t slots) {
  const uint32_t span = CeilDiv(t.half, t.chunk) * t.chunk;
  return DsqFrontBytes(t, span) + DsqPadBytes(t, span, slots) + DsqBackBytes(t, span, slots);
}

// Few rows (decode): a row's columns cut over the cores there are for it, at least
// kDequantSwigluQuantSplitMinCols each; its cores exchange their parts' max after SyncAll.
void SplitRows(DequantSwigluQuantTiling& t, uint64_t rows, uint32_t aivCores) {
  const uint64_t coresPerRow = rows ? aivCores / rows : 0;
  const uint32_t most = t.half / kDequantSwigluQuantSplitMinCols;
  if (coresPerRow < kDequantSwigluQuantSplitMinCores || most < 2) return;
  const uint32_t cores = static_cast<uint32_t>(std::min<uint64_t>(coresPerRow, most));
  t.partCols = AlignUp(CeilDiv(t.half, cores), 64);
  t.split = CeilDiv(t.half, t.partCols);  // every core of the row gets columns
  t.chunk = std::min(kDequantSwigluQuantChunk, t.partCols);
  t.blockDim = static_cast<uint32_t>(rows) * t.split;
}

}  // namespace

DequantSwigluQuantTiling MakeDequantSwigluQuantTiling(uint64_t rows, uint32_t half, uint32_t dtype, uint32_t groupCount,
                                                      uint32_t weightScaleRows, uint32_t quantScaleRows,
                                                      bool activateLeft, uint32_t aivCores) {
  const std::string op = "dequant_swiglu_quant: ";
  if (half == 0 || half > kDequantSwigluQuantMaxHalf)
    throw std::invalid_argument(op + "H (half of x's columns) must be in [1, " + std::to_string(kDequantSwigluQuantMaxHalf) + "]");
  if (dtype != kInt32 && dtype != kFloat16 && dtype != kBFloat16)
    throw std::invalid_argument(op + "x must be int32, fp16 or bf16");
  const uint32_t groups = groupCount ? groupCount : 1;
  if ((dtype == kInt32) != (weightScaleRows != 0))
    throw std::invalid_argument(op + "weight_scale is required for int32 x and not allowed otherwise");
  if (weightScaleRows > 1 && weightScaleRows != groups)
    throw std::invalid_argument(op + "weight_scale must have 1 or G rows");
  if (quantScaleRows > 1 && quantScaleRows != groups)
    throw std::invalid_argument(op + "quant_scale must have 1 or G rows");
  DequantSwigluQuantTiling t{};
  t.rowsLo = static_cast<uint32_t>(rows);
  t.rowsHi = static_cast<uint32_t>(rows >> 32);
  t.half = half;
  t.chunk = std::min(kDequantSwigluQuantChunk, AlignUp(half, 64));
  t.dtype = dtype;
  t.groupCount = groupCount;
  t.weightScaleRows = weightScaleRows;
  t.quantScaleRows = quantScaleRows;
  t.activateLeft = activateLeft ? 1 : 0;
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(rows, aivCores)));
  t.split = 1;
  t.partCols = half;
  SplitRows(t, rows, aivCores);
  t.paramSlots = UbBytes(t, 2) <= kDequantSwigluQuantUbBytes ? 2 : 1;
  return t;
}

uint64_t DequantSwigluQuantWorkspaceBytes(const DequantSwigluQuantTiling& t) {
  return t.split > 1 ? uint64_t(t.blockDim) * kDequantSwigluQuantSplitSlotBytes : 0;
}

}  // namespace ascend_glm5::host
