// Work split of the quantized GEMM engine: which items a block runs, in order.
//
// Items are enumerated group by group (rows of group g start after those of groups < g), then by
// row block (itemRows rows, or all the group's rows), then by column tile. Each item costs
// max(kQGemmWeightCostRows, A rows it issues); the total cost is cut into blockDim equal ranges and
// an item belongs to the block whose range holds its midpoint. The cube core and both vector cores
// of a block walk the same sequence, computed from the group list in GM, so the split adapts to
// the routing without a host round trip. Group counts are clamped to [0, rows left].
#pragma once

#include "kernel_operator.h"
#include "host_device.h"
#include "qgemm_tiling.h"

namespace ascend_glm5 {

struct QGemmItem {
  uint32_t group;
  uint32_t row0;    // first activation row
  uint32_t rows;    // activation rows (>= 1)
  uint32_t n0;      // first output column
  uint32_t nValid;  // columns of this tile inside N
  uint32_t kStep0;  // first K step (split-K: the piece's; else 0)
  uint32_t kSteps;  // K steps (chunksPerPass unless split)
  uint32_t tile;    // column tile index
  uint32_t part;    // split-K: index of this block among the blocks holding pieces of the tile
  uint32_t parts;   // split-K: how many blocks hold pieces of the tile (1 unless split)
  uint32_t slot;    // split-K: the block's workspace slot of this piece
  uint32_t last;    // split-K: 1 for the block's last piece
  // K-chunked prefill (QGemmChunkWalk): the item is K chunk kChunk of kChunks of its tile; rowsLoaded:
  // an earlier tile of its run loaded the chunk's rows (still in L1).
  uint32_t kChunk;
  uint32_t kChunks;
  uint32_t rowsLoaded;
};

// A rows one pass of `tokens` activation rows puts on the cube, rounded up to whole fractals.
__aicore__ inline uint32_t QGemmPassRows(const QGemmTiling& t, uint32_t tokens) {
  return AlignUp(t.msd ? 2 * tokens + 1 : tokens, 16);
}

__aicore__ inline uint64_t QGemmItemCost(const QGemmTiling& t, uint32_t rows) {
  uint64_t issued = 0;
  for (uint32_t done = 0; done < rows; done += t.tokensPerPass) {
    const uint32_t tokens = rows - done < t.tokensPerPass ? rows - done : t.tokensPerPass;
    issued += QGemmPassRows(t, tokens);
  }
  return issued > kQGemmWeightCostRows ? issued : kQGemmWeightCostRows;
}

class QGemmSchedule {
 public:
  __aicore__ inline void Init(const QGemmTiling& t, GM_ADDR groupList, uint32_t block) {
    t_ = &t;
    block_ = block;
    if (t.hasGroupList) counts_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(groupList), t.groups);
    nTiles_ = t.nTiles;
    if (t.splitK) {  // no costs; and the group list is read only up to the one group with rows
      InitSplit();
      return;
    }
    // Pass 1: total cost.
    total_ = 0;
    uint32_t rowsLeft = t.m;
    for (uint32_t g = 0; g < t.groups; ++g) {
      const uint32_t rows = GroupRows(g, rowsLeft);
      rowsLeft -= rows;
      total_ += GroupCost(rows);
    }
    totalRows_ = t.m - rowsLeft;
    g_ = 0;
    row0_ = 0;
    start_ = 0;
    rowsLeft_ = t.m;
    EnterGroup();
  }

  // Activation rows that belong to a group (the rest get no output but zeros).
  __aicore__ inline uint32_t TotalRows() const { return totalRows_; }

