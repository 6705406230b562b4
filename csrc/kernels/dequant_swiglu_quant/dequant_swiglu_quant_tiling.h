// Tiling of the dequant -> SwiGLU -> per-token int8 quant kernel, shared by host and kernel.
#pragma once

#include <cstdint>

namespace ascend_glm5 {

struct DequantSwigluQuantTiling {
  uint32_t rowsLo;           // T, rows of x, low and high 32 bits
  uint32_t rowsHi;
  uint32_t half;             // H: x has 2H columns, y has H (<= kDequantSwigluQuantMaxHalf)
  uint32_t chunk;            // elements of one half-row tile, a multiple of 64
  uint32_t dtype;            // DTypeId of x: kInt32, kFloat16 or kBFloat16
  uint32_t groupCount;       // G = length of group_index, 0 without it
  uint32_t weightScaleRows;  // rows of weight_scale: 0 (float x), 1 (shared [2H]) or G ([G, 2H])
  uint32_t quantScaleRows;   // rows of quant_scale: 0 (absent), 1 ([H]) or G ([G, H])
  uint32_t activateLeft;     // 1: silu(left half) * right half; 0: silu(right half) * left half
  uint32_t blockDim;         // vector cores used
  uint32_t paramSlots;       // 2: a group's scales load while the previous group's are in use; 1 (large H): in turn
  uint32_t split;            // cores per row: 1, or (few rows) each row's columns cut into `split` parts of
                             // partCols, one per core, the row's max exchanged through the workspace
                             // (blockDim = rows * split)
  uint32_t partCols;         // columns per core of a split row (a multiple of 64; the last part may be shorter)
};

// UB holds one fp32 output row, both halves of the weight scale and the smooth scale of the current
// group (16 H bytes) besides the tiles: 160 KiB of the 184 KiB at H = 8192.
constexpr uint32_t kDequantSwigluQuantMaxHalf = 8192;
constexpr uint32_t kDequantSwigluQuantChunk = 1024;
constexpr uint32_t kDequantSwigluQuantGroupWindow = 512;  // group_index counts in UB at a time (4 KiB)
constexpr uint32_t kDequantSwigluQuantUbBytes = 184 * 1024;  // UB below the API scratch
// Split rows: fewest columns per core and fewest cores per row (with fewer the exchange, ~700 cycles
// of SyncAll and a GM round trip, costs more than the vector work and scale loads it saves; H = 2048,
// 40 cores: 8 rows 2,885 -> 2,583 cycles at 5 cores a row, 13 rows 2,885 -> 2,734 at 3, 16 rows
// 2,885 -> 2,939 at 2).
constexpr uint32_t kDequantSwigluQuantSplitMinCols = 256;
constexpr uint32_t kDequantSwigluQuantSplitMinCores = 3;
constexpr uint32_t kDequantSwigluQuantSplitSlotBytes = 32;  // workspace per core of a split row: its max

}  // namespace ascend_glm5
