#include <algorithm>
#include <stdexcept>
#include <string>

#include "moe_init_routing_v2_host.h"

namespace ascend_glm5::host {

MoeInitRoutingTiling MakeMoeInitRoutingTiling(uint64_t pairs, uint32_t topK, uint64_t rowBytes, uint32_t expertStart,
                                              uint32_t experts, uint32_t rowIdxType, uint32_t countType,
                                              bool hasScale, uint32_t aivCores) {
  const std::string op = "moe_init_routing_v2: ";
  if (pairs > 0x7FFFFFFFull) throw std::invalid_argument(op + "T * K must be below 2**31");
  if (topK == 0 || pairs % topK) throw std::invalid_argument(op + "T * K pairs with K >= 1 expected");
  if (rowBytes == 0 || rowBytes > 0xFFFFFFFFull) throw std::invalid_argument(op + "a row of x must have 1 to 2**32 - 1 bytes");
  if (experts == 0 || experts > kMoeRoutingMaxExperts)
    throw std::invalid_argument(op + "the active expert range must hold 1 to " + std::to_string(kMoeRoutingMaxExperts) +
                                " experts");
  MoeInitRoutingTiling t{};
  t.pairs = static_cast<uint32_t>(pairs);
  t.topK = topK;
  t.rowBytes = static_cast<uint32_t>(rowBytes);
  t.expertStart = expertStart;
  t.experts = experts;
  t.rowIdxType = rowIdxType;
  t.countType = countType;
  t.hasScale = hasScale ? 1 : 0;
  t.blockDim = static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(pairs, aivCores)));
  // Enough pairs (ids through UB) and every core's counts within the UB share: each core counts
  // only its pairs instead of all of them.
  static_assert(kMoeRoutingSplitPairs > kMoeRoutingGmIds, "split counts need the ids in UB");
  const uint64_t allCounts = uint64_t(t.blockDim) * MoeRoutingCountWords(experts) * MoeRoutingSplitCountBytes(t.pairs);
  t.splitCounts = t.blockDim > 1 && pairs >= kMoeRoutingSplitPairs && allCounts <= kMoeRoutingSplitUbBytes ? 1 : 0;
  return t;
}

uint64_t MoeInitRoutingWorkspaceBytes(const MoeInitRoutingTiling& t) {
  return t.splitCounts ? MoeRoutingSplitBytes(t.pairs, t.experts, t.blockDim) : 0;
}

}  // namespace ascend_glm5::host
