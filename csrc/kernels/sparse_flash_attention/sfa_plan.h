// Device-side reads of the SFA plan, and the tiles of an item once its selected-row count is
// known. Both the cube and the vector side cut an item of n selected rows into tiles of
// tileRows the same way, so they agree on every tile without exchanging more than the count.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "sparse_flash_attention_tiling.h"

namespace ascend_glm5 {

class SfaPlan {
 public:
  // AI core `block`'s head line where the heads open the plan (an address that needs no tiling);
  // elsewhere a line of the plan's records.
  __aicore__ inline static GM_ADDR HeadLine(GM_ADDR plan, uint32_t block) {
    return plan + uint64_t(block) * kSfaHeadWords * sizeof(int32_t);
  }
  // Reads AI core `block`'s head: its item range, first item and that item's row come from it.
  __aicore__ inline void Init(GM_ADDR plan, const SparseFlashAttentionTiling& t, uint32_t block) {
    t_ = &t;
    plan_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan), SfaRowFlagOffset(t));
    const uint64_t o = t.headOffset + uint64_t(block) * kSfaHeadWords;
    head_.first = plan_.GetValue(o);
    head_.last = plan_.GetValue(o + 1);
    if (head_.first < head_.last) {
      head_.item = ReadItem(o + 2);
      head_.row = SfaRow{plan_.GetValue(o + 6), plan_.GetValue(o + 7), plan_.GetValue(o + 8), plan_.GetValue(o + 9)};
    }
    headAt_ = o;
  }
  __aicore__ inline SfaRow Row(uint32_t r) const {
    if (head_.first < head_.last && int32_t(r) == head_.item.row) return head_.row;
    const uint64_t o = SfaRowOffset(*t_) + uint64_t(r) * kSfaRecordWords;
    return SfaRow{plan_.GetValue(o), plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3)};
  }
  __aicore__ inline SfaItem Item(uint32_t i) const {
    if (int32_t(i) == head_.first && head_.first < head_.last) return head_.item;
    return ReadItem(t_->itemOffset + uint64_t(i) * kSfaRecordWords);
  }
  __aicore__ inline SfaSplit Split(uint32_t j) const {
    const uint64_t o = t_->splitOffset + uint64_t(j) * kSfaRecordWords;
    return SfaSplit{plan_.GetValue(o), plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3)};
  }
  // Items [first, last) of this AI core (Init's block).
  __aicore__ inline void CoreItems(uint32_t& first, uint32_t& last) const {
    first = static_cast<uint32_t>(head_.first);
    last = static_cast<uint32_t>(head_.last);
  }
  // The (split, head) units [begin, end) that vector core `sub` of this AI core merges. Read from
  // the head when needed (its line is in the scalar cache since Init): the item phase's scalar
  // work stays as it was.
  __aicore__ inline void MergeUnits(uint32_t sub, uint64_t& begin, uint64_t& end) const {
    const uint64_t o = headAt_ + 2 + 2 * kSfaRecordWords + sub;
    begin = uint64_t(plan_.GetValue(o));
    end = uint64_t(plan_.GetValue(o + 1));
  }
  // An item the host already knows to be empty (its row sees no key): no list is made for it.
  __aicore__ inline static bool Empty(const SfaItem& item, const SfaRow& row) {
    return row.end <= 0 || item.posBegin >= item.posEnd;
  }
  // The vector cores' rows of a full tile of `row` (the cube gathers the rest).
  __aicore__ inline uint32_t AivRows(const SfaRow& row) const {
    return row.sorted == kSfaSortWhole ? t_->sortAivRows : t_->aivRows;
  }

 private:
  __aicore__ inline SfaItem ReadItem(uint64_t o) const {
    return SfaItem{plan_.GetValue(o), plan_.GetValue(o + 1), plan_.GetValue(o + 2), plan_.GetValue(o + 3)};
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  AscendC::GlobalTensor<int32_t> plan_;
  SfaCoreHead head_{};
  uint64_t headAt_ = 0;  // int32 offset of this AI core's head in the plan
};

// One tile of an item: `rows` selected rows (1..tileRows).
struct SfaTile {
  uint32_t item = 0;  // index into the plan's items
  SfaItem info{};
  uint32_t rows = 0;
  uint32_t start = 0;                // first selected row of the tile within the item
  bool first = false, last = false;  // first / last tile of its item
  uint32_t aivRows = 0;              // the vector cores' rows of a full tile of its row (SfaPlan::AivRows)
  bool earlyRows = false;            // the cube issues its own rows earlier (kSfaSlotEarlyRows, cube only)
};

// Who gathers a tile's rows: the cube rows [0, cube), vector core 0 the next `v0`, vector core 1
// the last `v1` (the tile's aivRows of a full tile go to the vector cores, in proportion for a short one).
struct SfaShares {
  uint32_t cube, v0, v1;
};
__aicore__ inline SfaShares TileShares(const SfaTile& tile, uint32_t tileRows) {
  const uint32_t aiv = tile.rows * tile.aivRows / tileRows, v0 = (aiv + 1) / 2;
  return SfaShares{tile.rows - aiv, v0, aiv - v0};
}

// Rows one gather copy takes (sfa-stride): tile rows [start, start + len) <- cache rows row, row +
// step, row + 2 step, ... (step 1: contiguous). A sorted list's rows rise, so its neighbours mostly
// go two or more a copy instead of one each (a copy's fixed cost), as far apart as the copy's
// source stride reaches (maxStep: the cube's 16-bit srcDValue, the vector cores' 32-bit byte gap).
struct SfaRun {
  uint32_t start = 0, len = 0, step = 1;
  uint64_t row = 0;
  // Takes cache row `next` if it continues the run: its next row, or (a run of one row) its second,
  // at most maxStep on, which sets the step.
  __aicore__ inline bool Extend(uint64_t next, uint32_t maxStep) {
    if (len == 1 && next > row && next - row <= maxStep) {
      step = uint32_t(next - row);
    } else if (len <= 1 || next != row + uint64_t(len) * step) {
      return false;
    }
    ++len;
    return true;
  }
};

// The tiles of an item of `count` selected rows, in order.
class SfaTileCursor {
 public:
  __aicore__ inline void Reset(uint32_t item, const SfaItem& info, uint32_t count, uint32_t tileRows, uint32_t aivRows,
                               bool earlyRows = false) {
    tileRows_ = tileRows;
    aivRows_ = aivRows;
    earlyRows_ = earlyRows;
    item_ = item;
    info_ = info;
    count_ = count;
    done_ = 0;
  }
  __aicore__ inline bool Next(SfaTile& tile) {
    if (done_ >= count_) return false;
    const uint32_t left = count_ - done_;
    tile = SfaTile{item_, info_, left < tileRows_ ? left : tileRows_, done_, done_ == 0, false, aivRows_, earlyRows_};
    done_ += tile.rows;
    tile.last = done_ == count_;
    return true;
  }

 private:
  SfaItem info_{};
  uint32_t item_ = 0, count_ = 0, done_ = 0, tileRows_ = kSfaMinTileRows, aivRows_ = 0;
  bool earlyRows_ = false;
};

}  // namespace ascend_glm5
