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

// The kernel's UB, in the order it allocates it (every size a multiple of 32 B; chunk a multiple of
// 64): a split row's maxima, input tiles (16-bit, with the smooth scales' beside x's), int8 output
// tiles, the fp32 row, a pad, the scratch tile tmp, a pad, the scratch tile work, a pad, the two-block
// sign mask, a half tile, the scale batch, then (with smooth scales) a pad and the fp32 smooth scales.
// The pads place the buffers for UB's banks (32-B rows in 16 bank groups, group = address bits [8:5],
// times three 64-KiB banks; a vector repeat reads one row a group and writes the previous repeat's
// rows, a bank serving one access a beat; ub_banks.cpp):
// - tmp 256 B past the row modulo 512 (whole rows a core): the And over every other repeat of the
//   row (one half of the groups) writes tmp's other half (TileAbsMaxByBits);
// - work from the next 64-KiB bank past tmp's last byte, where UB has room: the Max steps between tmp
//   and work then write another bank than they read, and the sign mask (behind work) is read in
//   another bank than tmp's writes;
// - the mask's blocks in the row's groups 7 and 8, one beside each half of the groups;
// - the smooth scales 65,280 B past the row (256 B short of 64 KiB), in the other half of the groups
//   and another bank than the row's writes of the in-place row x scales `Mul`; where that does not
//   fit, 256 B past the row modulo 512 (the groups only).
// A split row's core (one tile, cols = chunk, on the latency path: one And, halving in place) keeps tmp
// and work right after the row.
struct DynamicQuantUbPlan {
  uint32_t tmpPad, workPad, maskPad, smoothPad, bytes;
};
__aicore__ inline constexpr DynamicQuantUbPlan PlanDynamicQuantUbWith(uint32_t cols, uint32_t chunk, bool hasSmooth,
                                                                      uint32_t split, bool workApart) {
  const bool wholeRows = split <= 1;
  const uint32_t rowBytes = CeilDiv(cols, chunk) * chunk * 4;
  const uint32_t row = (wholeRows ? 0 : split * kDynamicQuantSplitSlotBytes) + 2 * (hasSmooth ? 2 : 1) * chunk * 2 + 2 * chunk;
  DynamicQuantUbPlan p{};
  p.tmpPad = wholeRows ? (row + 256 + 512 - (row + rowBytes) % 512) % 512 : 0;
  const uint32_t tmpEnd = row + rowBytes + p.tmpPad + chunk * 4;
  p.workPad = workApart && wholeRows ? AlignUp(tmpEnd, 65536) - tmpEnd : 0;
  const uint32_t workEnd = tmpEnd + p.workPad + chunk * 4;
  p.maskPad = (row + 224 + 512 - workEnd % 512) % 512;
  const uint32_t smoothAt = workEnd + p.maskPad + 64 + chunk * 2 + 64 * 4;
  const uint32_t apart = row + 65536 - 256;
  if (hasSmooth) {
    p.smoothPad = apart >= smoothAt && apart + rowBytes <= kDynamicQuantUbBytes ? apart - smoothAt
                                                                                 : (row + 256 + 512 - smoothAt % 512) % 512;
  }
  p.bytes = smoothAt + p.smoothPad + (hasSmooth ? rowBytes : 0);
  return p;
}
__aicore__ inline constexpr DynamicQuantUbPlan PlanDynamicQuantUb(uint32_t cols, uint32_t chunk, bool hasSmooth,
                                                                  uint32_t split) {
  const DynamicQuantUbPlan apart = PlanDynamicQuantUbWith(cols, chunk, hasSmooth, split, true);
  return apart.bytes <= kDynamicQuantUbBytes ? apart : PlanDynamicQuantUbWith(cols, chunk, hasSmooth, split, false);
}

}  // namespace ascend_glm5
