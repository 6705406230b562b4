// Sparse Flash Attention, vector side (AIV): row selection, softmax against a reference max,
// normalisation, and the combine of rows split across cores.
//
// Vector core s of an AI core owns a contiguous half of the heads (rows of every cube tile).
// Per item (in the cube's order), one item ahead of the cube: Select turns the item's positions of
// sparse_indices into its selected rows (sfa_select.h); vector core 0 writes them and their count
// to the item's list for the cube. Per tile g:
//   Softmax(g)     S rows from the S ring; columns past the tile's selected rows -> -inf;
//                  z = scale * S; m = max(m, rowmax z); p = exp(z - r) against the item's
//                  reference max r (Probabilities); l = l + sum p; P = round(p) to the input
//                  dtype -> P ring (for the cube, which adds P . V into the item's sum in GM).
//   Accumulate(g-1) after an item's last tile: a whole row reads its sum back and is normalised,
//                  out = sum / l in the input dtype (and m, l if asked); a piece of a split row
//                  leaves r, l and m next to its acc in GM.
// The running r, l and m are kept per item parity, because Softmax of an item's first tile runs
// before the previous item's last Accumulate.
// After its items, each vector core merges its share of the split rows' pieces: M = max m_i,
// l = sum exp(r_i - M) l_i, out = sum (exp(r_i - M) / l) acc_i, spread over all vector cores by
// (row, head) in ranges of equal weight the host plans (SfaCoreHead::merge); a run of a row
// starts once every vector core of each of the row's pieces has counted its part in the row's
// flag (PostPiece, gm_flag.h).
#pragma once

#include "kernel_operator.h"
#include "../common/event_slots.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/tiling.h"
#include "sfa_gather.h"
#include "sfa_plan.h"
#include "sfa_select.h"

