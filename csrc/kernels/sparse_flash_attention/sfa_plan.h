// Device-side reads of the SFA plan and of sparse_indices, shared by the cube and vector sides so
// that both derive the same tiles from the same selection rule.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "sparse_flash_attention_tiling.h"

namespace ascend_glm5 {

// The selected ids of one row, left to right: reading stops at the first -1, ids outside
// [0, end) are skipped, a repeated id is returned once per occurrence.
class SelectedIds {
 public:
  __aicore__ inline void Reset(const AscendC::GlobalTensor<int32_t>& indices, uint32_t row, uint32_t count, int32_t end) {
    indices_ = indices;
    base_ = uint64_t(row) * count;
    count_ = count;
    end_ = end;
    pos_ = 0;
  }
  // The next selected id, or -1 when the row has no more.
  __aicore__ inline int32_t Next() {
    while (pos_ < count_) {
      const int32_t id = indices_.GetValue(base_ + pos_++);
      if (id == -1) break;
      if (id >= 0 && id < end_) return id;
    }
    pos_ = count_;
    return -1;
  }

 private:
  AscendC::GlobalTensor<int32_t> indices_;
  uint64_t base_ = 0;
  uint32_t count_ = 0, pos_ = 0;
  int32_t end_ = 0;
};

// One tile of a row: `rows` selected ids (1..kSfaTileRows; 0 only for a row with none).
struct SfaTile {
  uint32_t row = 0;
  SfaRow info{};
  uint32_t rows = 0;
  bool first = false, last = false;  // first / last tile of its row
};

// The tiles of a range of query rows, in order. Every row yields at least one tile, so rows
// without selected ids are reported too (rows == 0).
class SfaTiles {
 public:
  __aicore__ inline void Init(GM_ADDR plan, GM_ADDR indices, const SparseFlashAttentionTiling& t, uint32_t rowBegin,
                              uint32_t rowEnd) {
    plan_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan), uint64_t(t.numRows) * kSfaRowWords);
    indices_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(indices), uint64_t(t.numRows) * t.sparseCount);
    sparseCount_ = t.sparseCount;
    row_ = rowBegin;
    rowEnd_ = rowEnd;
    selected_ = done_ = 0;
    started_ = false;
  }

  __aicore__ inline bool Next(SfaTile& tile) {
    if (!started_ || done_ == selected_) {  // current row finished: move to the next one
      if (started_) ++row_;
      started_ = true;
      if (row_ >= rowEnd_) return false;
      info_ = Row(row_);
      selected_ = CountSelected();
      done_ = 0;
      if (selected_ == 0) {
        tile = SfaTile{row_, info_, 0, true, true};
        return true;
      }
    }
    const uint32_t left = selected_ - done_;
    tile = SfaTile{row_, info_, left < kSfaTileRows ? left : kSfaTileRows, done_ == 0, false};
    done_ += tile.rows;
    tile.last = done_ == selected_;
    return true;
  }

  // Like Next, but skips rows without selected ids.
  __aicore__ inline bool NextWork(SfaTile& tile) {
    while (Next(tile))
      if (tile.rows > 0) return true;
    return false;
  }

  __aicore__ inline const AscendC::GlobalTensor<int32_t>& Indices() const { return indices_; }
  __aicore__ inline uint32_t SparseCount() const { return sparseCount_; }

 private:
  __aicore__ inline SfaRow Row(uint32_t r) const {
    const uint64_t o = uint64_t(r) * kSfaRowWords;
    return SfaRow{plan_.GetValue(o), plan_.GetValue(o + 1), plan_.GetValue(o + 2), 0};
  }
  __aicore__ inline uint32_t CountSelected() {
    if (info_.end <= 0) return 0;
    SelectedIds ids;
    ids.Reset(indices_, row_, sparseCount_, info_.end);
    uint32_t n = 0;
    while (ids.Next() >= 0) ++n;
    return n;
  }

  AscendC::GlobalTensor<int32_t> plan_, indices_;
  SfaRow info_{};
  uint32_t sparseCount_ = 0, row_ = 0, rowEnd_ = 0, selected_ = 0, done_ = 0;
  bool started_ = false;
};

}  // namespace ascend_glm5
