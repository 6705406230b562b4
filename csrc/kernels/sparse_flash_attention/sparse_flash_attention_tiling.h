// Tiling and work plan of the Sparse Flash Attention kernel, shared by host and kernel.
//
// A work item is a range of positions of one query row's sparse_indices, with all N1 heads (the
// cube's M). Usually an item is a whole row; when there are fewer rows than AI cores (decode) the
// host splits rows so that every core gets an equal share of positions, and each piece leaves a
// partial result (unnormalised output, running max and sum) that a combine phase merges
// (flash-decoding). Per item, the vector cores turn the positions into the list of selected cache
// rows (vector compare, compaction and block-table lookup); the cube gathers those rows in tiles of
// tileRows (SfaTileRows) and computes S = [q | q_rope] . [k | k_rope]^T, the vector cores (each half of the
// heads) update the online softmax and return P, the cube computes P . V, and the vector cores
// rescale and accumulate it. See docs/ops/sparse_flash_attention.md.
#pragma once

#include <cstdint>

namespace ascend_glm5 {

constexpr uint32_t kSfaLatentDim = 512;   // D: latent (= value) width
constexpr uint32_t kSfaRopeDim = 64;      // Dr
constexpr uint32_t kSfaQkDim = kSfaLatentDim + kSfaRopeDim;
constexpr uint32_t kSfaMaxHeads = 128;    // N1 = cube M
constexpr uint32_t kSfaMaxSparseCount = 2048;
constexpr uint32_t kSfaMaxKvLen = 1u << 24;  // key ids pass through fp32 on the vector cores: exact below 2^24
constexpr uint32_t kSfaMinTileRows = 64;  // selected rows per tile at N1 = 128 (one fp32 vector repeat per score row)
constexpr uint32_t kSfaMaxTileRows = 128; // at N1 <= 64 (UB holds the larger scores): half the P . V traffic per row
// Selected rows per tile. The cube's P . V tile [N1, 512] fp32 goes through GM to the vector cores
// once per tile, whatever its rows: the larger the tile, the less of that traffic per selected row.
constexpr uint32_t SfaTileRows(uint32_t heads) { return heads <= 64 ? kSfaMaxTileRows : kSfaMinTileRows; }
constexpr uint32_t kSfaQkChunk = 128;     // q.k columns per Mmad (one L0A / L0B slot)
constexpr uint32_t kSfaOutChunk = 64;     // latent columns per P.V Mmad (one L0C output buffer)
constexpr uint32_t kSfaKvBuffers = 3;     // L1 tiles: gather i+1 while i is scored and i-1 multiplied by P
constexpr uint32_t kSfaGatherSlots = 4;   // gather slots per AI core in GM (sfa_gather.h): one per tile gathered ahead, + 1
// Tiles the vector cores gather ahead of the softmax: 3 with a combined cache and more than 3 items
// a core (decode B = 64), where the slot's write-out (MTE3, after P) is otherwise on the chain back
// to the cube's scores of the tile after next; 2 elsewhere (B = 16 and prefill are slower with 3).
constexpr uint32_t SfaGatherAhead(bool combinedKv, uint32_t numItems, uint32_t blockDim) {
  return combinedKv && numItems > 3 * blockDim ? 3 : 2;
}
constexpr uint32_t kSfaSlotWords = 16;    // int32 words of a work slot (item, count, aivRows): alone in a 64-B line
// A work slot's word 3 says how many of the item's first list entries words 4.. carry (up to
// kSfaSlotRows), so that the cube starts its copies on the slot's line, before the list's.
constexpr uint32_t kSfaSlotRowsAt = 4;
// Set in word 2 (aivRows) of a work slot: the cube issues the item's row copies earlier in each
// tile (sfa_cube.h GatherSome; set by SfaVector::SlotShare).
constexpr int32_t kSfaSlotEarlyRows = 1 << 16;
constexpr uint32_t kSfaSlotRows = kSfaSlotWords - kSfaSlotRowsAt;

// Plan table (int32): rows, items (grouped by AI core), split rows, core heads, at the tiling's
// offsets; with at most 3 items a core the core heads come first instead (SfaRowOffset).
struct SfaRow {     // per row of the flattened query tensor
  int32_t batch;    // -1: not a valid query row (padding of BSND, rows after the last TND batch)
  int32_t kvStart;  // first key row of the batch (BSND / TND); 0 when paged
  int32_t end;      // visible key tokens [0, end) after sparse_mode; <= 0: nothing to attend
  int32_t sorted;   // kSfaSortWhole / kSfaSortSteps: its selected rows sorted into runs (host)
};
struct SfaItem {
  int32_t row;
  int32_t posBegin;  // positions [posBegin, posEnd) of the row's sparse_indices (after its first -1: none)
  int32_t posEnd;
  int32_t piece;     // -1: the whole row; >= 0: the partial-result slot this piece writes; <= -2: seeded (SfaSeeded)
};
// A row cut into two pieces, the later one (B) the first item of its core and the earlier one (A)
// the last item of another core, is seeded (decode B = 64, where every split row is such a pair):
// B is a piece as any other, done early in the launch; A starts from B's statistics (its reference
// max, sum and true max), the cube adds A's P . V into B's acc, and A's last tile finalises the
// whole row from that acc as a whole row in O form. The row then needs no merge, which would
// otherwise run at the launch's tail, where the HBM is idle (sfa-seed). A's piece is
// SfaSeedPiece(B's slot).
constexpr int32_t kSfaWholeRow = -1;
constexpr bool SfaSeeded(int32_t piece) { return piece <= -2; }
constexpr int32_t SfaSeedPiece(int32_t slot) { return -2 - slot; }
// The partial-result slot whose acc an item sums into: its own piece's, or a seeded item's B's.
constexpr uint32_t SfaSumSlot(int32_t piece) { return uint32_t(piece >= 0 ? piece : -2 - piece); }
// Whether an item's P . V sum is in a piece slot (a piece, or a seeded item), not in the O ring.
constexpr bool SfaSumsInPiece(int32_t piece) { return piece != kSfaWholeRow; }
// A row cut into pieces: slots [firstPiece, firstPiece + pieces), firstPiece = split x SfaPieceGroup.
// Finished rows (finisher > 0), then seeded ones (SfaSeeded) come after the merged ones and have no
// merge units. A finished row's late piece L (its core's last item, all other pieces done well
// before it) is a piece as any other until its last tile; then its vector cores weigh the other
// pieces' accs in (their statistics against L's final ones) while the cube still runs L's last
// P . V, add L's own sum once it is in GM, and write the row (sfa-finish; SfaFinish,
// sfa_finish.h).
// Most pieces of a finished row, and its most heads: a vector core's heads in at most 4 chunks of
// kSfaStageRows (SfaFinish's MTE2 -> V events).
constexpr uint32_t kSfaFinishPieces = 4;
constexpr uint32_t kSfaFinishHeads = 64;
struct SfaSplit {
  int32_t row;
  int32_t firstPiece;
  int32_t pieces;
  int32_t finisher;  // 1 + the index among its pieces of the piece whose vector cores write the row; 0: merged or seeded
};
constexpr uint32_t kSfaWordLineInts = 16;  // one 64-byte line per tile: vector core s writes int s * 8
constexpr uint32_t kSfaRecordWords = 4;
// Per AI core one 64-byte head (16-word aligned in the plan): its items [first, last), then its first
// item's record and that item's row record, so a core starts with one scalar cache line, not three.
// Last, the split rows' (split, head) units its two vector cores merge: [merge[0], merge[1]) and
// [merge[1], merge[2]) (host: weighted by the rows' pieces, so the vector cores end together); in
// an early-merge launch (split, head, column chunk) units (SfaMergeChunks).
struct SfaCoreHead {
  int32_t first, last;
  SfaItem item;  // items[first] (when first < last)
  SfaRow row;    // rows[item.row]
  int32_t merge[3];
};
constexpr uint32_t kSfaHeadWords = 16;
static_assert(sizeof(SfaCoreHead) <= kSfaHeadWords * 4, "a core head fits one 64-byte line");
// In a launch with split rows, after the core heads: per query row one 64-byte line whose first
// word counts the vector cores that have posted a piece of the row (acc and statistics in GM;
// zero in the host's plan). A row's merge waits for 2 x its pieces (gm_flag.h). In a launch whose
// merge is a few heads per vector core (SfaEarlyMerge: decode B = 1) word kSfaRowFlagStreamed
// counts the same posts made earlier, once a piece's statistics and its streamed P . V columns
// [SfaKeptCols, 512) are in GM (the cube writes the kept ones last): a merge run starts on those
// columns while the cube still writes the rest.
// Word kSfaRowFlagKeptHigh counts the posts made once the upper half of the kept columns
// [SfaKeptCols / 2, SfaKeptCols) is in GM too (the cube writes it before the lower half).
constexpr uint32_t kSfaRowFlagWords = 16;
constexpr uint32_t kSfaRowFlagStreamed = 8;
constexpr uint32_t kSfaRowFlagKeptHigh = 4;
// Word kSfaRowFlagPair of row r's line (late merge only) counts the whole-piece posts of rows r and
// r + 1: a vector core whose merge spans those two rows waits once for both (SfaMerge::WaitRowDone).
constexpr uint32_t kSfaRowFlagPair = 15;

struct SparseFlashAttentionTiling {
  uint32_t numRows;      // rows of the flattened query (B * S1 or T1)
  uint32_t heads;        // N1
  uint32_t sparseCount;  // K: entries per sparse_indices row
  uint32_t dtype;        // DTypeId: fp16 / bf16 (all inputs and the output)
  uint32_t paged;        // 1: key / value / key_rope are PA_BSND with a block table
  uint32_t blockSize;    // paged: tokens per block
  uint32_t maxBlocks;    // paged: block_table row length
  uint32_t blockDim;     // AI cores used (1 AIC + 2 AIV each)
  uint32_t returnLse;    // 1: write softmax_max / softmax_sum
  float scale;           // scale_value
  uint32_t separateValue;  // 1: V rows come from `value`, not from `key`
  uint32_t numItems;
  uint32_t numSplits;    // rows cut into pieces (combined after all items)
  uint32_t numPieces;    // partial-result slots: numSplits x SfaPieceGroup (a split row's pieces and unused slots)
  uint32_t itemOffset;   // int32 offsets of the plan's tables (rows start at 0)
  uint32_t splitOffset;
  uint32_t wsSlotS;      // bytes of one S ring slot: heads x tileRows fp32
  uint32_t wsSlotP;      // one P slot: heads x tileRows in the input dtype
  uint32_t wsSlotO;      // one O slot: heads x kSfaLatentDim fp32
  uint32_t wsBlockBytes; // per AI core: 2 slots each of S, P, O
  uint32_t wsSlotOffset; // bytes: work slots, numItems + blockDim of kSfaSlotWords int32
  uint32_t wsListOffset; // bytes: per item its row list (listWords int32)
  uint32_t listWords;    // int32 words per item list: K rounded up to 16
  uint32_t wsPieceOffset;  // bytes: the partial results, pieceBytes each
  uint32_t pieceBytes;   // acc [N1, 512] fp32 (the statistics follow all the accs: SfaStatOffset)
  uint32_t aivRows;      // of a full tile's rows, how many the two vector cores gather (0: the cube gathers all)
  uint32_t wsGatherOffset;  // bytes: per AI core kSfaGatherSlots gather slots of gatherSlotBytes
  uint32_t gatherSlotBytes; // tileRows rows of key + rope (576), then of value (512) when separate
  uint32_t sortAivRows;  // aivRows of a row sorted into runs (SfaRow::sorted); <= aivRows
  uint32_t tileRows;     // SfaTileRows(heads)
  uint16_t combinedKv;   // 1: a key row is 576 wide (latent 512, then rope 64; key_rope unused): one copy per row
  uint16_t oneRef;       // 1: the split rows' pieces share one reference max (SfaOneRef, below); 2: also
                         // kSfaOneRefAllCores. One word with combinedKv, so that the tiling keeps its size
                         // (each core reads every word)
  uint32_t headOffset;   // int32 offset of the core heads (blockDim x kSfaHeadWords); 0: they open the plan
};

// Derived from the tiling (not fields: a larger tiling costs every core one more scalar line to
// load): latent columns [0, SfaKeptCols) of P . V summed in L0C over an item's tiles; after the
// pieces, per AI core 2 snapshots and 2 corrections of them ([N1, keptCols] fp32 each), then per
// item and tile one 64-byte line of rebase words (one word per vector core).
// Each vector core keeps its own copy of the item lists (listWords int32 per item).
// P . V columns an item sums in L0C across its tiles at N1 <= 64 (sfa_cube.h Output): with more
// items than cores and N1 >= 32 6 of the 8 64-column chunks (at N1 = 64 L0C then holds S, whose
// place the 2 streamed chunks take once S has left, and these 6; a vector core's correction takes
// 8 of its N1 / 2 rows at a time), else 4 (S, these 4 and 2 streamed chunks).
constexpr uint32_t SfaKeptCols(const SparseFlashAttentionTiling& t) {
  return t.heads > 64 ? 0 : t.numItems > t.blockDim && t.heads >= 32 ? 384 : 256;
}
// P . V as O^T = V^T P^T (sfa-otv): the cube loads V^T into L0A in one transposing load a 64-column
// chunk (L0A's 256 B a cycle) and P^T into L0B in one load, where O = P . V takes 4 loads of V a
// chunk into L0B (128 B a cycle) and 4 of P. An item's sum then leaves L0C as O^T, [512, N1] fp32
// (rows of N1 floats; the kept columns' snapshots [SfaKeptCols, N1] alike), which the vector cores
// read as a column range (their heads), scale by column and transpose in UB before the output.
// Whole rows only (a piece's sum stays O for the merge, a seeded item's for its B's acc), at N1 a
// multiple of 16 up to 64 (each vector core's heads a multiple of 8 floats: 32-byte rows), in decode
// B = 64's launch form (a split launch of more than 3 items a core).
constexpr bool SfaOutT(const SparseFlashAttentionTiling& t) {
  return t.heads % 16 == 0 && t.heads <= 64 && t.numSplits > 0 && t.numItems > 3 * t.blockDim;
}
// Whether an item's sum is O^T: SfaOutT and a whole row (piece -1).
constexpr bool SfaItemOutT(const SparseFlashAttentionTiling& t, int32_t piece) { return piece == kSfaWholeRow && SfaOutT(t); }
constexpr uint64_t SfaListRegionBytes(const SparseFlashAttentionTiling& t) { return uint64_t(t.numItems) * t.listWords * 4; }
// Rows the host marks sorted (SfaRow::sorted) have their selected cache rows sorted (sfa_sort.h):
// a row that selects a large part of the keys it sees then has runs of contiguous cache rows that
// the gathers copy at once.
// kSfaSortWhole: whole rows of a launch without split rows (prefill), sorted where they are
// selected; the scratch is the vector core's accumulator ([N1/2, 512] fp32, free between items),
// used from N1 = 64 (where it was measured).
// kSfaSortSteps: rows of a split launch (decode), sorted in steps while the item before them runs
// (sfa_vector.h SortStep); the scratch is the stage (free during a split launch's tiles), which
// holds it at N1 <= 64. Sorted, a tile's rising rows go to the gathers in pairs or runs of evenly
// spaced rows, one copy each (SfaRun in sfa_plan.h).
constexpr int32_t kSfaSortWhole = 1;
constexpr int32_t kSfaSortSteps = 2;
constexpr uint32_t kSfaSortScratchBytes = 32 * 1024;  // rows and keys of 2048, then 2048 pairs
constexpr bool SfaSortFits(uint32_t heads) { return heads >= 64; }
constexpr uint64_t SfaAlign512(uint64_t bytes) { return (bytes + 511) / 512 * 512; }
constexpr uint32_t SfaItemTiles(const SparseFlashAttentionTiling& t) { return (t.sparseCount + t.tileRows - 1) / t.tileRows; }
// The pieces' statistics (reference max, sum, true max: rows of SfaStatRowFloats), after the
// pieces' accs, grouped by split row: split j's rows are [3 j G, 3 (j + 1) G) with G =
// SfaPieceGroup, the G reference maxes of its pieces (slots j G + i), then their G sums, then their
// G true maxes. So the merge reads the three statistics of a run's heads of all a row's pieces in
// one strided copy (2 G + pieces rows: SfaMerge::LoadRun), not three.
constexpr uint32_t SfaPieceGroup(const SparseFlashAttentionTiling& t) {
  return t.numSplits > 0 ? t.numPieces / t.numSplits : 0;
}
constexpr uint32_t SfaStatRowFloats(uint32_t heads) { return (heads + 7) / 8 * 8; }
constexpr uint64_t SfaStatOffset(const SparseFlashAttentionTiling& t) {
  return uint64_t(t.wsPieceOffset) + uint64_t(t.numPieces) * t.pieceBytes;
}
// Statistics a piece leaves: r, l, the true max; in a one-reference launch (tiling oneRef) also 1 for
// each head whose vector core tripped (its rows are in the piece's own acc, against its own r), else 0.
constexpr uint32_t SfaStatRows(const SparseFlashAttentionTiling& t) { return t.oneRef != 0 ? 4 : 3; }
// Float offset, from SfaStatOffset, of statistic k (0 reference max, 1 sum, 2 true max, 3 tripped) of piece slot p.
constexpr uint64_t SfaStatAt(const SparseFlashAttentionTiling& t, uint32_t p, uint32_t k) {
  const uint32_t g = SfaPieceGroup(t), i = p % g;
  return (uint64_t(p - i) * SfaStatRows(t) + uint64_t(k) * g + i) * SfaStatRowFloats(t.heads);
}
constexpr uint64_t SfaKeptOffset(const SparseFlashAttentionTiling& t) {
  return SfaAlign512(SfaStatOffset(t) + uint64_t(t.numPieces) * SfaStatRows(t) * SfaStatRowFloats(t.heads) * 4);
}
constexpr uint64_t SfaWordOffset(const SparseFlashAttentionTiling& t) {
  return SfaAlign512(SfaKeptOffset(t) + uint64_t(t.blockDim) * 4 * t.heads * SfaKeptCols(t) * 4);
}
// int32 offset in the plan of the row records: 0, or after the core heads where those open it.
constexpr uint64_t SfaRowOffset(const SparseFlashAttentionTiling& t) {
  return t.headOffset == 0 ? uint64_t(t.blockDim) * kSfaHeadWords : 0;
}
// int32 offset in the plan of the row flags (a launch with split rows only), after the plan's
// records: the core heads, or where those open the plan the split rows (16-word aligned).
constexpr uint64_t SfaRowFlagOffset(const SparseFlashAttentionTiling& t) {
  return t.headOffset > 0 ? uint64_t(t.headOffset) + uint64_t(t.blockDim) * kSfaHeadWords
                          : (uint64_t(t.splitOffset) + uint64_t(t.numSplits) * kSfaRecordWords + kSfaHeadWords - 1) /
                                kSfaHeadWords * kSfaHeadWords;
}
// Whether pieces post their streamed columns early (kSfaRowFlagStreamed): at N1 <= 64 when the
// split rows' (row, head) units average at most 3 per vector core (merge runs of few heads, which
// wait for them). With more, a run's rows are its pieces' whole rows, and the extra posts would only
// cost the vector cores time.
constexpr uint32_t kSfaEarlyMergeHeads = 3;
constexpr bool SfaEarlyMerge(const SparseFlashAttentionTiling& t) {
  return SfaKeptCols(t) > 0 && t.numSplits > 0 &&
         uint64_t(t.numSplits) * t.heads <= uint64_t(kSfaEarlyMergeHeads) * 2 * t.blockDim;
}
// Whether a core's last tile, where it sums into a piece slot, flags each of its 64-column P . V
// chunks as it leaves L0C, in a launch whose whole rows sum O^T (decode B = 64, whose cores end
// with a seeded piece): kSfaFlagStreamed for each but the last (the streamed chunks [SfaKeptCols,
// 512), then the kept ones), kSfaFlagOut for the last. A seeded piece's vector cores then finalise
// its row chunk by chunk as they land (SfaVector::FinalizeByChunks), not after the last fixpipe.
constexpr bool SfaFinalChunks(const SparseFlashAttentionTiling& t) { return t.numSplits > 0 && SfaOutT(t); }
// Merge units per (split, head): in an early-merge launch the host plans units of (split, head,
// column chunk of kSfaMergeCols) so that the vector cores share the merge's loads by columns (a head
// split over two vector cores); elsewhere a unit is a whole (split, head).
constexpr uint32_t kSfaMergeCols = 64;
constexpr uint32_t SfaMergeChunks(const SparseFlashAttentionTiling& t) {
  return SfaEarlyMerge(t) ? kSfaLatentDim / kSfaMergeCols : 1;
}
constexpr uint64_t SfaWordsEnd(const SparseFlashAttentionTiling& t) {
  return SfaWordOffset(t) + (SfaKeptCols(t) > 0 ? uint64_t(t.numItems) * SfaItemTiles(t) * kSfaWordLineInts * 4 : 0);
}
// One reference max for every piece of a split row (sfa-oneref; tiling oneRef: an early-merge launch
// whose pieces are one tile each with a row to spare, N1 32 or 64, a paged combined cache: decode
// B = 1). Every piece scores the row's first selected key as one extra row (its cache row follows
// the piece's list: SfaSelector::RefRow) and takes that key's scores R as its reference max. The
// cube then adds each piece's P . V into one sum of the row (SfaOneRefSum), so the row needs no
// merge, only out = sum / l (sfa_one_ref.h). A vector core whose heads' max passes R by more than
// kSfaOneRefSlack, or whose row's first key is not a valid one, keeps its own reference and its
// heads' rows of its own piece's acc, as in a merged row ("tripped": its word of the tile's line is
// 1 for the cube, and its statistic 3 is 1 for the normalise, which weighs those rows in).
// A piece's vector cores count its statistics in word kSfaRowFlagStats as soon as they are in GM (after
// the softmax): the normalise weighs the pieces while the cube still writes their P . V.
// The row sums follow the rebase words; every vector core zeroes its share of them at its start and
// counts it in word kSfaRowFlagZeroed of row 0's flag line, which each waits for before its first P
// (so before the cube's first add).
constexpr uint32_t kSfaRowFlagStats = 13;   // the row's vector cores whose piece statistics are in GM
constexpr uint32_t kSfaRowFlagZeroed = 14;  // row 0's line: vector cores that zeroed their share of the row sums
constexpr uint32_t kSfaOneRefMaxPieces = 32;  // a row's pieces (the normalise's statistics buffer)
// tiling oneRef: one row, one piece on every core of the launch (decode B = 1). Its whole-piece posts
// are then one all-AIV cross-core flag (mode 0, kSfaFlagAllPosted), set by each vector core once its
// cube's P . V is in the row sum, where a GM count took an add and a scalar poll (a GM miss) on the path.
constexpr uint16_t kSfaOneRefAllCores = 2;
// How far a piece's max may pass R: P <= e^11 ~ 59,874 stays in fp16's range (65,504). On the GLM-5
// table's inputs no piece passes 11, where at kSfaRefSlack (8) up to a quarter would
// (docs/tuning/sparse_flash_attention.md, sfa-oneref).
constexpr float kSfaOneRefSlack = 11.0f;
constexpr uint64_t SfaOneRefOffset(const SparseFlashAttentionTiling& t) { return SfaAlign512(SfaWordsEnd(t)); }
constexpr uint64_t SfaOneRefBytes(const SparseFlashAttentionTiling& t) {
  return t.oneRef != 0 ? uint64_t(t.numSplits) * t.heads * kSfaLatentDim * 4 : 0;
}
// Float offset of split j's row sum [N1, 512] from SfaOneRefOffset.
constexpr uint64_t SfaOneRefSum(const SparseFlashAttentionTiling& t, uint32_t j) { return uint64_t(j) * t.heads * kSfaLatentDim; }
constexpr uint64_t SfaWorkspaceEnd(const SparseFlashAttentionTiling& t) {
  return t.oneRef != 0 ? SfaOneRefOffset(t) + SfaOneRefBytes(t) : SfaWordsEnd(t);
}

// UB of a vector core in the item phase (SfaVector::CarveItems), before the gather buffers: scores,
// P, the accumulator of its heads, a stage of rows of 512 fp32 (also the select scratch), 9 stat
// vectors and a broadcast buffer. The stage takes the P . V tile in chunks of kSfaOutChunkRows
// rows: 4 chunks in flight hide the GM read latency (a chunk's copy is shorter than the latency
// plus its Add) where UB allows (N1 <= 64), 2 at N1 = 128.
constexpr uint32_t kSfaStageRows = 8;     // rows of output written per copy; the smallest stage
constexpr uint32_t kSfaOutChunkRows = 4;  // rows of the P . V tile per copy into the stage
constexpr uint32_t SfaStageSlots(uint32_t heads) { return heads <= 64 ? 4 : 2; }
// Whether a split launch sorts rows in steps (kSfaSortSteps): the stage holds the sort's scratch,
// and N1 = 64 is where it was measured (GLM-5).
constexpr bool SfaStepSortFits(uint32_t heads) {
  return heads >= 64 && SfaStageSlots(heads) * kSfaOutChunkRows * kSfaLatentDim * 4 >= kSfaSortScratchBytes;
}
constexpr uint32_t kSfaStatVectors = 13;
// How far a score may exceed its item's reference max before P is rebased (sfa_vector.h
// Probabilities): P <= e^8 ~ 2981 stays in fp16's range, and a row's P . V sum in fp32's.
constexpr float kSfaRefSlack = 8.0f;
constexpr uint32_t SfaAlign32(uint32_t bytes) { return (bytes + 31) / 32 * 32; }
// 32-byte blocks of the bcast vector and P's buffer after it that the vector cores' broadcasts take
// (h heads). The softmax's reference max at 128-column tiles (SfaVector::Probabilities): each
// head's max in two consecutive blocks, 16 blocks per Brcb repeat of 8 heads. The output's 1 / l
// (SfaRowScale, sfa_row_scale.h): rows of 512 floats, up to kSfaScaleLaneRows rows a Mul, each row's
// value in 8 blocks 8 apart (64 blocks a row, a lane offset of up to 16, the next lane one block
// on), and the first Brcb's 8 blocks at the end.
constexpr uint32_t kSfaScaleLaneRows = 4;
static_assert(kSfaStageRows <= 2 * kSfaScaleLaneRows, "an output chunk takes at most two lanes");
constexpr uint32_t SfaScaleBcastBlocks(uint32_t h) {
  return 16 + 1 + 64 * ((h < kSfaScaleLaneRows ? h : kSfaScaleLaneRows) - 1) + 57 + 8;
}
constexpr uint32_t SfaSubBcastBlocks(uint32_t h, uint32_t tileRows) {
  const uint32_t sub = tileRows == kSfaMaxTileRows ? 16 * ((h + 7) / 8) : 0;
  return sub > SfaScaleBcastBlocks(h) ? sub : SfaScaleBcastBlocks(h);
}
static_assert(SfaSubBcastBlocks(32, kSfaMaxTileRows) * 32 <= 32 * 32 + 32 * 128 * 2, "GLM-5's P buffer holds the broadcasts");
// P's buffer of a vector core with h heads (half-precision P), and at least the rest of the
// broadcasts' span past the bcast vector (ha x 8 fp32).
constexpr uint32_t SfaProbsBytes(uint32_t h, uint32_t tileRows) {
  const uint32_t probs = SfaAlign32(h * tileRows * 2), ha = (h + 7) / 8 * 8;
  if (SfaSubBcastBlocks(h, tileRows) * 32 <= ha * 32 + probs) return probs;
  return SfaSubBcastBlocks(h, tileRows) * 32 - ha * 32;
}
constexpr uint32_t SfaItemUbBytes(uint32_t heads) {
  const uint32_t h = (heads + 1) / 2, ha = (h + 7) / 8 * 8;
  return SfaAlign32(h * SfaTileRows(heads) * 4) + SfaProbsBytes(h, SfaTileRows(heads)) + h * kSfaLatentDim * 4 +
         SfaStageSlots(heads) * kSfaOutChunkRows * kSfaLatentDim * 4 + kSfaStatVectors * ha * 4 + ha * 8 * 4;
}
static_assert(2 * kSfaOutChunkRows >= kSfaStageRows, "the smallest stage holds kSfaStageRows rows");
constexpr uint32_t kSfaUbBytes = 184 * 1024;  // UB below TMP_UB_OFFSET (utils/kernel_utils_constants.h)

// Cube <-> vector handshakes of one AI core (cross-core mode 2).
constexpr uint16_t kSfaFlagScores = 0;     // AIC -> AIVs: S tile in its slot
constexpr uint16_t kSfaFlagScoresFree = 1; // each AIV -> AIC: S slot copied out
constexpr uint16_t kSfaFlagProbs = 2;      // each AIV -> AIC: its rows of P are in the P slot
constexpr uint16_t kSfaFlagOut = 3;        // AIC -> AIVs: P . V tile in its slot
constexpr uint16_t kSfaFlagOutFree = 4;    // each AIV -> AIC: O slot copied out
constexpr uint16_t kSfaFlagList = 5;       // each AIV -> AIC: the next work slot (an item's rows, or the end) is in GM
constexpr uint16_t kSfaFlagGathered = 6;   // each AIV -> AIC: its rows of the next tile are in the gather slot
constexpr uint16_t kSfaFlagGatherFree = 7; // AIC -> AIVs: the cube copied a gather slot into L1
constexpr uint16_t kSfaFlagStreamed = 8;   // AIC -> AIVs: a piece's streamed P . V columns are in GM (N1 <= 64)
constexpr uint16_t kSfaFlagKeptHigh = 9;   // AIC -> AIVs: and its upper kept half [SfaKeptCols / 2, SfaKeptCols) (SfaEarlyMerge)
// Every AIV of the launch -> every AIV (cross-core mode 0, kSfaOneRefAllCores): its piece's P . V is in
// the row sum. Each AIV sets it once and waits for it once.
constexpr uint16_t kSfaFlagAllPosted = 10;

}  // namespace ascend_glm5
