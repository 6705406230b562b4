// Tiling of the per-token dynamic int8 quantization kernel, shared by host and kernel.
#pragma once

#include <cstdint>

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

}  // namespace ascend_glm5