  // The next item of this block; false when there is none.
  __aicore__ inline bool Next(QGemmItem& item) {
    if (t_->splitK) return NextPiece(item);
    while (g_ < t_->groups) {
      if (done_) {
        NextGroup();
        continue;
      }
      const uint32_t rows = BlockRows(mb_);
      const uint64_t cost = QGemmItemCost(*t_, rows);
      const uint32_t owner = Owner(start_, cost);
      const uint32_t j = j_, mb = mb_;
      Advance();
      start_ += cost;
      if (owner < block_) continue;
      if (owner > block_) {  // midpoints only grow: nothing further belongs to this block
        g_ = t_->groups;
        return false;
      }
      item.group = g_;
      item.row0 = row0_ + mb * RowsPerItem();
      item.rows = rows;
      item.n0 = QGemmColumnStart(*t_, j);
      item.nValid = QGemmColumnStart(*t_, j + 1) - item.n0;
      item.kStep0 = 0;
      item.kSteps = t_->chunksPerPass;
      item.tile = j;
      item.part = 0;
      item.parts = 1;
      item.slot = 0;
      item.last = 0;
      item.kChunk = 0;
      item.kChunks = 1;
      item.rowsLoaded = 0;
      return true;
    }
    return false;
  }

 private:
  // Split-K: one group has rows (one pass; the groups before it have none, so its rows start at
  // row 0); this block runs steps [step_, end_) of its column tiles. Reads only the fields of the
  // tiling's stream head (qgemm_tiling.h). The host splits K only when at most one group can have
  // rows (no group list, or one row), so the groups after it have none.
  __aicore__ inline void InitSplit() {
    row0_ = 0;
    totalRows_ = 0;
    for (g_ = 0; g_ < t_->groups; ++g_) {
      groupRows_ = GroupRows(g_, t_->m);
      if (groupRows_ > 0) break;
    }
    if (g_ < t_->groups) totalRows_ = groupRows_;
    step_ = QGemmSplitStart(*t_, block_);
    end_ = g_ < t_->groups ? QGemmSplitStart(*t_, block_ + 1) : step_;
  }
  __aicore__ inline bool NextPiece(QGemmItem& item) {
    if (step_ >= end_) return false;
    const uint32_t chunks = t_->chunksPerPass, j = uint32_t(step_ / chunks);
    const uint64_t tileStart = uint64_t(j) * chunks, tileEnd = tileStart + chunks;
    const uint64_t pieceEnd = end_ < tileEnd ? end_ : tileEnd;
    item.group = g_;
    item.row0 = row0_;
    item.rows = groupRows_;
    item.n0 = QGemmColumnStart(*t_, j);
    item.nValid = QGemmColumnStart(*t_, j + 1) - item.n0;
    item.kStep0 = uint32_t(step_ - tileStart);
    item.kSteps = uint32_t(pieceEnd - step_);
    item.tile = j;
    const uint32_t first = QGemmSplitBlock(*t_, tileStart);
    item.part = block_ - first;
    item.parts = QGemmSplitBlock(*t_, tileEnd - 1) - first + 1;
    item.slot = QGemmSplitSlot(*t_, block_, j);
    item.last = pieceEnd >= end_ ? 1 : 0;
    item.kChunk = 0;
    item.kChunks = 1;
    item.rowsLoaded = 0;
    step_ = pieceEnd;
    return true;
  }
  __aicore__ inline uint32_t GroupRows(uint32_t g, uint32_t rowsLeft) const {
    if (!t_->hasGroupList) return rowsLeft;
    const int64_t c = counts_.GetValue(g);
    if (c <= 0) return 0;
    return uint64_t(c) < rowsLeft ? uint32_t(c) : rowsLeft;
  }
  __aicore__ inline uint32_t RowsPerItem() const { return t_->itemRows ? t_->itemRows : groupRows_; }
  __aicore__ inline uint32_t BlockRows(uint32_t mb) const {
    const uint32_t per = RowsPerItem(), first = mb * per;
    return groupRows_ - first < per ? groupRows_ - first : per;
  }
  __aicore__ inline uint64_t GroupCost(uint32_t rows) const {
    if (rows == 0) return 0;
    const uint32_t per = t_->itemRows ? t_->itemRows : rows;
    const uint32_t full = rows / per, tail = rows % per;
    uint64_t c = uint64_t(full) * QGemmItemCost(*t_, per);
    if (tail) c += QGemmItemCost(*t_, tail);
    return c * nTiles_;
  }
  // Block whose cost range holds the item's midpoint start + cost / 2.
  __aicore__ inline uint32_t Owner(uint64_t start, uint64_t cost) const {
    const uint64_t b = ((2 * start + cost) * t_->blockDim) / (2 * total_);
    return b < t_->blockDim ? uint32_t(b) : t_->blockDim - 1;
  }
  __aicore__ inline void EnterGroup() {
    while (g_ < t_->groups) {
      groupRows_ = GroupRows(g_, rowsLeft_);
      const uint64_t cost = GroupCost(groupRows_);
      if (groupRows_ > 0 && Owner(start_ + cost - 1, 1) >= block_) break;  // some item may be ours
      start_ += cost;
      row0_ += groupRows_;
      rowsLeft_ -= groupRows_;
      ++g_;
    }
    mb_ = 0;
    j_ = 0;
    done_ = false;
  }
  __aicore__ inline void NextGroup() {
    row0_ += groupRows_;
    rowsLeft_ -= groupRows_;
    ++g_;
    EnterGroup();
  }
  __aicore__ inline void Advance() {
    if (++j_ < nTiles_) return;
    j_ = 0;
    if ((++mb_) * RowsPerItem() >= groupRows_) done_ = true;
  }

