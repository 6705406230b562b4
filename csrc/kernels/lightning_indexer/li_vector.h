// Lightning Indexer, vector side (AIV), phase 1: head-weighted sum, masking and the running top-k
// of each row's scores, into partial lists (LiLists); phase 2, their merge and the output, is
// LiMerger's (li_merge.h).
//
// Per item: vector core s owns the item's key half s. Per step it copies its 64 columns of the
// score tile out of the ring and releases the slot; one Mul weights every head row of every query
// row (the weights broadcast per row with Brcb), a folding tree of Adds sums each query row's heads
// (log2 N1 instructions), keys the row may not see become -inf (one masked Duplicate), and the 64
// scores go to the row's RunningTopK. At the item's end each row's best list goes to its list slot
// with its length. rowSplit (prefill): vector core s owns about half of
// the item's rows instead, with all 128 keys of each step (StepsRowSplit); a row no other item
// covers has its whole top-k there and writes its indices at once (EmitRow).
#pragma once

#include "../common/event_slots.h"
#include "../common/tiling.h"
#include "../common/topk.h"
#include "kernel_operator.h"
#include "li_arena.h"
#include "li_lists.h"
#include "li_merge.h"
#include "li_plan.h"

namespace ascend_glm5 {

template <typename W>
class LiVector {
 public:
  __aicore__ inline void Init(GM_ADDR weights, GM_ADDR plan, GM_ADDR indices, GM_ADDR values, GM_ADDR workspace,
                              const LightningIndexerTiling& t) {
    t_ = &t;
    for (uint32_t b = 0; b < kMaxBlockBuffers; ++b) tileFree_[b].Init(1, kEvTile + int32_t(b));
    plan_.Init(plan, t);
    weights_.SetGlobalBuffer(reinterpret_cast<__gm__ W*>(weights), uint64_t(t.numRows) * t.heads);
    indices_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(indices), uint64_t(t.numRows) * t.sparseCount);
    if (t.returnValue) values_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(values), uint64_t(t.numRows) * t.sparseCount);
    ring_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + uint64_t(AscendC::GetBlockIdx() / 2) * t.wsRingBytes),
                          t.wsRingBytes / sizeof(float));
    lists_.Init(workspace, t);
    arena_.Init(pipe_, kArenaBytes);
    merge_.Init(plan, lists_, indices_, values_, t);
  }

  __aicore__ inline void Process() {
    uint32_t first, last;
    plan_.CoreItems(AscendC::GetBlockIdx() / 2, first, last);
    merge_.ReadFirstMerge();  // (its GM misses overlap the wait for the first score tile)
    CarvePhase1();
    for (uint32_t i = first; i < last; ++i) ProcessItem(plan_.CoreItem(AscendC::GetBlockIdx() / 2, first, i), i + 1 == last);
    for (uint32_t b = 0; b < kMaxBlockBuffers; ++b) tileFree_[b].Drain();
    merge_.Carve(arena_);
    merge_.Run();
  }

 private:
  static constexpr uint32_t kArenaBytes = 180 * 1024;
  static constexpr int32_t kEvTile = 2;  // MTE2 -> V events of the tile buffers (2 ..); V -> MTE2: their release
  static constexpr int32_t kEvTileRest = 6;  // MTE2 -> V: the second part of half 1 of a core's last tile (FetchTile)
  static constexpr uint32_t kMaxTileBuffers = kLiMaxTileBuffers;
  static constexpr uint32_t kMaxBlockBuffers = 4;  // rowSplit: 2 tile buffers of 2 column blocks (events kEvTile ..)
  // Decode (several tile buffers): a half's best list and candidates of up to 512 pairs are merged
  // one block before its end, while the last tile is on its way (B = 1 x 8K 9,248 -> 9,096 cycles;
  // 1,024: B = 1 x 32K 17,639 -> 18,025). Not in prefill: its single tile buffer leaves the vector
  // cores no idle time before a last tile (S = 1024 +2 %).
  static constexpr uint32_t kEarlyMergePairs = 512;
  // A short piece (decode, several tile buffers) also merges its candidates into the best list two
  // and three blocks before its end, while at most kEarlyMergePairs / 2 keys were offered: its vector
  // core waits for each tile there (the cube's fixpipe bounds it), so each merge is short and runs
  // while the next tile is on its way, and the merge one block before the end takes the best list
  // and one block's runs instead of a round over every block's runs first (B = 1 x 8K, halves of 4
  // blocks: 8,046 -> 7,963 cycles; two blocks before only: 7,991; three only: 8,028).
  static constexpr uint32_t kEarlyFlushFirst = 2, kEarlyFlushLast = 3;
  // A list written in two parts (StepsRing's `head`): RunningTopK::EarlyHead three blocks before its
  // end (the head so far), then two and one (each block's runs merged into one run with the runs
  // merged before). B = 1 x 32K 15,549 -> 15,302 cycles; from two blocks before: 15,324; the head only
  // (two blocks before): 15,357; the head merged again one block before: 15,420.
  static constexpr uint32_t kEarlyHeadFirst = 3, kEarlyHeadLast = 1;
  __aicore__ inline bool EarlyFlush(uint32_t blocksLeft, uint32_t offered) const {
    return t_->tileBuffers > 1 && blocksLeft >= kEarlyFlushFirst && blocksLeft <= kEarlyFlushLast &&
           offered * kLiHalfKeys <= kEarlyMergePairs / 2;
  }

  // A long piece (decode, several tile buffers, at least 2 kTailFlushBlocks blocks) merges its candidates into the best list kTailFlushBlocks
  // blocks before its end, the most whose runs (2 a block) then fit in the candidate and spare pairs:
  // no merge into the best list is left for its last blocks (RunningTopK::Offer's restFits), which at
  // the key stream's end come faster than the vector core works them (a cube backlog). Every core of
  // B = 16 x 8K had one ~1,560 cycles (its runs' rounds and a 1,032-cycle MrgSort of the k best) six
  // blocks before its end, with its last tiles waiting; 12 blocks before, the vector core is still
  // idle between tiles (B = 16 x 8K -115 cycles, 32K -554, B = 64 x 8K -552; 8, 10 or 14 blocks
  // before: +113 / +119 / +466 at B = 16 x 8K, every row slower at 8 and 10).
  static constexpr uint32_t kTailFlushBlocks = (kLiCandPairs + kLiCandSparePairs) / (2 * kRunPairs);
  __aicore__ inline bool TailFlush(uint32_t blocks, uint32_t blocksLeft) const {
    return t_->tileBuffers > 1 && blocks >= 2 * kTailFlushBlocks && blocksLeft == kTailFlushBlocks;
  }

  // A 32-byte aligned slice of the UB arena.
  template <typename T>
  __aicore__ inline AscendC::LocalTensor<T> Take(uint32_t elems) {
    return arena_.Take<T>(elems);
  }

  __aicore__ inline void CarvePhase1() {
    arena_.Seek(0);
    const uint32_t maxM = t_->groupRows * t_->heads, rows = RowsPerCore();
    // rowSplit: one buffer of two 64-key column blocks of this core's rows (StepsRowSplit).
    const uint32_t tileFloats = t_->rowSplit ? 2 * rows * t_->heads * kLiHalfKeys : maxM * kLiHalfKeys;
    for (uint32_t b = 0; b < t_->tileBuffers; ++b) tiles_[b] = Take<float>(tileFloats);
    if (t_->rowSplit) {  // the rows' summed scores of a step; a row's indices (and scores) are extracted in phase 1 (EmitRow)
      rowScores_ = Take<float>(2 * rows * kLiHalfKeys);
      outIdx_ = Take<uint32_t>(t_->bestPairs);
      if (t_->returnValue) outScores_ = Take<float>(t_->bestPairs);
    }
    wRaw_ = Take<W>(maxM);
    wF32_ = Take<float>(AlignUp(maxM, 8));
    wB_ = Take<float>(AlignUp(t_->rowSplit && 2 * rows * t_->heads > maxM ? 2 * rows * t_->heads : maxM, 8) * 8);
    // The steps' key indices, two buffers of 64 one after the other: created once here, where no
    // vector instruction has touched them yet (CreateVecIndex writes its first block by the scalar
    // unit), then moved to each step's keys by a vector Adds (keyBase_; StepsRing, StepsRowSplit).
    keyIdx_ = Take<int32_t>(2 * kLiHalfKeys);
    keyIdxB_ = keyIdx_[kLiHalfKeys];
    AscendC::CreateVecIndex(keyIdx_, int32_t(0), 2 * kLiHalfKeys);
    keyBase_[0] = 0;
    keyBase_[1] = int32_t(kLiHalfKeys);
    header_ = Take<int32_t>(8);
    quant_ = Take<float>(kLiQuantiles * kPairFloats);
    AscendC::Duplicate(quant_, 0.0f, int32_t(kLiQuantiles * kPairFloats));  // the scalar loop's pairs' second words (WriteQuantiles)
    quantPattern_ = Take<uint32_t>(8);
    AscendC::Duplicate(quantPattern_.ReinterpretCast<int32_t>(), int32_t(kQuantPatternWord), 8);
    scratch_.scores = Take<float>(kLiHalfKeys);
    scratch_.indices = Take<uint32_t>(kLiHalfKeys);
    scratch_.mask = Take<uint8_t>(32);
    wStride_ = 1;
    apart_ = false;
    if (!t_->rowSplit) CarveApart(maxM, rows);
    foldRows_ = 0;
    if (t_->rowSplit) CarveRowSplitFold(rows);
    // The top-k buffers at the arena's top, where phase 2 keeps the buffers it writes last (its
    // late region, LiMerger::Carve): a list's tail can then be written from UB after SyncAll
    // (LiMerger::WriteTail).
    const uint32_t mergePairs = t_->bestPairs + kLiCandPairs + kLiCandSparePairs;
    const uint32_t topBytes = (2 * mergePairs + rows * (BestListPairs() + kLiCandPairs + kLiCandSparePairs)) * kPairFloats * 4;
    arena_.Seek((kArenaBytes - topBytes) & ~31u);
    scratch_.mergeA = Take<float>(mergePairs * kPairFloats);
    scratch_.mergeB = Take<float>(mergePairs * kPairFloats);
    for (uint32_t g = 0; g < rows; ++g) {
      best_[g] = Take<float>(BestListPairs() * kPairFloats);
      cand_[g] = Take<float>((kLiCandPairs + kLiCandSparePairs) * kPairFloats);
    }
  }

  // UB bank conflicts of the head sums (decode; docs/performance.md "UB banks"): a vector repeat reads
  // one 32-byte row from each of 16 bank groups (address bits [8:5]) and writes the previous repeat's
  // rows in the same beat; a bank (group and 64-KiB third of UB) serves a read or a write. A head row
  // is 256 B, so rows h and h + 2 share their groups: the weights' Mul, reading one broadcast block a
  // repeat, met the head row's groups every second repeat, and each in-place fold level met its own
  // writes or read both rows in the same groups (2 beats a repeat instead of 1). So in decode, when
  // UB's second 64-KiB bank is free between phase 1's low buffers (the tiles, in the first) and its
  // top-k buffers: the broadcast weights go there a head row apart (wStride_ 8 blocks), their block r
  // in the groups head row r of the tile does not read; and the folds (power-of-two heads) add the
  // pairs (2r, 2r + 1), which read all 16 groups once, into row r of a buffer in that other bank
  // and back (fold_ <-> the tile, SumHeadsApart): every repeat 1 beat.
  static constexpr uint32_t kApartBank = 64 * 1024;
  __aicore__ inline void CarveApart(uint32_t maxM, uint32_t rows) {
    const uint32_t heads = t_->heads, lowEnd = arena_.Used();
    // wB_ 256 B past a multiple of 512 from the tiles (tile buffers' offsets: multiples of 512 B when heads is even).
    const uint32_t wAt = kApartBank + ((arena_.Offset(tiles_[0]) + 256) & 511u);
    const bool pow2 = heads >= 4 && (heads & (heads - 1)) == 0;
    const uint32_t end = wAt + AlignUp(maxM, 8) * kLiHalfKeys * 4 + (pow2 ? heads / 2 * kLiHalfKeys * 4 : 0);
    const uint32_t mergePairs = t_->bestPairs + kLiCandPairs + kLiCandSparePairs;
    const uint32_t topBytes = (2 * mergePairs + rows * (BestListPairs() + kLiCandPairs + kLiCandSparePairs)) * kPairFloats * 4;
    if (lowEnd > kApartBank || end > ((kArenaBytes - topBytes) & ~31u)) return;
    arena_.Seek(wAt);  // (wB_'s slice in the low region is left unused)
    wB_ = Take<float>(AlignUp(maxM, 8) * kLiHalfKeys);
    wStride_ = kLiHalfKeys / 8;
    if (pow2) {
      fold_ = Take<float>(heads / 2 * kLiHalfKeys);
      apart_ = true;
    }
  }

  // rowSplit (prefill): its two tile buffers fill UB's first 64-KiB bank (GLM-5: 2 x 32 KB), so its
  // folds (FoldHeadsOfRows, in place: 2 to 3 beats a repeat) go through a buffer in the gap between
  // its low buffers and its top-k buffers, in the second bank (FoldRowsApart), if it holds a level's
  // rows for at least one virtual row and the levels after the second for all of them.
  __aicore__ inline void CarveRowSplitFold(uint32_t rows) {
    const uint32_t heads = t_->heads, vrows = 2 * rows, rowBytes = kLiHalfKeys * 4;
    if (heads < 8 || (heads & (heads - 1)) != 0) return;
    const uint32_t tileBytes = vrows * heads * rowBytes;
    const uint32_t tilesEnd = arena_.Offset(tiles_[t_->tileBuffers - 1]) + tileBytes;
    if (tilesEnd > kApartBank) return;  // (every tile in the first bank)
    const uint32_t mergePairs = t_->bestPairs + kLiCandPairs + kLiCandSparePairs;
    const uint32_t topBytes = (2 * mergePairs + rows * (BestListPairs() + kLiCandPairs + kLiCandSparePairs)) * kPairFloats * 4;
    const uint32_t top = (kArenaBytes - topBytes) & ~31u, start = AlignUp(arena_.Used() > kApartBank ? arena_.Used() : kApartBank, 32u);
    const uint32_t end = top < 2 * kApartBank ? top : 2 * kApartBank;
    if (end <= start) return;
    const uint32_t fit = (end - start) / rowBytes;
    if (fit < heads / 2 || fit < vrows * heads / 8) return;
    const uint32_t used = arena_.Used();
    arena_.Seek(start);
    fold_ = Take<float>(fit * kLiHalfKeys);
    foldRows_ = fit;
    arena_.Seek(used);
  }

  // FoldHeadsOfRows through fold_ (CarveRowSplitFold): virtual rows [0, vrows) of heads (a power of
  // two >= 8) head rows each; each level adds head rows 2r and 2r + 1 of one buffer into row r of the
  // other (all 16 bank groups read once a repeat, the writes in the other bank). The first two levels
  // by passes of as many virtual rows as fold_ holds (the second writes the tile's rows the first has
  // read), the others for all of them. Returns the buffer whose rows 2v and 2v + 1 are virtual row v's
  // last two partial sums.
  __aicore__ inline AscendC::LocalTensor<float> FoldRowsApart(const AscendC::LocalTensor<float>& tile, uint32_t vrows) {
    using namespace AscendC;
    constexpr uint8_t kRow = kLiHalfKeys / 8;
    const BinaryRepeatParams pairs(1, 1, 1, kRow, 2 * kRow, 2 * kRow);
    const uint32_t heads = t_->heads;
    uint32_t pass = vrows;
    while (pass * heads / 2 > foldRows_) pass /= 2;
    for (uint32_t v0 = 0; v0 < vrows; v0 += pass) {
      const uint32_t n = (vrows - v0 < pass ? vrows - v0 : pass) * heads;  // head rows of this pass
      Add(fold_, tile[v0 * heads * kLiHalfKeys], tile[(v0 * heads + 1) * kLiHalfKeys], kLiHalfKeys, uint8_t(n / 2), pairs);
      PipeBarrier<PIPE_V>();
      Add(tile[v0 * heads / 4 * kLiHalfKeys], fold_, fold_[kLiHalfKeys], kLiHalfKeys, uint8_t(n / 4), pairs);
      PipeBarrier<PIPE_V>();
    }
    LocalTensor<float> from = tile, to = fold_;
    for (uint32_t n = heads / 4; n > 2; n /= 2) {
      Add(to, from, from[kLiHalfKeys], kLiHalfKeys, uint8_t(vrows * n / 2), pairs);
      PipeBarrier<PIPE_V>();
      const LocalTensor<float> next = to;
      to = from;
      from = next;
    }
    return from;
  }

  __aicore__ inline void ProcessItem(const LiItem& item, bool lastItem) {
    using namespace AscendC;
    const uint32_t sub = AscendC::GetSubBlockIdx(), heads = t_->heads;
    // This core's rows of the item, [row0, row0 + rows): all of them, or its share (rowSplit).
    const uint32_t first = t_->rowSplit ? LiRowsOfCore(uint32_t(item.rows), sub) : 0;
    const uint32_t rows = t_->rowSplit ? LiRowsOfCore(uint32_t(item.rows), sub + 1) - first : uint32_t(item.rows);
    const uint32_t row0 = uint32_t(item.row0) + first;
    if (rows > 0) LoadWeights(row0, rows * heads);
    int32_t visible[kMaxGroupRows];
    for (uint32_t g = 0; g < rows; ++g) {
      visible[g] = plan_.Row(row0 + g).visible;
      topk_[g].Init(best_[g], t_->sparseCount, t_->bestPairs, cand_[g], kLiCandPairs, kLiCandSparePairs,
                    t_->tileBuffers > 1 ? kEarlyMergePairs : 0, t_->rowSplit ? nullptr : &scratch_);
    }
    const int32_t lo = item.keyBegin + int32_t(sub) * item.halfKeys;
    const int32_t hi = lo + item.halfKeys < item.keyEnd ? lo + item.halfKeys : item.keyEnd;
    const uint32_t steps = item.halfKeys / kLiHalfKeys;
    // The list written in two parts (below): its final merge in two as well, the queues cut to the
    // head first (all the list's head needs), the full merge after SyncAll (LiMerger::WriteTail).
    // Its buffers (the top-k's, from s.mergeA up) must then be in phase 2's late region.
    bool twoParts = rows > 0 && t_->tailFlagOffset > 0 && lastItem && arena_.Offset(scratch_.mergeA) >= LiMerger::EarlyBytes(*t_);
    uint32_t headPairs = 0;
    if (twoParts) {
      const LiRow last = plan_.Row(row0 + rows - 1);
      twoParts = LiListInParts(last.visible, last.partials, t_->sparseCount, item.split, sub);
      headPairs = twoParts ? LiPartsHead(*t_, last.visible, last.partials) : 0;
    }
    if (t_->rowSplit) {
      StepsRowSplit(item, visible, first, rows, steps);
    } else {
      StepsRing(item, visible, lo, hi, steps, lastItem, headPairs);
    }
    for (uint32_t g = 0; g < rows; ++g) {
      const LiRow row = plan_.Row(row0 + g);
      const AscendC::LocalTensor<float> list =
          twoParts && g + 1 == rows ? topk_[g].FinalFlushHead(scratch_, headPairs) : topk_[g].FinalFlush(scratch_);
      if (t_->rowSplit && row.partials == 1) {  // the row's whole top-k: its output now
        topk_[g].Settle();
        EmitRow(row0 + g, list, topk_[g].Count());
        AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);  // the output buffers are rewritten next
        AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
        continue;
      }
      const int32_t slot = row.partialBase + (t_->rowSplit ? LiItemIndex(item.split) : 2 * LiItemIndex(item.split) + int32_t(sub));
      // The list's copy first: the quantiles' scalar loop then runs while it is on its way. A row
      // whose lists go in two parts (LiListInParts): only the head its cut can keep, when the list
      // stays in UB until SyncAll (the core's last list, in phase 2's late region); the tail follows
      // SyncAll (LiMerger::KeepTail).
      const uint32_t count = topk_[g].Count();
      uint32_t written = count;
      if (t_->tailFlagOffset > 0 && LiListInParts(row.visible, row.partials, t_->sparseCount, item.split, sub) && lastItem &&
          g + 1 == rows) {
        const uint32_t head = LiPartsHead(*t_, row.visible, row.partials);
        if (count > head && arena_.Offset(list) >= LiMerger::EarlyBytes(*t_)) {
          written = head;
          merge_.KeepTail(list, slot, count, head, twoParts ? &topk_[g] : nullptr);
        }
      }
      // A row merged in one step: the list's lengths go with its quantiles, not in a header (QuantLength).
      const bool wide = LiWideMerge(row.visible, row.partials, t_->sparseCount);
      lists_.WriteList(header_, slot, list, count, false, written, !wide);
      if (LiCutsLists(row.visible, row.partials, t_->sparseCount)) {
        topk_[g].Settle();  // (GatherQuantiles reads the list)
        WriteQuantiles(slot, list, count, uint32_t(row.partials), written < count ? written : count, lastItem && g + 1 == rows);
      }
      AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);  // the list and header buffers are rewritten next
      AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
    }
  }

  // Row g's 64 scores of the block at key `base`: its weighted heads summed into `out` (`separate`:
  // out is not the row's first head row), keys it may not see -inf. Returns how many of the block's
  // keys the row sees (0: none, no scores; at most 64).
  __aicore__ inline uint32_t RowScores(const AscendC::LocalTensor<float>& tile, uint32_t g, int32_t visible, int32_t hi,
                                       int32_t base, const AscendC::LocalTensor<float>& out, bool separate) {
    const int32_t limit = (visible < hi ? visible : hi) - base;  // keys of this block the row sees
    if (limit <= 0) return 0;
    if (apart_) {
      SumHeadsApart(tile[g * t_->heads * kLiHalfKeys], out);
    } else {
      SumHeads(tile[g * t_->heads * kLiHalfKeys], out, separate);
    }
    if (limit >= int32_t(kLiHalfKeys)) return kLiHalfKeys;
    MaskTail(out, static_cast<uint32_t>(limit));
    return static_cast<uint32_t>(limit);
  }

  // The first levels of the heads' folding tree for query rows [r0, r1) at once, in one instruction
  // each: head row i + s onto i for every i a multiple of 2s (strided repeats of one head row), while
  // at least two partial sums per query row remain and the repeat stride fits its 8 bits. Power-of-two
  // heads only (else none). Returns the span s left between partial sums (1: no level done).
  __aicore__ inline uint32_t FoldHeadsOfRows(const AscendC::LocalTensor<float>& tile, uint32_t r0, uint32_t r1) {
    using namespace AscendC;
    const uint32_t heads = t_->heads;
    if ((heads & (heads - 1)) != 0) return 1;
    const LocalTensor<float> first = tile[r0 * heads * kLiHalfKeys];
    uint32_t span = 1;
    for (; 2 * span < heads && 2 * span * (kLiHalfKeys / 8) <= 255; span *= 2) {
      const uint8_t stride = uint8_t(2 * span * (kLiHalfKeys / 8));
      Add(first, first, first[span * kLiHalfKeys], kLiHalfKeys, uint8_t((r1 - r0) * heads / (2 * span)),
          BinaryRepeatParams(1, 1, 1, stride, stride, stride));
      PipeBarrier<PIPE_V>();
    }
    return span;
  }

  // Every head row of query rows [r0, r1) times its weight, in one instruction: w broadcast to a block per head row.
  __aicore__ inline void WeighHeads(const AscendC::LocalTensor<float>& tile, uint32_t r0, uint32_t r1) {
    WeighHeadRows(tile, r0 * t_->heads, r1 * t_->heads);
  }
  // `settle`: a barrier after the Mul.
  __aicore__ inline void WeighHeadRows(const AscendC::LocalTensor<float>& tile, uint32_t h0, uint32_t h1, bool settle = true) {
    using namespace AscendC;
    Mul(tile[h0 * kLiHalfKeys], tile[h0 * kLiHalfKeys], wB_[h0 * 8 * wStride_], kLiHalfKeys, uint8_t(h1 - h0),
        BinaryRepeatParams(1, 1, 0, kLiHalfKeys / 8, kLiHalfKeys / 8, uint8_t(wStride_)));
    if (settle) PipeBarrier<PIPE_V>();
  }

  // Several tile buffers (decode): the next tiles are copied while this one is worked on (with 3, a
  // tile's copy and its GM latency overlap the work on the two before it: at the end of the key
  // stream, when the cube has a backlog of tiles in the ring, a tile every ~360 cycles instead of
  // ~470). The steps' key indices alternate between two buffers: a whole block's Sort32 reads them
  // (RunningTopK::Offer), and the next step's are written before any barrier. A tile's work is issued
  // before the wait for the flag of the tile `ahead` steps on (FetchTile): that cross-core wait holds
  // the whole core (dav_c220), and issued first it kept a tile already in UB waiting for the next
  // ones, at the stream's end for all the last tile's flags (li-ahead: B = 1 x 128K 47,526 -> 47,277).
  // `head` > 0: the last row's list is written in two parts, its final merge cut to `head` pairs
  // (RunningTopK::FinalFlushHead). Three blocks before the end, while the last tiles are on their way
  // (the cube's fixpipe bounds them and the vector core waits), the head so far is merged, two and one
  // block before the end that block's runs into one run (RunningTopK::EarlyHead): after the last tile
  // only those and the last block's runs are merged, in one MrgSort (B = 1 x 32K: ~230 cycles instead
  // of ~470).
  __aicore__ inline void StepsRing(const LiItem& item, const int32_t* visible, int32_t lo, int32_t hi, uint32_t steps,
                                   bool lastItem, uint32_t head) {
    using namespace AscendC;
    const uint32_t sub = AscendC::GetSubBlockIdx(), m = item.rows * t_->heads;
    const uint32_t ahead = t_->tileBuffers - 1;
    // The core's last tile (and the one before it, from 4 steps on) comes by key halves
    // (LiStepHalves): one flag per half, the last tile's half 1 in parts.
    const uint32_t rs = t_->rowSplit;
    for (uint32_t d = 0; d < ahead && d < steps; ++d) FetchTile(m, sub, step_ + d, LiStepHalves(lastItem, d, steps, rs));
    for (uint32_t j = 0; j < steps; ++j, ++step_) {
      if (ahead == 0) FetchTile(m, sub, step_, LiStepHalves(lastItem, j, steps, rs));  // one tile buffer: no copy ahead
      const uint32_t b = step_ % t_->tileBuffers;
      const LocalTensor<float> tile = tiles_[b];
      const int32_t base = lo + int32_t(j * kLiHalfKeys);
      const uint32_t x = step_ % 2;
      const LocalTensor<int32_t> keyIdx = x == 0 ? keyIdx_ : keyIdxB_;
      // The buffer's indices of two steps before moved to this step's keys (before the wait: it needs
      // no tile), in place on the vector pipe: step j - 1's barriers follow the Sort32 that read them.
      if (base != keyBase_[x]) {
        Adds(keyIdx, keyIdx, base - keyBase_[x], int32_t(kLiHalfKeys));
        keyBase_[x] = base;
      }
      WaitFlag<HardEvent::MTE2_V>(kEvTile + int32_t(b));
      const uint32_t first = LiStepHalves(lastItem, j, steps, rs) == 2 && sub == 1 ? LiLastHalfFirstRows(m) : 0;
      if (first > 0) {  // the last tile's half 1 comes in two parts of head rows
        WeighHeadRows(tile, 0, first, false);  // (the second part's Mul touches other rows: one barrier after both)
        WaitFlag<HardEvent::MTE2_V>(kEvTileRest);
        WeighHeadRows(tile, first, m);
      } else {
        WeighHeads(tile, 0, uint32_t(item.rows));
      }
      for (uint32_t g = 0; g < uint32_t(item.rows); ++g) {
        const LocalTensor<float> score = tile[g * t_->heads * kLiHalfKeys];
        const uint32_t seen = RowScores(tile, g, visible[g], hi, base, score, false);
        topk_[g].Fenced();  // (WeighHeads' barrier)
        if (seen > 0)
          topk_[g].Offer(score, keyIdx.ReinterpretCast<uint32_t>(), scratch_, steps - j - 1, seen == kLiHalfKeys);
        if (EarlyFlush(steps - j - 1, j + 1) || TailFlush(steps, steps - j - 1)) topk_[g].Flush(scratch_);
        const uint32_t left = steps - j - 1;
        if (head > 0 && g + 1 == uint32_t(item.rows) && left >= kEarlyHeadLast && left <= kEarlyHeadFirst)
          topk_[g].EarlyHead(scratch_, head);
      }
      tileFree_[b].Release(0);  // the vector unit is done with this tile buffer
      if (ahead > 0 && j + ahead < steps) FetchTile(m, sub, step_ + ahead, LiStepHalves(lastItem, j + ahead, steps, rs));
    }
  }

  // Head rows [h0, h1) of score tile `step`, its 64 columns from `col`, -> `dst`, on tile event b
  // (p == 0 of a step first waits for the tile; `last`: the ring slot is released after).
  __aicore__ inline void FetchBlock(uint32_t step, uint32_t h0, uint32_t h1, uint32_t col, const AscendC::LocalTensor<float>& dst,
                                    uint32_t b, bool last) {
    using namespace AscendC;
    tileFree_[b].Wait(0);  // the vector unit is done with this buffer's previous block
    if (col == 0) CrossCoreWaitFlag<2, PIPE_MTE2>(kLiFlagTileReady);
    const uint64_t slot = uint64_t(step % t_->ringSlots) * (t_->wsRingBytes / t_->ringSlots / sizeof(float));
    DataCopy(dst, ring_[slot + h0 * kLiStepKeys + col], DataCopyParams(uint16_t(h1 - h0), kLiHalfKeys / 8, kLiHalfKeys / 8, 0));
    SetFlag<HardEvent::MTE2_V>(kEvTile + int32_t(b));
    if (last) CrossCoreSetFlag<2, PIPE_MTE2>(kLiFlagTileFree);
  }

  // rowSplit: this core's `rows` rows of the item (from its row `first`) over all its keys, 128 per
  // step. A step's tile is copied as its two 64-key column blocks, one after the other in a tile
  // buffer (block 1 right after block 0's rows), into tileBuffers buffers: the next steps' blocks are
  // copied, and wait out their GM latency, while this one and its top-k run. Both blocks are weighted
  // and summed together, as 2 x rows rows of 64 keys (StepScores). A core without rows still takes
  // each tile and frees its ring slot.
  __aicore__ inline void StepsRowSplit(const LiItem& item, const int32_t* visible, uint32_t first, uint32_t rows, uint32_t steps) {
    using namespace AscendC;
    if (rows == 0) {
      for (uint32_t j = 0; j < steps; ++j, ++step_) {
        CrossCoreWaitFlag<2, PIPE_MTE2>(kLiFlagTileReady);
        CrossCoreSetFlag<2, PIPE_MTE2>(kLiFlagTileFree);
      }
      return;
    }
    const uint32_t h0 = first * t_->heads, h1 = h0 + rows * t_->heads, blocks = 2 * steps, ring = 2 * t_->tileBuffers;
    const uint32_t step0 = step_, seq0 = blockSeq_;  // seq0 is even: a step's blocks share a tile buffer
    // Block 1's place follows this item's rows: every buffer's previous blocks are done with first.
    for (uint32_t b = 0; b < ring; ++b) tileFree_[b].Wait(0);
    for (uint32_t q = 0; q < ring && q < blocks; ++q) FetchRowBlock(step0, seq0, q, h0, h1, rows);
    const LocalTensor<int32_t> keyIdx[2] = {keyIdx_, keyIdxB_};
    for (uint32_t j = 0; j < steps; ++j) {
      const uint32_t b0 = (seq0 + 2 * j) % ring;
      const int32_t base = item.keyBegin + int32_t(j * kLiStepKeys);
      PipeBarrier<PIPE_V>();  // the last step's unfiltered Sort32 may still read the key indices (RunningTopK::Offer)
      // Both blocks' key indices moved to this step's keys in one Adds over the two buffers (keyIdxB_
      // follows keyIdx_ and holds its indices + 64: CarvePhase1, and only this moves them in rowSplit).
      if (base != keyBase_[0]) {
        Adds(keyIdx_, keyIdx_, base - keyBase_[0], int32_t(2 * kLiHalfKeys));
        keyBase_[0] = base;
        keyBase_[1] = base + int32_t(kLiHalfKeys);
      }
      for (uint32_t p = 0; p < 2; ++p) WaitFlag<HardEvent::MTE2_V>(kEvTile + int32_t(b0 + p));
      bool sees[2 * kMaxGroupRows], whole[2 * kMaxGroupRows];
      StepScores(tiles_[b0 / 2], rows, visible, base, item.keyEnd, sees, whole);
      for (uint32_t g = 0; g < rows; ++g) topk_[g].Fenced();  // (StepScores ends with a barrier)
      for (uint32_t p = 0; p < 2; ++p) {
        tileFree_[b0 + p].Release(0);  // the vector unit is done with these block buffers
        if (2 * j + p + ring < blocks) FetchRowBlock(step0, seq0, 2 * j + p + ring, h0, h1, rows);
      }
      for (uint32_t v = 0; v < 2 * rows; ++v)  // block 0's rows, then block 1's
        if (sees[v])
          topk_[v % rows].Offer(rowScores_[v * kLiHalfKeys], keyIdx[v / rows].ReinterpretCast<uint32_t>(), scratch_,
                                blocks - 2 * j - v / rows - 1, whole[v]);
    }
    step_ += steps;
    blockSeq_ += blocks;
  }

  // rowSplit: block q of an item whose first step is step0 and first block seq0 in the ring of
  // 2 x tileBuffers block buffers: column block q % 2 of its step q / 2, head rows [h0, h1), into
  // tile buffer b / 2 (b its place in the ring), block 1 right after block 0's `rows` rows.
  __aicore__ inline void FetchRowBlock(uint32_t step0, uint32_t seq0, uint32_t q, uint32_t h0, uint32_t h1, uint32_t rows) {
    const uint32_t b = (seq0 + q) % (2 * t_->tileBuffers), p = q % 2;
    FetchBlock(step0 + q / 2, h0, h1, p * kLiHalfKeys, tiles_[b / 2][p * rows * t_->heads * kLiHalfKeys], b, p == 1);
  }

  // rowSplit: a step's scores of `rows` rows from the tile of its two column blocks (2 x rows rows of
  // heads x 64: virtual row v is row v % rows of block v / 2), into rowScores_[v]; sees[v]: the row
  // sees keys of that block, whole[v]: all 64 of them. Each weighting / folding level is one
  // instruction for all of them, the last sums and the masks of all rows go between two barriers
  // (they are independent).
  __aicore__ inline void StepScores(const AscendC::LocalTensor<float>& tile, uint32_t rows, const int32_t* visible, int32_t base,
                                    int32_t hi, bool* sees, bool* whole) {
    using namespace AscendC;
    const uint32_t vrows = 2 * rows;
    WeighHeads(tile, 0, vrows);  // wB_ holds the rows' weights twice (LoadWeights)
    const uint32_t span = foldRows_ > 0 ? 0 : FoldHeadsOfRows(tile, 0, vrows);
    int32_t limit[2 * kMaxGroupRows];
    for (uint32_t v = 0; v < vrows; ++v) {
      const int32_t vis = visible[v % rows];
      limit[v] = (vis < hi ? vis : hi) - (base + int32_t((v / rows) * kLiHalfKeys));
      sees[v] = limit[v] > 0;
      whole[v] = limit[v] >= int32_t(kLiHalfKeys);
    }
    if (span == 0) {  // through fold_: virtual row v's last two sums at rows 2v, 2v + 1 of `last`
      const LocalTensor<float> last = FoldRowsApart(tile, vrows);
      for (uint32_t v = 0; v < vrows; ++v)
        if (sees[v]) Add(rowScores_[v * kLiHalfKeys], last[2 * v * kLiHalfKeys], last[(2 * v + 1) * kLiHalfKeys], int32_t(kLiHalfKeys));
      PipeBarrier<PIPE_V>();
    } else if (span == 1) {  // heads not a power of two: per row
      for (uint32_t v = 0; v < vrows; ++v)
        if (sees[v]) SumHeads(tile[v * t_->heads * kLiHalfKeys], rowScores_[v * kLiHalfKeys], true);
    } else {
      const uint8_t stride = uint8_t(span * (kLiHalfKeys / 8));
      for (uint32_t n = t_->heads / span; n > 2; n /= 2) {
        for (uint32_t v = 0; v < vrows; ++v) {
          const LocalTensor<float> row = tile[v * t_->heads * kLiHalfKeys];
          if (sees[v])
            Add(row, row, row[(n / 2) * span * kLiHalfKeys], kLiHalfKeys, uint8_t(n / 2), BinaryRepeatParams(1, 1, 1, stride, stride, stride));
        }
        PipeBarrier<PIPE_V>();
      }
      for (uint32_t v = 0; v < vrows; ++v) {
        const LocalTensor<float> row = tile[v * t_->heads * kLiHalfKeys];
        if (sees[v]) Add(rowScores_[v * kLiHalfKeys], row, row[span * kLiHalfKeys], int32_t(kLiHalfKeys));
      }
      PipeBarrier<PIPE_V>();
    }
    bool masked = false;
    for (uint32_t v = 0; v < vrows; ++v) {
      if (!sees[v] || limit[v] >= int32_t(kLiHalfKeys)) continue;
      uint64_t mask[2] = {~0ull << limit[v], 0};  // keys at or past the limit: -inf
      Duplicate(rowScores_[v * kLiHalfKeys], kNegInf, mask, 1, 1, 8);
      masked = true;
    }
    if (masked) PipeBarrier<PIPE_V>();
  }

  // A row's best list buffer: k pairs, or (one row a core: decode) as long as the top-k's merge
  // buffers, which it then has to itself, so that its best list moves between them without a copy back
  // after each merge (RunningTopK::Init's own).
  __aicore__ inline uint32_t BestListPairs() const {
    return t_->rowSplit ? t_->bestPairs : t_->bestPairs + kLiCandPairs + kLiCandSparePairs;
  }

  // Rows of top-k state (and score buffers) a vector core holds: its share of a group (rowSplit) or all.
  __aicore__ inline uint32_t RowsPerCore() const { return t_->rowSplit ? LiRowsOfCore(t_->groupRows, 1) : t_->groupRows; }

  // rowSplit: row `row`'s final list (`count` pairs, best first) -> its indices (and scores). The
  // `count` entries only: the rest of the row's output keeps the -1 / -inf the caller filled it with
  // (as for rows that see no key). The caller waits (MTE3_V) before it rewrites the buffers.
  __aicore__ inline void EmitRow(uint32_t row, const AscendC::LocalTensor<float>& list, uint32_t count) {
    using namespace AscendC;
    if (count == 0) return;
    const uint32_t repeats = CeilDiv(count, kRunPairs);
    if (t_->returnValue) {
      Extract(outScores_, outIdx_, list, static_cast<int32_t>(repeats));
    } else {  // the odd words of the pairs (GatherMask pattern 2), one repeat per 32 pairs
      uint64_t kept = 0;
      GatherMask(outIdx_, list.ReinterpretCast<uint32_t>(), uint8_t(2), false, 0, GatherMaskParams(1, uint16_t(repeats), 8, 0), kept);
    }
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    const uint64_t out = uint64_t(row) * t_->sparseCount;
    DataCopyPad(indices_[out], outIdx_.ReinterpretCast<int32_t>(), DataCopyExtParams(1, count * 4, 0, 0, 0));
    if (t_->returnValue) DataCopyPad(values_[out], outScores_, DataCopyExtParams(1, count * 4, 0, 0, 0));
  }

  // A row merged over several levels: its list's scores at ranks step - 1, 2 step - 1, ... (-inf
  // past its end), as pairs, for the merge's threshold (LiCut::CutAtThreshold). Pair 0's second word
  // holds the list's length, pair 1's the pairs written before SyncAll; the others are not read. A
  // list written in part: only its head's quantiles (no merge reads the others, LiLoadedQuantiles).
  // `last`: the core's last list before SyncAll, which waits for every pipe: the scalar unit goes on
  // while the copy runs (nothing writes quant_ before; B = 1 x 8K: 13 cycles of the path to SyncAll).
  __aicore__ inline void WriteQuantiles(int32_t slot, const AscendC::LocalTensor<float>& list, uint32_t count,
                                        uint32_t lists, uint32_t written, bool last) {
    using namespace AscendC;
    const uint32_t step = LiQuantileStep(t_->sparseCount, lists);
    const uint32_t quantiles = written < count ? CeilDiv(written, step) : kLiQuantiles;
    const bool full = count >= quantiles * step;  // every quantile is a score of the list
    if (full) GatherQuantiles(list, step, quantiles);
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    for (uint32_t j = 0; !full && j < quantiles; ++j) {
      const uint32_t rank = step * j + step - 1;
      quant_.SetValue(2 * j, rank < count ? list.GetValue(2 * rank) : kNegInf);  // (its second words: 0, CarvePhase1)
    }
    quant_.ReinterpretCast<int32_t>().SetValue(1, int32_t(count));
    quant_.ReinterpretCast<int32_t>().SetValue(3, int32_t(written));
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    DataCopy(lists_.quants[uint64_t(slot) * kLiQuantiles * kPairFloats], quant_, kLiQuantiles * kPairFloats);
    if (last) return;
    SetFlag<HardEvent::MTE3_S>(0);  // the next list's quantiles are written into quant_
    WaitFlag<HardEvent::MTE3_S>(0);
  }

  // The first `quantiles` pairs at ranks step - 1, 2 step - 1, ... of a list holding them -> quant_ (8 a
  // repeat), by the vector unit
  // (the scalar loop took ~70 cycles at the end of phase 1, on the path of B = 1 x 8K): each 32-byte
  // block the gather reads is the 4 pairs that end at a quantile (a block stride of one quantile step),
  // of which the pattern keeps the last pair. Their second words are the pairs' indices, not 0: only
  // pairs 0 and 1 carry words that are read (the lengths, set after it).
  __aicore__ inline void GatherQuantiles(const AscendC::LocalTensor<float>& list, uint32_t step, uint32_t quantiles) {
    using namespace AscendC;
    const uint32_t blocksPerStep = step * kPairFloats * 4 / 32;  // step is a multiple of 4
    uint64_t kept = 0;
    GatherMask(quant_, list[(step - 4) * kPairFloats], quantPattern_, false, 0,
               GatherMaskParams(uint8_t(blocksPerStep), uint16_t(CeilDiv(quantiles, 8u)), uint16_t(8 * blocksPerStep), 0), kept);
  }
  static constexpr uint32_t kQuantPatternWord = 0xC0C0C0C0u;  // of each 8-float block, its last pair

  // Score tile `step` of the ring -> tile buffer step % tileBuffers (our 64 columns of each row of
  // 128 scores, skipping the other core's 64); the ring slot is released once copied. `byHalves`:
  // the tile comes with a flag per key half, half 0's columns first, half 1's in two parts of head
  // rows if LiLastHalfFirstRows (LiCube::LastTileByHalves); this core copies its own columns as
  // they are flagged (the second part on event kEvTileRest) and takes the other flags too.
  __aicore__ inline void FetchTile(uint32_t m, uint32_t sub, uint32_t step, uint32_t halves) {
    using namespace AscendC;
    const uint32_t b = step % t_->tileBuffers;
    tileFree_[b].Wait(0);  // the vector unit is done with this buffer's previous tile
    const uint64_t slot = uint64_t(step % t_->ringSlots) * (t_->wsRingBytes / t_->ringSlots / sizeof(float));
    const bool byHalves = halves > 0;
    const uint32_t first = halves == 2 ? LiLastHalfFirstRows(m) : 0, flags = byHalves ? (first > 0 ? 3 : 2) : 1;
    for (uint32_t f = 0; f < flags; ++f) {
      CrossCoreWaitFlag<2, PIPE_MTE2>(kLiFlagTileReady);
      const bool whole = f == (byHalves ? sub : 0) && (sub == 0 || first == 0);  // all of this core's rows
      const bool part = byHalves && sub == 1 && first > 0 && f > 0;          // half 1's part f - 1
      if (!whole && !part) continue;
      const uint32_t h0 = part && f == 2 ? first : 0, h1 = part && f == 1 ? first : m;
      DataCopy(tiles_[b][h0 * kLiHalfKeys], ring_[slot + h0 * kLiStepKeys + sub * kLiHalfKeys],
               DataCopyParams(uint16_t(h1 - h0), kLiHalfKeys / 8, kLiHalfKeys / 8, 0));
      SetFlag<HardEvent::MTE2_V>(part && f == 2 ? kEvTileRest : kEvTile + int32_t(b));
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kLiFlagTileFree);
  }

  // weights rows [row0, row0 + rows) -> fp32, then each broadcast to a 32-byte block (Brcb).
  __aicore__ inline void LoadWeights(uint32_t row0, uint32_t m) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE2>(0);  // the previous item's Mul has read the weights
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopyPad(wRaw_, weights_[uint64_t(row0) * t_->heads], DataCopyExtParams(1, m * sizeof(W), 0, 0, 0),
                DataCopyPadExtParams<W>(false, 0, 0, W(0.0f)));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    if constexpr (SameType<W, float>::value) {
      DataCopy(wF32_, wRaw_, AlignUp(m, 8));
    } else {
      Cast(wF32_, wRaw_, RoundMode::CAST_NONE, m);
    }
    PipeBarrier<PIPE_V>();
    Brcb(wB_, wF32_, uint8_t(CeilDiv(m, 8)), BrcbRepeatParams(uint16_t(wStride_), uint16_t(8 * wStride_)));
    PipeBarrier<PIPE_V>();
    if (t_->rowSplit) {  // twice: a step's two column blocks are weighted in one Mul (StepScores)
      DataCopy(wB_[m * 8], wB_, m * 8);
      PipeBarrier<PIPE_V>();
    }
  }

  // out[0, 64) = sum over the row's weighted head rows rows[h * 64, h * 64 + 64): a folding tree,
  // each level one Add of the upper half onto the lower half (an odd middle row waits), the last
  // level into `out` (`separate`: out is not rows[0, 64)).
  __aicore__ inline void SumHeads(const AscendC::LocalTensor<float>& rows, const AscendC::LocalTensor<float>& out,
                                  bool separate) {
    using namespace AscendC;
    uint32_t n = t_->heads;
    for (; n > 2;) {
      const uint32_t half = n / 2;
      Add(rows, rows, rows[(n - half) * kLiHalfKeys], int32_t(half * kLiHalfKeys));
      PipeBarrier<PIPE_V>();
      n -= half;
    }
    if (n == 2) {
      Add(out, rows, rows[kLiHalfKeys], int32_t(kLiHalfKeys));
      PipeBarrier<PIPE_V>();
    } else if (separate) {  // one head
      DataCopy(out, rows, kLiHalfKeys);
      PipeBarrier<PIPE_V>();
    }
  }

  // SumHeads for power-of-two heads (>= 4) with fold_ in the other 64-KiB bank (CarveApart): each
  // level adds head rows 2r and 2r + 1 of one buffer into row r of the other (tile -> fold_ -> tile
  // ...), the last level the two rows left into `out`. Every repeat reads the 16 bank groups once and
  // writes into the other bank.
  __aicore__ inline void SumHeadsApart(const AscendC::LocalTensor<float>& rows, const AscendC::LocalTensor<float>& out) {
    using namespace AscendC;
    constexpr uint8_t kRow = kLiHalfKeys / 8;  // blocks per head row
    AscendC::LocalTensor<float> from = rows, to = fold_;
    for (uint32_t n = t_->heads; n > 2; n /= 2) {
      Add(to, from, from[kLiHalfKeys], kLiHalfKeys, uint8_t(n / 2), BinaryRepeatParams(1, 1, 1, kRow, 2 * kRow, 2 * kRow));
      PipeBarrier<PIPE_V>();
      const AscendC::LocalTensor<float> next = to;
      to = from;
      from = next;
    }
    Add(out, from, from[kLiHalfKeys], int32_t(kLiHalfKeys));
    PipeBarrier<PIPE_V>();
  }

  // Keys at or past `limit` in this block are invisible to the row: their score becomes -inf.
  __aicore__ inline void MaskTail(const AscendC::LocalTensor<float>& score, uint32_t limit) {
    using namespace AscendC;
    uint64_t mask[2] = {~0ull << limit, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
    Duplicate(score, kNegInf, mask, 1, 1, 8);
    PipeBarrier<PIPE_V>();
  }


  static constexpr uint32_t kMaxGroupRows = 4;
  const LightningIndexerTiling* t_ = nullptr;
  LiPlan plan_;
  AscendC::TPipe pipe_;
  LiArena arena_;
  LiLists lists_;
  LiMerger merge_;  // phase 2
  uint32_t step_ = 0;
  uint32_t blockSeq_ = 0;  // rowSplit: column blocks taken so far (their buffer: blockSeq_ % (2 x tileBuffers))
  uint32_t wStride_ = 1;   // blocks from one weight's broadcast block to the next (CarveApart)
  bool apart_ = false;     // head sums through fold_ (SumHeadsApart)
  uint32_t foldRows_ = 0;  // rowSplit: head rows fold_ holds (FoldRowsApart; 0: folds in place)
  AscendC::GlobalTensor<W> weights_;
  AscendC::GlobalTensor<int32_t> indices_;
  AscendC::GlobalTensor<float> values_, ring_;
  AscendC::LocalTensor<float> tiles_[kMaxTileBuffers], rowScores_, wF32_, wB_, fold_, outScores_, quant_;
  AscendC::LocalTensor<uint32_t> quantPattern_;  // GatherQuantiles' pattern
  AscendC::LocalTensor<W> wRaw_;
  AscendC::LocalTensor<int32_t> keyIdx_, keyIdxB_, header_;  // (keyIdx_: both key index buffers, 128 indices)
  int32_t keyBase_[2] = {0, 0};  // the first key index keyIdx_ and keyIdxB_ hold
  AscendC::LocalTensor<uint32_t> outIdx_;
  AscendC::LocalTensor<float> best_[kMaxGroupRows], cand_[kMaxGroupRows];
  TopKScratch scratch_;
  EventSlots<AscendC::HardEvent::V_MTE2> tileFree_[kMaxBlockBuffers];
  RunningTopK topk_[kMaxGroupRows];
};

}  // namespace ascend_glm5
