// Sparse Flash Attention, vector side (AIV), the item phase: row selection, softmax against a
// reference max, rebase (with the kept columns' correction, sfa_kept_columns.h), normalisation, and
// the pieces of split rows left in GM; then it hands over to the merge of those rows (sfa_merge.h).
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
//                  out = sum / l in the input dtype (and m, l if asked; an O^T sum in steps,
//                  sfa_finalize_t.h); a piece of a split row leaves r, l and m next to its acc in GM.
// The running r, l and m are kept per item parity, because Softmax of an item's first tile runs
// before the previous item's last Accumulate. A seeded item (SfaSeeded, the earlier piece of a
// two-piece row) starts from its later piece's r, l and m (LoadSeed) and ends as a whole row. A
// finishing item (SfaSplit::finisher, the one late piece of a split row) weighs the row's other
// pieces in during its last tile and writes the row (SfaFinish, sfa_finish.h).
// After its items, each vector core merges its share of the split rows' pieces (SfaMerge,
// sfa_merge.h); a piece counts in its row's flag once in GM (SfaOutput::PostPiece, sfa_output.h).
// In a one-reference launch (decode B = 1) the pieces of a row share one reference max, the cube adds
// them into one row sum, and the vector cores normalise it instead (SfaOneRef, sfa_one_ref.h).
#pragma once