  const QGemmTiling* t_ = nullptr;
  AscendC::GlobalTensor<int64_t> counts_;
  uint32_t block_ = 0, nTiles_ = 0, totalRows_ = 0;
  uint64_t total_ = 0, start_ = 0;
  uint64_t step_ = 0, end_ = 0;  // split-K
  uint32_t g_ = 0, row0_ = 0, rowsLeft_ = 0, groupRows_ = 0, mb_ = 0, j_ = 0;
  bool done_ = false;
};

// The cube's walk over its block's items. With t.chunkSteps (prefill), a run of consecutive tiles on
// the same rows runs K chunk by K chunk: chunk c of every tile of the run, then chunk c + 1. The
// chunk's rows are loaded once, by the run's first tile, and stay in L1 for the others: a block
// reads its rows once per run instead of once per tile. Each (tile, chunk) is an item with a K range;
// its sum is added into the tile's handoff slot (QGemmHandoff::PutChunk).
class QGemmChunkWalk {
 public:
  __aicore__ inline void Init(const QGemmTiling& t, GM_ADDR groupList, uint32_t block) {
    t_ = &t;
    sched_.Init(t, groupList, block);
    if (t.chunkSteps == 0) return;
    chunks_ = CeilDiv(t.chunksPerPass, uint32_t(t.chunkSteps));
    StartRun();
  }

  __aicore__ inline bool Next(QGemmItem& item) {
    if (t_->chunkSteps == 0) return sched_.Next(item);
    if (!valid_) return false;
    const uint32_t j = first_.tile + i_, k0 = chunk_ * t_->chunkSteps;
    item = first_;
    item.tile = j;
    item.n0 = QGemmColumnStart(*t_, j);
    item.nValid = QGemmColumnStart(*t_, j + 1) - item.n0;
    item.kStep0 = k0;
    item.kSteps = t_->chunksPerPass - k0 < t_->chunkSteps ? t_->chunksPerPass - k0 : t_->chunkSteps;
    item.slot = ordinal_ + i_;  // the tile's place among the block's tiles (its slot: modulo slotsPerBlock)
    item.kChunk = chunk_;
    item.kChunks = chunks_;
    item.rowsLoaded = i_ > 0 ? 1 : 0;
    if (++i_ < runTiles_) return true;
    i_ = 0;
    if (++chunk_ < chunks_) return true;
    ordinal_ += runTiles_;
    StartRun();
    return true;
  }

 private:
  // The next run: the schedule's next item and the items after it on the same rows.
  __aicore__ inline void StartRun() {
    valid_ = sched_.Next(first_);
    runTiles_ = 1;
    i_ = 0;
    chunk_ = 0;
    if (!valid_) return;
    QGemmSchedule ahead = sched_;
    QGemmItem next;
    while (runTiles_ < kQGemmMaxRunTiles && ahead.Next(next) && next.row0 == first_.row0 && next.group == first_.group) {
      sched_.Next(next);
      ++runTiles_;
    }
  }

  const QGemmTiling* t_ = nullptr;
  QGemmSchedule sched_;
  QGemmItem first_{};
  bool valid_ = false;
  uint32_t chunks_ = 1, runTiles_ = 1, i_ = 0, chunk_ = 0, ordinal_ = 0;
};

}  // namespace ascend_glm5
