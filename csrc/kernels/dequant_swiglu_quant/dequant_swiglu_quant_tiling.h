// Tiling of the dequant -> SwiGLU -> per-token int8 quant kernel, shared by host and kernel.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

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

// UB layout. The kernel allocates, in this order (every size a multiple of 32 bytes): a split row's
// maxima, the input tiles (both halves), the int8 output tiles, the fp32 row, the fp32 tiles a and b,
// a half tile, the small values, the group_index window (int64 and int32), then a pad, the fp32 exp
// tile e and the group scales. The pad puts e and the scales 256 B off a and b modulo 512 (the other
// half of UB's 16 bank groups: 32-B rows, group = address bits [8:5]) and, where UB has room, past
// 64 KiB (another bank than a, b and the row: bank = group + bits [17:16]). Then the tile's binary
// ops (a x weight scale, b x weight scale, a / e, e x b, each reading two operands and writing the
// previous repeat) take one beat a repeat instead of two.
__aicore__ inline constexpr uint32_t DsqWindow(const DequantSwigluQuantTiling& t) {
  return t.groupCount < kDequantSwigluQuantGroupWindow ? t.groupCount : kDequantSwigluQuantGroupWindow;
}
// Bytes before tile a.
__aicore__ inline constexpr uint32_t DsqTileAOffset(const DequantSwigluQuantTiling& t, uint32_t span) {
  const uint32_t xBytes = t.dtype == kInt32 ? 4 : 2;
  return (t.split > 1 ? t.split * kDequantSwigluQuantSplitSlotBytes : 0) + 2 * 2 * t.chunk * xBytes + 2 * t.chunk + span * 4;
}
// Bytes before the pad.
__aicore__ inline constexpr uint32_t DsqFrontBytes(const DequantSwigluQuantTiling& t, uint32_t span) {
  return DsqTileAOffset(t, span) + 2 * t.chunk * 4 + t.chunk * 2 + (8 + 2 * 64) * 4 + AlignUp(DsqWindow(t), 4) * 8 +
         AlignUp(DsqWindow(t), 8) * 4;
}
// Bytes after the pad: e and the group scales.
__aicore__ inline constexpr uint32_t DsqBackBytes(const DequantSwigluQuantTiling& t, uint32_t span, uint32_t slots) {
  const uint32_t paramFloats = (t.weightScaleRows ? 2 * span : 0) + (t.quantScaleRows ? span : 0);
  return t.chunk * 4 + slots * paramFloats * 4;
}
__aicore__ inline constexpr uint32_t DsqPadBytes(const DequantSwigluQuantTiling& t, uint32_t span, uint32_t slots) {
  const uint32_t front = DsqFrontBytes(t, span), back = DsqBackBytes(t, span, slots);
  const uint32_t groups = (DsqTileAOffset(t, span) + 256 + 512 - front % 512) % 512;  // e at a + 256 mod 512
  const uint32_t bank = front + groups < 65536 ? groups + (65536 - front - groups + 511) / 512 * 512 : groups;
  return front + bank + back <= kDequantSwigluQuantUbBytes ? bank : groups;
}

}  // namespace ascend_glm5
