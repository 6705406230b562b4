// Tiling of the MoE routing kernel (torch_npu npu_moe_init_routing_v2 subset), shared by host and kernel.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

namespace ascend_glm5 {

struct MoeInitRoutingTiling {
  uint32_t pairs;        // P = T * K (token, slot) pairs
  uint32_t topK;         // K
  uint32_t rowBytes;     // bytes of one row of x
  uint32_t expertStart;  // active experts [start, end); other ids are dropped
  uint32_t experts;      // end - start (<= kMoeRoutingMaxExperts)
  uint32_t rowIdxType;   // 0: gather (entry j = expanded row of pair j), 1: scatter (entry i = pair of row i)
  uint32_t countType;    // 0: cumulative counts, 1: counts
  uint32_t hasScale;     // 1 if the per-token scale [T] is gathered too
  uint32_t blockDim;     // vector cores used
  uint32_t splitCounts;  // 1: each core counts its own pairs, the counts meet in the GM workspace (SyncAll)
};

constexpr uint32_t kMoeRoutingMaxExperts = 4096;  // about four int32 per expert stay in UB
constexpr uint32_t kMoeRoutingIdChunk = 2048;     // expert ids per UB load while scanning
constexpr uint32_t kMoeRoutingRange = 4096;       // output rows a core settles per scan
constexpr uint32_t kMoeRoutingRowChunk = 16384;   // bytes per row-copy tile
constexpr uint32_t kMoeRoutingScaleWords = 4096;  // per-token scales kept in UB up to this many tokens
constexpr uint32_t kMoeRoutingMaxCopySlots = 8;   // row copies in flight (event ids 0-7)
constexpr uint32_t kMoeRoutingGmIds = 16;         // up to this many ids are read from GM by the scalar unit
constexpr uint32_t kMoeRoutingUbBytes = 184 * 1024;  // UB the kernel's buffers may take
constexpr uint32_t kMoeRoutingSplitUbBytes = 64 * 1024;  // UB for every core's counts when they are split
// Split counts from this many pairs: below, the exchange (a GM round trip after SyncAll, ~1,500
// cycles) costs more than counting every pair on every core (48 pairs: slower, 64: -6 %).
constexpr uint32_t kMoeRoutingSplitPairs = 64;

// Words of one core's table of per-bucket counts (E + 1 buckets: the dropped pairs' last), laid out
// transposed in 8 rows of one word per group of 8 buckets, the groups rounded up to 8 (32-byte rows).
__aicore__ inline constexpr uint32_t MoeRoutingCountWords(uint32_t experts) {
  return 8 * AlignUp(CeilDiv(experts + 1, 8), 8);
}
// Bytes of one count exchanged between the cores (split counts): int16 holds every sum below 2^15 pairs.
__aicore__ inline constexpr uint32_t MoeRoutingSplitCountBytes(uint32_t pairs) { return pairs < 32768 ? 2 : 4; }
// GM workspace (and UB) for every core's counts.
__aicore__ inline constexpr uint32_t MoeRoutingSplitBytes(uint32_t pairs, uint32_t experts, uint32_t cores) {
  return cores * MoeRoutingCountWords(experts) * MoeRoutingSplitCountBytes(pairs);
}

}  // namespace ascend_glm5
