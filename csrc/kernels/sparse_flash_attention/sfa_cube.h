// Sparse Flash Attention, cube side (AIC).
//
// Per item, the vector cores have written the cache rows it selects and their count (sfa_select.h).
// Per tile g (up to tileRows = 128 of those rows at N1 <= 64, 64 at N1 = 128; all N1 heads as the
// cube's M):
//   Gather   the rows of key (512) and k_rope (64) GM -> L1 (ND2NZ, one copy per run of
//            contiguous cache rows; one copy for both when a key row holds its rope, combinedKv)
//            into L1 tile g % 3; latent rows past the last selected one, up
//            to the next 16, are zeroed (the cube works on whole 16-row fractals).
//   Scores   S = [q | q_rope] . [k | k_rope]^T, 128 of the 576 columns per Mmad, fp32 in L0C
//            -> fixpipe -> S ring slot g % 2 -> both vector cores. With a separate `value`, its rows
//            then replace the key's latent columns of the tile, which Scores no longer needs.
//   Output   P (bf16/fp16 from the vector cores' P ring) GM -> L1 (at N1 <= 64 into the tile's
//            rope columns, which Scores no longer needs: L1 then holds three 128-row tiles) -> L0A;
//            O = P . V, 64 latent
//            columns per Mmad (V fractals transposed on their way to L0B) -> the item's sum in GM
//            (its piece's acc, or O ring slot item % 2): written at its first tile, then added;
//            at N1 <= 64 columns [0, SfaKeptCols) (256, or 384 with more items than cores at
//            N1 >= 32) are instead summed in L0C over the item's tiles and written once, at its
//            last (a rebase: snapshot for the vector cores' correction). A seeded item
//            (SfaSeeded) adds all of it, from its first tile, into its later piece's acc.
// The order per step is Scores(g), Output(g-1), Gather(g+1), then Output's kept chunks of g-1 (their
// scalar read of the rebase words waits behind the copies; with the vector cores 2 tiles ahead, it
// goes between the cube's own copies and the wait for the gather slot): the vector softmax of
// tile g runs while the cube computes P . V of tile g-1. The cube's own row copies of the gather are issued
// a part after each chunk of Scores and of Output: the scalar unit issues in order and stalls when
// a pipe's queue is full (Scores waiting for its tile, Output for the fixpipe), so copies issued
// after them would leave MTE2 idle; spread between the chunks, they keep MTE2 busy meanwhile.
#pragma once

#include "kernel_operator.h"
#include "../common/event_slots.h"
#include "../common/host_device.h"
#include "../common/mmad.h"
#include "../common/tiling.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

