#include <algorithm>
#include <stdexcept>
#include <string>

#include "../../kernels/common/host_device.h"
#include "dynamic_quant_host.h"

namespace ascend_glm5::host {
namespace {

// UB the kernel allocates for tiles of `chunk` elements, its bank pads included (PlanDynamicQuantUb:
// each pad only where the rest leaves room for it).
uint32_t UbBytes(uint32_t cols, uint32_t chunk, bool hasSmooth, uint32_t split) {
  return PlanDynamicQuantUb(cols, chunk, hasSmooth, split).bytes;
}

}  // namespace

DynamicQuantTiling MakeDynamicQuantTiling(uint64_t rows, uint32_t cols, uint32_t dtype, bool hasSmooth, uint32_t aivCores) {
  if (cols == 0 || cols > kDynamicQuantMaxCols)
    throw std::invalid_argument("dynamic_quant: cols must be in [1, " + std::to_string(kDynamicQuantMaxCols) + "]");
  if (dtype != kFloat16 && dtype != kBFloat16) throw std::invalid_argument("dynamic_quant: dtype must be fp16 or bf16");
  DynamicQuantTiling t{};
  t.rowsLo = static_cast<uint32_t>(rows);
  t.rowsHi = static_cast<uint32_t>(rows >> 32);
  t.cols = cols;
  // The fewest balanced tiles of at most kDynamicQuantChunk elements that fit in UB: a decode row's
  // loads are then all in flight at once (the next tile's load is issued one tile ahead).
  for (uint32_t tiles = CeilDiv(cols, kDynamicQuantChunk);; ++tiles) {
    t.chunk = AlignUp(CeilDiv(cols, tiles), 64);
    if (UbBytes(cols, t.chunk, hasSmooth, 1) <= kDynamicQuantUbBytes) break;
  }
  t.dtype = dtype;
  t.hasSmooth = hasSmooth ? 1 : 0;
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(rows, aivCores)));
  t.split = 1;
  // Few rows (decode): a row's columns are cut over several cores, one tile each, when the cores are
  // there; the cores of a row exchange their tile's max through the workspace after SyncAll.
  const uint64_t coresPerRow = rows ? aivCores / rows : 0;
  const uint32_t most = cols / kDynamicQuantSplitMinCols;
  if (coresPerRow >= 2 && most >= 2) {
    const uint32_t cores = static_cast<uint32_t>(std::min<uint64_t>(coresPerRow, most));
    const uint32_t chunk = AlignUp(CeilDiv(cols, cores), 64);
    if (chunk <= kDynamicQuantChunk && UbBytes(chunk, chunk, hasSmooth, CeilDiv(cols, chunk)) <= kDynamicQuantUbBytes) {
      t.chunk = chunk;
      t.split = CeilDiv(cols, chunk);  // every core of the row gets columns
      t.blockDim = static_cast<uint32_t>(rows) * t.split;
    }
  }
  return t;
}

uint64_t DynamicQuantWorkspaceBytes(const DynamicQuantTiling& t) {
  return t.split > 1 ? uint64_t(t.blockDim) * kDynamicQuantSplitSlotBytes : 0;
}

}  // namespace ascend_glm5::host
