// Device-side reads of the Lightning Indexer plan tables (see lightning_indexer_tiling.h).
#pragma once

#include "kernel_operator.h"
#include "lightning_indexer_tiling.h"

namespace ascend_glm5 {

class LiPlan {
 public:
  __aicore__ inline void Init(GM_ADDR plan, const LightningIndexerTiling& t) {
    plan_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan), t.planWords);
    t_ = &t;
  }
  __aicore__ inline LiRow Row(uint32_t r) const {
    const uint32_t o = t_->rowOffset + r * 4;
    return LiRow{plan_.GetValue(o), plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3)};
  }
  __aicore__ inline LiItem ItemAt(uint32_t o) const {
    return LiItem{plan_.GetValue(o),     plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3),
                  plan_.GetValue(o + 4), plan_.GetValue(o + 5), plan_.GetValue(o + 6), plan_.GetValue(o + 7)};
  }
  __aicore__ inline LiMerge Merge(uint32_t i) const {
    const uint32_t o = t_->mergeOffset + i * t_->mergeWords;
    return LiMerge{plan_.GetValue(o),     plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3),
                   plan_.GetValue(o + 4), plan_.GetValue(o + 5), plan_.GetValue(o + 6), plan_.GetValue(o + 7)};
  }
  // The band edges' codes of merge i, a final merge in parts (mergeWords kLiMergeWordsWithEdges;
  // LiPackEdge): in its record's line, before it (LiEdgeWordsBefore).
  __aicore__ inline void BandEdges(uint32_t i, int32_t& hi, int32_t& lo) const {
    const uint32_t o = t_->mergeOffset + i * t_->mergeWords - kLiEdgeWordsBefore;
    hi = plan_.GetValue(o);
    lo = plan_.GetValue(o + 1);
  }
  // Merges [first, last) of phase-2 level `level`.
  __aicore__ inline void LevelMerges(uint32_t level, uint32_t& first, uint32_t& last) const {
    first = static_cast<uint32_t>(plan_.GetValue(t_->levelOffset + level));
    last = static_cast<uint32_t>(plan_.GetValue(t_->levelOffset + level + 1));
  }
  // Items [first, last) of AI core `block`, from its core record (one 64-byte line).
  __aicore__ inline void CoreItems(uint32_t block, uint32_t& first, uint32_t& last) const {
    first = static_cast<uint32_t>(plan_.GetValue(t_->coreOffset + block * kLiCoreWords));
    last = static_cast<uint32_t>(plan_.GetValue(t_->coreOffset + block * kLiCoreWords + 1));
  }
  // Item i of AI core `block` whose items start at `first`: the first one is a copy in the core
  // record (already in the scalar cache after CoreItems), the others are in the item table.
  __aicore__ inline LiItem CoreItem(uint32_t block, uint32_t first, uint32_t i) const {
    return i == first ? ItemAt(t_->coreOffset + block * kLiCoreWords + 8) : ItemAt(t_->itemOffset + i * 8);
  }

 private:
  AscendC::GlobalTensor<int32_t> plan_;
  const LightningIndexerTiling* t_ = nullptr;
};

// Cube -> vector handshake over the ringSlots-slot workspace ring (cross-core mode 2, within a block).
constexpr uint16_t kLiFlagTileReady = 0;  // AIC -> both AIVs: a score tile is in the ring
constexpr uint16_t kLiFlagTileFree = 1;   // each AIV -> AIC: the tile was copied out of the ring

}  // namespace ascend_glm5
