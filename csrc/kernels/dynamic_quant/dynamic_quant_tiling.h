// Tiling of the per-token dynamic int8 quantization kernel, shared by host and kernel.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

namespace ascend_glm5 {

struct DynamicQuantTiling {
  uint32_t rowsLo;     // number of rows, low and high 32 bits
  uint32_t rowsHi;
  uint32_t cols;       // H, elements per row (<= kDynamicQuantMaxCols)
  uint32_t chunk;      // elements per tile, a multiple of 64 so fp32 tiles stay 32-byte aligned
  uint32_t dtype;      // DTypeId of x and smooth_scales: kFloat16 or kBFloat16
  uint32_t hasSmooth;  // 1 if smooth_scales is given
  uint32_t blockDim;   // vector cores used
  uint32_t split;      // cores per row: 1, or (few rows) each row's columns cut into `split` tiles of `chunk`,
                       // one per core, the row's max exchanged through the workspace (blockDim = rows * split)
};

// One fp32 row and the fp32 smooth scales both stay resident in UB: 2 x 64 KiB at H = 16384.
constexpr uint32_t kDynamicQuantMaxCols = 16384;
constexpr uint32_t kDynamicQuantChunk = 4096;               // most elements per tile
constexpr uint32_t kDynamicQuantUbBytes = 184 * 1024;       // UB below the API scratch
// Fewest columns per core of a split row (GLM-5 H = 6144, B = 1: 24 cores; modeled 0.998 us at 512
// columns, 0.963 at 256, 0.964 at 192).
constexpr uint32_t kDynamicQuantSplitMinCols = 256;
constexpr uint32_t kDynamicQuantSplitSlotBytes = 32;        // workspace per core of a split row: its max

// UB banks of TileAbsMaxByBits (32-B rows, group = address bits [8:5]; a repeat of the row reads one
// half of the 16 groups). With whole rows a core, the pad before the first scratch tile puts it 256 B
// past the row modulo 512, so that an And over every other repeat (reading one half of the groups)
// writes the other half, a repeat behind; a split row's core (one And over every repeat) keeps it
// right after the row, where that And's writes alternate the other way. The pad before the sign mask
// puts its two 32-B blocks in the row's groups 7 and 8, one beside each half. The row starts 32-byte
// aligned; rowBytes and the scratch tiles are multiples of 256 bytes (whole 64-element fp32 repeats).
__aicore__ inline constexpr uint32_t TmpPadBytes(uint32_t rowBytes, bool wholeRows) {
  return wholeRows ? (256 + 512 - rowBytes % 512) % 512 : 0;
}
__aicore__ inline constexpr uint32_t MaskPadBytes(uint32_t rowBytes, uint32_t chunk, bool wholeRows) {
  return (224 + 512 - (rowBytes + TmpPadBytes(rowBytes, wholeRows) + chunk * 8) % 512) % 512;
}

// UB of the kernel's buffers for tiles of `chunk` elements (a multiple of 64, so every buffer stays
// 32-byte aligned), in the order it allocates them: input tiles (16-bit, with the smooth scales'
// beside x's), int8 output tiles, the fp32 row, a pad and two fp32 scratch tiles, a pad and the
// two-block sign mask, a half tile, the scale batch, then (with smooth scales) a pad and the fp32
// smooth scales. A split row's core holds one tile: cols = chunk.
__aicore__ inline constexpr uint32_t DynamicQuantUbBytes(uint32_t cols, uint32_t chunk, bool hasSmooth, bool wholeRows) {
  const uint32_t rowBytes = CeilDiv(cols, chunk) * chunk * 4;
  return 2 * (hasSmooth ? 2 : 1) * chunk * 2 + 2 * chunk + (hasSmooth ? 2 : 1) * rowBytes +
         TmpPadBytes(rowBytes, wholeRows) + chunk * (4 + 4 + 2) + MaskPadBytes(rowBytes, chunk, wholeRows) + 64 + 64 * 4;
}
// The pad before the smooth scales. The row times the smooth scales (`Mul`, in place) reads both in
// each repeat and writes the row's previous repeat: the scales 65,280 B past the row (256 B short of
// 64 KiB) fall in the other half of UB's 16 bank groups and in another 64-KiB bank than those
// writes, so a repeat takes one beat. Where that does not fit the UB, 256 B past the row modulo 512
// (the groups only).
__aicore__ inline constexpr uint32_t SmoothPadBytes(uint32_t cols, uint32_t chunk, bool hasSmooth, bool wholeRows) {
  const uint32_t rowBytes = CeilDiv(cols, chunk) * chunk * 4;
  const uint32_t gap = rowBytes + TmpPadBytes(rowBytes, wholeRows) + chunk * (4 + 4 + 2) +
                       MaskPadBytes(rowBytes, chunk, wholeRows) + 64 + 64 * 4;  // row start -> scales
  const uint32_t apart = 65536 - 256;
  if (!hasSmooth) return 0;
  if (gap <= apart && DynamicQuantUbBytes(cols, chunk, true, wholeRows) + (apart - gap) <= kDynamicQuantUbBytes)
    return apart - gap;
  return (256 + 512 - gap % 512) % 512;
}

}  // namespace ascend_glm5