#include "kernel_operator.h"
#include "../common/block_reduce.h"
#include "../common/event_slots.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "../common/tiling.h"
#include "sfa_finalize_t.h"
#include "sfa_finish.h"
#include "sfa_gather.h"
#include "sfa_kept_columns.h"
#include "sfa_merge.h"
#include "sfa_one_ref.h"
#include "sfa_output.h"
#include "sfa_plan.h"
#include "sfa_row_scale.h"
#include "sfa_select.h"
#include "sfa_sort.h"

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
    io_.Init(out, softmaxMax, softmaxSum, plan, workspace, t);
    merge_.Init(t, plan_, io_);
    oneRef_ = t.oneRef != 0;
    if (oneRef_) oneRefs_.Init(t, plan_, io_, workspace);
    const uint32_t half = (t.heads + 1) / 2;  // N1 = 1: the second core has no head
    h0_ = AscendC::GetSubBlockIdx() == 0 ? 0 : half;
    h_ = AscendC::GetSubBlockIdx() == 0 ? half : t.heads - half;
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
    earlyMerge_ = SfaEarlyMerge(t);
    outT_ = SfaOutT(t);
    finalChunks_ = SfaFinalChunks(t);
    keepFirstList_ = t.combinedKv != 0 && t.numItems <= 3 * t.blockDim;
    itemFirst_ = t.numItems > 3 * t.blockDim;
    gatherAhead_ = SfaGatherAhead(t.combinedKv != 0, t.numItems, t.blockDim);
    hAlign_ = AlignUp(h_ > 0 ? h_ : 1, 8);
    pipe_.InitBuffer(arena_, ArenaBytes(t));
    CarveItems();
    kept_.Init(workspace, t, block_, h0_, h_, acc_, Stat(kWord).template ReinterpretCast<int32_t>(), Stat(kAlpha0),
               Stat(kAlpha1), bcast_);
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
    // The vector cores' gather runs gatherAhead_ tiles ahead of the softmax: the cube needs tile
    // g + 1's rows right after scoring tile g. Those first tiles load into two UB buffers in turn,
    // the gather's and acc_ (free until the first Accumulate or Rebase), so that a tile's rows load
    // while the tile before leaves UB (sfa-start: B = 64 x 8K / 128K -0.4 / -0.5 %).
    if (oneRef_) oneRefs_.ZeroShare(scores_);  // scores_ is free until the first scores land
    bool lent = LendsAcc();
    if (lent) gather_.Lend(acc_.template ReinterpretCast<T>());
    for (uint32_t a = 0; a < gatherAhead_; ++a) {
      GatherPrepare(true);
      GatherStore();
    }
    while (Ensure(0)) {
      const Pending work = fifo_[head_];
      itemRef_ = work.ref;
      // The item's record: with more than 3 items per core (decode B = 64, prefill) read before the
      // next item's selection (GLM-5 B = 64, 8K, cycles: 255,964 -> 254,972; prefill S = 2048
      // -0.7 %); with fewer (B = 16 and below) after it (read first: B = 16 at 128K +0.16 %, the
      // separate rope +0.23 %).
      const SfaItem info = itemFirst_ ? plan_.Item(uint32_t(work.item)) : SfaItem{};
      if (sorter_.Pending()) FinishSort();  // the cube waits for its slot before this item's tiles
      // One item ahead: the cube takes the next item's rows after this item's last scores. An item
      // selected here may be sorted over this item's tiles (SortStep).
      const uint32_t tiles = CeilDiv(work.count, t_->tileRows);
      sortWindow_ = tiles > gatherAhead_ ? tiles - gatherAhead_ : 0;
      Ensure(1);
      sortWindow_ = 0;
      if (lent) gather_.Return();  // acc_'s first writers are MTE2 copies (Accumulate, Rebase, kept_)
      lent = false;
      const SfaItem item = itemFirst_ ? info : plan_.Item(uint32_t(work.item));
      cursor.Reset(uint32_t(work.item), item, work.count, t_->tileRows, work.aivRows);
      if (uint32_t(work.item) + 1 == last_) finish_.Note(item, plan_);
      while (cursor.Next(tile)) {
        if (tile.first) parity ^= 1;
        GatherPrepare(false);
        Softmax(tile, g, parity);
        GatherPrepare(true);
        WaitProbsOut();
        GatherStore();
        if (hasPending) Accumulate(pending, g - 1, pendingParity);
        SortStep();
        // After the item's second-to-last tile: the ids of the item its last tile is followed by the
        // selection of (Ensure(1) at the next item's start), copied now (SfaSelector::Prefetch), so
        // that selection does not start with the ids' GM round trip (sfa-sel64). The stage is free
        // until then: no sort pending, and the last tile's Accumulate finalises nothing.
        if (tile.start / t_->tileRows + 2 == tiles && size_ == 2 && !ended_ && scan_ < last_ && !sorter_.Pending())
          PrefetchNext();
        pending = tile;
        pendingParity = parity;
        hasPending = true;
        ++g;
      }
      head_ = (head_ + 1) % kFifo;
      --size_;
      if (gatherItem_ > 0) --gatherItem_;
    }
    if (scoresRead_) AscendC::WaitFlag<AscendC::HardEvent::V_MTE2>(kEvScoresRead);
    scoresRead_ = false;
    // The merge's first run (a plan line the scalar misses) is read while the cube finishes.
    if (t_->numSplits > 0) merge_.Start();
    // A finishing piece weighs the row's other pieces in while the cube runs its last P . V, unless
    // a kept-column correction still needs acc_ (then after it, in Accumulate).
    if (hasPending && finish_.Finishes(pending) && kept_.Clean(g - 1, pendingParity))
      finish_.Prepare(Stat(kRef0 + pendingParity), Stat(kSum0 + pendingParity), Stat(kTrue0 + pendingParity));
    if (hasPending) Accumulate(pending, g - 1, pendingParity, true);
    finalizeT_.Finish();
    selector_.TakePrefetch(SfaItem{});
    kept_.Drain();
    if (t_->aivRows > 0) gather_.Drain(gathered_);
    if (SfaSeeded(seedAlone_.piece)) FinalizeSeedAlone(seedAlone_);
    finish_.WriteAlone();
    if (t_->numSplits == 0) return;
    HandOverUb();
    if (oneRef_) {
      oneRefs_.Normalize(arena_, merge_);
      return;
    }
    merge_.Carve(arena_);  // each run waits for its row's pieces (row flags), not for every core
    merge_.Combine();
  }

  // The merge carves the UB every earlier phase used: its copies in (MTE2) and vector work wait for
  // the scalar, MTE3 and vector work on it before (the slot words, the list and output copies).
  __aicore__ inline void HandOverUb() {
    using namespace AscendC;
    SetFlag<HardEvent::S_MTE2>(0);
    WaitFlag<HardEvent::S_MTE2>(0);
    SetFlag<HardEvent::MTE3_MTE2>(0);
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    VectorAfterScalar();
  }

  // Whether acc_ holds a second buffer of the gather's rows (keys only) for the launch's first tiles:
  // in a split launch, whose selections sort no whole row (SfaSelector::InitSort's scratch is acc_).
  __aicore__ inline bool LendsAcc() const {
    return t_->numSplits > 0 && t_->aivRows > 0 && !t_->separateValue && h_ > 0 &&
           h_ * kSfaLatentDim * sizeof(float) >= SfaVectorGather<T>::MaxRows(t_->aivRows) * kSfaQkDim * sizeof(T);
  }

  // UB of the arena: the larger of the item phase and the merge (SfaMerge::Carve).
  __aicore__ inline static uint32_t ArenaBytes(const SparseFlashAttentionTiling& t) {
    uint32_t items = SfaItemUbBytes(t.heads) + (SfaOutT(t) ? SfaFinalizeT<T>::kUbBytes : 0);
    if (t.aivRows > 0) items += kSfaMaxSparseCount * 4 + GatherRowBytes(t) * SfaVectorGather<T>::MaxRows(t.aivRows);
    return items > SfaMerge<T>::kUbBytes ? items : SfaMerge<T>::kUbBytes;
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
  // rebase word written for the cube; kRefAt: a one-reference launch's byte offsets of each head's
  // score row (head x tileRows x 4), from which Gather picks the first key's column.
  enum Stat : uint32_t { kRef0 = 0, kRef1, kSum0, kSum1, kTrue0, kTrue1, kTileMax, kTileSum, kSlotStat, kAlpha0, kAlpha1,
                         kWord, kRefAt, kStatVectors };
  static_assert(kStatVectors == kSfaStatVectors, "SfaItemUbBytes counts the stat vectors");
  static constexpr float kNegInf = -__builtin_huge_valf();
  // A finished row's UB (SfaFinish) fits after P's buffer within the arena, which is at least the merge's.
  static_assert(SfaItemUbBytes(kSfaFinishHeads) + SfaFinish<T>::kUbBytes <= SfaMerge<T>::kUbBytes, "SfaFinish's UB fits the arena");

  template <typename U>
  __aicore__ inline AscendC::LocalTensor<U> Take(uint32_t elems) {
    AscendC::LocalTensor<U> out = arena_.GetWithOffset<U>(elems, used_);
    used_ += AlignUp(elems * sizeof(U), 32);
    return out;
  }

  __aicore__ inline void CarveItems() {
    used_ = 0;
    const uint32_t h = h_ > 0 ? h_ : 1;
    // UB bank groups and banks (docs/performance.md "### UB banks"): the scores first (bank 0 at
    // GLM-5), P's buffer last, past 64 KiB (bank 1), so that the row halves' Max / Add into it
    // (RowHalves) and the broadcast max there (Probabilities) miss the scores' banks.
    scores_ = Take<float>(h * t_->tileRows);
    const uint32_t accAt = used_;
    acc_ = Take<float>(h * kSfaLatentDim);
    stage_ = Take<float>(stageSlots_ * kSfaOutChunkRows * kSfaLatentDim);
    stats_ = Take<float>(kStatVectors * hAlign_);
    const uint32_t region = used_;
    bcast_ = Take<float>(hAlign_ * 8);
    probs_ = Take<T>(SfaProbsBytes(h, t_->tileRows) / sizeof(T));
    // The output scale's lanes start in the bank group 8 past acc's (SfaRowScale).
    subBcast_ = arena_.GetWithOffset<float>((used_ - region) / sizeof(float), region);
    scale_.Init(subBcast_, (accAt / 32 + 8 + 16 - (region / 32) % 16) % 16);
    if (outT_) {
      const AscendC::LocalTensor<uint32_t> table = Take<uint32_t>(SfaFinalizeT<T>::kTableEntries);
      finalizeT_.Init(*t_, io_, acc_, probs_, bcast_, table, Take<float>(hAlign_), h0_, h_);
    }
    // A finished row's UB: the list and the gathered rows are done with by then.
    finish_.Init(*t_, io_, arena_, used_, acc_, accAt, stage_, stageSlots_, h0_, h_, hAlign_, scale_, Stat(kTileMax),
                 Stat(kTileSum), t_->numSplits > 0 && !earlyMerge_ && !outT_);
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
    bool ref;  // one-reference launch: its row's first key is valid (SfaSelector::RefRow)
  };
  __aicore__ inline const Pending& Fifo(uint32_t i) const { return fifo_[(head_ + i) % kFifo]; }
  // Selects items until the i-th pending one exists; false at the end of this core's items.
  __aicore__ inline bool Ensure(uint32_t i) {
    while (size_ <= i && !ended_) {
      uint32_t count = 0, aivRows = 0;
      const int32_t item = NextItem(count, aivRows);
      if (item < 0) break;
      fifo_[(head_ + size_++) % kFifo] = Pending{item, count, aivRows, selector_.RefRow() >= 0};
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
    if (sorter_.Pending() && int32_t(gatherTile_.item) == sortSlot_.item) FinishSort();  // its list is read now
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
    if (sorter_.Pending()) FinishSort();  // slots are posted in order; the stage is the selector's
    for (; scan_ < last_; ++scan_) {
      const SfaItem item = plan_.Item(scan_);
      const SfaRow row = plan_.Row(uint32_t(item.row));
      count = SfaPlan::Empty(item, row) ? 0 : selector_.Select(item, row, writer, lists_[uint64_t(scan_) * t_->listWords]);
      if (count == 0) {
        EmptyItem(item);
        continue;
      }
      // Sorted in steps when the current item's tiles give each step a tile of its own (B = 16, 8K,
      // cycles: up to 3 steps a tile over short items 81,113 -> 82,425); posted once sorted (SortStep).
      aivRows = plan_.AivRows(row);
      // (Until sfa-stride a core's first item in decode B = 64's form left the vector cores 3/4 of
      // their share, sfa-start; with a copy per pair of rows the whole share is faster: B = 64 x 8K /
      // 32K / 128K 228,571 / 228,145 / 229,188 -> 226,136 / 226,528 / 227,316 cycles; 1/2 233,931 /
      // 234,332 / 235,287; more than the share does not fit the gather's buffer.)
      if (row.sorted == kSfaSortSteps && count > 1 &&
          sortWindow_ >= SfaRowSorter::Steps(count)) {
        // Rounds of 32 x 4^k pairs: the steps run where the vector unit is idle, and with only the
        // pairs there are the gathers' copies after them met the cube's on the HBM pool sooner
        // (GLM-5 B = 64 x 128K, seeds 0 / 1 / 2: 224,624 / 224,487 / 225,220 -> 225,640 / 225,788 /
        // 227,910 cycles; sfa-sortexact).
        sorter_.Start(stage_.ReinterpretCast<uint8_t>(), lists_[uint64_t(scan_) * t_->listWords], count, false);
        sortSlot_ = Pending{int32_t(scan_), count, aivRows, false};
        return int32_t(scan_++);
      }
      if (gatherFree) KeepList(int32_t(scan_));
      AscendC::LocalTensor<int32_t> head;
      const uint32_t carried = selector_.HeadRows(head);
      PostSlot(int32_t(scan_), count, SlotShare(row.sorted, aivRows), head, carried);
      return int32_t(scan_++);
    }
    if (!ended_) PostSlot(-1, 0, 0);
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

  // The next item's list sorted in steps (kSfaSortSteps), one per tile of
  // the current item after its softmax and Accumulate, where the vector unit is idle (a 2,048-row
  // sort is ~5,100 cycles of V: at once, it would hold up the softmax behind it). The first step
  // waits for the tile-0 Accumulate, which finalises the previous item in the stage. NextItem
  // sorts only where the current item's tiles - gatherAhead_ tiles hold every step: the vector
  // cores gather the sorted item's first tile at tile tiles - gatherAhead_. The list is
  // posted once sorted.
  __aicore__ inline void SortStep() {
    if (!sorter_.Pending()) return;
    sorter_.Step();
    if (!sorter_.Pending()) PostSorted();
  }
  // The rest of the pending sort at once: the guard of a selection, a gather or an item that needs
  // the list before SortStep's last tile (none does, by NextItem's window).
  __aicore__ inline void FinishSort() {
    sorter_.Finish();
    PostSorted();
  }
  // The sorted list's slot; the stage is free again once the list's copy has left it.
  __aicore__ inline void PostSorted() {
    using namespace AscendC;
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
    SetFlag<HardEvent::MTE3_MTE2>(0);
    WaitFlag<HardEvent::MTE3_MTE2>(0);
    // Only slots without kSfaSlotEarlyRows carry the sorted head (B = 64 8K, whose slots have the
    // bit: 243,444.67 -> 244,516.37 cycles with it).
    LocalTensor<int32_t> head;
    const int32_t share = SlotShare(kSfaSortSteps, sortSlot_.aivRows);
    const uint32_t carried = (share & kSfaSlotEarlyRows) == 0 ? sorter_.HeadRows(head) : 0;
    PostSlot(sortSlot_.item, sortSlot_.count, share, head, carried);
  }

  // A work slot's word 2: the vector cores' rows of a full tile, and kSfaSlotEarlyRows where the
  // row is marked kSfaSortSteps in a launch of more than 3 items a core (GLM-5 decode B = 64), whose
  // sorted tiles take one copy per pair or run of rows: the cube's MTE2 then has the slack to take
  // every tile's own rows earlier (sfa_cube.h GatherSome).
  __aicore__ inline int32_t SlotShare(int32_t sorted, uint32_t aivRows) const {
    return int32_t(aivRows) | (itemFirst_ && sorted == kSfaSortSteps ? kSfaSlotEarlyRows : 0);
  }

  // share: SlotShare's word. head: the item's first `carried` list entries in UB (the selector's, or
  // the sorter's once sorted), which the slot carries so that the cube reads no list line for them.
  __aicore__ inline void PostSlot(int32_t item, uint32_t count, int32_t share,
                                  const AscendC::LocalTensor<int32_t>& head = {}, uint32_t carried = 0) {
    using namespace AscendC;
    if (GetSubBlockIdx() == 0) {
      const LocalTensor<int32_t> words = stats_.ReinterpretCast<int32_t>()[kSlotStat * hAlign_];
      SetFlag<HardEvent::V_S>(0);  // the vector unit is done with the stats vectors
      WaitFlag<HardEvent::V_S>(0);
      words.SetValue(0, item);
      words.SetValue(1, int32_t(count));
      words.SetValue(2, share);
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
    const bool seed = tile.first && SfaSeeded(tile.info.piece) && h_ > 0;
    if (seed) LoadSeed(tile.info, parity);  // its copies land with the scores'
    if (OneRefTile(tile)) {
      RefOffsets();  // once, while this core waits for its first scores
      oneRefs_.WaitZeroed();  // before the cube's first add into a row sum
    }
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagScores);
    if (h_ > 0) {
      if (scoresRead_) AscendC::WaitFlag<AscendC::HardEvent::V_MTE2>(kEvScoresRead);
      scoresRead_ = false;
      DataCopy(scores_, sRing_[(g % 2) * (t_->wsSlotS / sizeof(float)) + h0_ * t_->tileRows], n);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagScoresFree);
    finalizeT_.WaitOut(0);  // a pending O^T finalize's chunk 0 left P's buffer (SfaFinalizeT::Step)
    if (h_ > 0) {
      Probabilities(tile, g, parity);
      Cast(probs_, scores_, RoundMode::CAST_RINT, n);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(pRing_[(g % 2) * (t_->wsSlotP / sizeof(T)) + h0_ * t_->tileRows], probs_, n);
      if (earlyMerge_) RowSums(tile, parity, false);  // while P goes out
      SetFlag<HardEvent::V_MTE2>(kEvScoresRead);  // the next tile's scores may land
      scoresRead_ = true;
    }
    if (OneRefTile(tile)) kept_.PostTrip(tile, tripped_[parity]);
    else kept_.PostWord(tile);
    CrossCoreSetFlag<2, PIPE_MTE3>(kSfaFlagProbs);
    if (h_ > 0) {
      SetFlag<HardEvent::MTE3_V>(kEvProbsOut);  // P's UB buffer is rewritten after WaitProbsOut
      probsOut_ = true;
    }
  }
  // P's copy out has left its UB buffer (Softmax), which the softmax, the output scale and the
  // finishes reuse: waited for after the next selection, whose vector work and ids copy then run
  // beside P's copy, not after it (the ids copy waits for the vector unit).
  __aicore__ inline void WaitProbsOut() {
    if (!probsOut_) return;
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(kEvProbsOut);
    probsOut_ = false;
  }

  // In place on the scores: p = exp(scale * S - r) against the item's reference max r, and the row
  // statistics: r is the first tile's max and stays while no later score exceeds it by more than
  // kSfaRefSlack (p <= e^8, in range for fp16 too), so the P . V of every tile can be added up in GM
  // as it is (the cube's atomic add) without a rescale; l = sum of p (RowSums); the true max is kept apart.
  // A larger score moves r (Rebase: l and the P . V so far times exp(r - r')).
  // A score row is tileRows (64 or 128) columns: one fp32 repeat (64 lanes) per row and 64 columns.
  __aicore__ inline void Probabilities(const SfaTile& tile, uint32_t g, uint32_t parity) {
    using namespace AscendC;
    const uint32_t h = h_, cols = t_->tileRows, n = h * cols, halves = cols / 64;
    const uint8_t rowBlocks = uint8_t(cols / 8);  // repeat stride of one score row, in 32-byte blocks
    const LocalTensor<float> s = scores_, b = bcast_;
    const LocalTensor<float> ref = Stat(kRef0 + parity), mTrue = Stat(kTrue0 + parity), tileMax = Stat(kTileMax);
    Muls(s, s, t_->scale, n);
    PipeBarrier<PIPE_V>();
    // A one-reference piece: R = the scores of its row's first key, the column after its rows
    // (sfa_cube.h GatherTakeSlot), into ref; the masking below then leaves it out of the piece's own.
    const bool oneRef = OneRefTile(tile);
    if (oneRef && itemRef_) {
      Gather(ref, s, Stat(kRefAt).template ReinterpretCast<uint32_t>(), tile.rows * uint32_t(sizeof(float)), h);
      PipeBarrier<PIPE_V>();
    }
    for (uint32_t k = 0; k < halves; ++k) {  // columns past the tile's rows: padding or stale ring data
      if (tile.rows >= 64 * (k + 1)) continue;
      const uint32_t valid = tile.rows > 64 * k ? tile.rows - 64 * k : 0;
      uint64_t mask[2] = {valid == 0 ? ~0ull : ~0ull << valid, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
      Duplicate(s[64 * k], kNegInf, mask, uint8_t(h), 1, rowBlocks);
      PipeBarrier<PIPE_V>();
    }
    ReduceRows<true>(tileMax, RowHalves<true>(s), 8);
    GatherLoad();  // the next gather's row copies, issued before the scalar waits for the tile max
    const bool fresh = tile.first && !SfaSeeded(tile.info.piece);  // a seeded item goes on from its B's statistics
    if (fresh) {
      // A one-reference piece keeps R unless a head's max passes it by more than the slack (or the
      // key is not valid): then its own max, as any piece (tripped).
      tripped_[parity] = oneRef && (!itemRef_ || RefExceeded(tileMax, ref, h, kSfaOneRefSlack));
      if (!oneRef || tripped_[parity]) Adds(ref, tileMax, 0.0f, h);
      Adds(mTrue, tileMax, 0.0f, h);
    } else {
      Max(mTrue, mTrue, tileMax, h);
      if (RefExceeded(tileMax, ref, h)) Rebase(tile, g, parity);
    }
    PipeBarrier<PIPE_V>();
    if (halves == 1) {
      Brcb(b, ref, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(1, 8));
      PipeBarrier<PIPE_V>();
      Sub(s, s, b, 64, uint8_t(h), BinaryRepeatParams(1, 1, 0, rowBlocks, rowBlocks, 1));
    } else {
      // 128 columns: one Sub over both halves of each row in turn (a repeat every 256 bytes:
      // consecutive repeats read the two halves of the bank groups, and a repeat's reads miss the
      // previous one's writes), the max of repeat r in block r of subBcast_: each head's max in two
      // consecutive blocks (two Brcbs, each head 2 blocks on: 8 groups a repeat, one beat), in
      // bcast_ and P's buffer (bank 1 at GLM-5, free here). Every second repeat the max block
      // meets the scores' reads in a group: 1.5 beats a repeat, where the two 64-column Subs took
      // two (row r's reads met row r-1's writes). A max block out of the scores' groups in every
      // repeat needs a repeat stride of 8 mod 16 blocks, whose Brcb writes one or two groups a
      // repeat (8 or 4 beats; the timing model prices no Brcb beats).
      Brcb(subBcast_, ref, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(2, 16));
      Brcb(subBcast_[8], ref, uint8_t(CeilDiv(h, 8)), BrcbRepeatParams(2, 16));
      PipeBarrier<PIPE_V>();
      Sub(s, s, subBcast_, 64, uint8_t(2 * h), BinaryRepeatParams(1, 1, 0, 8, 8, 1));
    }
    PipeBarrier<PIPE_V>();
    Exp(s, s, n);
    PipeBarrier<PIPE_V>();
    if (!earlyMerge_) RowSums(tile, parity, true);
  }

  // l += the sum of p per head (tile's p in scores_, fp32), after the softmax (beforeCast: the row
  // halves fold into P's buffer, RowHalves) or, in an early-merge launch (decode B = 1), once P is
  // cast and on its way to the cube, so that this vector work runs beside P's copy (the halves then
  // fold in place: -356 cycles at B = 1 x 32K; at B = 64 x 32K / 128K the same order took +1.3 /
  // +1.5 %, at B = 16 -0.2 to +0.1 %).
  __aicore__ inline void RowSums(const SfaTile& tile, uint32_t parity, bool beforeCast) {
    using namespace AscendC;
    const uint32_t h = h_;
    const LocalTensor<float> s = scores_, lRun = Stat(kSum0 + parity), tileSum = Stat(kTileSum);
    const uint8_t rowBlocks = uint8_t(t_->tileRows / 8);
    if (beforeCast) {
      ReduceRows<false>(tileSum, RowHalves<false>(s), 8);
    } else {
      if (t_->tileRows > 64) {
        Add(s, s, s[64], 64, uint8_t(h), BinaryRepeatParams(1, 1, 1, rowBlocks, rowBlocks, rowBlocks));
        PipeBarrier<PIPE_V>();
      }
      ReduceRows<false>(tileSum, s, rowBlocks);
    }
    if (tile.first && !SfaSeeded(tile.info.piece)) Adds(lRun, tileSum, 0.0f, h);
    else Add(lRun, lRun, tileSum, h);
    PipeBarrier<PIPE_V>();
  }

  // dst[i] = the max (kMax) or the sum of row i's 64 floats, rows `rowBlocks` 32-byte blocks apart
  // from `rows`, for this core's h_ heads. By blocks: each row's 8 block results into bcast_ (8
  // floats a head), then 8 rows' results a repeat; BlockReduce* take 1 cycle a repeat on fp32 where
  // WholeReduce* take 7 (pto's vcgmax / vcgadd against vcmax / vcadd), as CANN's own softmax reduces
  // rows (softmax_common_nd_reduce.h), and the two levels add in WholeReduceSum's tree order. The
  // tile max goes by blocks in early-merge launches (decode B = 1, where it is on the path), the row
  // sums also where the vector cores gather 2 tiles ahead (B = 16, the separate rope, prefill);
  // elsewhere, and B = 64's max and sums, one WholeReduce* a tile: by blocks B = 64's copies met the
  // cubes' on the HBM pool at worse times (+0.7 to +2.4 %; docs/tuning/sparse_flash_attention.md,
  // sfa-blockreduce).
  template <bool kMax>
  __aicore__ inline void ReduceRows(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& rows,
                                    uint32_t rowBlocks) {
    using namespace AscendC;
    const uint32_t h = h_, full = h / 8, rest = h % 8;
    const bool byBlocks = earlyMerge_ || (!kMax && gatherAhead_ == 2);
    if (!byBlocks) {
      if (kMax) WholeReduceMax(dst, rows, 64, h, 1, 1, rowBlocks, ReduceOrder::ORDER_ONLY_VALUE);
      else WholeReduceSum(dst, rows, 64, h, 1, 1, rowBlocks);
      PipeBarrier<PIPE_V>();
      return;
    }
    const LocalTensor<float> blocks = bcast_;
    BlockReduceLevel<kMax>(blocks, rows, h, 64, rowBlocks);
    PipeBarrier<PIPE_V>();
    if (full > 0) BlockReduceLevel<kMax>(dst, blocks, full, 64);
    if (rest > 0) BlockReduceLevel<kMax>(dst[8 * full], blocks[64 * full], 1, 8 * rest);  // the last rows' 8 x rest results
    PipeBarrier<PIPE_V>();
  }

  // Byte offsets of this core's score rows for the one-reference pick (Stat kRefAt): head i's row
  // starts at i x tileRows floats. Made before the core's first one-reference scores, which it waits
  // for with the vector unit idle (at the start its scalar unit selects the first item instead).
  __aicore__ inline void RefOffsets() {
    using namespace AscendC;
    if (refAtMade_) return;
    refAtMade_ = true;
    const LocalTensor<int32_t> at = Stat(kRefAt).template ReinterpretCast<int32_t>();
    CreateVecIndex(at, int32_t(0), hAlign_);
    PipeBarrier<PIPE_V>();
    Muls(at, at, int32_t(t_->tileRows * sizeof(float)), int32_t(hAlign_));
    PipeBarrier<PIPE_V>();
  }

  // True when a head's tile max is more than `slack` above its reference (one scalar read).
  __aicore__ inline bool RefExceeded(const AscendC::LocalTensor<float>& tileMax, const AscendC::LocalTensor<float>& ref,
                                     uint32_t h, float slack = kSfaRefSlack) {
    using namespace AscendC;
    const LocalTensor<float> d = Stat(kTileSum), top = bcast_;
    PipeBarrier<PIPE_V>();
    Sub(d, tileMax, ref, h);
    PipeBarrier<PIPE_V>();
    WholeReduceMax(top, d, int32_t(h), 1, 1, 1, 8, ReduceOrder::ORDER_ONLY_VALUE);
    return ReadVectorResult(top, 0) > slack;  // (bcast_ is written again by the vector unit)
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
    // The kept columns are corrected once the cube's snapshot is in (Accumulate). A seeded item's
    // first tile rescales its B's sum only, all of it in GM: the cube starts its L0C sum after.
    if (!tile.first) kept_.NoteRebase(g, alpha);
    finalizeT_.Finish();  // acc_ is the scratch here
    // The cube's P . V of tile g-1 is in (Accumulate(g-1) skips its wait). A seeded item's first
    // tile needs none: tile g-1, if any, is another item's, which sums elsewhere.
    if (!tile.first) {
      CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
      outWaited_ = true;
    }
    SetFlag<HardEvent::V_MTE2>(0);  // acc_ (scratch here) is free
    WaitFlag<HardEvent::V_MTE2>(0);
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    const bool ot = ItemOutT(tile);  // O^T: this core's heads are a column range of its 512 rows
    if (ot) DataCopy(acc_, sum, ColumnsIn(kSfaLatentDim));
    else DataCopy(acc_, sum, h * kSfaLatentDim);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    if (ot) SfaScaleColumns(acc_, alpha, bcast_, kSfaLatentDim, h);
    else ScaleRows(acc_, acc_, alpha, h);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    // on MTE3 before P, whose flag lets the cube add tile g
    if (ot) DataCopy(sum, acc_, ColumnsOut(kSfaLatentDim));
    else DataCopy(sum, acc_, h * kSfaLatentDim);
    SetFlag<HardEvent::MTE3_MTE2>(0);  // acc_ is read into again only after this copy
    WaitFlag<HardEvent::MTE3_MTE2>(0);
  }

  // A piece of a one-reference launch (sfa-oneref): its only tile takes its row's first key's scores
  // as the reference max.
  __aicore__ inline bool OneRefTile(const SfaTile& tile) const { return oneRef_ && tile.info.piece >= 0; }

  // This core's rows of the GM sum of an item's P . V: its piece's acc, or (a whole row) O ring slot
  // item % 2 (the cube's Output). O^T (ItemOutT): the first of its columns.
  // A seeded item's is its B's acc.
  __aicore__ inline AscendC::GlobalTensor<float> AccSlot(const SfaTile& tile, uint32_t parity) {
    const bool inPiece = SfaSumsInPiece(tile.info.piece);
    const uint64_t at = inPiece ? io_.PieceAcc(SfaSumSlot(tile.info.piece)) : parity * (t_->wsSlotO / sizeof(float));
    return (inPiece ? io_.pieces : oRing_)[at + uint64_t(h0_) * (ItemOutT(tile) ? 1 : kSfaLatentDim)];
  }
  // Whether the tile's item sums O^T (SfaItemOutT, sparse_flash_attention_tiling.h).
  __aicore__ inline bool ItemOutT(const SfaTile& tile) const { return outT_ && tile.info.piece == kSfaWholeRow; }
  // `rows` rows of O^T, this core's h_ columns of each (N1 apart in GM), to and from UB rows of h_.
  __aicore__ inline AscendC::DataCopyParams ColumnsIn(uint32_t rows) const {
    return AscendC::DataCopyParams(uint16_t(rows), uint16_t(h_ / 8), uint16_t((t_->heads - h_) / 8), 0);
  }
  __aicore__ inline AscendC::DataCopyParams ColumnsOut(uint32_t rows) const {
    return AscendC::DataCopyParams(uint16_t(rows), uint16_t(h_ / 8), 0, uint16_t((t_->heads - h_) / 8));
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
  // then left to the merge (SfaMerge::HoldPiece, FinishPiece), which weighs the pieces' early
  // columns meanwhile.
  __aicore__ inline void Accumulate(const SfaTile& tile, uint32_t g, uint32_t parity, bool lastOfCore = false) {
    using namespace AscendC;
    // A pending O^T finalize: a step, or all of it where acc_ is taken (the kept columns' fold, the
    // next row's finalize) or the core's items end. The kept columns' update of tile g follows a
    // rebase at g, which finished it (Rebase; a finalize starts at an item's last tile, and a first
    // tile never rebases).
    if (tile.last || lastOfCore) finalizeT_.Finish();
    else finalizeT_.Step();
    if (OneRefTile(tile)) {
      AccumulateOneRef(tile, parity, lastOfCore);
      return;
    }
    // A piece's statistics and streamed columns are posted as soon as the cube has written those
    // columns (its kept ones follow): a merge of few heads starts on them (SfaMerge::MergeEarlyRun).
    // A piece with a rebase's correction still to fold in posts both counts at the end (simpler to
    // follow).
    const bool lastPiece = earlyMerge_ && tile.last && tile.info.piece >= 0;
    const bool early = lastPiece && !outWaited_ && kept_.Clean(g, parity);
    // Its statistics are final (no correction to fold in): their copies run while MTE3 waits for the
    // cube's streamed columns, not after them.
    if (early && h_ > 0)
      WritePieceStats(tile.info, Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity), tripped_[parity]);
    if (lastPiece) CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagStreamed);
    if (early) {
      io_.PostPiece(tile.info, kSfaRowFlagStreamed, SlotWords());
      if (lastOfCore) {
        merge_.HoldPiece(tile.info);
        return;
      }
    }
    if (lastPiece) CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagKeptHigh);
    if (early) io_.PostPiece(tile.info, kSfaRowFlagKeptHigh, SlotWords());
    // The core's last tile where the cube flags its chunks (SfaFinalChunks): a seeded piece's row is
    // finalised chunk by chunk as they land; any other piece takes the flags.
    if (lastOfCore && finalChunks_ && SfaSumsInPiece(tile.info.piece)) {
      if (tile.last && SfaSeeded(tile.info.piece) && h_ > 0 && !outWaited_ && kept_.Clean(g, parity)) {
        FinalizeByChunks(tile, parity);
        return;
      }
      for (uint32_t c = 1; c < kSfaLatentDim / kSfaOutChunk; ++c) CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagStreamed);
    }
    if (!outWaited_) CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    outWaited_ = false;
    kept_.Update(g, parity, ItemOutT(tile));
    if (tile.last && kept_.HasCorrection(parity)) kept_.Fold(AccSlot(tile, parity), parity, ItemOutT(tile));
    if (tile.last && finish_.Finishes(tile)) {  // its row is written here; no post (the row has no merge)
      if (h_ > 0 && !finish_.Prepared()) finish_.Prepare(Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity));
      CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
      if (h_ > 0) finish_.Write();
      return;
    }
    if (h_ == 0 || !tile.last || tile.info.piece >= 0) {
      CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
      if (h_ > 0 && tile.last && !early)
        WritePieceStats(tile.info, Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity), tripped_[parity]);
      if (lastPiece && !early) {
        io_.PostPiece(tile.info, kSfaRowFlagStreamed, SlotWords());
        io_.PostPiece(tile.info, kSfaRowFlagKeptHigh, SlotWords());
      }
      if (tile.last && tile.info.piece >= 0) io_.PostPiece(tile.info, 0, SlotWords());
      return;
    }
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    if (!ItemOutT(tile)) {
      FinalizeFrom(sum, uint32_t(tile.info.row), parity);
      return;
    }
    SetFlag<HardEvent::V_MTE2>(0);  // the previous item's output has been read out of acc
    WaitFlag<HardEvent::V_MTE2>(0);
    constexpr uint32_t rows = SfaFinalizeT<T>::kRows;
    for (uint32_t c = 0; c < kSfaLatentDim / rows; ++c) {  // O^T: 64 latent rows a copy, two a MTE2 -> V event (ids 0..3)
      DataCopy(acc_[c * rows * h_], sum[uint64_t(c) * rows * t_->heads], ColumnsIn(rows));
      if (c % 2 == 1) SetFlag<HardEvent::MTE2_V>(int32_t(c / 2));
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);  // after the read: the item after next reuses the slot
    finalizeT_.Start(uint32_t(tile.info.row), Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity), Stat(kTileSum));
  }
  // A one-reference piece (its only tile): its statistics posted at once, for the row's normalise to
  // weigh while the cube runs its P . V; its whole-piece post once the cube's P . V is in GM (left to
  // the normalise on the core's last piece, which weighs meanwhile). No early-merge posts: the cube
  // sets no streamed / kept-high flags for it.
  __aicore__ inline void AccumulateOneRef(const SfaTile& tile, uint32_t parity, bool lastOfCore) {
    using namespace AscendC;
    if (h_ > 0) WritePieceStats(tile.info, Stat(kRef0 + parity), Stat(kSum0 + parity), Stat(kTrue0 + parity), tripped_[parity]);
    if (lastOfCore) {
      merge_.HoldPiece(tile.info, false);
      return;
    }
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
    io_.PostWhole(tile.info, SlotWords(), true);
  }
  // An O-form sum (this core's rows of it at `sum`) read into acc_ and finalised as `row`'s output.
  // free: the cube's flag that the read is done with the item's ring slot (the item after next
  // reuses it); none after the items.
  __aicore__ inline void FinalizeFrom(const AscendC::GlobalTensor<float>& sum, uint32_t row, uint32_t parity, bool free = true) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE2>(0);  // the previous item's output has been read out of acc
    WaitFlag<HardEvent::V_MTE2>(0);
    for (uint32_t c = 0; c * kStageRows < h_; ++c) {  // one MTE2 -> V event per chunk (h_ <= 64: ids 0..7)
      DataCopy(acc_[c * kStageRows * kSfaLatentDim], sum[c * kStageRows * kSfaLatentDim], SfaChunkRows(h_, c) * kSfaLatentDim);
      SetFlag<HardEvent::MTE2_V>(int32_t(c));
    }
    if (free) CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
    Finalize(row, parity);
  }

  // A seeded piece that ends its core's items (SfaFinalChunks): its row (B's acc, A's P . V added in)
  // finalised chunk by chunk in the order the cube flags them, each 64-column chunk read, scaled by
  // 1 / l, cast and written as it lands (GLM-5 decode B = 64: the cube's last 8 fixpipes take ~1.7K
  // cycles, and the row's finalize after them took ~2.5K more; by chunks ~1.2K, held by the vector
  // unit).
  __aicore__ inline void FinalizeByChunks(const SfaTile& tile, uint32_t parity) {
    using namespace AscendC;
    const GlobalTensor<float> sum = AccSlot(tile, parity);
    const uint32_t row = uint32_t(tile.info.row), chunks = kSfaLatentDim / kSfaOutChunk;
    const uint32_t streamed = chunks - SfaKeptCols(*t_) / kSfaOutChunk;
    const LocalTensor<float> ref = Stat(kRef0 + parity), lRun = Stat(kSum0 + parity), mTrue = Stat(kTrue0 + parity);
    const LocalTensor<float> inv = Stat(kTileMax);  // free: the last softmax is done
    SetFlag<HardEvent::V_MTE2>(0);  // the previous item's output has been read out of acc
    WaitFlag<HardEvent::V_MTE2>(0);
    Duplicate(inv, 1.0f, h_);
    PipeBarrier<PIPE_V>();
    Div(inv, inv, lRun, h_);
    const LocalTensor<float> byRow = bcast_;  // 1 / l a block a head, as ScaleRows broadcasts it
    PipeBarrier<PIPE_V>();
    Brcb(byRow, inv, uint8_t(CeilDiv(h_, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    for (uint32_t i = 0; i < chunks; ++i) {
      if (i + 1 < chunks) {
        CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagStreamed);
      } else {
        CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
        CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
      }
      const uint32_t col = (i < streamed ? chunks - streamed + i : i - streamed) * kSfaOutChunk;
      FinalizeChunk(sum, row, col, byRow, i);
    }
    for (uint32_t slot = 0; slot < 2; ++slot) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));
    if (t_->returnLse) io_.WriteLse(row, h0_, h_, ref, lRun, mTrue, Stat(kTileSum));
  }
  // Latent columns [col, col + 64) of this core's rows of `sum` (rows of 512 floats in GM and in
  // acc_): read into acc_ at their place, times 1 / l by row (byRow: a block a row), cast into stage
  // slot i % 2 (MTE3 -> V event i % 2) and written to the output's rows; one repeat a row.
  __aicore__ inline void FinalizeChunk(const AscendC::GlobalTensor<float>& sum, uint32_t row, uint32_t col,
                                       const AscendC::LocalTensor<float>& byRow, uint32_t i) {
    using namespace AscendC;
    constexpr uint32_t rowBlocks = kSfaLatentDim / 8, gap = (kSfaLatentDim - kSfaOutChunk) / 8;
    constexpr uint32_t chunkBlocks = kSfaOutChunk * sizeof(T) / 32, outBlocks = kSfaLatentDim * sizeof(T) / 32;
    const uint32_t slot = i % 2;
    const LocalTensor<T> stage = stage_.ReinterpretCast<T>()[slot * h_ * kSfaOutChunk];
    DataCopy(acc_[col], sum[col], DataCopyParams(uint16_t(h_), kSfaOutChunk / 8, gap, gap));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Mul(acc_[col], acc_[col], byRow, kSfaOutChunk, uint8_t(h_), BinaryRepeatParams(1, 1, 0, rowBlocks, rowBlocks, 1));
    PipeBarrier<PIPE_V>();
    if (i >= 2) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));  // the slot's previous rows are out
    Cast(stage, acc_[col], RoundMode::CAST_RINT, kSfaOutChunk, uint8_t(h_), UnaryRepeatParams(1, 1, chunkBlocks, rowBlocks));
    SetFlag<HardEvent::V_MTE3>(int32_t(slot));
    WaitFlag<HardEvent::V_MTE3>(int32_t(slot));
    DataCopy(io_.out[(uint64_t(row) * t_->heads + h0_) * kSfaLatentDim + col], stage,
             DataCopyParams(uint16_t(h_), chunkBlocks, 0, outBlocks - chunkBlocks));
    SetFlag<HardEvent::MTE3_V>(int32_t(slot));
  }
  // A seeded item (SfaSeeded) before its first tile: once its B's vector cores have posted B (word
  // 0 of the row's flag counts both), this core's heads of B's reference max, sum and true max ->
  // the item's statistics (parity), from which its first tile's softmax goes on as from an earlier
  // tile of its own. The copies land with the next MTE2 -> V event (the scores').
  __aicore__ inline void LoadSeed(const SfaItem& item, uint32_t parity) {
    using namespace AscendC;
    GmFlagWaitAtLeast(io_.rowFlags[uint64_t(item.row) * kSfaRowFlagWords], 2);
    SetFlag<HardEvent::V_MTE2>(0);  // the vector unit is done with the parity's statistics
    WaitFlag<HardEvent::V_MTE2>(0);
    const uint32_t slot = SfaSumSlot(item.piece);
    const DataCopyExtParams one(1, h_ * sizeof(float), 0, 0, 0);
    const DataCopyPadExtParams<float> none(false, 0, 0, 0.0f);
    DataCopyPad(Stat(kRef0 + parity), io_.stats[SfaStatAt(*t_, slot, 0) + h0_], one, none);
    DataCopyPad(Stat(kSum0 + parity), io_.stats[SfaStatAt(*t_, slot, 1) + h0_], one, none);
    DataCopyPad(Stat(kTrue0 + parity), io_.stats[SfaStatAt(*t_, slot, 2) + h0_], one, none);
  }
  // A seeded item that selects nothing (EmptyItem): its row is its B's alone, finalised after this
  // core's items (acc_, the stage and parity 0's statistics are free then); zeros where B selected
  // nothing either (its sum l = 0, which every head shares).
  __aicore__ inline void FinalizeSeedAlone(const SfaItem& item) {
    using namespace AscendC;
    if (h_ == 0) return;
    LoadSeed(item, 0);
    SetFlag<HardEvent::MTE2_S>(0);
    WaitFlag<HardEvent::MTE2_S>(0);
    const bool empty = Stat(kSum0).GetValue(0) == 0.0f;
    VectorAfterScalar();  // the statistics' UB is written again by the vector unit after this read
    if (empty) {
      io_.WriteZeroRows(uint32_t(item.row), h0_, h_, stage_, Stat(kTileMax));
      return;
    }
    FinalizeFrom(io_.pieces[io_.PieceAcc(SfaSumSlot(item.piece)) + uint64_t(h0_) * kSfaLatentDim], uint32_t(item.row), 0,
                 false);
  }
  // The ids of the next item this core selects (if it selects anything), copied ahead (SfaSelector::Prefetch).
  __aicore__ inline void PrefetchNext() {
    const SfaItem item = plan_.Item(scan_);
    if (SfaPlan::Empty(item, plan_.Row(uint32_t(item.row)))) return;
    selector_.Prefetch(item);
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
      const uint32_t r0 = c * kStageRows, n = SfaChunkRows(h_, c), slot = c % stageSlots_;
      WaitFlag<HardEvent::MTE2_V>(int32_t(c));
      if (c >= stageSlots_) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));  // the slot's previous rows are out
      scale_.Apply(acc_[r0 * kSfaLatentDim], inv[r0], n);
      Cast(stage[slot * rowFloats], acc_[r0 * kSfaLatentDim], RoundMode::CAST_RINT, n * kSfaLatentDim);
      SetFlag<HardEvent::V_MTE3>(int32_t(slot));
      WaitFlag<HardEvent::V_MTE3>(int32_t(slot));
      DataCopy(io_.out[(uint64_t(row) * t_->heads + h0_ + r0) * kSfaLatentDim], stage[slot * rowFloats], n * kSfaLatentDim);
      SetFlag<HardEvent::MTE3_V>(int32_t(slot));
    }
    for (uint32_t slot = 0; slot < stageSlots_ && slot < c; ++slot) WaitFlag<HardEvent::MTE3_V>(int32_t(slot));
    if (t_->returnLse) io_.WriteLse(row, h0_, h_, ref, lRun, mTrue, Stat(kTileSum));
  }
  // A piece's reference max r, its sum l (relative to r) and its true max, for the merge beside its
  // acc (the P . V sum relative to r, built by the cube): into its row's group (SfaStatAt).
  // A one-reference launch's statistic 3 (tripped: its heads' rows are in the piece's own acc) comes
  // from bcast_, free between the softmax's uses; the statistics are then counted in the row's
  // kSfaRowFlagStats word, on which its normalise weighs the pieces while the cube still runs.
  __aicore__ inline void WritePieceStats(const SfaItem& item, const AscendC::LocalTensor<float>& ref,
                                         const AscendC::LocalTensor<float>& l, const AscendC::LocalTensor<float>& mTrue,
                                         bool tripped = false) {
    using namespace AscendC;
    const uint32_t piece = uint32_t(item.piece);
    if (oneRef_) {
      PipeBarrier<PIPE_V>();
      Duplicate(bcast_, tripped ? 1.0f : 0.0f, int32_t(h_));
    }
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const DataCopyExtParams one(1, h_ * sizeof(float), 0, 0, 0);
    DataCopyPad(io_.stats[SfaStatAt(*t_, piece, 0) + h0_], ref, one);
    DataCopyPad(io_.stats[SfaStatAt(*t_, piece, 1) + h0_], l, one);
    DataCopyPad(io_.stats[SfaStatAt(*t_, piece, 2) + h0_], mTrue, one);
    if (oneRef_) {
      DataCopyPad(io_.stats[SfaStatAt(*t_, piece, 3) + h0_], bcast_, one);
      io_.PostPiece(item, kSfaRowFlagStats, SlotWords());
    }
    SetFlag<HardEvent::MTE3_V>(0);  // acc and the statistics are rewritten by the next item
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  // The work slot's words: free scratch for a piece's post (PostSlot waits for its copy).
  __aicore__ inline AscendC::LocalTensor<int32_t> SlotWords() { return stats_.ReinterpretCast<int32_t>()[kSlotStat * hAlign_]; }
  // A piece written whole at once (an empty one): every count.
  __aicore__ inline void PostWholePiece(const SfaItem& item) {
    if (earlyMerge_) {
      io_.PostPiece(item, kSfaRowFlagStreamed, SlotWords());
      io_.PostPiece(item, kSfaRowFlagKeptHigh, SlotWords());
    }
    io_.PostWhole(item, SlotWords(), false);
  }
  // An item that attends nothing: a whole row gets zeros (and m = l = 0, as the reference); a
  // piece gets acc = 0, m = -inf, l = 0, which weigh nothing in the combine.
  __aicore__ inline void EmptyItem(const SfaItem& item) {
    using namespace AscendC;
    if (SfaSeeded(item.piece)) {  // its row is finalised from its B alone, at the end (FinalizeSeedAlone)
      seedAlone_ = item;
      return;
    }
    if (scan_ + 1 == last_ && finish_.NoteEmpty(item, plan_)) return;  // its row is finished from the other pieces, at the end
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
        DataCopy(io_.pieces[io_.PieceAcc(uint32_t(item.piece)) + uint64_t(h0_ + r) * kSfaLatentDim], stage_,
                 (h_ - r < kStageRows ? h_ - r : kStageRows) * kSfaLatentDim);
      WritePieceStats(item, Stat(kTileMax), Stat(kTileSum), Stat(kTileMax));
      PostWholePiece(item);
      return;
    }
    io_.WriteZeroRows(uint32_t(item.row), h0_, h_, stage_, Stat(kTileMax));
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaPlan plan_;
  SfaSelector selector_;
  SfaVectorGather<T> gather_;
  SfaOutput<T> io_;     // the outputs, pieces and row flags in GM (shared with the merge)
  SfaMerge<T> merge_;   // the merge of split rows, after the items
  SfaOneRef<T> oneRefs_;  // a one-reference launch's row sums: zeroed at the start, normalised after the items
  bool oneRef_ = false, itemRef_ = false;  // itemRef_: Process's item has a valid first key
  bool refAtMade_ = false;                  // Stat kRefAt holds the score rows' offsets (RefOffsets)
  bool tripped_[2] = {false, false};  // per item parity: a one-reference piece's heads keep their own reference
  SfaKeptColumns kept_;  // the kept columns' correction after a rebase
  static constexpr uint32_t kFifo = 4;
  Pending fifo_[kFifo] = {};
  SfaRowSorter sorter_;
  Pending sortSlot_ = {-1, 0, 0, false};  // the item being sorted, posted when its sort is done
  uint32_t sortWindow_ = 0;  // tiles of the current item to sort an item selected now on
  uint32_t head_ = 0, size_ = 0, gatherItem_ = 0, gatherStart_ = 0, gathered_ = 0, gatherCount_ = 0;
  SfaTile gatherTile_;
  bool gatherReady_ = false, gatherLoaded_ = false;
  int32_t listInUb_ = -1;  // the item whose list KeepList put in rowIdx_
  bool scoresRead_ = false;  // V -> MTE2 kEvScoresRead set: the last Cast of scores_ is issued
  bool probsOut_ = false;    // MTE3 -> V kEvProbsOut set: P's copy out not waited for
  static constexpr int32_t kEvScoresRead = 7;
  static constexpr int32_t kEvProbsOut = 5;  // MTE3 -> V: P has left UB (WaitProbsOut)
  uint32_t block_ = 0, h0_ = 0, h_ = 0, hAlign_ = 8, used_ = 0, scan_ = 0, last_ = 0, slot_ = 0, stageSlots_ = 2;
  bool earlyMerge_ = false;  // SfaEarlyMerge: pieces post their streamed columns early
  bool outT_ = false;           // SfaOutT
  bool finalChunks_ = false;    // SfaFinalChunks: the cube flags the chunks of the core's last tile
  SfaFinalizeT<T> finalizeT_;  // a whole row's output from an O^T sum, in steps (SfaOutT only)
  uint32_t gatherAhead_ = 2;  // SfaGatherAhead
  bool itemFirst_ = false;  // Process reads an item's record before selecting the next item (many items per core)
  bool keepFirstList_ = false;  // a core's first list kept in UB (KeepList) outside early merges too
  SfaItem seedAlone_ = {0, 0, 0, kSfaWholeRow};  // a seeded item that selected nothing (EmptyItem)
  SfaFinish<T> finish_;  // the row this core's last item finishes, if any
  bool ended_ = false, outWaited_ = false;  // outWaited_: Rebase took the cube's flag of the tile Accumulate works on
  GM_ADDR wsSlots_ = nullptr;
  AscendC::TPipe& pipe_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> arena_;
  AscendC::LocalTensor<float> scores_, acc_, stage_, stats_, bcast_;
  AscendC::LocalTensor<float> subBcast_;  // bcast_ and P's buffer: the broadcast max of 128-column tiles, the output scale
  SfaRowScale scale_;                     // the output scale (its lanes in subBcast_)
  AscendC::LocalTensor<T> probs_;
  AscendC::GlobalTensor<T> pRing_;
  AscendC::GlobalTensor<float> sRing_, oRing_;
  AscendC::GlobalTensor<int32_t> slots_, lists_;
  AscendC::LocalTensor<int32_t> rowIdx_;
  AscendC::LocalTensor<T> gKeys_, gValues_;
};

}  // namespace ascend_glm5
