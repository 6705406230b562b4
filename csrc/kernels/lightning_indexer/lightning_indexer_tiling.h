// Tiling and work plan of the Lightning Indexer kernel, shared by host and kernel.
//
// The host turns the batches into query rows (one per query token) and work items: an item is
// up to `groupRows` consecutive rows of one batch and a key range. The cube computes the ReLU'd
// scores of the item's rows x 128 keys per step. Decode (one row per item): the two vector cores of
// the block each own one contiguous half of the key range (64 keys per step), keep a running top-k
// per row, and write it as a partial list (a list slot: its length, then its sorted pairs). Prefill
// (`rowSplit`): a step holds 128 consecutive keys and each vector core owns about half of the
// item's rows with all their keys, so a row covered by one item is finished in phase 1 (its
// indices written there) and only rows cut over several items have lists to merge. After SyncAll, each row's
// lists are merged 4 at a time, in key order, over as many levels as it needs (a row split over
// many cores in decode has many lists): the merges of a level run on all vector cores at once,
// with a SyncAll between levels; a row's last merge writes its indices.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

namespace ascend_glm5 {

constexpr uint32_t kLiHeadDim = 128;        // D
constexpr uint32_t kLiMaxHeads = 64;        // N1
constexpr uint32_t kLiMaxSparseCount = 2048;
constexpr uint32_t kLiStepKeys = 128;       // keys per cube step: 64 per vector core
constexpr uint32_t kLiHalfKeys = 64;
constexpr uint32_t kLiMaxTileRows = 128;    // groupRows x N1 (cube M)
constexpr uint32_t kLiCandPairs = 512;      // candidate buffer per row (pairs) ...
constexpr uint32_t kLiCandSparePairs = 256; // ... and spare pairs for an item's last blocks (RunningTopK)
// Score tiles in flight between the cube and the vector cores: 4. The cube's wait for a free slot
// holds its whole core (dav_c220 CrossCoreWaitFlag), so the next steps' key copies and Mmads wait with
// it: with 3, B = 1 x 128K 53,038 -> 47,852 cycles with 4, B = 16 x 8K 53,536 -> 49,514; 6 pays its
// first writes (16 KB a slot and core) on the HBM pool (B = 1 x 32K 16,947 -> 16,571 with 4, 17,364
// with 6). At most 15 cross-core sets of a flag may be pending (dav_c220 FFTS counter).
constexpr uint32_t kLiRingSlots = 4;
// rowSplit (prefill): 4. Its fixpipe bounds the launch, and at an item's end the vector cores flush
// and write their rows' top-k while the cube runs on into the next item: with 3 slots it stalled there
// (S = 2048: 227.0 us, 4: 216.0, 5: 215.2, 8: 215.0; S = 1024: 62.3, 60.5, 61.2).
constexpr uint32_t kLiRowSplitRingSlots = 4;
constexpr uint32_t kLiMaxTileBuffers = 3;  // score tiles a vector core holds in UB (LightningIndexerTiling::tileBuffers)

// Plan table (int32), one record per entry, at the offsets given in the tiling.
struct LiRow {      // per query row of the flattened query tensor
  int32_t batch;
  int32_t visible;      // keys this row may see (after sparse_mode); <= 0: row produces no list
  int32_t partialBase;  // first partial-list slot of this row
  int32_t partials;     // partial lists to merge (2 per item covering the row; rowSplit: 1 per item)
};
struct LiMerge {     // one merge of phase 2: lists [src, src + count) of a row -> list dst (or the output)
  int32_t row;
  int32_t src;          // first list slot (consecutive slots, in key order)
  int32_t count;        // 1..4, or up to kLiMaxWideLists for a row merged in one step (LiWideMerge)
  int32_t dst;          // list slot of the result; < 0: the row's indices (and values), output part -1 - dst
  int32_t cutLists;     // > 0: the row's first merge, its cutLists partial lists (from slot cutBase)
  int32_t cutBase;      //      published quantiles: cut the lists at its threshold first (LiCutsLists)
  int32_t visible;      // keys the row sees: a final merge of a row that sees at least k needs no padding;
                        // a wide merge (more than 4 lists): its quantile run instead (LiWideQuantRun)
  int32_t spec;         // a cut merge: pairs of its lists loaded with the headers; up to 4 lists: byte i
                        // is list i's in units of 16 (LiSpecPairs); more: every list's (a multiple of 4)
};
struct LiItem {
  int32_t row0;         // first query row
  int32_t rows;         // <= groupRows
  int32_t keyBegin;     // key range [keyBegin, keyEnd) of this item
  int32_t keyEnd;
  int32_t halfKeys;     // a multiple of 64, the item's steps x 64: core s owns keys [keyBegin + s*halfKeys, ...)
                        // (rowSplit: step j holds keys keyBegin + 128 j ..., for both cores' rows)
  int32_t split;        // index of this item among the items covering its rows (LiItemIndex); kLiSplitInParts
  int32_t batch;        // the rows' batch, and its first key row (BSND / TND; 0 when paged): in the item
  int32_t keyStart;     // record so that the cube's first key load waits for no other plan read
};

// The vector cores read all of it; the cube reads none: its fields come in its core record (below).
struct LightningIndexerTiling {
  uint32_t queryDtype;    // DTypeId: fp16 / bf16 (key has the same)
  uint32_t heads;         // N1
  uint32_t groupRows;     // rows per item (cube M = groupRows * heads)
  uint32_t paged;         // 1: key is PA_BSND with a block table
  uint32_t blockSize;     // paged: keys per block
  uint32_t maxBlocks;     // paged: block_table row length
  uint32_t planWords;     // int32 words of the plan
  uint32_t itemOffset;    // int32 offsets of the plan's tables
  uint32_t coreOffset;    // 0: the core records (kLiCoreWords each) open the plan
  uint32_t wsRingBytes;   // workspace: per block, ringSlots score tiles
  uint32_t numRows;       // rows of the flattened query tensor
  uint32_t sparseCount;   // k
  uint32_t bestPairs;     // k rounded up to 32
  uint32_t weightDtype;   // fp16 / bf16 / fp32
  uint32_t returnValue;
  uint32_t numItems;
  uint32_t blockDim;      // AI cores used (1 AIC + 2 AIV each)
  uint32_t rowOffset;
  uint32_t mergeOffset;   // LiMerge records, level after level (mergeWords each)
  uint32_t levelOffset;   // numLevels + 1 prefix offsets into the merges
  uint32_t numLevels;
  uint32_t wsListOffset;  // list slots: the partial lists, then the merges' intermediate lists
  uint32_t listSlotBytes; // 32-byte header (int32 length) + bestPairs pairs
  uint32_t numPartials;   // slots written in phase 1
  uint32_t numListSlots;
  uint32_t wsQuantOffset; // per partial list, kLiQuantiles (score, 0) pairs: its scores every `step` ranks
  uint32_t tileBuffers;   // 1 to 3: the vector cores copy the next score tiles while they work on this one (rowSplit: 1 or 2)
  uint32_t outChunk;      // output ranks per part of a final merge (a multiple of 4, at least 32; >= k: one part)
  uint32_t tailFlagOffset; // plan word of the list tails' counter (LiListHead); 0: every list is written whole
  uint32_t mergeWords;    // plan words per LiMerge record: 8, or kLiMergeWordsWithEdges (its band's edges after it)
  uint32_t rowSplit;      // 1: the vector cores split an item by rows (LiRowsOfCore), 0: by key halves
  uint32_t ringSlots;     // score tiles in flight between the cube and the vector cores (kLiRingSlots or kLiRowSplitRingSlots)
  uint32_t wideHeadQuantiles; // quantiles a wide merge loads per list, the most of any (LiLoadedQuantiles): its lists' heads
};
constexpr uint32_t kLiListHeaderFloats = 8;
// A core record, one 64-byte line (one scalar GM miss) at the plan's start, per AI core: its items
// [first, last), the tiling fields the cube needs, a copy of its first item. The cube starts from it
// alone: its first key load waits for this miss and the block table's, not the tiling's too.
constexpr uint32_t kLiCoreWords = 16;
struct LiCoreRecord {
  int32_t first, last;  // items [first, last) of the item table
  int32_t shape;        // heads | groupRows << 8 | queryDtype << 16 | ringSlots << 24 | rowSplit << 28 (LiPackShape)
  int32_t paged, blockSize, maxBlocks;
  int32_t itemOffset, planWords;
  LiItem item;          // items[first]
};
static_assert(sizeof(LiCoreRecord) == kLiCoreWords * 4, "a core record is one 64-byte line");
// Workspace bytes of one AI core's score ring (LightningIndexerTiling::wsRingBytes).
__aicore__ inline uint32_t LiRingBytes(uint32_t groupRows, uint32_t heads, uint32_t ringSlots) {
  return ringSlots * groupRows * heads * kLiStepKeys * 4;
}
__aicore__ inline int32_t LiPackShape(uint32_t heads, uint32_t groupRows, uint32_t queryDtype, uint32_t ringSlots, uint32_t rowSplit) {
  return static_cast<int32_t>(heads | groupRows << 8 | queryDtype << 16 | ringSlots << 24 | rowSplit << 28);
}
// rowSplit: vector core `sub` takes the item's rows [LiRowsOfCore(rows, sub), LiRowsOfCore(rows, sub + 1))
// (core 0 the odd one of an odd count); sub = 2: the end.
__aicore__ inline uint32_t LiRowsOfCore(uint32_t rows, uint32_t sub) {
  return sub == 0 ? 0 : sub == 1 ? (rows + 1) / 2 : rows;
}
// Whether a core's last score tile goes out by key halves (decode: items split between the vector
// cores by key halves). The cube loads each half's keys with its own copy, multiplies, writes and
// flags half 0's 64 columns while half 1's keys are still on their way, then half 1's (in two parts
// of head rows, LiLastHalfFirstRows); each vector core copies its half once it is flagged (the
// launch's phase 1 ends on that tile's hand-off).
__aicore__ inline bool LiLastTileByHalves(uint32_t rowSplit) { return rowSplit == 0; }
// Head rows of the first part of that tile's half 1 when it goes out in two parts (0: whole): more
// than 16 head rows, a multiple of 16 (the L0C fractal). Vector core 1 copies and weights the first
// part while the second is on its way.
__aicore__ inline uint32_t LiLastHalfFirstRows(uint32_t headRows) {
  return headRows > 16 ? AlignUp((headRows + 1) / 2, 16u) : 0;
}
// How step j of an item's `steps` goes out: 0 whole, 1 by key halves (a flag per half), 2 by key
// halves with half 1 in parts (LiLastHalfFirstRows). A core's last step: 2 (LiLastTileByHalves).
// The step before it too, by halves in one part each (1), when the item has 4 steps or more: that
// step then has an L1 buffer alone (LiCube::SlotSteps), and its half 0 is multiplied, written and
// handed over while half 1's keys are still on their way (B = 16 x 8K 46,732 -> 46,585 cycles; B = 1
// since li-ahead, once the vector cores work on a tile before they wait for the next ones' flags:
// 128K 47,277 -> 47,179, 8K 7,390 -> 7,422).
__aicore__ inline uint32_t LiStepHalves(bool lastItem, uint32_t j, uint32_t steps, uint32_t rowSplit) {
  if (!lastItem || !LiLastTileByHalves(rowSplit)) return 0;
  if (j + 1 == steps) return 2;
  return steps >= 4 && j + 2 == steps ? 1 : 0;
}

constexpr uint32_t kLiQuantiles = 16;    // quantiles each partial list of a split row publishes
constexpr uint32_t kLiMaxWideLists = 64; // partial lists one merge may take (their quantiles: 1024 pairs)

// Pairs of list i a merge of up to 4 lists loads with the headers (LiMerge::spec: 16 per unit, 0: none).
__aicore__ inline uint32_t LiSpecPairs(int32_t spec, uint32_t i) {
  return ((uint32_t(spec) >> (8 * i)) & 0xFFu) * 16;
}

// Quantile spacing of a row split into `lists` partial lists: the kLiQuantiles quantiles of every
// list together vouch for about twice k entries, so that their threshold can reach k; a row merged
// in one step from more than 4 lists (decode B = 1), 4 k: half the quantiles to merge for its
// threshold (step 16 instead of 8 over 32 lists), for a looser cut (step / 2 more entries per list).
constexpr uint32_t kLiWideVouch = 4;
__aicore__ inline uint32_t LiQuantileStep(uint32_t k, uint32_t lists) {
  const uint32_t vouch = lists > 4 ? kLiWideVouch * k : 2 * k;
  const uint32_t want = (vouch + lists * kLiQuantiles - 1) / (lists * kLiQuantiles);
  uint32_t step = 4;
  while (step < want && step < 256) step *= 2;
  return step;
}

// Pairs of a partial list of a row cut at a threshold (`lists` lists) written before SyncAll when it
// goes in two parts: all its cut can keep (CutAtThreshold keeps at most step x `quantiles` - 1 pairs
// of a list with one of the first `quantiles` quantiles below the threshold). The rest, needed only
// by a list whose quantiles read are all at or above it, follows SyncAll (LiMerger::WriteTail).
__aicore__ inline uint32_t LiListHead(uint32_t k, uint32_t lists, uint32_t quantiles = kLiQuantiles) {
  return quantiles * LiQuantileStep(k, lists);
}

// A band edge of a final merge in parts, placed by the host (its upper and lower edge in two plan
// words of its merge record's 64-byte line, so that they come with the record's GM miss: records of
// kLiMergeWordsWithEdges words from word 8 of a line, the edges in words 2 and 3, after the two
// level offsets of a plan of one level in the first line; LiPlan::BandEdges): merged quantiles ja
// and jb of the row's quantile runs (LiCut::MergeQuantileRuns; ja < 1,024, jb - ja < 64) and a
// coefficient c in units of 1 / kLiEdgeCoefScale (int16). Its score is a + (a - b) c (a, b: their scores), a when a <= b or
// either is infinite (LiCut::BandEdge). The parts on either side of an edge read the same code, so
// their bands meet exactly (edges out of order only make bands overlap: each part writes its band's
// entries at their own ranks).
constexpr uint32_t kLiMergeWordsWithEdges = 16, kLiEdgeWordsBefore = 6;
constexpr float kLiEdgeCoefScale = 1024.0f;
static_assert(kLiMaxSparseCount / 4 <= 1024, "a merged quantile (step >= 4) fits LiPackEdge's 10 bits");
__aicore__ inline int32_t LiPackEdge(uint32_t ja, uint32_t jb, int32_t coef) {
  return static_cast<int32_t>(ja | (jb - ja) << 10 | static_cast<uint32_t>(coef) << 16);
}
__aicore__ inline uint32_t LiEdgeA(int32_t code) { return static_cast<uint32_t>(code) & 0x3FFu; }
__aicore__ inline uint32_t LiEdgeB(int32_t code) { return LiEdgeA(code) + ((static_cast<uint32_t>(code) >> 10) & 0x3Fu); }
__aicore__ inline float LiEdgeCoef(int32_t code) { return float(code >> 16) * (1.0f / kLiEdgeCoefScale); }

// LiMerge::spec of a part of a wide band merge: the pairs [skip, end) of every list it loads with the
// headers (end | skip << 16; skip 0 and end = the plan's speculative length elsewhere).
__aicore__ inline uint32_t LiWindowEnd(int32_t spec) { return uint32_t(spec) & 0xFFFFu; }
__aicore__ inline uint32_t LiWindowSkip(int32_t spec) { return uint32_t(spec) >> 16; }

// The quantiles each list of a wide merge brings to its threshold's merge (LiCut::CutAtThreshold;
// LiMerge::visible of the merge, from the host, which knows each list's length: min(k, keys it
// sees)): 1.25 times the longest list's share (by length) of the rank sought, rounded to nearest, so
// that the merge is issued before the lists' lengths are read. Every list then brings about 1.25 times
// its share. Rounded up, B = 1 x 32K (40 lists, the longest a little above the mean) took runs of 5:
// 200 quantiles to merge for rank 128 where 160 are 1.25 times it (15,604.74 -> 15,548.74 cycles).
__aicore__ inline uint32_t LiWideQuantRun(uint32_t k, uint32_t lists, uint32_t longest, uint32_t total) {
  if (total == 0) return kLiQuantiles;
  const uint32_t ranks = CeilDiv(k, LiQuantileStep(k, lists));
  const uint64_t share = (5ull * ranks * longest + 2ull * total) / (4ull * total);  // rounded to nearest
  return share < kLiQuantiles ? uint32_t(share) : kLiQuantiles;
}

// A wide merge's quantile run (LiMerge::visible, from LiWideQuantRun), or all 16 when the runs would
// not reach the rank sought.
__aicore__ inline uint32_t LiWideRun(uint32_t k, uint32_t lists, int32_t visible) {
  const uint32_t rank = CeilDiv(k, LiQuantileStep(k, lists)) - 1;
  const uint32_t run = visible > 0 && uint32_t(visible) * lists >= rank + 1 ? uint32_t(visible) : kLiQuantiles;
  return run < kLiQuantiles ? run : kLiQuantiles;
}
// Quantiles of each list a wide merge loads: its run and 3 more (a list holds about 1 / 1.25 of its
// run above the threshold, so rarely all), a multiple of 4 (32 bytes). A cut inside them keeps at
// most LiListHead(k, lists, these) pairs: a wide row's lists go in two parts at that head
// (LightningIndexerTiling::wideHeadQuantiles; B = 1 x 8K / 32K: 8 of 16, heads of 128 pairs).
__aicore__ inline uint32_t LiLoadedQuantiles(uint32_t run) {
  const uint32_t n = AlignUp(run + 3, 4);
  return n < kLiQuantiles ? n : kLiQuantiles;
}

// Whether a row's partial lists publish quantiles and are cut at a threshold before their first
// merge: only when they may hold more than k entries together (the row sees more than k keys).
__aicore__ inline bool LiCutsLists(int32_t visible, int32_t partials, uint32_t k) {
  return partials > 1 && visible > int32_t(k);
}

// Whether the quantiles of `lists` lists decide a threshold (they vouch for k entries).
__aicore__ inline bool LiCutDecides(uint32_t k, uint32_t lists) {
  return lists <= kLiMaxWideLists && CeilDiv(k, LiQuantileStep(k, lists)) <= lists * kLiQuantiles;
}

// A row with more than 4 partial lists whose cut is decided is merged in one step (its cut lists
// hold little more than k entries together) instead of 4 lists at a time over several levels.
__aicore__ inline bool LiWideMerge(int32_t visible, int32_t partials, uint32_t k) {
  return partials > 4 && LiCutsLists(visible, partials, k) && LiCutDecides(k, uint32_t(partials));
}

// Whether a partial list goes to GM in two parts, its LiListHead before SyncAll and the rest after it
// (LiMerger::WriteTail): its row's lists are cut at a threshold before their first merge, which keeps
// at most the head of a list with a quantile below it. Every last list of a vector core of a row merged
// in one step; of a row of up to 4 lists, those the host marked in their item's `split`
// (kLiSplitInParts << s for vector core s's list), so that the core's last final merge and list copy
// before SyncAll take the head only.
constexpr int32_t kLiSplitInParts = 1 << 16;
__aicore__ inline int32_t LiItemIndex(int32_t split) { return split & (kLiSplitInParts - 1); }
__aicore__ inline bool LiListInParts(int32_t visible, int32_t partials, uint32_t k, int32_t split, uint32_t sub) {
  return LiWideMerge(visible, partials, k) || (split & (kLiSplitInParts << sub)) != 0;
}
// The head of such a list: a wide row's up to the quantiles its merge loads (wideHeadQuantiles), a
// row of up to 4 lists' up to all 16.
__aicore__ inline uint32_t LiPartsHead(const LightningIndexerTiling& t, int32_t visible, int32_t partials) {
  const uint32_t quantiles = LiWideMerge(visible, partials, t.sparseCount) ? t.wideHeadQuantiles : kLiQuantiles;
  return LiListHead(t.sparseCount, uint32_t(partials), quantiles);
}
// LiMerge::dst of a record that only decides on a kept tail (PlaceMergesByTails): a vector core left
// without a merge whose list of a row of up to 4 goes in two parts gets a copy of the row's merge (no
// speculative pairs) and runs its cut alone (the row's quantiles, T, KeptWhole), to write its tail only
// if a merge of the row can read it (LiMerger::MergeStep), instead of the list's full merge and the tail's
// copy after SyncAll whatever the cut.
constexpr int32_t kLiTailDecision = 0x7FFFFFFF;
// The rows the host may mark: decode (by key halves), up to 4 lists cut at a threshold whose head is
// shorter than k (4 lists: 1,024 of 2,048 pairs).
__aicore__ inline bool LiFewListsMayGoInParts(int32_t visible, int32_t partials, uint32_t k, uint32_t rowSplit) {
  return rowSplit == 0 && partials <= 4 && LiCutsLists(visible, partials, k) && LiCutDecides(k, uint32_t(partials)) &&
         LiListHead(k, uint32_t(partials)) < k;
}

}  // namespace ascend_glm5