template <typename T>
class SfaCube {
 public:
  __aicore__ inline void Init(GM_ADDR query, GM_ADDR queryRope, GM_ADDR key, GM_ADDR value, GM_ADDR keyRope,
                              GM_ADDR plan, GM_ADDR workspace, const SparseFlashAttentionTiling& t) {
    t_ = &t;
    plan_.Init(plan, t, uint32_t(AscendC::GetBlockIdx()));
    uint32_t first, last;
    plan_.CoreItems(first, last);
    // This core's slots: one per item at most, plus the end.
    slots_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + t.wsSlotOffset) +
                               uint64_t(first + AscendC::GetBlockIdx()) * kSfaSlotWords,
                           uint64_t(last - first + 1) * kSfaSlotWords);
    const uint64_t qRows = uint64_t(t.numRows) * t.heads;
    query_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(query), qRows * kSfaLatentDim);
    queryRope_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(queryRope), qRows * kSfaRopeDim);
    key_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(key));
    value_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(t.separateValue ? value : key));
    keyRope_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(keyRope));
    lists_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + t.wsListOffset), uint64_t(t.numItems) * t.listWords);
    gatherSlots_.SetGlobalBuffer(
        reinterpret_cast<__gm__ T*>(workspace + t.wsGatherOffset + uint64_t(AscendC::GetBlockIdx()) * kSfaGatherSlots * t.gatherSlotBytes),
        kSfaGatherSlots * t.gatherSlotBytes / sizeof(T));
    GM_ADDR ring = workspace + uint64_t(AscendC::GetBlockIdx()) * t.wsBlockBytes;
    sRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring), 2 * t.wsSlotS / sizeof(float));
    pRing_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ring + 2 * t.wsSlotS), 2 * t.wsSlotP / sizeof(T));
    oRing_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ring + 2 * (t.wsSlotS + t.wsSlotP)), 2 * t.wsSlotO / sizeof(float));
    pieces_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + t.wsPieceOffset),
                            uint64_t(t.numPieces) * t.pieceBytes / sizeof(float));
    m1_ = CeilDiv(t.heads, 16);
    mPad_ = m1_ * 16;
    halfSlotQuery_ = mPad_ * kSfaQkChunk * sizeof(T) <= kL0Slot / 2;
    rows_ = t.tileRows;
    rowBlocks_ = rows_ / 16;
    pInTile_ = mPad_ * rows_ <= kSfaRopeDim * rows_;
    pipe_.InitBuffer(qL1_, mPad_ * kSfaQkDim * sizeof(T));
    if (!pInTile_) pipe_.InitBuffer(pL1_, mPad_ * rows_ * sizeof(T));
    pipe_.InitBuffer(kvL1_, kSfaKvBuffers * rows_ * kSfaQkDim * sizeof(T));
    pipe_.InitBuffer(l0a_, 2 * kL0Slot);
    pipe_.InitBuffer(l0b_, 2 * kL0Slot);
    // L0C: S, then as many 64-column output chunks as fit (up to 4): the P . V Mmads run that far
    // ahead of the fixpipe, so the next tile's score Mmads are not queued behind it.
    const uint32_t chunkBytes = mPad_ * kSfaOutChunk * sizeof(float), sBytes = mPad_ * rows_ * sizeof(float);
    const uint32_t outBufs = (kL0cBytes - sBytes) / chunkBytes;
    // The kept chunks (tiling keptCols) sum their columns over an item's tiles in L0C: written once
    // per item instead of once per tile.
    keptCols_ = SfaKeptCols(t);
    itemTiles_ = SfaItemTiles(t);
    keepChunks_ = keptCols_ / kSfaOutChunk;
    earlyMerge_ = SfaEarlyMerge(t);
    outT_ = SfaOutT(t);
    finalChunks_ = SfaFinalChunks(t);
    // V by column blocks (LoadV): GLM-5 decode B = 16 -1.9 %. Where whole rows sum O^T (B = 64) its
    // pieces' fewer loads bring the cube's row copies together on the HBM pool: +1.0 to +1.7 %.
    vBlocks_ = !outT_;
    // With the vector cores 2 tiles ahead, the cube waits for each gather slot (its write-out follows
    // P on their MTE3): a tile's rebase words are read before that wait, so that the read's GM miss
    // is not on the chain after it (GLM-5 decode B = 16, cycles: 72,934 / 72,943 / 73,037 ->
    // 72,506 / 72,484 / 72,541). 3 ahead (B = 64) the slot is in by then: the words after it
    // (read before it: 224,157 / 224,769 / 225,549, not 223,032 / 223,582 / 224,749).
    earlyWords_ = SfaGatherAhead(!t.separateValue, t.numItems, t.blockDim) < 3;
    // No room beside the kept chunks: the streamed chunks take S's place once S has left L0C.
    const uint32_t stream = outBufs - keepChunks_;
    sharedS_ = stream == 0;
    outBufs_ = sharedS_ ? sBytes / chunkBytes : stream < kMaxOutBufs ? stream : kMaxOutBufs;
    pipe_.InitBuffer(l0c_, sBytes + ((sharedS_ ? 0 : outBufs_) + keepChunks_) * chunkBytes);
    kept_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaKeptOffset(t)) +
                              uint64_t(AscendC::GetBlockIdx()) * 4 * t.heads * keptCols_,
                          2 * uint64_t(t.heads) * keptCols_);
    words_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + SfaWordOffset(t)),
                           uint64_t(t.numItems) * itemTiles_ * kSfaWordLineInts);
    oneRef_ = t.oneRef != 0;
    if (oneRef_)
      rowSums_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + SfaOneRefOffset(t)), SfaOneRefBytes(t) / sizeof(float));
    aSlots_.Init(2, 0);
    bSlots_.Init(2, 2);
    sAcc_.Init(1, 0);
    oAcc_.Init(outBufs_, 1);
    kvTiles_.Init(kSfaKvBuffers, 0);
  }

  __aicore__ inline void Process() {
    SfaTile cur, prev, next;
    PreloadQuery();
    if (!NextWork(cur)) {
      if (queryPending_) AscendC::WaitFlag<AscendC::HardEvent::MTE2_MTE1>(kEvQuery);
      return;
    }
    if (!queryPending_ || uint32_t(cur.info.row) != queryRow_) LoadQuery(uint32_t(cur.info.row));
    GatherBegin(cur, 0);
    GatherEnd(cur, 0, 0);
    uint32_t g = 0;
    for (;;) {
      const bool more = NextWork(next);
      // The next tile's copies start during Scores. A new row's query replaces this row's in L1
      // only after Scores; its rows do not need the query, so in a split launch (decode: few long
      // items, the cube's MTE2 the bound) they start during Scores too. With whole rows (prefill:
      // many short ones) they start after it: the scalar's reads of a new list would hold up
      // Scores' Mmads (prefill S = 1024 +1 %).
      const bool early = more && (!next.first || t_->numSplits > 0);
      if (early) GatherBegin(next, (g + 1) % kSfaKvBuffers);
      Scores(cur, g, !more && g == 0);
      if (t_->separateValue) LoadValue(cur, g % kSfaKvBuffers, g);
      if (more && next.first) LoadQuery(uint32_t(next.info.row));
      if (more && !early) GatherBegin(next, (g + 1) % kSfaKvBuffers);
      if (g > 0) Output(prev, g - 1);
      if (more) GatherOwnEnd(next, (g + 1) % kSfaKvBuffers);
      if (g > 0 && earlyWords_) ReadWords(prev);  // its GM miss overlaps the wait for the vector cores' rows
      if (more) GatherTakeSlot(next, (g + 1) % kSfaKvBuffers, g + 1);
      if (g > 0) OutputKept(prev, g - 1);
      if (!more) break;
      prev = cur;
      cur = next;
      ++g;
    }
    finalTile_ = true;
    Output(cur, g);
    OutputKept(cur, g);
    Drain(g + 1);
  }

 private:
  static constexpr uint32_t kL0Slot = 32 * 1024;                       // bytes: half of L0A / L0B
  static constexpr uint32_t kL0cBytes = 128 * 1024;  // L0C of A2 / A3: l0_c_size in the Ascend910B*.ini (ascendc_api.md §6)
  static constexpr uint32_t kMaxOutBufs = 4;                           // FIX_M event ids 1..4 (0: S)
  static constexpr int32_t kEvKept = 5;  // FIX_M: the kept chunks' fixpipe has read L0C
  static constexpr int32_t kEvWords = 0;  // MTE2 -> S: P is in L1, so the vector cores' rebase words are in GM
  static constexpr uint32_t kQueryPlaces = 4;  // q chunks a two-pass Scores keeps in L0A (QueryPlace)
  static constexpr int32_t kNoChunk = -1;
  static constexpr uint32_t kFractal = 256;                            // elements of a 16 x 16 fractal
  static constexpr int32_t kEvQuery = 3, kEvProbs = 4;                 // MTE2 <-> MTE1 event ids (0..2: kv tiles)
  static constexpr int32_t kEvOwnRows = 5;  // MTE2 -> MTE1: the cube's own rows of kv tile b are in (5 + b; OwnBlocks)
  static constexpr int32_t kEvKeyRead = 5;                             // MTE1 -> MTE2: Scores(g) loaded the key (5, 6 by g % 2)
  // L0A / L0B slots hold a [128 (N1), 128] q chunk, a [128 x 128] k chunk and P [N1, tileRows].
  static_assert(kSfaMaxTileRows * kSfaQkChunk * 2 <= kL0Slot && kSfaMaxHeads * kSfaMinTileRows * 2 <= kL0Slot, "L0 slots");

  // kv tile `buf`: Nz, 36 column blocks of tileRows rows (32 latent, then 4 rope).
  __aicore__ inline AscendC::LocalTensor<T> KvTile(uint32_t buf) { return kvL1_.Get<T>()[buf * rows_ * kSfaQkDim]; }
  // Where P of the tile in kv buffer `buf` goes in L1: the tile's rope columns when P fits there.
  __aicore__ inline AscendC::LocalTensor<T> ProbsL1(uint32_t buf) {
    return pInTile_ ? KvTile(buf)[kSfaLatentDim * rows_] : pL1_.Get<T>();
  }
  __aicore__ inline AscendC::LocalTensor<T> L0A(uint32_t s) { return l0a_.Get<T>()[s * kL0Slot / sizeof(T)]; }
  __aicore__ inline AscendC::LocalTensor<T> L0B(uint32_t s) { return l0b_.Get<T>()[s * kL0Slot / sizeof(T)]; }
  // L0C: S [mPad, tileRows] (i = 0), then the output chunks [mPad, 64] (i = 1 .. outBufs_; sharedS_:
  // in S's place).
  __aicore__ inline AscendC::LocalTensor<float> L0C(uint32_t i) {
    return l0c_.Get<float>()[i == 0 ? 0 : mPad_ * ((sharedS_ ? 0 : rows_) + (i - 1) * kSfaOutChunk)];
  }
  // Kept chunk k: after S and the streamed ones.
  __aicore__ inline AscendC::LocalTensor<float> KeptL0C(uint32_t k) {
    return l0c_.Get<float>()[mPad_ * (rows_ + ((sharedS_ ? 0 : outBufs_) + k) * kSfaOutChunk)];
  }
  // S's place in L0C: its own, or (sharedS_) every streamed buffer, once the chunks there have left.
  __aicore__ inline void AcquireS() {
    if (!sharedS_) {
      sAcc_.Acquire();
      return;
    }
    for (uint32_t o = 0; o < outBufs_; ++o) oAcc_.Acquire();
  }
  __aicore__ inline void ReleaseS() {
    if (!sharedS_) {
      sAcc_.Release(0);
      return;
    }
    for (uint32_t o = 0; o < outBufs_; ++o) oAcc_.Release(o);
  }

  // The next tile of this core's items. The vector cores post, in order, a work slot per item that
  // selects rows (item, count, the vector cores' rows of a full tile; its rows in the item's list),
  // then an end slot (item -1).
  __aicore__ inline bool NextWork(SfaTile& tile) {
    while (!cursor_.Next(tile)) {
      if (ended_) return false;
      AscendC::CrossCoreWaitFlag<2, PIPE_S>(kSfaFlagList);
      // Each slot sits alone in a 64-byte line this core never read before: no stale DataCache line.
      const uint64_t at = slot_++ * kSfaSlotWords;
      const int32_t item = slots_.GetValue(at);
      if (item < 0) {
        ended_ = true;
        return false;
      }
      const int32_t share = slots_.GetValue(at + 2);
      cursor_.Reset(uint32_t(item), plan_.Item(uint32_t(item)), uint32_t(slots_.GetValue(at + 1)), rows_,
                    uint32_t(share & ~kSfaSlotEarlyRows), (share & kSfaSlotEarlyRows) != 0);
      slotItem_ = item;
      slotRows_ = uint32_t(slots_.GetValue(at + 3));
      slotAt_ = at + kSfaSlotRowsAt;
    }
    return true;
  }

  // The query of this core's first item that attends anything, while the vector cores still select
  // its rows (the cube has nothing else to copy then). Process loads the right one if the first
  // posted item is another (this one selected no row).
  __aicore__ inline void PreloadQuery() {
    uint32_t first, last;
    plan_.CoreItems(first, last);
    for (uint32_t i = first; i < last; ++i) {
      const SfaItem item = plan_.Item(i);
      if (SfaPlan::Empty(item, plan_.Row(uint32_t(item.row)))) continue;
      LoadQuery(uint32_t(item.row));
      return;
    }
  }

  // q and q_rope of one query row -> L1, each q.k chunk (128 columns, the rope's 64) as L0A will hold
  // it: its row blocks one after another, each its column fractals in order (Zz). A chunk then goes
  // to L0A in one LoadData, not one per row block (MTE1 pays ~22 cycles a load).
  __aicore__ inline void LoadQuery(uint32_t row) {
    using namespace AscendC;
    if (queryPending_) WaitFlag<HardEvent::MTE2_MTE1>(kEvQuery);  // a preloaded row no tile used
    SetFlag<HardEvent::MTE1_MTE2>(kEvQuery);  // the previous row's q has reached L0A
    WaitFlag<HardEvent::MTE1_MTE2>(kEvQuery);
    queryRow_ = row;
    const uint32_t heads = t_->heads;
    const LocalTensor<T> q = qL1_.Get<T>();
    for (uint32_t col = 0; col < kSfaQkDim; col += kSfaQkChunk) {
      const bool rope = col >= kSfaLatentDim;
      const uint32_t width = rope ? kSfaRopeDim : kSfaQkChunk, stride = rope ? kSfaRopeDim : kSfaLatentDim;
      const GlobalTensor<T> src = rope ? queryRope_[uint64_t(row) * heads * kSfaRopeDim]
                                       : query_[uint64_t(row) * heads * kSfaLatentDim + col];
      CopyChunkZz(q[col * mPad_], src, heads, width, stride);
    }
    SetFlag<HardEvent::MTE2_MTE1>(kEvQuery);
    queryPending_ = true;
  }
  // [heads, width] of a row-major source (rows `stride` apart) -> dst in Zz: row block after row
  // block, each 16 rows x width as consecutive fractals (one ND2NZ matrix per full row block; the
  // last block's missing rows are not written: Mmad's m leaves them out).
  __aicore__ inline void CopyChunkZz(const AscendC::LocalTensor<T>& dst, const AscendC::GlobalTensor<T>& src,
                                     uint32_t heads, uint32_t width, uint32_t stride) {
    using namespace AscendC;
    const uint32_t full = heads / 16, rest = heads % 16;
    if (full > 0)
      DataCopy(dst, src, Nd2NzParams(uint16_t(full), 16, uint16_t(width), uint16_t(16 * stride), uint16_t(stride), 16, 1,
                                     uint16_t(16 * width)));
    if (rest > 0)
      DataCopy(dst[full * 16 * width], src[uint64_t(full) * 16 * stride],
               Nd2NzParams(1, uint16_t(rest), uint16_t(width), 0, uint16_t(stride), 16, 1, 0));
  }

  // Tile g's rows into L1 tile `buf`: the cube's share straight from the cache (GatherBegin, then
  // GatherSome as Output goes), the vector cores' share from gather slot g % 3 (sfa_gather.h), and
  // the zero padding (GatherEnd).
  __aicore__ inline void GatherBegin(const SfaTile& tile, uint32_t buf) {
    kvTiles_.Wait(buf);  // P . V of the tile that last used this buffer has loaded its operands
    gatherTile_ = tile;
    gatherBuf_ = buf;
    gatherRows_ = TileShares(tile, rows_).cube;
    rowsCopied_ = 0;
    run_ = SfaRun{};
  }
  // The cube's own rows up to `part` / kRowParts (kEarlyRowParts) of its share: one part after each
  // of Scores' 5 chunks, then after each of Output's first 4 (its later chunks and GatherEnd find them issued), so
  // that they are on MTE2 before P's copy, not behind it. GLM-5 decode, cycles. Sorted tiles
  // (kSfaSlotEarlyRows: fewer copies, MTE2 idles while it waits for P of the tile before), B = 64,
  // 8K: 13 parts 249,787, 8: 244,976 (5: 269,623, 7: 251,296, 9: 245,515, 10: 248,519); sfa-fixs2:
  // 8 244,925, 9 243,682, 10 244,612. A separate key_rope (two copies a row) over 8: B = 16, 32K
  // 93,863 -> 91,898, B = 64 8K 288,885 -> 277,390. Every other tile took 13 until stop 53 (52 copies
  // a tile crowded MTE2 at 8: B = 64 32K 255,059 -> 262,569); once MTE1 paid its measured cost a load,
  // 9 took B = 64 x 32K / 128K 246,141 / 247,202 -> 241,409 / 242,756 (32K at 8: 240,827, 10: 242,386,
  // 11: 243,047; B = 16 x 32K +0.4 %). With a copy per pair of rows (sfa-stride), 8 again: B = 64 x
  // 8K / 32K / 128K at 7 / 8 / 9 / 10: 230,423 / 229,950 / 232,464, 228,571 / 228,145 / 229,188,
  // 228,980 / 229,072 / 230,917, 229,885 / 230,398 / 231,487 (B = 16 +0.2 %, separate rope -0.4 %).
  // Once a core's first item took the vector cores' whole share, sorted tiles 7 (kEarlyRowParts;
  // 8 / 7 / 6: 226,136 / 226,528 / 227,316, 225,284 / 225,838 / 226,961, 232,428 / 234,983 /
  // 238,090), the others 8 (7: B = 16 +0.3 %, separate rope +0.8 %).
  static constexpr uint32_t kScoreChunks = CeilDiv(kSfaQkDim, kSfaQkChunk), kGatherParts = kScoreChunks + 8;
  static constexpr uint32_t kRowParts = 8, kEarlyRowParts = 7;
  static_assert(kSfaLatentDim / kSfaOutChunk == 8, "eight P . V chunks per tile");
  __aicore__ inline void GatherSome(uint32_t part) {
    if (gatherRows_ > 0) {
      const uint32_t parts = gatherTile_.earlyRows ? kEarlyRowParts : kRowParts;
      const uint32_t upTo = part >= parts ? gatherRows_ : gatherRows_ * part / parts;
      CopyRows<false>(gatherTile_, KvTile(gatherBuf_), upTo, run_, rowsCopied_);
    }
  }
  __aicore__ inline void GatherEnd(const SfaTile& tile, uint32_t buf, uint32_t g) {
    GatherOwnEnd(tile, buf);
    GatherTakeSlot(tile, buf, g);
  }
  // The cube's own rows of the tile: the rest of its copies.
  __aicore__ inline void GatherOwnEnd(const SfaTile& tile, uint32_t buf) {
    using namespace AscendC;
    GatherSome(kGatherParts);
    CopyRun<false>(KvTile(buf), run_);
    run_ = SfaRun{};
    gatherRows_ = 0;
    // The cube's own rows are in: Scores may start on their whole row blocks (OwnBlocks).
    if (OwnBlocks(tile) > 0) SetFlag<HardEvent::MTE2_MTE1>(kEvOwnRows + int32_t(buf));
  }
  // The vector cores' rows of the tile (their gather slot), once they are written; the padding rows.
  __aicore__ inline void GatherTakeSlot(const SfaTile& tile, uint32_t buf, uint32_t g) {
    using namespace AscendC;
    const LocalTensor<T> kv = KvTile(buf);
    const SfaShares share = TileShares(tile, rows_);
    // A one-reference piece (sfa-oneref): its row's first key as one more row, whose scores are the
    // piece's reference max (its cache row follows the list: SfaSelector::RefRow). The list line is
    // read before the wait for the vector cores' rows, so that its GM miss falls in that wait.
    refExtra_[buf] = false;
    if (OneRefTile(tile)) {
      const int32_t ref = lists_.GetValue(uint64_t(tile.item) * t_->listWords + tile.start + tile.rows);
      if (ref >= 0) {
        DataCopy(kv[tile.rows * 16], key_[uint64_t(ref) * kSfaQkDim], Nd2NzParams(1, 1, kSfaQkDim, 0, kSfaQkDim, rows_, 1, 0));
        refExtra_[buf] = true;
      }
    }
    if (t_->aivRows > 0) {
      CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagGathered);
      if (share.cube < tile.rows)
        DataCopy(kv[share.cube * 16], gatherSlots_[GatherSlot(g) + share.cube * kSfaQkDim],
                 Nd2NzParams(1, tile.rows - share.cube, kSfaQkDim, 0, kSfaQkDim, rows_, 1, 0));
      if (!t_->separateValue) CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagGatherFree);
    }
    // P . V reads whole 16-row fractals: zero the padding rows of the latent column blocks (stale
    // data could hold NaN, and 0 * NaN is NaN). The rope blocks only feed scores the vector masks.
    const uint32_t used = ScoredRows(tile, buf), pad = AlignUp(used, 16) - used;
    if (pad > 0)
      InitConstValue(kv[used * 16], InitConstValueParams<T>(kSfaLatentDim / 16, pad, rows_ - pad, static_cast<T>(0.0f)));
    SetFlag<HardEvent::MTE2_MTE1>(int32_t(buf));
  }

  // A separate value: once Scores has loaded the key's columns, the value rows take the latent
  // columns of the tile (their zeroed padding rows stay) for Output.
  __aicore__ inline void LoadValue(const SfaTile& tile, uint32_t buf, uint32_t g) {
    using namespace AscendC;
    WaitFlag<HardEvent::MTE1_MTE2>(kEvKeyRead + int32_t(g % 2));
    const LocalTensor<T> kv = KvTile(buf);
    const SfaShares share = TileShares(tile, rows_);
    SfaRun run;
    uint32_t done = 0;
    CopyRows<true>(tile, kv, share.cube, run, done);
    CopyRun<true>(kv, run);
    if (t_->aivRows > 0) {
      if (share.cube < tile.rows)
        DataCopy(kv[share.cube * 16], gatherSlots_[GatherSlot(g) + rows_ * kSfaQkDim + share.cube * kSfaLatentDim],
                 Nd2NzParams(1, tile.rows - share.cube, kSfaLatentDim, 0, kSfaLatentDim, rows_, 1, 0));
      CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagGatherFree);
    }
    SetFlag<HardEvent::MTE2_MTE1>(int32_t(buf));
  }

  __aicore__ inline uint64_t GatherSlot(uint32_t g) const { return uint64_t(g % kSfaGatherSlots) * (t_->gatherSlotBytes / sizeof(T)); }

  // The largest step (SfaRun) of an ND2NZ copy of cache rows `width` elements wide: its source row
  // stride (srcDValue) counts elements in 16 bits (随路转换ND2NZ搬运.md: srcDValue in [1, 65535]).
  __aicore__ inline static uint32_t MaxStep(uint32_t width) { return 65535u / width; }
  // Entry i of item's list: from the work slot's line when the slot carries it (no list line read).
  __aicore__ inline int32_t ListEntry(uint32_t item, uint32_t i) const {
    if (int32_t(item) == slotItem_ && i < slotRows_) return slots_.GetValue(slotAt_ + i);
    return lists_.GetValue(uint64_t(item) * t_->listWords + i);
  }
  // Tile rows [done, rows), one copy per SfaRun: key latent + rope columns, or (kValue) value latent
  // columns. The last run stays open in `run` (the caller copies it).
  template <bool kValue>
  __aicore__ inline void CopyRows(const SfaTile& tile, const AscendC::LocalTensor<T>& kv, uint32_t rows, SfaRun& run,
                                  uint32_t& done) {
    const uint32_t maxStep = MaxStep(CacheRowWidth());
    for (; done < rows; ++done) {
      // The tile's own item list (LoadValue copies the value rows of a tile after NextWork has
      // moved on to the next item).
      const uint64_t row = uint32_t(ListEntry(tile.item, tile.start + done));
      if (run.Extend(row, maxStep)) continue;
      CopyRun<kValue>(kv, run);
      run = SfaRun{done, 1, 1, row};
    }
  }
  // Elements from one cache row to the next in key and value (a separate value has key's layout):
  // the widest row stride of the copies (the rope's is 64).
  __aicore__ inline uint32_t CacheRowWidth() const { return t_->combinedKv ? kSfaQkDim : kSfaLatentDim; }

  // Cache rows run.row + i run.step -> tile rows run.start + i, i < run.len.
  template <bool kValue>
  __aicore__ inline void CopyRun(const AscendC::LocalTensor<T>& kv, const SfaRun& run) {
    using namespace AscendC;
    const uint32_t n = run.len, tileRow = run.start, step = run.step;
    const uint64_t cacheRow = run.row;
    if (n == 0) return;
    if (!kValue && t_->combinedKv) {  // latent and rope of a row side by side: both in one copy
      DataCopy(kv[tileRow * 16], key_[cacheRow * kSfaQkDim],
               Nd2NzParams(1, n, kSfaQkDim, 0, uint16_t(step * kSfaQkDim), rows_, 1, 0));
      return;
    }
    if (kValue) {  // a separate value has key's layout: rows 576 wide (latent first) with combinedKv
      const uint32_t stride = CacheRowWidth();
      DataCopy(kv[tileRow * 16], value_[cacheRow * stride], Nd2NzParams(1, n, kSfaLatentDim, 0, uint16_t(step * stride), rows_, 1, 0));
      return;
    }
    DataCopy(kv[tileRow * 16], key_[cacheRow * kSfaLatentDim],
             Nd2NzParams(1, n, kSfaLatentDim, 0, uint16_t(step * kSfaLatentDim), rows_, 1, 0));
    DataCopy(kv[kSfaLatentDim * rows_ + tileRow * 16], keyRope_[cacheRow * kSfaRopeDim],
             Nd2NzParams(1, n, kSfaRopeDim, 0, uint16_t(step * kSfaRopeDim), rows_, 1, 0));
  }

  // Row blocks of a tile that hold only the cube's own rows, where Scores may run in two passes: those
  // blocks while the gather slot's copy is still in flight, then the rest. In a split launch (decode)
  // whose vector cores gather, a core whose only tile this is waits for that copy from its start
  // (GLM-5 decode B = 1, 32K: one pass +604 cycles).
  // An item's last tile (the core's last is one) outside the sorted tiles of kSfaSlotEarlyRows
  // (B = 64, 8K: +1.0 % with them) signals its own rows apart, as the gather cannot tell yet whether
  // it is the core's only tile; Scores takes two passes on it only if it is (onlyTile).
  __aicore__ inline uint32_t OwnBlocks(const SfaTile& tile) const {
    if (t_->numSplits == 0 || t_->aivRows == 0 || tile.earlyRows || !tile.last) return 0;
    const uint32_t own = TileShares(tile, rows_).cube / 16;
    return own < CeilDiv(tile.rows, 16) ? own : 0;
  }

  // onlyTile: the core's one tile, which Scores takes in two passes (OwnBlocks); every other tile
  // waits for both of its flags and takes one. Two passes cost more MTE1 and Mmad heads than they
  // overlap: at B = 64, 8K +1.5 %; at B = 64, 32K, once MTE1 paid its measured cost a load, 8.3 %
  // more on every tile; on a B = 16 core's last tile +1.1 %, its second pass alone longer than one
  // pass over the whole tile (2.65K against 1.85K cycles: sfa-onepass).
  __aicore__ inline void Scores(const SfaTile& tile, uint32_t g, bool onlyTile) {
    using namespace AscendC;
    const uint32_t buf = g % kSfaKvBuffers, n1 = CeilDiv(ScoredRows(tile, buf), 16), own = OwnBlocks(tile);
    const uint32_t first = onlyTile ? own : 0;  // row blocks scored before the gather slot lands
    if (own > 0) WaitFlag<HardEvent::MTE2_MTE1>(kEvOwnRows + int32_t(buf));
    if (first == 0) WaitFlag<HardEvent::MTE2_MTE1>(int32_t(buf));
    if (queryPending_) {
      WaitFlag<HardEvent::MTE2_MTE1>(kEvQuery);
      queryPending_ = false;
    }
    AcquireS();
    const LocalTensor<float> s = L0C(0);
    for (uint32_t i = 0; i < kQueryPlaces; ++i) queryIn_[i] = kNoChunk;  // no chunk of this Scores' q in L0A yet
    if (first > 0) {
      ScoreBlocks(buf, 0, first, true);
      WaitFlag<HardEvent::MTE2_MTE1>(int32_t(buf));  // the gather slot's rows and the padding
    }
    ScoreBlocks(buf, first, n1, first > 0);
    // LoadValue (a separate value) or Output (P into the rope columns) may overwrite the key.
    if (t_->separateValue || pInTile_) SetFlag<HardEvent::MTE1_MTE2>(kEvKeyRead + int32_t(g % 2));
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    if (g >= 2) CrossCoreWaitFlag<2, PIPE_FIX>(kSfaFlagScoresFree);  // both AIVs copied tile g-2 out
    Fixpipe(sRing_[(g % 2) * (t_->wsSlotS / sizeof(float))], s,
            FixpipeParamsV220(n1 * 16, t_->heads, mPad_, rows_, false));
    CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagScores);
    ReleaseS();
  }

  // S columns of row blocks [b0, b1) of kv tile `buf`: 5 Mmads over the 576 columns (128 a chunk)
  // into S's column blocks b0.. (L0C keeps S's column blocks mPad_ x 16 apart); after each chunk a
  // part of the next tile's own rows (GatherSome; a second pass repeats the parts the first issued).
  // The passes of a two-pass Scores put q's chunks in QueryPlace's places when a chunk fills at most
  // half an L0A slot: the second pass then finds 3 of the 5 still there and does not load them again.
  // A pass loads K 256 columns at a time where they fit an L0B slot (at most 4 row blocks), each
  // load a row block's fractals of 16 column blocks: half the loads of 128 columns (GLM-5 decode
  // B = 1: passes of 3 and 4 row blocks, 35 K loads -> 21, 15,502 -> 15,188 cycles at 32K
  // with K first). The two Mmads of such a load read its halves; q stays in 128-column chunks.
  __aicore__ inline void ScoreBlocks(uint32_t buf, uint32_t b0, uint32_t b1, bool split) {
    using namespace AscendC;
    const uint32_t nb = b1 - b0;
    const bool placed = split && halfSlotQuery_;
    const uint32_t kWidth = split && nb * 16 * 2 * kSfaQkChunk * sizeof(T) <= kL0Slot ? 2 * kSfaQkChunk : kSfaQkChunk;
    const LocalTensor<T> kv = KvTile(buf), q = qL1_.Get<T>();
    const LocalTensor<float> s = L0C(0)[b0 * mPad_ * 16];
    for (uint32_t kCol = 0; kCol < kSfaQkDim; kCol += kWidth) {
      const uint32_t kcb = kCol / 16, kkb = (kSfaQkDim - kCol < kWidth ? kSfaQkDim - kCol : kWidth) / 16;
      const uint32_t b = bSlots_.Acquire();
      const LocalTensor<T> kt = L0B(b);
      // K before q where a core has about one tile (early merge: decode B = 1) or K is 256 columns
      // (the second q chunk then loads under the first Mmad): B = 1 x 32K 15,292 -> 15,188 cycles.
      // Elsewhere q first, as the tile loop always did (B = 16 / 64: K first moved them -0.05 to +0.2 %).
      const bool keysFirst = kkb * 16 > kSfaQkChunk || earlyMerge_;
      if (keysFirst) LoadKeys(kt, kv, kcb, kkb, b0, nb, split);
      for (uint32_t col = kCol; col < kCol + kkb * 16; col += kSfaQkChunk) {
        const uint32_t cb = col / 16, kb = (kSfaQkDim - col < kSfaQkChunk ? kSfaQkDim - col : kSfaQkChunk) / 16;
        const uint32_t chunk = col / kSfaQkChunk, place = placed ? QueryPlace(chunk) : 0;
        const uint32_t a = placed ? place % 2 : aSlots_.Acquire();
        if (placed) aSlots_.Wait(a);
        const LocalTensor<T> qa = L0A(a)[place / 2 * (kL0Slot / 2 / sizeof(T))];
        if (!placed || queryIn_[place] != int32_t(chunk))  // the chunk is Zz in L1 (LoadQuery): one load
          LoadData(qa, q, LoadData2DParams(cb * m1_, uint8_t(m1_ * kb), 1, 0, 0, false, 0));
        if (placed) queryIn_[place] = int32_t(chunk);
        if (!keysFirst) LoadKeys(kt, kv, kcb, kkb, b0, nb, split);
        SetFlag<HardEvent::MTE1_M>(0);
        WaitFlag<HardEvent::MTE1_M>(0);
        // K's Zn fractals run column block by column block, nb each: this chunk's start at (cb - kcb) nb.
        Mmad(s, qa, kt[(cb - kcb) * nb * kFractal], MmadParams(MmadM(t_->heads), nb * 16, kb * 16, 0, false, col == 0));
        aSlots_.Release(a);
        if (col + kSfaQkChunk >= kCol + kkb * 16) bSlots_.Release(b);
        GatherSome(col / kSfaQkChunk + 1);
      }
    }
  }
  // K^T's column blocks [kcb, kcb + kkb) of row blocks [b0, b0 + nb) of a kv tile into L0B: its Nz
  // fractals are k^T's Zn fractals (a full tile's column blocks at once).
  __aicore__ inline void LoadKeys(const AscendC::LocalTensor<T>& kt, const AscendC::LocalTensor<T>& kv, uint32_t kcb,
                                  uint32_t kkb, uint32_t b0, uint32_t nb, bool split) {
    using namespace AscendC;
    if (nb == rowBlocks_)
      LoadData(kt, kv, LoadData2DParams(kcb * rowBlocks_, uint8_t(kkb * nb), 1, 0, 0, false, 0));
    else if (split && nb < kkb)  // a pass: per row block, its fractal of each column block (fewer
                                 // MTE1 instructions, which the scalar would otherwise stall on)
      for (uint32_t i = 0; i < nb; ++i)
        LoadData(kt[i * kFractal], kv, LoadData2DParams(kcb * rowBlocks_ + b0 + i, uint8_t(kkb), uint16_t(rowBlocks_), 0,
                                                         uint16_t(nb - 1), false, 0));
    else
      for (uint32_t j = 0; j < kkb; ++j)
        LoadData(kt[j * nb * kFractal], kv, LoadData2DParams((kcb + j) * rowBlocks_ + b0, nb, 1, 0, 0, false, 0));
  }
  // Where a two-pass Scores keeps q's chunk: places 0..3 are the halves of the two L0A slots (slot
  // place % 2, half place / 2), so that consecutive chunks alternate slots as the ring's do. Chunks
  // 0..3 take their own, the rope chunk 4 chunk 2's: the second pass reloads chunks 2 and 4 only.
  __aicore__ inline static uint32_t QueryPlace(uint32_t chunk) { return chunk < kQueryPlaces ? chunk : 2 + chunk % 2; }

  __aicore__ inline void Output(const SfaTile& tile, uint32_t g) {
    using namespace AscendC;
    const uint32_t buf = g % kSfaKvBuffers, n1 = CeilDiv(tile.rows, 16);
    CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagProbs);  // both AIVs wrote their heads' P
    if (t_->separateValue) WaitFlag<HardEvent::MTE2_MTE1>(int32_t(buf));  // LoadValue's rows are in
    // P into the tile's rope columns: after Scores(g) has loaded them (a separate value's LoadValue
    // already waited for that, earlier on this pipe).
    else if (pInTile_) WaitFlag<HardEvent::MTE1_MTE2>(kEvKeyRead + int32_t(g % 2));
    const LocalTensor<T> p = ProbsL1(buf), kv = KvTile(buf);
    DataCopy(p, pRing_[(g % 2) * (t_->wsSlotP / sizeof(T))],
             Nd2NzParams(1, t_->heads, n1 * 16, 0, rows_, mPad_, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(kEvProbs);
    WaitFlag<HardEvent::MTE2_MTE1>(kEvProbs);
    const bool readWords = keepChunks_ > 0 && !tile.first;  // a rebase happens only after an item's first tile
    const bool oneRef = OneRefTile(tile);
    if (readWords || oneRef) SetFlag<HardEvent::MTE2_S>(kEvWords);
    // O^T (OutT): P^T -> L0B in one load (P's Nz fractals, row block by head block, are P^T's Zn
    // order); else P -> L0A, one load a head block.
    const bool ot = OutT(tile);
    const uint32_t a = ot ? bSlots_.Acquire() : aSlots_.Acquire();
    const LocalTensor<T> pa = ot ? L0B(a) : L0A(a);
    if (ot) LoadData(pa, p, LoadData2DParams(0, uint8_t(n1 * m1_), 1, 0, 0, false, 0));
    else
      for (uint32_t mb = 0; mb < m1_; ++mb)
        LoadData(pa[mb * n1 * kFractal], p, LoadData2DParams(mb, n1, m1_, 0, 0, false, 0));
    if (!pInTile_) {  // P's own L1 buffer is refilled next tile (in a kv tile: the next gather waits)
      SetFlag<HardEvent::MTE1_MTE2>(kEvProbs);
      WaitFlag<HardEvent::MTE1_MTE2>(kEvProbs);
    }
    // The item's P . V sum builds up in GM: its first tile is written, every later one added by the
    // fixpipe (SetAtomicAdd.md: L0C -> GM copies add while set), into its piece's acc or, for a whole
    // row, O ring slot item % 2 (the vector cores read it after the last tile: SfaAccSlot).
    // A seeded item adds into its B's acc from its first tile on (SfaSeeded).
    if (tile.first) itemParity_ ^= 1;
    const bool piece = tile.info.piece >= 0, add = !tile.first || SfaSeeded(tile.info.piece);
    const AscendC::GlobalTensor<float> dst = SfaSumsInPiece(tile.info.piece) ? pieces_ : oRing_;
    const uint64_t oSlot = OutSlot(tile);
    if (add) SetAtomicAdd<float>();
    for (uint32_t col = keptCols_; col < kSfaLatentDim; col += kSfaOutChunk) {
      const uint32_t b = ot ? aSlots_.Acquire() : bSlots_.Acquire();
      const uint32_t o = MulV(tile, pa, b, kv, col, n1, true);
      // Both AIVs are done with tile g-2 (a whole row's ring slot is rewritten by the item after next).
      if (col == keptCols_ && g >= 2) CrossCoreWaitFlag<2, PIPE_FIX>(kSfaFlagOutFree);
      if (oneRef && col == keptCols_) ReadTrips(tile);  // its GM miss while MTE1 and M work on the chunk
      if (oneRef) FixOneRef(tile, L0C(1 + o), col);
      else FixChunk(dst[oSlot], L0C(1 + o), col, kSfaLatentDim, ot);
      if (ChunksFlagged(tile)) CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagStreamed);
      oAcc_.Release(o);
      GatherSome(kScoreChunks + (col - keptCols_) / kSfaOutChunk + 1);  // the next tile's own rows, a part per chunk
    }
    if (add) SetAtomicNone();
    // A piece's streamed columns are final: its vector cores post them for an early merge.
    if (earlyMerge_ && tile.last && piece && !oneRef) CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagStreamed);
    outA_ = a;
  }
  // Whether tile flags each of its P . V chunks but the last as it leaves L0C (kSfaFlagStreamed; the
  // last is kSfaFlagOut), in Output's order then OutputKept's: the core's last tile where it sums
  // into a piece slot (SfaFinalChunks: a seeded piece at decode B = 64).
  __aicore__ inline bool ChunksFlagged(const SfaTile& tile) const {
    return finalChunks_ && finalTile_ && SfaSumsInPiece(tile.info.piece);
  }
  // Whether tile's item sums O^T (SfaItemOutT): its P . V is V^T P^T.
  __aicore__ inline bool OutT(const SfaTile& tile) const { return outT_ && tile.info.piece == kSfaWholeRow; }
  // One 64-column chunk of P . V into L0C: into the next streamed buffer (stream, returned) or kept
  // chunk col / 64 (init: its first tile). pa: P (L0A) or P^T (L0B, OutT); b: the other operand's
  // slot (V in L0B, or V^T in L0A), released here.
  __aicore__ inline uint32_t MulV(const SfaTile& tile, const AscendC::LocalTensor<T>& pa, uint32_t b,
                                  const AscendC::LocalTensor<T>& kv, uint32_t col, uint32_t n1, bool stream) {
    using namespace AscendC;
    const bool ot = OutT(tile);
    if (ot) LoadVt(L0A(b), kv, col, n1);
    else LoadV(L0B(b), kv, col, n1);
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    const uint32_t o = stream ? oAcc_.Acquire() : 0;
    const LocalTensor<float> acc = stream ? L0C(1 + o) : KeptL0C(col / kSfaOutChunk);
    const bool init = stream || tile.first;
    if (ot) {
      Mmad(acc, L0A(b), pa, MmadParams(kSfaOutChunk, uint16_t(t_->heads), n1 * 16, 0, false, init));
      aSlots_.Release(b);
    } else {
      if (vBlocks_)  // LoadV's [rows, 16] matrices: one Mmad each into its column block of acc (L0C
                     // keeps C's column blocks mPad_ x 16 apart)
        for (uint32_t j = 0; j < kSfaOutChunk / 16; ++j)
          Mmad(acc[j * mPad_ * 16], pa, L0B(b)[j * n1 * kFractal], MmadParams(MmadM(t_->heads), 16, n1 * 16, 0, false, init));
      else
        Mmad(acc, pa, L0B(b), MmadParams(MmadM(t_->heads), kSfaOutChunk, n1 * 16, 0, false, init));
      bSlots_.Release(b);
    }
    if (stream) {
      SetFlag<HardEvent::M_FIX>(0);
      WaitFlag<HardEvent::M_FIX>(0);
    }
    return o;
  }
  // L0C chunk `acc` of latent columns [col, col + 64) -> the sum at dst: O (rows of `stride` floats)
  // or O^T (ot: [512, N1], the chunk's rows at col x N1).
  __aicore__ inline void FixChunk(const AscendC::GlobalTensor<float>& dst, const AscendC::LocalTensor<float>& acc,
                                  uint32_t col, uint32_t stride, bool ot) {
    using namespace AscendC;
    if (ot) Fixpipe(dst[uint64_t(col) * t_->heads], acc, FixpipeParamsV220(t_->heads, kSfaOutChunk, kSfaOutChunk, t_->heads, false));
    else Fixpipe(dst[col], acc, FixpipeParamsV220(kSfaOutChunk, t_->heads, mPad_, stride, false));
  }
  // Output's kept chunks, after the next tile's GatherEnd: the scalar's read of the rebase words
  // (a GM miss) then waits with the whole next tile's copies queued on MTE2, not before them.
  __aicore__ inline void OutputKept(const SfaTile& tile, uint32_t g) {
    using namespace AscendC;
    const uint32_t buf = g % kSfaKvBuffers, n1 = CeilDiv(tile.rows, 16), a = outA_;
    const bool ot = OutT(tile);
    const LocalTensor<T> pa = ot ? L0B(a) : L0A(a), kv = KvTile(buf);
    const bool piece = tile.info.piece >= 0, seeded = SfaSeeded(tile.info.piece);
    const AscendC::GlobalTensor<float> dst = SfaSumsInPiece(tile.info.piece) ? pieces_ : oRing_;
    const uint64_t oSlot = OutSlot(tile);
    // Kept columns [0, keptCols): summed in L0C over the item's tiles, written (not added) at its
    // last; a seeded item's added to its B's.
    // A vector core that rebased at this tile (its word, written before P) needs the sum of the tiles
    // before it: a snapshot of it goes to slot g % 2 first (sfa_vector.h UpdateCorrection).
    if (!wordsRead_) ReadWords(tile);
    wordsRead_ = false;
    if (rebased_) {
      SetFlag<HardEvent::M_FIX>(0);  // tile g-1's kept Mmads are done
      WaitFlag<HardEvent::M_FIX>(0);
      FixKept(kept_[uint64_t(g % 2) * t_->heads * keptCols_], keptCols_, 0, keepChunks_, ot);
      FixKeptDone();
    }
    if (keptPending_) {
      WaitFlag<HardEvent::FIX_M>(kEvKept);
      keptPending_ = false;
    }
    // At the item's last tile each kept chunk leaves L0C as soon as its Mmads are done, so that the
    // fixpipe overlaps the next chunks' loads and Mmads (sfa-keptflush). An early-merged piece takes
    // its upper kept half first and flags it, so that the merge weighs it while the lower half is
    // written.
    const uint32_t half = earlyMerge_ && piece && !OneRefTile(tile) ? keepChunks_ / 2 : 0;
    const bool flush = keepChunks_ > 0 && tile.last;
    if (flush && seeded) SetAtomicAdd<float>();
    for (uint32_t i = 0; i < keepChunks_; ++i) {
      const uint32_t k = (i + half) % keepChunks_;
      MulV(tile, pa, ot ? aSlots_.Acquire() : bSlots_.Acquire(), kv, k * kSfaOutChunk, n1, false);
      if (!flush) continue;
      SetFlag<HardEvent::M_FIX>(0);  // chunk k's Mmads are done
      WaitFlag<HardEvent::M_FIX>(0);
      if (OneRefTile(tile)) FixOneRef(tile, KeptL0C(k), k * kSfaOutChunk);
      else FixKept(dst[oSlot], kSfaLatentDim, k, k + 1, ot);
      if (half > 0 && i + 1 == keepChunks_ - half) CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagKeptHigh);
      if (ChunksFlagged(tile) && i + 1 < keepChunks_) CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagStreamed);
    }
    if (flush) {
      if (seeded) SetAtomicNone();
      FixKeptDone();
    }
    if (ot) bSlots_.Release(a);
    else aSlots_.Release(a);
    kvTiles_.Release(buf);
    CrossCoreSetFlag<2, PIPE_FIX>(kSfaFlagOut);
  }

  // B = V[rows, col:col+64]. A Zn fractal (k1 = row block) of column block j is the transpose of the
  // kv Nz fractal (j, k1), and the kv tile holds a column block's row fractals together. As one
  // [rows, 64] matrix (its k blocks outer): a load a column block, to every 4th L0B fractal from j
  // (dstGap 3: 512-B units, LoadData.md). As four [rows, 16] matrices one after another (vBlocks_,
  // an Mmad each): a full tile's are 32 consecutive fractals, one load (MTE1 pays ~22 cycles a load).
  __aicore__ inline void LoadV(const AscendC::LocalTensor<T>& v, const AscendC::LocalTensor<T>& kv, uint32_t col, uint32_t n1) {
    constexpr uint32_t outBlocks = kSfaOutChunk / 16;
    if (vBlocks_ && n1 == rowBlocks_) {
      AscendC::LoadData(v, kv, AscendC::LoadData2DParams(col / 16 * rowBlocks_, uint8_t(outBlocks * n1), 1, 0, 0, true, 0));
      return;
    }
    for (uint32_t j = 0; j < outBlocks; ++j)
      AscendC::LoadData(v[j * (vBlocks_ ? n1 : 1) * kFractal], kv,
                        AscendC::LoadData2DParams((col / 16 + j) * rowBlocks_, uint8_t(n1), 1, 0,
                                                  uint16_t(vBlocks_ ? 0 : outBlocks - 1), true, 0));
  }
  // The kept chunks -> dst, rows of `stride` floats (plain writes); the next Mmad into them waits.
  // Kept chunks [k0, k1) -> dst (row stride `stride`); FixKeptDone once every chunk is issued.
  // ot: O^T chunks (FixChunk).
  __aicore__ inline void FixKept(const AscendC::GlobalTensor<float>& dst, uint32_t stride, uint32_t k0, uint32_t k1, bool ot) {
    for (uint32_t k = k0; k < k1; ++k) FixChunk(dst, KeptL0C(k), k * kSfaOutChunk, stride, ot);
  }
  // A = V^T[col:col+64, rows] in L0A (Zz): kv's Nz fractals (column block, row block) are V^T's in
  // Zz order, each transposed on the way (Load2D.md: A1 -> A2 transposes 16-bit fractals): one load
  // for a full tile, else one a column block.
  __aicore__ inline void LoadVt(const AscendC::LocalTensor<T>& vt, const AscendC::LocalTensor<T>& kv, uint32_t col, uint32_t n1) {
    constexpr uint32_t outBlocks = kSfaOutChunk / 16;
    if (n1 == rowBlocks_) {
      AscendC::LoadData(vt, kv, AscendC::LoadData2DParams(col / 16 * rowBlocks_, uint8_t(outBlocks * n1), 1, 0, 0, true, 0));
      return;
    }
    for (uint32_t j = 0; j < outBlocks; ++j)
      AscendC::LoadData(vt[j * n1 * kFractal], kv, AscendC::LoadData2DParams((col / 16 + j) * rowBlocks_, uint8_t(n1), 1, 0, 0, true, 0));
  }
  __aicore__ inline void FixKeptDone() {
    AscendC::SetFlag<AscendC::HardEvent::FIX_M>(kEvKept);
    keptPending_ = true;
  }
  // Where the item's P . V sum of `tile` goes: its piece's acc (a seeded item's B's), or O ring slot
  // itemParity_.
  __aicore__ inline uint64_t OutSlot(const SfaTile& tile) const {
    return SfaSumsInPiece(tile.info.piece) ? uint64_t(SfaSumSlot(tile.info.piece)) * (t_->pieceBytes / sizeof(float))
                                           : itemParity_ * (t_->wsSlotO / sizeof(float));
  }
  // A piece of a one-reference launch (sfa-oneref: SfaOneRef in sparse_flash_attention_tiling.h):
  // its only tile scores its row's first key too, and its P . V goes to the row's sum.
  __aicore__ inline bool OneRefTile(const SfaTile& tile) const { return oneRef_ && tile.info.piece >= 0; }
  // Rows Scores covers in kv tile `buf`: the tile's, and its row's first key after them.
  __aicore__ inline uint32_t ScoredRows(const SfaTile& tile, uint32_t buf) const { return tile.rows + (refExtra_[buf] ? 1 : 0); }
  // Each vector core's word of the tile (sfa_vector.h Probabilities): 1 if its heads keep their own
  // reference (tripped), so their rows of P . V go to the piece's own acc, not the row's sum.
  __aicore__ inline void ReadTrips(const SfaTile& tile) {
    AscendC::WaitFlag<AscendC::HardEvent::MTE2_S>(kEvWords);
    const uint64_t line = WordLine(tile);
    tripped_[0] = words_.GetValue(line) != 0;
    tripped_[1] = words_.GetValue(line + kSfaWordLineInts / 2) != 0;
  }
  // Chunk `acc` (latent columns [col, col + 64)) of a one-reference piece: each vector core's heads
  // added into the row's sum (SetAtomicAdd.md: L0C -> GM copies add while set), or written to the
  // piece's acc where tripped; one fixpipe when both go the same way.
  __aicore__ inline void FixOneRef(const SfaTile& tile, const AscendC::LocalTensor<float>& acc, uint32_t col) {
    const uint32_t half = t_->heads / 2;
    const AscendC::GlobalTensor<float> own = pieces_[OutSlot(tile)];
    const AscendC::GlobalTensor<float> row = rowSums_[SfaOneRefSum(*t_, uint32_t(tile.info.piece) / SfaPieceGroup(*t_))];
    if (tripped_[0] == tripped_[1]) {
      FixRows(tripped_[0] ? own : row, acc, col, 0, t_->heads, !tripped_[0]);
      return;
    }
    for (uint32_t s = 0; s < 2; ++s) FixRows(tripped_[s] ? own : row, acc, col, s * half, half, !tripped_[s]);
  }
  // Rows [r0, r0 + m) of an output chunk in L0C (rows 16 floats apart in each column block) -> dst.
  __aicore__ inline void FixRows(const AscendC::GlobalTensor<float>& dst, const AscendC::LocalTensor<float>& acc, uint32_t col,
                                 uint32_t r0, uint32_t m, bool add) {
    using namespace AscendC;
    if (add) SetAtomicAdd<float>();
    Fixpipe(dst[uint64_t(r0) * kSfaLatentDim + col], acc[r0 * 16], FixpipeParamsV220(kSfaOutChunk, m, mPad_, kSfaLatentDim, false));
    if (add) SetAtomicNone();
  }

  // Whether a vector core rebased at `tile` (its rebase words, for OutputKept): a scalar GM read, a
  // miss (the words' line is the tile's own), so Process issues it where the scalar waits anyway.
  __aicore__ inline void ReadWords(const SfaTile& tile) {
    wordsRead_ = true;
    rebased_ = false;
    if (keepChunks_ == 0 || tile.first) return;
    AscendC::WaitFlag<AscendC::HardEvent::MTE2_S>(kEvWords);
    const uint64_t line = WordLine(tile);
    rebased_ = words_.GetValue(line) != 0 || words_.GetValue(line + kSfaWordLineInts / 2) != 0;
  }
  // The line of rebase words of a tile: one per (item, tile of the item).
  __aicore__ inline uint64_t WordLine(const SfaTile& tile) const {
    return (uint64_t(tile.item) * itemTiles_ + tile.start / rows_) * kSfaWordLineInts;
  }

  // Takes back the last tiles' "free" signals and every pending in-core event.
  __aicore__ inline void Drain(uint32_t tiles) {
    for (uint32_t i = 0; i < (tiles < 2 ? tiles : 2); ++i) {
      AscendC::CrossCoreWaitFlag<2, PIPE_FIX>(kSfaFlagScoresFree);
      AscendC::CrossCoreWaitFlag<2, PIPE_FIX>(kSfaFlagOutFree);
    }
    aSlots_.Drain();
    bSlots_.Drain();
    sAcc_.Drain();
    oAcc_.Drain();
    kvTiles_.Drain();
    if (keptPending_) AscendC::WaitFlag<AscendC::HardEvent::FIX_M>(kEvKept);
    keptPending_ = false;
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  SfaPlan plan_;
  SfaTileCursor cursor_;
  uint64_t slot_ = 0;
  bool ended_ = false;
  uint32_t m1_ = 0, mPad_ = 0, rows_ = kSfaMinTileRows, rowBlocks_ = kSfaMinTileRows / 16;
  bool queryPending_ = false, pInTile_ = false;
  uint32_t queryRow_ = 0;  // the query row in L1
  uint32_t outA_ = 0;  // Output's L0A slot of P (L0B of P^T: OutT), held until OutputKept
  bool outT_ = false;  // SfaOutT: whole rows' sums are O^T
  bool vBlocks_ = false;  // P . V's V as [rows, 16] matrices, one Mmad each (LoadV)
  bool halfSlotQuery_ = false;  // a q chunk [mPad_, 128] fills at most half an L0A slot (N1 <= 64)
  int32_t queryIn_[kQueryPlaces] = {kNoChunk, kNoChunk, kNoChunk, kNoChunk};  // the q chunk in each place, this Scores
  uint32_t itemParity_ = 1;  // parity of the item Output works on (toggled at its first tile)
  SfaTile gatherTile_;  // the tile being gathered (GatherBegin .. GatherEnd), its buffer, the cube's rows
  uint32_t gatherBuf_ = 0, gatherRows_ = 0, rowsCopied_ = 0;
  SfaRun run_;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::A1> qL1_, pL1_;
  AscendC::TBuf<AscendC::TPosition::B1> kvL1_;
  AscendC::TBuf<AscendC::TPosition::A2> l0a_;
  AscendC::TBuf<AscendC::TPosition::B2> l0b_;
  AscendC::TBuf<AscendC::TPosition::CO1> l0c_;
  EventSlots<AscendC::HardEvent::M_MTE1> aSlots_, bSlots_;
  EventSlots<AscendC::HardEvent::FIX_M, kMaxOutBufs> sAcc_, oAcc_;
  uint32_t outBufs_ = 2, keepChunks_ = 0, keptCols_ = 0, itemTiles_ = 0;
  bool keptPending_ = false, earlyMerge_ = false, sharedS_ = false;
  bool finalChunks_ = false, finalTile_ = false;  // SfaFinalChunks; Process is at the core's last tile
  EventSlots<AscendC::HardEvent::MTE1_MTE2> kvTiles_;
  AscendC::GlobalTensor<T> query_, queryRope_, key_, value_, keyRope_, pRing_, gatherSlots_;
  AscendC::GlobalTensor<int32_t> slots_, lists_;
  int32_t slotItem_ = -1;  // the last work slot's item, its carried list entries and where they start
  uint32_t slotRows_ = 0;
  uint64_t slotAt_ = 0;
  AscendC::GlobalTensor<float> sRing_, oRing_, pieces_, kept_;
  AscendC::GlobalTensor<int32_t> words_;
  bool wordsRead_ = false, rebased_ = false;  // ReadWords' result, for OutputKept
  bool earlyWords_ = false;  // ReadWords before the wait for the gather slot (Init)
  bool oneRef_ = false;  // sfa-oneref: the pieces' P . V into their row's sum (rowSums_)
  AscendC::GlobalTensor<float> rowSums_;
  bool refExtra_[kSfaKvBuffers] = {false, false, false};  // kv tile b holds its row's first key after its rows
  bool tripped_[2] = {false, false};  // ReadTrips' result, per vector core
};

}  // namespace ascend_glm5
