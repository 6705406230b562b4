// Tiling of the MoE combine kernel (torch_npu npu_moe_finalize_routing), shared by host and kernel.
#pragma once

#include <cstdint>

namespace ascend_glm5 {

struct MoeFinalizeRoutingTiling {
  uint32_t tokens;     // T
  uint32_t topK;       // K (<= kMoeFinalizeMaxTopK)
  uint32_t hidden;     // H
  uint32_t chunk;      // columns per tile, a multiple of 64 (<= kMoeFinalizeChunk)
  uint32_t dtype;      // DTypeId of the rows, skips, bias and output: kFloat16, kBFloat16 or kFloat32
  uint32_t rowOrder;   // 1: index of (t, k) at t*K + k (drop_pad_mode 2); 0: at k*T + t (drop_pad_mode 0)
  uint32_t hasSkip1;
  uint32_t hasSkip2;
  uint32_t hasBias;    // bias [experts, H] indexed by export_for_source_row
  uint32_t hasScales;  // fp32 [T, K]; without them every weight is 1
  uint32_t experts;    // rows of bias
  uint32_t blockDim;   // vector cores used
};

constexpr uint32_t kMoeFinalizeMaxTopK = 64;  // valid slots of a token are kept as a 64-bit mask
constexpr uint32_t kMoeFinalizeChunk = 2048;
constexpr uint32_t kMoeFinalizeMaxLoads = 8;         // row loads in flight ahead of the vector unit (event ids 0-7)
constexpr uint32_t kMoeFinalizeLoadBytes = 64 * 1024;  // UB for them (>= 4 loads of the widest tile)
constexpr uint32_t kMoeFinalizeGmDst = 16;  // a one-token batch's dst words are read from GM up to this K
constexpr uint32_t kMoeFinalizeUbBytes = 184 * 1024;  // UB below the API scratch
constexpr uint32_t kMoeFinalizeIndexWords = 2048;  // dst (and scales, expert ids) words of a token batch in UB

}  // namespace ascend_glm5