namespace ascend_glm5 {

template <typename T>
class SfaVector {
 public:
  // pipe: the kernel's (it read the tiling through UB), reset.
  __aicore__ inline explicit SfaVector(AscendC::TPipe& pipe) : pipe_(pipe) {}
  __aicore__ inline void Init(GM_ADDR key, GM_ADDR value, GM_ADDR keyRope, GM_ADDR plan, GM_ADDR indices,
                              GM_ADDR blockTable, GM_ADDR out, GM_ADDR softmaxMax, GM_ADDR softmaxSum, GM_ADDR workspace,
                              const SparseFlashAttentionTiling& t) {
    t_ = &t;
    block_ = uint32_t(AscendC::GetBlockIdx()) / 2;
    stageSlots_ = SfaStageSlots(t.heads);
    plan_.Init(plan, t, block_);
    if (t.numSplits > 0)
      rowFlags_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan) + SfaRowFlagOffset(t), uint64_t(t.numRows) * kSfaRowFlagWords);
    const uint32_t half = (t.heads + 1) / 2;  // N1 = 1: the second core has no head
    h0_ = AscendC::GetSubBlockIdx() == 0 ? 0 : half;
    h_ = AscendC::GetSubBlockIdx() == 0 ? half : t.heads - half;
    const uint64_t outRows = uint64_t(t.numRows) * t.heads;
    out_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(out), outRows * kSfaLatentDim);
    if (t.returnLse) {
      max_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxMax), outRows);
      sum_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(softmaxSum), outRows);
    }
    GM_ADDR ring = workspace + uint64_t(block_) * t.wsBlockBytes;
    sRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring), 2 * t.wsSlotS / sizeof(float));
    pRing_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ring + 2 * t.wsSlotS), 2 * t.wsSlotP / sizeof(T));
    oRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring + 2 * (t.wsSlotS + t.wsSlotP)), 2 * t.wsSlotO / sizeof(float));
    wsSlots_ = workspace + t.wsSlotOffset;
    // Each vector core keeps its own copy of the lists (it reads its rows back to gather them); the
    // cube reads vector core 0's.
    lists_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + t.wsListOffset +
                                                             uint64_t(AscendC::GetSubBlockIdx()) * SfaListRegionBytes(t)),
                           uint64_t(t.numItems) * t.listWords);
    pieces_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + t.wsPieceOffset),
                            uint64_t(t.numPieces) * t.pieceBytes / sizeof(float));
    keptCols_ = SfaKeptCols(t.heads);
    earlyMerge_ = SfaEarlyMerge(t);
    keepFirstList_ = t.combinedKv != 0 && t.numItems <= 3 * t.blockDim;
    itemFirst_ = t.numItems > 3 * t.blockDim;
    itemTiles_ = SfaItemTiles(t);
    // Per AI core: snapshots of the kept columns' L0C sum (tile parity), then corrections (item parity).
    kept_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaKeptOffset(t)) + uint64_t(block_) * 4 * t.heads * keptCols_,
                          4 * uint64_t(t.heads) * keptCols_);
    words_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + SfaWordOffset(t)),
                           uint64_t(t.numItems) * SfaItemTiles(t) * kSfaWordLineInts);
    hAlign_ = AlignUp(h_ > 0 ? h_ : 1, 8);
    pipe_.InitBuffer(arena_, ArenaBytes(t));
    CarveItems();
    selector_.Init(indices, blockTable, t, stage_.ReinterpretCast<uint8_t>(), stageSlots_ * kSfaOutChunkRows * kSfaLatentDim * 4);
    if (SfaSortFits(t.heads)) selector_.InitSort(acc_.ReinterpretCast<uint8_t>());  // acc_ is scratch between items
    if (t.aivRows > 0) gather_.Init(key, value, keyRope, workspace, t, block_, rowIdx_, gKeys_, gValues_);
  }

  __aicore__ inline void Process() {
    plan_.CoreItems(scan_, last_);
    slots_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(wsSlots_) + uint64_t(scan_ + block_) * kSfaSlotWords,
                           uint64_t(last_ - scan_ + 1) * kSfaSlotWords);
    SfaTileCursor cursor;
    SfaTile tile, pending;
    uint32_t g = 0, parity = 1, pendingParity = 0;
    bool hasPending = false;
    // The vector cores' gather runs kSfaGatherAhead tiles ahead of the softmax: the cube needs tile
    // g + 1's rows right after scoring tile g.
    for (uint32_t a = 0; a < kSfaGatherAhead; ++a) {
      GatherPrepare(true);
      GatherStore();
    }
    while (Ensure(0)) {
      const Pending work = fifo_[head_];
      // The item's record: with more than 3 items per core (decode B = 64, prefill) read before the
      // next item's selection (GLM-5 B = 64, 8K, cycles: 255,964 -> 254,972; prefill S = 2048
      // -0.7 %); with fewer (B = 16 and below) after it (read first: B = 16 at 128K +0.16 %, the
      // separate rope +0.23 %).
      const SfaItem info = itemFirst_ ? plan_.Item(uint32_t(work.item)) : SfaItem{};
      // One item ahead: the cube takes the next item's rows after this item's last scores.
      Ensure(1);
      cursor.Reset(uint32_t(work.item), itemFirst_ ? info : plan_.Item(uint32_t(work.item)), work.count, t_->tileRows,
                   work.aivRows);
      while (cursor.Next(tile)) {
        if (tile.first) parity ^= 1;
        GatherPrepare(false);
        Softmax(tile, g, parity);
        GatherPrepare(true);
        GatherStore();
        if (hasPending) Accumulate(pending, g - 1, pendingParity);
        pending = tile;
        pendingParity = parity;
        hasPending = true;
        ++g;
      }
      head_ = (head_ + 1) % kFifo;
      --size_;
      if (gatherItem_ > 0) --gatherItem_;
    }
    // The merge's first run (a plan line the scalar misses) is read while the cube finishes.
    if (t_->numSplits > 0) StartMerge();
    if (hasPending) Accumulate(pending, g - 1, pendingParity, true);
    if (wordPending_) AscendC::WaitFlag<AscendC::HardEvent::MTE3_S>(kEvWord);
    wordPending_ = false;
    if (t_->aivRows > 0) gather_.Drain(gathered_);
    if (t_->numSplits == 0) return;
    CarveCombine();  // each run waits for its row's pieces (row flags), not for every core

    Combine();
  }

  // UB of the arena: the larger of the item phase and the combine phase.
  __aicore__ inline static uint32_t ArenaBytes(const SparseFlashAttentionTiling& t) {
    uint32_t items = SfaItemUbBytes(t.heads);
    if (t.aivRows > 0) items += kSfaMaxSparseCount * 4 + GatherRowBytes(t) * SfaVectorGather<T>::MaxRows(t.aivRows);
    return items > kCombineBytes ? items : kCombineBytes;
  }
  __aicore__ inline static uint32_t GatherRowBytes(const SparseFlashAttentionTiling& t) {
    return (kSfaQkDim + (t.separateValue ? kSfaLatentDim : 0)) * sizeof(T);
  }

 private:
  static constexpr uint32_t kStageRows = kSfaStageRows;  // O / output rows moved per copy; also the select scratch
  static_assert(kStageRows * kSfaLatentDim * 4 >= kSfaSelScratchBytes, "the stage buffer holds the select scratch");
  // Per item parity: the reference max of P (kRef), the sum of P (kSum, relative to kRef) and the
  // true running max (kTrue); then the tile's max and sum (scratch) and the work slot's words.
  // kAlpha: a rebase's factor exp(r - r') per tile parity, until its snapshot is read; kWord: the
  // rebase word written for the cube.
  enum Stat : uint32_t { kRef0 = 0, kRef1, kSum0, kSum1, kTrue0, kTrue1, kTileMax, kTileSum, kSlotStat, kAlpha0, kAlpha1,
                         kWord, kStatVectors };
  static_assert(kStatVectors == kSfaStatVectors, "SfaItemUbBytes counts the stat vectors");
  static constexpr float kNegInf = -__builtin_huge_valf();
  // Combine: up to kCombineHeads heads of one split row at a time, from up to kMaxPieces pieces.
  // 16 heads a run: each run waits out a few GM read latencies, so fewer, larger runs finish sooner.
  static constexpr uint32_t kCombineHeads = 16, kMaxPieces = 64;
  // acc rows fetched at once: three pieces of a full run (decode B = 16: every split row's pieces).
  static constexpr uint32_t kCombineLoadFloats = 3 * kCombineHeads * kSfaLatentDim;
  static constexpr uint32_t kCombineStat = kCombineHeads * 4;  // bytes of one piece's m (or l) of a run
  // Broadcast weights: a full run's (16 blocks), or of a few heads in up to 32 pieces (WeighSmallRuns).
  static constexpr uint32_t kCombineBcastFloats = 256 * 8;
  static constexpr uint32_t kMaxRepeatStride = 255;  // blocks: BinaryRepeatParams' uint8_t strides
  // Late merge (not SfaEarlyMerge): the next run's loads are issued before the current run is weighed
  // when both runs' rows fit in cLoad_ together (the current one at its start, the next at its end,
  // alternating) and the next run's statistics fit the second, smaller set (kPrefetchStatFloats).
  static constexpr uint32_t kPrefetchStatFloats = 256;
  // Rows of at most this many pieces are merged in runs of at most kCombineLoadFloats / (2 x pieces
  // x 512) heads (NextRun), so that consecutive runs fit cLoad_ together.
  static constexpr uint32_t kPairPieces = 3;
  static constexpr uint32_t kCombineBytes = 2 * kCombineHeads * kSfaLatentDim * 4 + kCombineLoadFloats * 4 +
                                            3 * kMaxPieces * kCombineStat + 6 * kCombineStat + kCombineBcastFloats * 4 + 32 +
                                            3 * kPrefetchStatFloats * 4;
  static_assert(kCombineBytes <= kSfaUbBytes, "the combine's buffers fit the UB");
  // MTE2 -> V events of the combine: m_i / l_i (0), the loaded pieces' acc rows (1 .. 1 + batch; the
  // item phase's stage events are all taken back by then); a prefetched run's slot (1) uses the next
  // four (kSlotEvents).
  static constexpr int32_t kEvStats = 0, kEvPieces = 1, kSlotEvents = 4;
  // V -> MTE2 event of a prefetch: set before a run's weighing, so that the next run's loads wait only
  // for the run before (whose slot they reuse).
  static constexpr int32_t kEvPrefetch = 1;
  // MTE3 -> V event of a combine run's output and statistics copies (WaitCombineWrites).
  static constexpr int32_t kEvCombineWrites = 1;
  static constexpr uint32_t kPieceEvents = 3;
  static_assert(kSlotEvents + kEvPieces + kPieceEvents <= 8, "MTE2 -> V event ids 0..7");
  static_assert(kMaxRepeatStride * 8 / kSfaLatentDim <= kPieceEvents, "an early run's heads (SmallRun) have an event each");

  template <typename U>
  __aicore__ inline AscendC::LocalTensor<U> Take(uint32_t elems) {
    AscendC::LocalTensor<U> out = arena_.GetWithOffset<U>(elems, used_);
    used_ += AlignUp(elems * sizeof(U), 32);
    return out;
  }

  __aicore__ inline void CarveItems() {
    used_ = 0;
    const uint32_t h = h_ > 0 ? h_ : 1;
    scores_ = Take<float>(h * t_->tileRows);
    probs_ = Take<T>(h * t_->tileRows);
    acc_ = Take<float>(h * kSfaLatentDim);
    stage_ = Take<float>(stageSlots_ * kSfaOutChunkRows * kSfaLatentDim);
    stats_ = Take<float>(kStatVectors * hAlign_);
    bcast_ = Take<float>(hAlign_ * 8);
    if (t_->aivRows > 0) {
      const uint32_t rows = SfaVectorGather<T>::MaxRows(t_->aivRows);
      rowIdx_ = Take<int32_t>(kSfaMaxSparseCount);
      gKeys_ = Take<T>(rows * kSfaQkDim);
      if (t_->separateValue) gValues_ = Take<T>(rows * kSfaLatentDim);
    }
  }

  // Items selected ahead (item, count, the vector cores' rows of a full tile), oldest first:
  // fifo_[head_] is the one the softmax works on.
  struct Pending {
    int32_t item;
    uint32_t count, aivRows;
  };
  __aicore__ inline const Pending& Fifo(uint32_t i) const { return fifo_[(head_ + i) % kFifo]; }
  // Selects items until the i-th pending one exists; false at the end of this core's items.
  __aicore__ inline bool Ensure(uint32_t i) {
    while (size_ <= i && !ended_) {
      uint32_t count = 0, aivRows = 0;
      const int32_t item = NextItem(count, aivRows);
      if (item < 0) break;
      fifo_[(head_ + size_++) % kFifo] = Pending{item, count, aivRows};
    }
    return size_ > i;
  }
  // The vector cores' share of the next tile to gather (tile index gathered_), if any: chosen before
  // the softmax (selecting a new item if needed), its rows copied in once the scores have arrived
  // (GatherLoad, from Probabilities), written to the gather slot after P (GatherStore).
  // select: whether it may select an item (only after the softmax: before it, selecting broke the
  // rebase tests, not traced further); without, the tile is prepared only if its item is selected.
  __aicore__ inline void GatherPrepare(bool select) {
    if (t_->aivRows == 0 || gatherReady_) return;
    if (!select && size_ <= gatherItem_) return;
    if (!Ensure(gatherItem_)) return;
    const Pending p = Fifo(gatherItem_);
    const uint32_t left = p.count - gatherStart_, rows = left < t_->tileRows ? left : t_->tileRows;
    gatherTile_ = SfaTile{uint32_t(p.item), SfaItem{}, rows, gatherStart_, gatherStart_ == 0, rows == left, p.aivRows};
    gatherCount_ = p.count;
    gatherReady_ = true;
    gatherStart_ += rows;
    if (gatherStart_ == p.count) {
      ++gatherItem_;
      gatherStart_ = 0;
    }
  }
  __aicore__ inline void GatherLoad() {
    if (!gatherReady_ || gatherLoaded_) return;
    gather_.Load(gatherTile_, gatherCount_, lists_[uint64_t(gatherTile_.item) * t_->listWords],
                 int32_t(gatherTile_.item) == listInUb_);
    gatherLoaded_ = true;
  }
  __aicore__ inline void GatherStore() {
    if (!gatherReady_) return;
    GatherLoad();
    gather_.Store(gathered_++);
    gatherReady_ = gatherLoaded_ = false;
  }

  __aicore__ inline AscendC::LocalTensor<float> Stat(uint32_t i) { return stats_[i * hAlign_]; }

  // The next item of this core that selects rows, its rows posted for the cube (slot: item, count
  // and the vector cores' rows of a full tile; vector core 0 writes, both signal); items on the way
  // that select nothing are written out here (zeros, or an empty piece). At the end, an end slot
  // (item -1); returns -1.
  __aicore__ inline int32_t NextItem(uint32_t& count, uint32_t& aivRows) {
    const bool writer = AscendC::GetSubBlockIdx() == 0 || t_->aivRows > 0;
    // No tile of an earlier item is left to gather (none prepared and not loaded, every selected
    // item's tiles prepared): rowIdx_ may take this item's list straight from the selector. Only
    // in a launch of few pieces per core (SfaEarlyMerge: decode B = 1); elsewhere the shifted
    // starts cost more than the read-back (GLM-5 B = 64, 8K, cycles: 256,194 -> 257,398 with it).
    const bool gatherFree = (earlyMerge_ || (slot_ == 0 && keepFirstList_)) && t_->aivRows > 0 && gatherItem_ >= size_ &&
                            !(gatherReady_ && !gatherLoaded_);
    for (; scan_ < last_; ++scan_) {
      const SfaItem item = plan_.Item(scan_);
      const SfaRow row = plan_.Row(uint32_t(item.row));
      count = SfaPlan::Empty(item, row) ? 0 : selector_.Select(item, row, writer, lists_[uint64_t(scan_) * t_->listWords]);
      if (count == 0) {
        EmptyItem(item);
        continue;
      }
      aivRows = plan_.AivRows(row);
      if (gatherFree) KeepList(int32_t(scan_));
      PostSlot(int32_t(scan_), count, aivRows, true);
      return int32_t(scan_++);
    }
    if (!ended_) PostSlot(-1, 0, 0, false);
    ended_ = true;
    return -1;
  }

  // The list of the item just selected -> the gather's rowIdx_, when the selector holds it whole
  // in its scratch (the stage, reused by the next item's select): the gather's first tile then
  // starts without reading the list back from GM.
  __aicore__ inline void KeepList(int32_t item) {
    using namespace AscendC;
    LocalTensor<int32_t> rows;
    const uint32_t n = selector_.ListRows(rows);
    if (n == 0) return;
    Adds(rowIdx_, rows, int32_t(0), int32_t(n));
    SetFlag<HardEvent::V_S>(0);  // Load reads rowIdx_ with the scalar
    WaitFlag<HardEvent::V_S>(0);
    listInUb_ = item;
  }

  // selected: right after the item's Select, whose first list entries the slot carries.
  __aicore__ inline void PostSlot(int32_t item, uint32_t count, uint32_t aivRows, bool selected) {
    using namespace AscendC;
    if (GetSubBlockIdx() == 0) {
      const LocalTensor<int32_t> words = stats_.ReinterpretCast<int32_t>()[kSlotStat * hAlign_];
      LocalTensor<int32_t> head;
      const uint32_t carried = selected ? selector_.HeadRows(head) : 0;
      SetFlag<HardEvent::V_S>(0);  // the vector unit is done with the stats vectors
      WaitFlag<HardEvent::V_S>(0);
      words.SetValue(0, item);
      words.SetValue(1, int32_t(count));
      words.SetValue(2, int32_t(aivRows));
      words.SetValue(3, int32_t(carried));
      SetFlag<HardEvent::S_MTE3>(0);
      WaitFlag<HardEvent::S_MTE3>(0);
      const uint64_t at = uint64_t(slot_) * kSfaSlotWords;
      DataCopyPad(slots_[at], words, DataCopyExtParams(1, kSfaSlotRowsAt * 4, 0, 0, 0));
      if (carried > 0) DataCopyPad(slots_[at + kSfaSlotRowsAt], head, DataCopyExtParams(1, carried * 4, 0, 0, 0));
      SetFlag<HardEvent::MTE3_S>(0);
      WaitFlag<HardEvent::MTE3_S>(0);
    }
    ++slot_;
    AscendC::CrossCoreSetFlag<2, PIPE_MTE3>(kSfaFlagList);
  }

  __aicore__ inline void Softmax(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t n = h_ * t_->tileRows;
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagScores);
    if (h_ > 0) {
      DataCopy(scores_, sRing_[(g % 2) * (t_->wsSlotS / sizeof(float)) + h0_ * t_->tileRows], n);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagScoresFree);
    if (h_ > 0) {
      Probabilities(tile, g, parity);
      Cast(probs_, scores_, RoundMode::CAST_RINT, n);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(pRing_[(g % 2) * (t_->wsSlotP / sizeof(T)) + h0_ * t_->tileRows], probs_, n);
    }
    if (keptCols_ > 0 && !tile.first) WriteWord(tile, rebased_);
    rebased_ = false;
    CrossCoreSetFlag<2, PIPE_MTE3>(kSfaFlagProbs);
    if (h_ > 0) {
      SetFlag<HardEvent::MTE3_V>(0);  // P's UB buffer is rewritten next tile
      WaitFlag<HardEvent::MTE3_V>(0);
    }
  }

  // In place on the scores: p = exp(scale * S - r) against the item's reference max r, and the row
  // statistics: r is the first tile's max and stays while no later score exceeds it by more than
  // kSfaRefSlack (p <= e^8, in range for fp16 too), so the P . V of every tile can be added up in GM
  // as it is (the cube's atomic add) without a rescale; l = sum of p; the true max is kept apart.
  // A larger score moves r (Rebase: l and the P . V so far times exp(r - r')).
  // A score row is tileRows (64 or 128) columns: one fp32 repeat (64 lanes) per row and 64 columns.
  __aicore__ inline void Probabilities(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t h = h_, cols = t_->tileRows, n = h * cols, halves = cols / 64;
    const uint8_t rowBlocks = uint8_t(cols / 8);  // repeat stride of one score row, in 32-byte blocks
    const LocalTensor<float> s = scores_, b = bcast_;
    const LocalTensor<float> ref = Stat(kRef0 + parity), lRun = Stat(kSum0 + parity), mTrue = Stat(kTrue0 + parity);
    const LocalTensor<float> tileMax = Stat(kTileMax), tileSum = Stat(kTileSum);
    Muls(s, s, t_->scale, n);
    PipeBarrier<PIPE_V>();
    for (uint32_t k = 0; k < halves; ++k) {  // columns past the tile's rows: padding or stale ring data
      if (tile.rows >= 64 * (k + 1)) continue;
      const uint32_t valid = tile.rows > 64 * k ? tile.rows - 64 * k : 0;
      uint64_t mask[2] = {valid == 0 ? ~0ull : ~0ull << valid, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
      Duplicate(s[64 * k], kNegInf, mask, uint8_t(h), 1, rowBlocks);
      PipeBarrier<PIPE_V>();
    }
    WholeReduceMax(tileMax, RowHalves<true>(s), 64, h, 1, 1, 8, ReduceOrder::ORDER_ONLY_VALUE);
    PipeBarrier<PIPE_V>();
    GatherLoad();  // the next gather's row copies, issued before the scalar waits for the tile max
    if (tile.first) {
      Adds(ref, tileMax, 0.0f, h);
      Adds(mTrue, tileMax, 0.0f, h);
    } else {
      Max(mTrue, mTrue, tileMax, h);
      if (RefExceeded(tileMax, ref, h)) Rebase(tile, g, parity);
    }
    PipeBarrier<PIPE_V>();
    Brcb(b, ref, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    for (uint32_t k = 0; k < halves; ++k)
      Sub(s[64 * k], s[64 * k], b, 64, uint8_t(h), BinaryRepeatParams(1, 1, 0, rowBlocks, rowBlocks, 1));
    PipeBarrier<PIPE_V>();
    Exp(s, s, n);
    PipeBarrier<PIPE_V>();
    WholeReduceSum(tileSum, RowHalves<false>(s), 64, h, 1, 1, 8);
    PipeBarrier<PIPE_V>();
    if (tile.first) Adds(lRun, tileSum, 0.0f, h);
    else Add(lRun, lRun, tileSum, h);
    PipeBarrier<PIPE_V>();
  }

  // True when a head's tile max is more than kSfaRefSlack above its reference (one scalar read).
  __aicore__ inline bool RefExceeded(const AscendC::LocalTensor<float>& tileMax, const AscendC::LocalTensor<float>& ref,
                                     uint32_t h) {
    using namespace AscendC;
    const LocalTensor<float> d = Stat(kTileSum), top = bcast_;
    PipeBarrier<PIPE_V>();
    Sub(d, tileMax, ref, h);
    PipeBarrier<PIPE_V>();
    WholeReduceMax(top, d, int32_t(h), 1, 1, 1, 8, ReduceOrder::ORDER_ONLY_VALUE);
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    return top.GetValue(0) > kSfaRefSlack;
  }

  // r' = max(r, tile max), alpha = exp(r - r'): l *= alpha, and this core's rows of the item's P . V
  // sum so far (in GM, once the cube has added tile g-1) *= alpha, before P of tile g is posted.
  __aicore__ inline void Rebase(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t h = h_;
    const LocalTensor<float> ref = Stat(kRef0 + parity), lRun = Stat(kSum0 + parity);
    const LocalTensor<float> tileMax = Stat(kTileMax), alpha = Stat(kTileSum);
    PipeBarrier<PIPE_V>();
    Max(tileMax, tileMax, ref, h);
    PipeBarrier<PIPE_V>();
    Sub(alpha, ref, tileMax, h);
    PipeBarrier<PIPE_V>();
    Exp(alpha, alpha, h);
    Adds(ref, tileMax, 0.0f, h);
    PipeBarrier<PIPE_V>();
    Mul(lRun, lRun, alpha, h);
    if (keptCols_ > 0) {  // the kept columns are corrected once the cube's snapshot is in (Accumulate)
      Adds(Stat(kAlpha0 + g % 2), alpha, 0.0f, h);
      rebased_ = true;
      snapPending_[g % 2] = true;
    }
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);  // the cube's P . V of tile g-1 is in; Accumulate(g-1) skips its wait
    outWaited_ = true;
    SetFlag<HardEvent::V_MTE2>(0);  // acc_ (scratch here) is free
    WaitFlag<HardEvent::V_MTE2>(0);
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    DataCopy(acc_, sum, h * kSfaLatentDim);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    ScaleRows(acc_, acc_, alpha, h);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(sum, acc_, h * kSfaLatentDim);  // on MTE3 before P, whose flag lets the cube add tile g
    SetFlag<HardEvent::MTE3_MTE2>(0);  // acc_ is read into again only after this copy
    WaitFlag<HardEvent::MTE3_MTE2>(0);
  }

  // ---- kept columns: P . V of columns [0, keptCols) summed in the cube's L0C over an item ----------
  // L0C cannot be rescaled, so a rebase at tile g leaves that sum A mixed: tiles before g against r,
  // later ones against r'. The cube writes a snapshot Y of it before adding tile g (it reads the
  // word this core wrote with P), and this core keeps a correction D (GM, per item parity) with
  // A + D = the sum against the current reference: at a rebase D' = alpha (D + Y) - Y. After the
  // item's last tile (the cube has written A into the item's sum) D is added to it.

  // This core's rebase word of `tile` (1: rebased), in the tile's line, before P is posted.
  __aicore__ inline void WriteWord(const SfaTile& tile, bool rebased) {
    using namespace AscendC;
    const LocalTensor<int32_t> w = Stat(kWord).template ReinterpretCast<int32_t>();
    if (wordPending_) WaitFlag<HardEvent::MTE3_S>(kEvWord);  // the previous word has left UB
    w.SetValue(0, rebased ? 1 : 0);
    SetFlag<HardEvent::S_MTE3>(kEvWord);
    WaitFlag<HardEvent::S_MTE3>(kEvWord);
    const uint64_t line = (uint64_t(tile.item) * itemTiles_ + tile.start / t_->tileRows) * kSfaWordLineInts;
    DataCopyPad(words_[line + AscendC::GetSubBlockIdx() * (kSfaWordLineInts / 2)], w, DataCopyExtParams(1, 4, 0, 0, 0));
    SetFlag<HardEvent::MTE3_S>(kEvWord);
    wordPending_ = true;
  }

  // D' = alpha (D + Y) - Y for this core's rows, Y the cube's snapshot of tile g (in after its flag).
  __aicore__ inline void UpdateCorrection(uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t kc = keptCols_, n = h_ * kc;
    const LocalTensor<float> y = acc_, d = acc_[n];  // acc_ is free between an item's tiles
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopy(y, kept_[uint64_t(g % 2) * t_->heads * kc + uint64_t(h0_) * kc], n);
    if (hasCorrection_[parity]) DataCopy(d, Correction(parity), n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    if (hasCorrection_[parity]) Add(d, d, y, int32_t(n));
    else Adds(d, y, 0.0f, int32_t(n));
    PipeBarrier<PIPE_V>();
    ScaleCols(d, Stat(kAlpha0 + g % 2), kc);
    Sub(d, d, y, int32_t(n));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(Correction(parity), d, n);
    SetFlag<HardEvent::MTE3_MTE2>(0);  // read back by the next update or the fold
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);  // acc_ is written again only after the copy
    WaitFlag<HardEvent::MTE3_V>(0);
    hasCorrection_[parity] = true;
  }

  // The item's sum (kept columns of this core's rows) += D, after the cube has written them.
  __aicore__ inline void FoldCorrection(const SfaTile& tile, uint32_t parity) {
    using namespace AscendC;
    const uint32_t kc = keptCols_, n = h_ * kc;
    const LocalTensor<float> a = acc_, d = acc_[n];
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    // Rows of 512 in GM, kc of them each (DataCopyPad(ISASI).md: from GM srcStride counts bytes).
    DataCopyPad(a, sum, DataCopyExtParams(uint16_t(h_), kc * 4, (kSfaLatentDim - kc) * 4, 0, 0),
                DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    DataCopy(d, Correction(parity), n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Add(a, a, d, int32_t(n));
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(sum, a, DataCopyExtParams(uint16_t(h_), kc * 4, 0, (kSfaLatentDim - kc) * 4, 0));
    SetFlag<HardEvent::MTE3_MTE2>(0);  // the sum is read back after this copy (a whole row's output)
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    hasCorrection_[parity] = false;
  }

  __aicore__ inline AscendC::GlobalTensor<float> Correction(uint32_t parity) {
    return kept_[uint64_t(2 + parity) * t_->heads * keptCols_ + uint64_t(h0_) * keptCols_];
  }

  // d[r, :] *= v[r] for rows of `cols` floats (a multiple of 64), r < h_.
  __aicore__ inline void ScaleCols(const AscendC::LocalTensor<float>& d, const AscendC::LocalTensor<float>& v, uint32_t cols) {
    using namespace AscendC;
    const LocalTensor<float> b = bcast_;
    Brcb(b, v, uint8_t(CeilDiv(h_, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const BinaryRepeatParams rows(1, 1, 0, uint8_t(cols / 8), uint8_t(cols / 8), 1);
    for (uint32_t c = 0; c < cols; c += 64) Mul(d[c], d[c], b, 64, uint8_t(h_), rows);
    PipeBarrier<PIPE_V>();
  }

  // This core's rows of the GM sum of an item's P . V: its piece's acc, or (a whole row) O ring slot
  // item % 2 (the cube's Output).
  __aicore__ inline AscendC::GlobalTensor<float> AccSlot(const SfaTile& tile, uint32_t parity) {
    const uint64_t at = tile.info.piece >= 0 ? PieceAcc(uint32_t(tile.info.piece))
                                             : parity * (t_->wsSlotO / sizeof(float));
    return (tile.info.piece >= 0 ? pieces_ : oRing_)[at + uint64_t(h0_) * kSfaLatentDim];
  }

  // Rows of 64 columns to reduce: the score rows themselves (64 columns), or of 128 columns the
  // max / sum of their two halves, in the probs buffer (free here: P of the previous tile is out).
  template <bool kMax>
  __aicore__ inline AscendC::LocalTensor<float> RowHalves(const AscendC::LocalTensor<float>& s) {
    using namespace AscendC;
    if (t_->tileRows == 64) return s;
    const LocalTensor<float> halves = probs_.template ReinterpretCast<float>();  // h x 64 fp32 = h x 128 of T
    const BinaryRepeatParams rows(1, 1, 1, 8, 16, 16);
    if (kMax) Max(halves, s, s[64], 64, uint8_t(h_), rows);
    else Add(halves, s, s[64], 64, uint8_t(h_), rows);
    PipeBarrier<PIPE_V>();
    return halves;
  }

  // After the cube's P . V of tile g (added into the item's GM sum): at an item's last tile, a
  // whole row is read back and normalised, out = sum / l in the input dtype (and m, l if asked); a
  // piece leaves its statistics next to its acc for the combine.
  // lastOfCore: this core's last tile; the whole-piece post of a piece that needs no correction is
  // then left to the merge (FinishPiece), which weighs the pieces' early columns meanwhile.
  __aicore__ inline void Accumulate(const SfaTile& tile, uint32_t g, uint32_t parity, bool lastOfCore = false) {
    using namespace AscendC;
    // A piece's statistics and streamed columns are posted as soon as the cube has written those
    // columns (its kept ones follow): a merge of few heads starts on them (MergeEarlyRun). A piece
    // with a rebase's correction still to fold in posts both counts at the end (simpler to follow).
    const bool lastPiece = earlyMerge_ && tile.last && tile.info.piece >= 0;
    const bool early = lastPiece && !outWaited_ && !snapPending_[g % 2] && !hasCorrection_[parity];
    if (lastPiece) CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagStreamed);
    if (early) {
      if (h_ > 0) WritePieceStats(uint32_t(tile.info.piece), Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity));
      PostPiece(tile.info, kSfaRowFlagStreamed, SlotWords());
      if (lastOfCore) {
        unfinished_ = tile.info;
        hasUnfinished_ = true;
        highPosted_ = false;
        return;
      }
    }
    if (lastPiece) CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagKeptHigh);
    if (early) PostPiece(tile.info, kSfaRowFlagKeptHigh, SlotWords());
    if (!outWaited_) CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    outWaited_ = false;
    if (snapPending_[g % 2]) {
      UpdateCorrection(g, parity);
      snapPending_[g % 2] = false;
    }
    if (tile.last && hasCorrection_[parity]) FoldCorrection(tile, parity);
    if (h_ == 0 || !tile.last || tile.info.piece >= 0) {
      CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
      if (h_ > 0 && tile.last && !early)
        WritePieceStats(uint32_t(tile.info.piece), Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity));
      if (lastPiece && !early) {
        PostPiece(tile.info, kSfaRowFlagStreamed, SlotWords());
        PostPiece(tile.info, kSfaRowFlagKeptHigh, SlotWords());
      }
      if (tile.last && tile.info.piece >= 0) PostPiece(tile.info, 0, SlotWords());
      return;
    }
    SetFlag<HardEvent::V_MTE2>(0);  // the previous item's output has been read out of acc
    WaitFlag<HardEvent::V_MTE2>(0);
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    for (uint32_t c = 0; c * kStageRows < h_; ++c) {  // one MTE2 -> V event per chunk (h_ <= 64: ids 0..7)
      DataCopy(acc_[c * kStageRows * kSfaLatentDim], sum[c * kStageRows * kSfaLatentDim], ChunkRows(c) * kSfaLatentDim);
      SetFlag<HardEvent::MTE2_V>(int32_t(c));
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);  // after the read: the item after next reuses the slot
    Finalize(uint32_t(tile.info.row), parity);
  }
  // Rows of chunk c of this core's heads (kStageRows each, the last one the rest).
  __aicore__ inline uint32_t ChunkRows(uint32_t c) const {
    return h_ - c * kStageRows < kStageRows ? h_ - c * kStageRows : kStageRows;
  }

  // dst[r, :] = src[r, :] * v[r] for r < h, one 64-column strip of all rows per instruction.
  __aicore__ inline void ScaleRows(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
                                   const AscendC::LocalTensor<float>& v, uint32_t h) {
    using namespace AscendC;
    const LocalTensor<float> b = bcast_;
    PipeBarrier<PIPE_V>();
    Brcb(b, v, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const BinaryRepeatParams rows(1, 1, 0, kSfaLatentDim / 8, kSfaLatentDim / 8, 1);
    for (uint32_t c = 0; c < kSfaLatentDim; c += 64) {
      Mul(dst[c], src[c], b, 64, uint8_t(h), rows);
    }
    PipeBarrier<PIPE_V>();
  }

  // out rows [row * N1 + head0, + h) = acc (already normalised) in the input dtype, through the
  // stage (h rows), cast and copied kStageRows at a time. Waits for the previous run's copies
  // (their stage) first; its own are left in flight (CombineHeads signals their end).
  __aicore__ inline void WriteOutput(const AscendC::LocalTensor<float>& acc, uint32_t row, uint32_t head0, uint32_t h,
                                     const AscendC::LocalTensor<T>& stage) {
    using namespace AscendC;
    WaitCombineWrites();
    for (uint32_t r = 0; r < h; r += kStageRows) {
      const uint32_t rows = h - r < kStageRows ? h - r : kStageRows;
      Cast(stage[r * kSfaLatentDim], acc[r * kSfaLatentDim], RoundMode::CAST_RINT, rows * kSfaLatentDim);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(out_[(uint64_t(row) * t_->heads + head0 + r) * kSfaLatentDim], stage[r * kSfaLatentDim], rows * kSfaLatentDim);
    }
  }
  // The previous combine run's output and statistics copies (kEvCombineWrites) are done.
  __aicore__ inline void WaitCombineWrites() {
    if (!writesPending_) return;
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(kEvCombineWrites);
    writesPending_ = false;
  }

  // out = sum / l (both relative to the reference max), chunk by chunk as Accumulate's reads land
  // in acc_ (each chunk divided, cast and written while the next ones are still in flight; the
  // output rows rotate over the stage's slots); the statistics against the true max m:
  // l_m = l * exp(r - m).
  __aicore__ inline void Finalize(uint32_t row, uint32_t parity) {
    using namespace AscendC;
    const LocalTensor<float> ref = Stat(kRef0 + parity), lRun = Stat(kSum0 + parity), mTrue = Stat(kTrue0 + parity);
    const LocalTensor<T> stage = stage_.ReinterpretCast<T>();
    const uint32_t rowFloats = kStageRows * kSfaLatentDim;
    // 1 / l once per head, then one Mul per element (half a Div's cost on the row's 16K elements).
    const LocalTensor<float> inv = Stat(kTileMax);  // free: the next tile's softmax is done
    Duplicate(inv, 1.0f, h_);
    PipeBarrier<PIPE_V>();
    Div(inv, inv, lRun, h_);
    uint32_t c = 0;
    for (; c * kStageRows < h_; ++c) {
      const uint32_t r0 = c * kStageRows, n = ChunkRows(c), slot = c % stageSlots_;
      WaitFlag<HardEvent::MTE2_V>(int32_t(c));
      if (c >= stageSlots_) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));  // the slot's previous rows are out
      ScaleRows(acc_[r0 * kSfaLatentDim], acc_[r0 * kSfaLatentDim], inv[r0], n);
      Cast(stage[slot * rowFloats], acc_[r0 * kSfaLatentDim], RoundMode::CAST_RINT, n * kSfaLatentDim);
      SetFlag<HardEvent::V_MTE3>(int32_t(slot));
      WaitFlag<HardEvent::V_MTE3>(int32_t(slot));
      DataCopy(out_[(uint64_t(row) * t_->heads + h0_ + r0) * kSfaLatentDim], stage[slot * rowFloats], n * kSfaLatentDim);
      SetFlag<HardEvent::MTE3_V>(int32_t(slot));
    }
    for (uint32_t slot = 0; slot < stageSlots_ && slot < c; ++slot) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));
    if (!t_->returnLse) return;
    const LocalTensor<float> lTrue = Stat(kTileSum);
    Sub(lTrue, ref, mTrue, h_);
    PipeBarrier<PIPE_V>();
    Exp(lTrue, lTrue, h_);
    PipeBarrier<PIPE_V>();
    Mul(lTrue, lTrue, lRun, h_);
    PipeBarrier<PIPE_V>();
    WriteStats(uint64_t(row) * t_->heads + h0_, h_, mTrue, lTrue);
  }

  // A piece's reference max r, its sum l (relative to r) and its true max, next to its acc (the
  // P . V sum relative to r, built by the cube).
  __aicore__ inline void WritePieceStats(uint32_t piece, const AscendC::LocalTensor<float>& ref,
                                         const AscendC::LocalTensor<float>& l, const AscendC::LocalTensor<float>& mTrue) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const DataCopyExtParams one(1, h_ * sizeof(float), 0, 0, 0);
    DataCopyPad(pieces_[PieceMax(piece) + h0_], ref, one);
    DataCopyPad(pieces_[PieceSum(piece) + h0_], l, one);
    DataCopyPad(pieces_[PieceTrue(piece) + h0_], mTrue, one);
    SetFlag<HardEvent::MTE3_V>(0);  // acc and the statistics are rewritten by the next item
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  // This vector core's part of a piece is in GM (the cube's acc, which its flag for the piece's last
  // tile reported, and the statistics this core wrote): counted in word 0 of the row's flag, on
  // which the row's merge waits; word kSfaRowFlagStreamed counts the statistics and the streamed
  // columns. The work slot's words are free scratch here (PostSlot waits for its copy).
  __aicore__ inline void PostPiece(const SfaItem& item, uint32_t word, const AscendC::LocalTensor<int32_t>& scratch) {
    GmFlagAdd(rowFlags_[uint64_t(item.row) * kSfaRowFlagWords + word], 1, scratch);
  }
  __aicore__ inline AscendC::LocalTensor<int32_t> SlotWords() { return stats_.ReinterpretCast<int32_t>()[kSlotStat * hAlign_]; }
  // A piece written whole at once (an empty one): every count.
  __aicore__ inline void PostWholePiece(const SfaItem& item) {
    if (earlyMerge_) {
      PostPiece(item, kSfaRowFlagStreamed, SlotWords());
      PostPiece(item, kSfaRowFlagKeptHigh, SlotWords());
    }
    PostPiece(item, 0, SlotWords());
  }
  // The whole-piece post Accumulate left to the merge: once the cube's P . V of the piece is in.
  // Called before the merge waits for any row to be whole (a row may wait for this very piece).
  __aicore__ inline void FinishPiece() {
    if (!hasUnfinished_) return;
    FinishKeptHigh();
    hasUnfinished_ = false;
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    AscendC::CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
    PostPiece(unfinished_, 0, cFlag_);
  }

  // Its post of the upper kept half: once the cube has written it (before any wait on that count).
  __aicore__ inline void FinishKeptHigh() {
    if (!hasUnfinished_ || highPosted_) return;
    highPosted_ = true;
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagKeptHigh);
    PostPiece(unfinished_, kSfaRowFlagKeptHigh, cFlag_);
  }

  // Float offsets of a piece's acc [N1, 512], reference max [N1], sum [N1] and true max [N1].
  __aicore__ inline uint64_t PieceAcc(uint32_t p) const { return uint64_t(p) * (t_->pieceBytes / sizeof(float)); }
  __aicore__ inline uint64_t PieceMax(uint32_t p) const { return PieceAcc(p) + uint64_t(t_->heads) * kSfaLatentDim; }
  __aicore__ inline uint64_t PieceSum(uint32_t p) const { return PieceMax(p) + AlignUp(t_->heads, 8); }
  __aicore__ inline uint64_t PieceTrue(uint32_t p) const { return PieceSum(p) + AlignUp(t_->heads, 8); }

  // An item that attends nothing: a whole row gets zeros (and m = l = 0, as the reference); a
  // piece gets acc = 0, m = -inf, l = 0, which weigh nothing in the combine.
  __aicore__ inline void EmptyItem(const SfaItem& item) {
    using namespace AscendC;
    if (h_ == 0) {
      if (item.piece >= 0) PostWholePiece(item);
      return;
    }
    if (item.piece >= 0) {
      Duplicate(stage_, 0.0f, kStageRows * kSfaLatentDim);
      Duplicate(Stat(kTileMax), kNegInf, hAlign_);
      Duplicate(Stat(kTileSum), 0.0f, hAlign_);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      for (uint32_t r = 0; r < h_; r += kStageRows)
        DataCopy(pieces_[PieceAcc(uint32_t(item.piece)) + uint64_t(h0_ + r) * kSfaLatentDim], stage_,
                 (h_ - r < kStageRows ? h_ - r : kStageRows) * kSfaLatentDim);
      WritePieceStats(uint32_t(item.piece), Stat(kTileMax), Stat(kTileSum), Stat(kTileMax));
      PostWholePiece(item);
      return;
    }
    WriteZeroRows(uint32_t(item.row), h0_, h_, stage_, Stat(kTileMax));
  }

  __aicore__ inline void WriteZeroRows(uint32_t row, uint32_t head0, uint32_t h, const AscendC::LocalTensor<float>& stage,
                                       const AscendC::LocalTensor<float>& zeros) {
    using namespace AscendC;
    const uint32_t rows = h < kStageRows ? h : kStageRows;
    Duplicate(stage.ReinterpretCast<int16_t>(), int16_t(0), rows * kSfaLatentDim);  // +0 in fp16 and bf16
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    for (uint32_t r = 0; r < h; r += kStageRows) {
      const uint32_t n = h - r < kStageRows ? h - r : kStageRows;
      DataCopy(out_[(uint64_t(row) * t_->heads + head0 + r) * kSfaLatentDim], stage.ReinterpretCast<T>(), n * kSfaLatentDim);
    }
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    if (!t_->returnLse) return;
    Duplicate(zeros, 0.0f, AlignUp(h, 8));
    WriteStats(uint64_t(row) * t_->heads + head0, h, zeros, zeros);
  }

  __aicore__ inline void WriteStats(uint64_t at, uint32_t h, const AscendC::LocalTensor<float>& m,
                                    const AscendC::LocalTensor<float>& l) {
    IssueStats(at, h, m, l);
    AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
  }
  // m, l -> softmax_max / softmax_sum at `at` (h values each) once V has written them; the caller
  // waits for the copies before it writes m or l again.
  __aicore__ inline void IssueStats(uint64_t at, uint32_t h, const AscendC::LocalTensor<float>& m,
                                    const AscendC::LocalTensor<float>& l) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const DataCopyExtParams one(1, h * sizeof(float), 0, 0, 0);
    DataCopyPad(max_[at], m, one);
    DataCopyPad(sum_[at], l, one);
  }

  // ---- combine of split rows (after this core's items; per row after its pieces) ---------------

  __aicore__ inline void CarveCombine() {
    used_ = 0;
    cAcc_ = Take<float>(kCombineHeads * kSfaLatentDim);
    cLoad_ = Take<float>(kCombineLoadFloats);
    cOut_ = Take<T>(kCombineHeads * kSfaLatentDim * 2 / sizeof(T));
    cMax_ = Take<float>(kMaxPieces * kCombineHeads);
    cSum_ = Take<float>(kMaxPieces * kCombineHeads);
    cTrue_ = Take<float>(kMaxPieces * kCombineHeads);
    cM_ = Take<float>(2 * kCombineHeads);
    cL_ = Take<float>(2 * kCombineHeads);
    cW_ = Take<float>(kCombineHeads);
    cT_ = Take<float>(kCombineHeads);
    cBcast_ = Take<float>(kCombineBcastFloats);
    cFlag_ = Take<int32_t>(8);
    cMax1_ = Take<float>(kPrefetchStatFloats);
    cSum1_ = Take<float>(kPrefetchStatFloats);
    cTrue1_ = Take<float>(kPrefetchStatFloats);
    bcast_ = cBcast_;
  }

  // (split row, head) units spread over every vector core by the host (weighted by the rows'
  // pieces: SfaCoreHead::merge), in runs of up to kCombineHeads heads of one row. A run's loads
  // are issued as soon as the previous run has weighed its pieces, so they stream in while that
  // run writes its output.
  struct CombineRun {
    SfaSplit split;
    uint32_t h0, hn;  // hn = 0: no run
    uint32_t slot;    // its load slot (LoadSlot): 1 for a run prefetched behind another
    bool loaded;      // its loads are issued (prefetched)
    // Columns [cLo, 512) of its first head, [0, cHi) of its last one (early merge: units of column
    // chunks, SfaMergeChunks); the heads between whole. Else 0 and 512.
    uint32_t cLo, cHi;
  };
  // Where a run's statistics and acc rows land, and their MTE2 -> V events. Slot 0: the start of
  // cLoad_ and the full statistics; slot 1 (a prefetched run, late merge only): the end of cLoad_.
  struct LoadSlot {
    AscendC::LocalTensor<float> max, sum, tru, load;
    int32_t evStats, evPieces;
  };
  __aicore__ inline LoadSlot Slot(const CombineRun& run) const {
    if (run.slot == 0) return LoadSlot{cMax_, cSum_, cTrue_, cLoad_, kEvStats, kEvPieces};
    return LoadSlot{cMax1_, cSum1_, cTrue1_, cLoad_[kCombineLoadFloats - RunFloats(run)], kEvStats + kSlotEvents,
                    kEvPieces + kSlotEvents};
  }
  // acc floats of a run's pieces in one batch.
  __aicore__ inline static uint32_t RunFloats(const CombineRun& run) {
    return uint32_t(run.split.pieces) * run.hn * kSfaLatentDim;
  }
  // Whether `next`'s loads can be issued before `run` is weighed (late merge), into the other slot:
  // both in one batch, together within cLoad_, and in slot 1 next's statistics within its set.
  __aicore__ inline bool CanPrefetch(const CombineRun& run, const CombineRun& next) const {
    return !earlyMerge_ && next.hn > 0 && RunFloats(run) + RunFloats(next) <= kCombineLoadFloats &&
           (run.slot == 1 || uint32_t(next.split.pieces) * AlignUp(next.hn, 8) <= kPrefetchStatFloats);
  }
  __aicore__ inline void StartMerge() {
    plan_.MergeUnits(uint32_t(AscendC::GetSubBlockIdx()), mergeAt_, mergeEnd_);
    firstRun_ = NextRun(mergeAt_, mergeEnd_);
  }
  __aicore__ inline void Combine() {
    CombineRun run = firstRun_;
    if (run.hn > 0) LoadRun(run);
    // The upper kept half's post of this core's last piece (early merge): before the first run's
    // statistics are weighed (the scalar waits for them), not after its streamed columns.
    FinishKeptHigh();
    while (run.hn > 0) {
      CombineRun next = NextRun(mergeAt_, mergeEnd_);
      CombineHeads(run, next);
      run = next;
      runParity_ ^= 1;
    }
    FinishPiece();  // a core that merged no split row
    WaitCombineWrites();
  }
  __aicore__ inline CombineRun NextRun(uint64_t& u, uint64_t end) {
    if (u >= end) return CombineRun{SfaSplit{}, 0, 0, 0, false, 0, kSfaLatentDim};
    if (earlyMerge_) return NextColumnRun(u, end);
    const uint32_t j = uint32_t(u / t_->heads), h = uint32_t(u % t_->heads);
    uint32_t n = t_->heads - h;
    if (n > end - u) n = uint32_t(end - u);
    if (n > kCombineHeads) n = kCombineHeads;
    // A row of few pieces: runs small enough that two of them fit cLoad_ together, so that each run's
    // loads can be issued before the run before it is weighed (CanPrefetch).
    const SfaSplit split = plan_.Split(j);
    const uint32_t pair = kCombineLoadFloats / (2 * uint32_t(split.pieces) * kSfaLatentDim);
    if (split.pieces <= kPairPieces && n > pair) n = pair;
    u += n;
    return CombineRun{split, h, n, 0, false, 0, kSfaLatentDim};
  }
  // Early merge: units of (split, head, column chunk); a run is the units of one row, of at most
  // kEarlyRunHeads heads, whose columns of every piece fit cLoad_ (MergeEarlyRun loads them all).
  static constexpr uint32_t kEarlyRunHeads = 3;
  static_assert(kEarlyRunHeads <= kPieceEvents, "an early run's heads have an MTE2 -> V event each");
  static_assert(kEarlyRunHeads * kSfaLatentDim / 8 <= kMaxRepeatStride, "an early run is a SmallRun");
  __aicore__ inline CombineRun NextColumnRun(uint64_t& u, uint64_t end) {
    constexpr uint32_t chunks = kSfaLatentDim / kSfaMergeCols;
    const uint64_t perRow = uint64_t(t_->heads) * chunks;
    const uint32_t j = uint32_t(u / perRow), r = uint32_t(u % perRow), h = r / chunks, c = r % chunks;
    const SfaSplit split = plan_.Split(j);
    uint64_t n = perRow - r;
    if (n > end - u) n = end - u;
    if (n > kEarlyRunHeads * chunks - c) n = kEarlyRunHeads * chunks - c;
    const uint32_t fit = kCombineLoadFloats / (uint32_t(split.pieces) * kSfaMergeCols);
    if (n > fit) n = fit;
    u += n;
    const uint32_t hn = uint32_t((c + n + chunks - 1) / chunks), lastChunk = uint32_t((c + n - 1) % chunks);
    return CombineRun{split, h, hn, 0, false, c * kSfaMergeCols, (lastChunk + 1) * kSfaMergeCols};
  }
  // Columns [lo, hi) of the run's head h (0-based in the run) within [s0, s1); empty when lo >= hi.
  __aicore__ inline static void HeadCols(const CombineRun& run, uint32_t h, uint32_t s0, uint32_t s1, uint32_t& lo,
                                         uint32_t& hi) {
    lo = h == 0 && run.cLo > s0 ? run.cLo : s0;
    hi = h + 1 == run.hn && run.cHi < s1 ? run.cHi : s1;
  }
  __aicore__ inline static bool SmallRun(uint32_t hn) { return hn * kSfaLatentDim / 8 <= kMaxRepeatStride; }
  __aicore__ inline static uint32_t RunBatch(uint32_t hn) { return kCombineLoadFloats / (hn * kSfaLatentDim); }

  // m_i and l_i of heads [h0, h0 + hn) of every piece of the run (one strided copy each, ps floats
  // per piece), then the first batch of acc_i, so that it streams in while the weights are made.
  // prefetch: the run goes to the other slot than `current`, the run being weighed, whose V work is
  // not waited for (only the work before its kEvPrefetch flag, CombineHeads); else to slot 0.
  __aicore__ inline void LoadRun(CombineRun& run, bool prefetch = false, uint32_t current = 0) {
    using namespace AscendC;
    const uint32_t pieces = uint32_t(run.split.pieces), p0 = uint32_t(run.split.firstPiece), hn = run.hn;
    const bool early = EarlyRun(run);
    if (early && run.split.row != waitedRow_)  // the statistics and streamed columns of every piece
      GmFlagWaitAtLeast(rowFlags_[uint64_t(run.split.row) * kSfaRowFlagWords + kSfaRowFlagStreamed], int32_t(2 * pieces),
                        cFlag_);
    else if (!early)
      WaitRowDone(run.split);
    run.slot = prefetch ? 1 - current : 0;
    run.loaded = true;
    const LoadSlot s = Slot(run);
    const DataCopyExtParams stride(uint16_t(pieces), hn * 4, t_->pieceBytes - hn * 4, 0, 0);
    if (prefetch) {
      WaitFlag<HardEvent::V_MTE2>(kEvPrefetch);  // the runs before the current one are done with the slot
    } else {
      SetFlag<HardEvent::V_MTE2>(0);  // the previous run is done with cMax_, cSum_, cTrue_ and cLoad_
      WaitFlag<HardEvent::V_MTE2>(0);
    }
    DataCopyPad(s.max, pieces_[PieceMax(p0) + run.h0], stride, DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    DataCopyPad(s.sum, pieces_[PieceSum(p0) + run.h0], stride, DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    DataCopyPad(s.tru, pieces_[PieceTrue(p0) + run.h0], stride, DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    SetFlag<HardEvent::MTE2_V>(s.evStats);
    if (early) {
      LoadColumns(cLoad_, run, keptCols_, kSfaLatentDim);
      return;
    }
    const uint32_t batch = RunBatch(hn);
    LoadPieces(s, p0, run.h0, hn * kSfaLatentDim, pieces < batch ? pieces : batch, SmallRun(hn));
  }
  // Every vector core of every piece of the split row has posted its whole part.
  __aicore__ inline void WaitRowDone(const SfaSplit& split) {
    FinishPiece();
    if (split.row == waitedRow_) return;
    GmFlagWaitAtLeast(rowFlags_[uint64_t(split.row) * kSfaRowFlagWords], int32_t(2 * split.pieces), cFlag_);
    waitedRow_ = split.row;
  }
  // In an early-merge launch every run (NextColumnRun: few heads, their columns of every piece in
  // cLoad_ at once): merged in passes of columns, the streamed ones as soon as the pieces post them,
  // then the kept ones (MergeEarlyRun).
  __aicore__ inline bool EarlyRun(const CombineRun&) const { return earlyMerge_; }

  // The run's loads were issued by LoadRun; issues `next`'s before writing the run's output (late
  // merge: before weighing the run's pieces when they fit beside it, CanPrefetch).
  __aicore__ inline void CombineHeads(const CombineRun& run, CombineRun& next) {
    using namespace AscendC;
    const SfaSplit& split = run.split;
    const uint32_t h0 = run.h0, hn = run.hn;
    // ps: floats per piece of the m_i, l_i vectors (hn rounded up to the 32-byte block).
    const uint32_t pieces = uint32_t(split.pieces), p0 = uint32_t(split.firstPiece), ps = AlignUp(hn, 8);
    const uint32_t rowFloats = hn * kSfaLatentDim, batch = RunBatch(hn);
    const bool small = SmallRun(hn);  // WeighSmallRuns' strides fit
    const LoadSlot s = Slot(run);
    const bool prefetch = CanPrefetch(run, next);
    // The next run's slot is free once the V work issued so far (the runs before this one) is done.
    if (prefetch) SetFlag<HardEvent::V_MTE2>(kEvPrefetch);
    // M and l of this run: a pair per run parity, as the previous run's may still be copied out.
    const LocalTensor<float> cM = cM_[runParity_ * kCombineHeads], cL = cL_[runParity_ * kCombineHeads];
    WaitFlag<HardEvent::MTE2_V>(s.evStats);
    // M: the true max over the pieces (each piece's acc and l are relative to its r_i).
    Halve<true>(s.tru, pieces, ps);
    if (EarlyRun(run)) {  // no scalar read of M: the kept halves' polls follow the streamed copies
      EarlyWeights(s, cM, cL, hn, pieces, ps);
      MergeEarlyRun(run, ps);
      if (next.hn > 0) LoadRun(next);  // never prefetched (CanPrefetch)
      // A run with lower columns: MergeEarlyRun wrote its columns [keptCols / 2, 512) already.
      WriteRunColumns(run, cM, cL, 0, HasCols(run, 0, keptCols_ / 2) ? keptCols_ / 2 : kSfaLatentDim);
      return;
    }
    Adds(cM, s.tru, 0.0f, int32_t(ps));
    SetFlag<HardEvent::V_S>(0);
    // A prefetched run's row wait and loads before the scalar waits for this run's M: that read waits
    // for the V work queued before it (the previous run's weighing and cast), which the next run's
    // poll and copies need not wait for (their slot is waited for through kEvPrefetch).
    if (prefetch) LoadRun(next, true, run.slot);
    WaitFlag<HardEvent::V_S>(0);
    const uint32_t row = uint32_t(split.row);
    if (cM.GetValue(0) == kNegInf) {  // every piece empty (all heads alike): the row attends nothing
      // The loads have landed in the slot, the zeros' stage.
      WaitPieces(s, pieces < batch ? pieces : batch, small);
      WriteZeroRows(row, h0, hn, s.load, cT_);
      if (next.hn > 0 && !prefetch) LoadRun(next);
      return;
    }
    PieceWeights(s, cM, cL, hn, pieces, ps, false);
    // out = sum_i (w_i / l) acc_i, the pieces' rows fetched a batch at a time (one strided copy).
    for (uint32_t i = 0; i < pieces; i += batch) {
      const uint32_t n = pieces - i < batch ? pieces - i : batch;
      if (i > 0) {
        SetFlag<HardEvent::V_MTE2>(0);
        WaitFlag<HardEvent::V_MTE2>(0);
        LoadPieces(s, p0 + i, h0, rowFloats, n, small);
      }
      if (small) {
        WaitPieces(s, n, small);
        WeighSmallRuns(s, i, n, hn, ps);
        continue;
      }
      if (i == 0) {  // the scalar reads the weights (WeighRows)
        SetFlag<HardEvent::V_S>(0);
        WaitFlag<HardEvent::V_S>(0);
      }
      for (uint32_t j = 0; j < n; ++j) {
        if (j < kPieceEvents) WaitFlag<HardEvent::MTE2_V>(PieceEvent(s, j));  // each piece's rows as they land
        WeighRows(s.load[j * rowFloats], s.max[(i + j) * ps], hn, i + j == 0);
      }
    }
    if (!small) PipeBarrier<PIPE_V>();  // acc is whole before its cast
    if (next.hn > 0 && !prefetch) LoadRun(next);
    WriteOutput(cAcc_, row, h0, hn, cOut_);
    if (t_->returnLse) IssueStats(uint64_t(row) * t_->heads + h0, hn, cM, cL);
    SetFlag<HardEvent::MTE3_V>(kEvCombineWrites);  // waited before the next run's writes
    writesPending_ = true;
  }
  // A run's weights, given its output max M in cM: w_i = exp(r_i - M) for every piece at once (an
  // empty piece: r_i = -inf, w_i = 0, its acc 0), l = sum_i w_i l_i into cL, then w_i / l into s.max,
  // so that the weighed sum is the output (no pass over the run's rows after the sum). floorL: divide
  // by max(l, kTinySum) (an early run's row that attends nothing has l = 0).
  __aicore__ inline void PieceWeights(const LoadSlot& s, const AscendC::LocalTensor<float>& cM,
                                      const AscendC::LocalTensor<float>& cL, uint32_t hn, uint32_t pieces, uint32_t ps,
                                      bool floorL) {
    using namespace AscendC;
    uint64_t lanes[2] = {(1ull << hn) - 1, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
    const uint8_t psBlocks = uint8_t(ps / 8);
    Sub(s.max, s.max, cM, lanes, uint8_t(pieces), BinaryRepeatParams(1, 1, 1, psBlocks, psBlocks, 0));
    PipeBarrier<PIPE_V>();
    Exp(s.max, s.max, int32_t(pieces * ps));
    PipeBarrier<PIPE_V>();
    Mul(s.sum, s.sum, s.max, int32_t(pieces * ps));
    PipeBarrier<PIPE_V>();
    Halve<false>(s.sum, pieces, ps);
    Adds(cL, s.sum, 0.0f, int32_t(ps));
    PipeBarrier<PIPE_V>();
    if (floorL) Maxs(cT_, cL, kTinySum, int32_t(ps));
    Duplicate(cW_, 1.0f, ps);
    PipeBarrier<PIPE_V>();
    Div(cW_, cW_, floorL ? cT_ : cL, hn);
    PipeBarrier<PIPE_V>();
    Mul(s.max, s.max, cW_, lanes, uint8_t(pieces), BinaryRepeatParams(1, 1, 1, psBlocks, psBlocks, 0));
  }
  // An early run's weights w_i / l in s.max, l in cL and the output max in cM, with no scalar read (the
  // late merge reads M to find a row that attends nothing): M is floored at -FLT_MAX, so that such a
  // row (every r_i = -inf) gets w_i = exp(-inf) = 0 rather than NaN, l = 0, and 1 / max(l, kTinySum)
  // stays finite (its acc_i are zeros: a zero output). Its softmax_max, M * min(l * 1e30, 1) + 0,
  // is then +0; an attended row has l >= 1 (the piece holding M adds w_i l_i >= 1), so every value
  // is the late merge's (bit for bit).
  static constexpr float kTinySum = 1e-30f;
  __aicore__ inline void EarlyWeights(const LoadSlot& s, const AscendC::LocalTensor<float>& cM,
                                      const AscendC::LocalTensor<float>& cL, uint32_t hn, uint32_t pieces, uint32_t ps) {
    using namespace AscendC;
    Maxs(cM, s.tru, -3.402823466e38f, int32_t(ps));
    PipeBarrier<PIPE_V>();
    PieceWeights(s, cM, cL, hn, pieces, ps, true);
    Muls(cT_, cL, 1e30f, int32_t(ps));
    PipeBarrier<PIPE_V>();
    Mins(cT_, cT_, 1.0f, int32_t(ps));
    PipeBarrier<PIPE_V>();
    Mul(cM, cM, cT_, int32_t(ps));
    PipeBarrier<PIPE_V>();
    Adds(cM, cM, 0.0f, int32_t(ps));
  }
  // An early run's output: each head's columns of the run (HeadCols) cast and copied; its m and l
  // by the vector core that holds the head's last columns (one writer per head: the first head of
  // a run may end on this core, its last one continue on the next).
  // Columns [s0, s1) only; the statistics and the run's write event with the last part (`last`).
  __aicore__ inline void WriteRunColumns(const CombineRun& run, const AscendC::LocalTensor<float>& m,
                                         const AscendC::LocalTensor<float>& l, uint32_t s0 = 0,
                                         uint32_t s1 = kSfaLatentDim, bool last = true) {
    using namespace AscendC;
    WaitCombineWrites();
    const uint32_t row = uint32_t(run.split.row);
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      Cast(cOut_[h * kSfaLatentDim + lo], cAcc_[h * kSfaLatentDim + lo], RoundMode::CAST_RINT, hi - lo);
    }
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      DataCopy(out_[(uint64_t(row) * t_->heads + run.h0 + h) * kSfaLatentDim + lo], cOut_[h * kSfaLatentDim + lo], hi - lo);
    }
    if (!last) return;
    const uint32_t writers = run.cHi < kSfaLatentDim ? run.hn - 1 : run.hn;
    if (t_->returnLse && writers > 0) IssueStats(uint64_t(row) * t_->heads + run.h0, writers, m, l);
    SetFlag<HardEvent::MTE3_V>(kEvCombineWrites);  // waited before the next run's writes
    writesPending_ = true;
  }

  // acc[h, :] = (first) or += part[h, :] * w[h] for each of the run's hn heads: one Muls (the first
  // piece) or Axpy (dst = src * w + dst) of 512 values per head, the weight read by the scalar (the
  // caller has waited for V to write w). Axpy rounds the product, then the sum, as a Mul by the
  // broadcast weight then an Add did: the same values, with one instruction per piece instead of two
  // passes (and Muls at one cycle a repeat where Mul takes two).
  __aicore__ inline void WeighRows(const AscendC::LocalTensor<float>& part, const AscendC::LocalTensor<float>& w,
                                   uint32_t hn, bool first) {
    using namespace AscendC;
    PipeBarrier<PIPE_V>();  // acc: the previous piece's update, or the previous run's cast, is done
    for (uint32_t h = 0; h < hn; ++h) {
      const float wh = w.GetValue(h);
      if (first) Muls(cAcc_[h * kSfaLatentDim], part[h * kSfaLatentDim], wh, int32_t(kSfaLatentDim));
      else Axpy(cAcc_[h * kSfaLatentDim], part[h * kSfaLatentDim], wh, int32_t(kSfaLatentDim));
    }
  }
  // Pieces [p, p + n)'s acc rows of the run (rowFloats each) -> the slot: a few heads' in one strided
  // copy (`small`, signals the slot's evPieces), else one copy per piece, each signalling evPieces +
  // its index (the vector core weighs a piece while the next ones are still in flight).
  __aicore__ inline void LoadPieces(const LoadSlot& s, uint32_t p, uint32_t h0, uint32_t rowFloats, uint32_t n, bool small) {
    using namespace AscendC;
    const GlobalTensor<float> src = pieces_[PieceAcc(p) + uint64_t(h0) * kSfaLatentDim];
    if (small) {
      DataCopyPad(s.load, src, DataCopyExtParams(uint16_t(n), rowFloats * 4, t_->pieceBytes - rowFloats * 4, 0, 0),
                  DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
      SetFlag<HardEvent::MTE2_V>(s.evPieces);
      return;
    }
    const uint64_t pieceFloats = t_->pieceBytes / sizeof(float);
    for (uint32_t j = 0; j < n; ++j) {
      if (j + 1 == kPieceEvents && j + 1 < n) {  // the batch's remaining pieces: one strided copy
        DataCopyPad(s.load[j * rowFloats], src[j * pieceFloats],
                    DataCopyExtParams(uint16_t(n - j), rowFloats * 4, t_->pieceBytes - rowFloats * 4, 0, 0),
                    DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
        SetFlag<HardEvent::MTE2_V>(PieceEvent(s, j));
        return;
      }
      DataCopy(s.load[j * rowFloats], src[j * pieceFloats], rowFloats);
      SetFlag<HardEvent::MTE2_V>(PieceEvent(s, j));
    }
  }
  // The event of loaded piece j (the last one also covers the pieces after it).
  __aicore__ inline static int32_t PieceEvent(const LoadSlot& s, uint32_t j) {
    return s.evPieces + int32_t(j < kPieceEvents - 1 ? j : kPieceEvents - 1);
  }
  // Takes back the events of a batch of n loaded pieces.
  __aicore__ inline void WaitPieces(const LoadSlot& s, uint32_t n, bool small) {
    const uint32_t events = small ? 1 : (n < kPieceEvents ? n : kPieceEvents);
    for (uint32_t j = 0; j < events; ++j) AscendC::WaitFlag<AscendC::HardEvent::MTE2_V>(PieceEvent(s, j));
  }

  // A run of few heads (decode B = 1: 1-2 heads per vector core, one piece per AI core): each
  // head's 64-column strip weighed in all n loaded pieces by one instruction (repeat = piece, the
  // weight block of piece j at Brcb block j * ps + head), then the pieces summed into acc.
  __aicore__ inline void WeighSmallRuns(const LoadSlot& s, uint32_t i, uint32_t n, uint32_t hn, uint32_t ps) {
    BroadcastWeights(s.max, i, n, ps);
    WeighColumns(s.load, n, hn, kSfaLatentDim);
    SumColumns(s.load, i, n, hn, kSfaLatentDim, 0);
  }
  // The weights of pieces [i, i + n), a block each per head, for WeighColumns.
  __aicore__ inline void BroadcastWeights(const AscendC::LocalTensor<float>& w, uint32_t i, uint32_t n, uint32_t ps) {
    using namespace AscendC;
    PipeBarrier<PIPE_V>();
    Brcb(cBcast_, w[i * ps], uint8_t(n * ps / 8), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
  }
  // buf holds n pieces' rows of `cols` columns (a multiple of 64) for each of hn heads: piece j,
  // head h at (j * hn + h) * cols. Each times its piece's weight.
  __aicore__ inline void WeighColumns(const AscendC::LocalTensor<float>& buf, uint32_t n, uint32_t hn, uint32_t cols) {
    using namespace AscendC;
    const uint8_t pieceBlocks = uint8_t(hn * cols / 8), psBlocks = uint8_t(AlignUp(hn, 8));
    const BinaryRepeatParams pieceRows(1, 1, 0, pieceBlocks, pieceBlocks, psBlocks);
    for (uint32_t h = 0; h < hn; ++h)
      for (uint32_t c = 0; c < cols; c += 64) Mul(buf[h * cols + c], buf[h * cols + c], cBcast_[h * 8], 64, uint8_t(n), pieceRows);
    PipeBarrier<PIPE_V>();
  }
  // acc columns [c0, c0 + cols) of each head = (i == 0) or += (later batches) the sum of buf's n
  // weighed pieces (WeighColumns' layout): halving rounds (Halve), the last one into acc.
  __aicore__ inline void SumColumns(const AscendC::LocalTensor<float>& buf, uint32_t i, uint32_t n, uint32_t hn, uint32_t cols,
                                    uint32_t c0) {
    using namespace AscendC;
    const uint32_t rowFloats = hn * cols, m = Halve<false>(buf, n, rowFloats, i == 0 ? 2 : 1);
    for (uint32_t h = 0; h < hn; ++h) {
      const LocalTensor<float> acc = cAcc_[h * kSfaLatentDim + c0], part = buf[h * cols];
      if (i > 0) Add(acc, acc, part, int32_t(cols));
      else if (m == 2) Add(acc, part, buf[rowFloats + h * cols], int32_t(cols));
      else Adds(acc, part, 0.0f, int32_t(cols));
    }
    PipeBarrier<PIPE_V>();
  }
  // Max (kMax) or sum of n vectors of `len` floats at buf, buf + len, ..., in halving rounds (vector
  // k with vector k + m - m / 2) until `until` are left at buf: one instruction a round, fewer
  // instructions and barriers than one a vector. Returns how many are left.
  template <bool kMax>
  __aicore__ inline uint32_t Halve(const AscendC::LocalTensor<float>& buf, uint32_t n, uint32_t len, uint32_t until = 1) {
    uint32_t m = n;
    for (; m > until; m -= m / 2) {
      if (kMax) AscendC::Max(buf, buf, buf[(m - m / 2) * len], int32_t(m / 2 * len));
      else AscendC::Add(buf, buf, buf[(m - m / 2) * len], int32_t(m / 2 * len));
      AscendC::PipeBarrier<PIPE_V>();
    }
    return m;
  }

  // Floats of one piece's columns [s0, s1) of the run's heads (each within its own columns, HeadCols).
  __aicore__ inline static uint32_t StageCols(const CombineRun& run, uint32_t s0, uint32_t s1) {
    uint32_t cols = 0;
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo < hi) cols += hi - lo;
    }
    return cols;
  }
  // Columns [s0, s1) of the run's heads of every piece -> buf, piece-major: piece j's columns of all
  // heads at buf[j * StageCols], head after head, so that one halving round sums every head. One
  // strided copy per head with columns there, each signalling kEvPieces + h. Returns the floats taken.
  __aicore__ inline uint32_t LoadColumns(const AscendC::LocalTensor<float>& buf, const CombineRun& run, uint32_t s0,
                                         uint32_t s1) {
    using namespace AscendC;
    const uint32_t n = uint32_t(run.split.pieces), p = uint32_t(run.split.firstPiece), block = StageCols(run, s0, s1);
    uint32_t at = 0;
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      const uint32_t cols = hi - lo;
      DataCopyPad(buf[at], pieces_[PieceAcc(p) + uint64_t(run.h0 + h) * kSfaLatentDim + lo],
                  DataCopyExtParams(uint16_t(n), cols * 4, t_->pieceBytes - cols * 4, (block - cols) / 8, 0),
                  DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
      SetFlag<HardEvent::MTE2_V>(kEvPieces + int32_t(h));
      at += cols;
    }
    return n * block;
  }
  // acc's columns [s0, s1) of the run's heads = the weighed sum of LoadColumns' pieces in buf: each
  // head weighed as its copy lands (weights: BroadcastWeights), then the pieces of all heads summed
  // in halving rounds, the last into acc head by head. Returns the floats of buf read.
  __aicore__ inline uint32_t MergeColumns(const AscendC::LocalTensor<float>& buf, const CombineRun& run, uint32_t s0,
                                          uint32_t s1) {
    using namespace AscendC;
    const uint32_t n = uint32_t(run.split.pieces), block = StageCols(run, s0, s1);
    if (block == 0) return 0;
    const uint8_t blockBlocks = uint8_t(block / 8), psBlocks = uint8_t(AlignUp(run.hn, 8));
    uint32_t at = 0;
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      WaitFlag<HardEvent::MTE2_V>(kEvPieces + int32_t(h));
      for (uint32_t c = at; c < at + hi - lo; c += 64)
        Mul(buf[c], buf[c], cBcast_[h * 8], 64, uint8_t(n), BinaryRepeatParams(1, 1, 0, blockBlocks, blockBlocks, psBlocks));
      at += hi - lo;
    }
    PipeBarrier<PIPE_V>();
    const uint32_t m = Halve<false>(buf, n, block, 2);
    at = 0;
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      const LocalTensor<float> acc = cAcc_[h * kSfaLatentDim + lo];
      if (m == 2) Add(acc, buf[at], buf[block + at], int32_t(hi - lo));
      else Adds(acc, buf[at], 0.0f, int32_t(hi - lo));
      at += hi - lo;
    }
    PipeBarrier<PIPE_V>();
    return n * block;
  }
  // Whether the run has columns in [s0, s1).
  __aicore__ inline static bool HasCols(const CombineRun& run, uint32_t s0, uint32_t s1) {
    return StageCols(run, s0, s1) > 0;
  }
  // An early run (EarlyRun): its streamed columns (loaded by LoadRun once every piece posted them)
  // are weighed and summed while the cube may still write the kept ones; then the upper kept half
  // once every piece posted it, then the lower half once every piece is whole. A run without
  // columns in a part skips its wait (this core's own posts are made all the same).
  __aicore__ inline void MergeEarlyRun(const CombineRun& run, uint32_t ps) {
    using namespace AscendC;
    const uint32_t pieces = uint32_t(run.split.pieces), kc = keptCols_, half = kc / 2;
    BroadcastWeights(cMax_, 0, pieces, ps);
    uint32_t at = MergeColumns(cLoad_, run, kc, kSfaLatentDim);
    FinishKeptHigh();
    if (HasCols(run, half, kc)) {
      GmFlagWaitAtLeast(rowFlags_[uint64_t(run.split.row) * kSfaRowFlagWords + kSfaRowFlagKeptHigh], int32_t(2 * pieces), cFlag_);
      LoadColumns(cLoad_[at], run, half, kc);
      at += MergeColumns(cLoad_[at], run, half, kc);
    }
    if (!HasCols(run, 0, half)) {
      FinishPiece();
      return;
    }
    WaitRowDone(run.split);
    LoadColumns(cLoad_[at], run, 0, half);
    // Columns [half, 512) are final: cast and written while the lower half's copies land (after the
    // whole-piece post, which a barrier on MTE3 would otherwise hold behind these writes).
    WriteRunColumns(run, cM_, cL_, half, kSfaLatentDim, false);
    MergeColumns(cLoad_[at], run, 0, half);
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaPlan plan_;
  SfaSelector selector_;
  SfaVectorGather<T> gather_;
  static constexpr uint32_t kFifo = 4;
  Pending fifo_[kFifo] = {};
  uint32_t head_ = 0, size_ = 0, gatherItem_ = 0, gatherStart_ = 0, gathered_ = 0, gatherCount_ = 0;
  SfaTile gatherTile_;
  bool gatherReady_ = false, gatherLoaded_ = false;
  int32_t listInUb_ = -1;  // the item whose list KeepList put in rowIdx_
  uint32_t block_ = 0, h0_ = 0, h_ = 0, hAlign_ = 8, used_ = 0, scan_ = 0, last_ = 0, slot_ = 0, stageSlots_ = 2;
  uint32_t keptCols_ = 0, itemTiles_ = 0;
  bool earlyMerge_ = false;  // SfaEarlyMerge: pieces post their streamed columns early
  bool itemFirst_ = false;  // Process reads an item's record before selecting the next item (many items per core)
  bool keepFirstList_ = false;  // a core's first list kept in UB (KeepList) outside early merges too
  bool rebased_ = false, wordPending_ = false;       // a rebase at the tile being softmaxed; a word copy in flight
  bool snapPending_[2] = {false, false};             // per tile parity: a rebase whose snapshot is not read yet
  bool hasCorrection_[2] = {false, false};           // per item parity: D holds a correction
  static constexpr int32_t kEvWord = 1;              // S <-> MTE3 (0: PostSlot)
  CombineRun firstRun_{};
  uint64_t mergeAt_ = 0, mergeEnd_ = 0;  // the (split, head) units of this core's merge after firstRun_
  SfaItem unfinished_{};        // a piece whose whole-piece post waits for the merge (FinishPiece)
  bool hasUnfinished_ = false, highPosted_ = false;
  bool ended_ = false, outWaited_ = false;  // outWaited_: Rebase took the cube's flag of the tile Accumulate works on
  GM_ADDR wsSlots_ = nullptr;
  AscendC::TPipe& pipe_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> arena_;
  AscendC::LocalTensor<float> scores_, acc_, stage_, stats_, bcast_;
  AscendC::LocalTensor<T> probs_, cOut_;
  AscendC::LocalTensor<float> cAcc_, cLoad_, cMax_, cSum_, cTrue_, cM_, cL_, cW_, cT_, cBcast_;
  AscendC::LocalTensor<float> cMax1_, cSum1_, cTrue1_;  // a prefetched run's statistics (slot 1)
  AscendC::LocalTensor<int32_t> cFlag_;  // scratch of the row flags' polls
  int32_t waitedRow_ = -1;               // the split row whose flag the combine last waited for
  uint32_t runParity_ = 0;      // the combine run's pair of cM_ / cL_
  bool writesPending_ = false;  // a combine run's copies to the output are in flight
  AscendC::GlobalTensor<T> out_, pRing_;
  AscendC::GlobalTensor<float> sRing_, oRing_, max_, sum_, pieces_, kept_;
  AscendC::GlobalTensor<int32_t> slots_, lists_, words_, rowFlags_;
  AscendC::LocalTensor<int32_t> rowIdx_;
  AscendC::LocalTensor<T> gKeys_, gValues_;
};

}  // namespace ascend_glm5
