#include <algorithm>
#include <stdexcept>
#include <string>

#include "../../kernels/common/host_device.h"
#include "moe_finalize_routing_host.h"

namespace ascend_glm5::host {
namespace {

// Columns per tile: the multiple of 64 (up to kMoeFinalizeChunk) whose busiest core has the least
// work, a tile costing its columns plus a fixed overhead. Few tokens (decode) get narrow tiles so
// that every core has some; many tokens keep the widest.
uint32_t ChooseChunk(uint64_t tokens, uint32_t hidden, uint32_t aivCores) {
  constexpr uint64_t kTileOverheadColumns = 256;
  const uint32_t widest = std::min(kMoeFinalizeChunk, AlignUp(hidden, 64));
  uint32_t best = widest;
  uint64_t bestCost = ~0ull;
  for (uint32_t chunk = widest; chunk >= 64; chunk -= 64) {
    const uint64_t tiles = std::max<uint64_t>(1, tokens) * CeilDiv(hidden, chunk);
    const uint64_t cost = (tiles + aivCores - 1) / aivCores * (chunk + kTileOverheadColumns);
    if (cost < bestCost) {
      bestCost = cost;
      best = chunk;
    }
  }
  return best;
}

}  // namespace

MoeFinalizeRoutingTiling MakeMoeFinalizeRoutingTiling(uint64_t tokens, uint32_t topK, uint32_t hidden, uint32_t dtype,
                                                      bool rowOrder, bool hasSkip1, bool hasSkip2, uint32_t experts,
                                                      bool hasBias, bool hasScales, uint32_t aivCores) {
  const std::string op = "moe_finalize_routing: ";
  if (topK > kMoeFinalizeMaxTopK) throw std::invalid_argument(op + "K must be at most " + std::to_string(kMoeFinalizeMaxTopK));
  if (tokens * topK > 0x7FFFFFFFull) throw std::invalid_argument(op + "T * K must be below 2**31");
  if (hidden == 0) throw std::invalid_argument(op + "H must be >= 1");
  if (dtype != kFloat16 && dtype != kBFloat16 && dtype != kFloat32)
    throw std::invalid_argument(op + "rows must be fp16, bf16 or fp32");
  if (hasSkip2 && !hasSkip1) throw std::invalid_argument(op + "skip2 needs skip1");
  MoeFinalizeRoutingTiling t{};
  t.tokens = static_cast<uint32_t>(tokens);
  t.topK = topK;
  t.hidden = hidden;
  t.chunk = ChooseChunk(tokens, hidden, std::max(1u, aivCores));
  t.dtype = dtype;
  t.rowOrder = rowOrder ? 1 : 0;
  t.hasSkip1 = hasSkip1 ? 1 : 0;
  t.hasSkip2 = hasSkip2 ? 1 : 0;
  t.hasBias = hasBias ? 1 : 0;
  t.hasScales = hasScales ? 1 : 0;
  t.experts = experts;
  const uint64_t tiles = tokens * CeilDiv(hidden, t.chunk);
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(tiles, aivCores)));
  return t;
}

}  // namespace ascend_glm5::host
