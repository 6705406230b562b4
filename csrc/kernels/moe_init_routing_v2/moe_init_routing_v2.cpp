// MoE routing (torch_npu npu_moe_init_routing_v2, dropless, unquantized): sort the P = T*K
// (token, slot) pairs by expert, count tokens per expert, gather the rows of x (and their scales).
//
// A counting sort: the per-expert histogram (and thus every expert's first row), then a second
// scan of all expert ids (the ids are 4P bytes, read two per scalar read; loaded once when they fit
// in one UB chunk) to give rows to the pairs of the experts whose rows fall
// into the core's own contiguous range of rows (pairs of one expert keep pair order, so the result
// is the stable sort), and to the core's own contiguous range of pairs. With the ids in UB (tiling
// splitCounts) each core counts only its own pairs; the cores' counts meet in the GM workspace
// after SyncAll and every core sums them by vector (those of the cores before it: its counts
// before its first pair). With a few ids (read from GM) every core counts all pairs instead, with
// no cross-core sync. So each output is written
// contiguously by exactly one core: the pair -> row map (gather form), the row -> pair map (scatter form), the gathered rows
// (one row copy through UB each) and their scales. Core 0 writes the per-expert counts. Pairs
// whose expert is outside [start, end) are dropped: they sort after all active pairs, their rows
// are zeros with scale 0 and -1 marks them in the index output.
#include "kernel_operator.h"
#include "../common/tiling.h"
#include "moe_init_routing_v2_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

class MoeInitRoutingKernel {
 public:
  __aicore__ inline void Init(GM_ADDR x, GM_ADDR expertIdx, GM_ADDR scale, GM_ADDR expandedX, GM_ADDR expandedRowIdx,
                              GM_ADDR expertTokens, GM_ADDR expandedScale, GM_ADDR workspace,
                              const MoeInitRoutingTiling& t) {
    t_ = t;
    SplitEvenly(t.pairs, t.blockDim, GetBlockIdx(), begin_, end_);
    const uint64_t tokens = t.pairs / t.topK;
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(x), tokens * t.rowBytes);
    ids_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(expertIdx), t.pairs);
    if (t.hasScale) scale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scale), tokens);
    expandedX_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(expandedX), uint64_t(t.pairs) * t.rowBytes);
    rowIdx_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(expandedRowIdx), t.pairs);
    tokensOut_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(expertTokens), t.experts);
    expandedScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(expandedScale), t.pairs);
    workspace_ = workspace;

    rowChunk_ = t.rowBytes < kMoeRoutingRowChunk ? t.rowBytes : kMoeRoutingRowChunk;
    rowBuf_ = AlignUp(rowChunk_, 32);
    const uint32_t buckets = AlignUp(t.experts + 1, 8);  // + 1: the dropped pairs' bucket
    ng_ = AlignUp((t.experts + 1 + 7) / 8, 8);  // groups of 8 buckets, a multiple of 8 (32-byte rows)
    const uint32_t countWords = 25 * ng_ + buckets;  // counts, row sums, group starts, seen, next rows
    // The per-token scales sit in UB when they fit (scalar reads of GM would mostly miss the cache).
    const uint32_t tokens32 = static_cast<uint32_t>(tokens);
    scalesInUb_ = t.hasScale && tokens <= kMoeRoutingScaleWords;
    const uint32_t scaleBytes = scalesInUb_ ? AlignUp(tokens32, 8) * sizeof(float) : 0;
    const uint32_t rangeBytes = 3 * kMoeRoutingRange * sizeof(int32_t);
    // Ids within one or two 64-byte lines: scalar GM reads (one DataCache miss) instead of a copy
    // through UB (a copy's overhead plus the GM read latency).
    // Ids in UB: the second scan picks the window's pairs by vector (PickWindow). The ids pass through
    // fp32 for the range compares (CompareScalar takes int32 only with EQ), exact below 2^24.
    idsInGm_ = t.pairs <= kMoeRoutingGmIds;
    vectorPick_ = !idsInGm_ && uint64_t(t.expertStart) + t.experts < (1u << 24);
    const uint32_t pickBytes = vectorPick_ ? 2 * kMoeRoutingIdChunk * sizeof(int32_t) + 2 * kMoeRoutingIdChunk / 8 : 0;
    if (pickBytes) pipe_.InitBuffer(pickBuf_, pickBytes);
    // Core 0: the Gather offsets of expert_tokens (and their scratch), computed while the ids load.
    const uint32_t offsetBytes = GetBlockIdx() == 0 ? 2 * AlignUp(t.experts, 8) * sizeof(int32_t) : 0;
    if (offsetBytes) pipe_.InitBuffer(offsetBuf_, offsetBytes);
    // Split counts: every core's counts, int16 ones widened through two fp32 tables.
    const uint32_t splitBytes = !t.splitCounts ? 0
                                : MoeRoutingSplitBytes(t.pairs, t.experts, t.blockDim) +
                                      (MoeRoutingSplitCountBytes(t.pairs) == 2 ? 2 * 8 * ng_ * sizeof(float) : 0);
    if (splitBytes) pipe_.InitBuffer(splitBuf_, splitBytes);
    pipe_.InitBuffer(idBuf_, kMoeRoutingIdChunk * sizeof(int32_t));
    pipe_.InitBuffer(countBuf_, countWords * sizeof(int32_t) + scaleBytes);
    pipe_.InitBuffer(rangeBuf_, rangeBytes);  // pair of row, row of pair, scales
    // Copy slots (one event id each) in the UB left, and a zero row.
    const uint32_t fixed = kMoeRoutingIdChunk * sizeof(int32_t) + countWords * sizeof(int32_t) + scaleBytes +
                           rangeBytes + rowBuf_ + offsetBytes + pickBytes + splitBytes;
    const uint32_t fit = (kMoeRoutingUbBytes - fixed) / rowBuf_;
    slots_ = fit < kMoeRoutingMaxCopySlots ? fit : kMoeRoutingMaxCopySlots;
    pipe_.InitBuffer(copyBuf_, (slots_ + 1) * rowBuf_);
    counts_ = countBuf_.GetWithOffset<int32_t>(8 * ng_, 0);
    rowSums_ = countBuf_.GetWithOffset<int32_t>(8 * ng_, 8 * ng_ * sizeof(int32_t));
    groupStart_ = countBuf_.GetWithOffset<int32_t>(ng_, 16 * ng_ * sizeof(int32_t));
    seen_ = countBuf_.GetWithOffset<int32_t>(8 * ng_, 17 * ng_ * sizeof(int32_t));
    nextRow_ = countBuf_.GetWithOffset<int32_t>(buckets, 25 * ng_ * sizeof(int32_t));
    if (scalesInUb_) scaleUb_ = countBuf_.GetWithOffset<float>(AlignUp(tokens32, 8), countWords * sizeof(int32_t));
    pairOfRow_ = rangeBuf_.GetWithOffset<int32_t>(kMoeRoutingRange, 0);
    rowOfPair_ = rangeBuf_.GetWithOffset<int32_t>(kMoeRoutingRange, kMoeRoutingRange * sizeof(int32_t));
    rowScale_ = rangeBuf_.GetWithOffset<float>(kMoeRoutingRange, 2 * kMoeRoutingRange * sizeof(int32_t));
    zeroRow_ = copyBuf_.GetWithOffset<int8_t>(rowBuf_, slots_ * rowBuf_);
    if (vectorPick_) {  // chunk positions, the picked ones (over the fp32 ids), two bit masks
      chunkIndex_ = pickBuf_.GetWithOffset<int32_t>(kMoeRoutingIdChunk, 0);
      picked_ = pickBuf_.GetWithOffset<int32_t>(kMoeRoutingIdChunk, kMoeRoutingIdChunk * sizeof(int32_t));
      atLeast_ = pickBuf_.GetWithOffset<uint8_t>(kMoeRoutingIdChunk / 8, 2 * kMoeRoutingIdChunk * sizeof(int32_t));
      below_ = pickBuf_.GetWithOffset<uint8_t>(kMoeRoutingIdChunk / 8,
                                               2 * kMoeRoutingIdChunk * sizeof(int32_t) + kMoeRoutingIdChunk / 8);
      // Split counts: made while every core's counts load (its first block is scalar writes, the rest
      // ~38 Adds to issue: ~160 scalar cycles before the first id load otherwise).
      if (!t.splitCounts) CreateVecIndex(chunkIndex_, int32_t(0), kMoeRoutingIdChunk);
    }
    // A single token: every active row is a copy of x[0], loaded once into slot 0 before the scans
    // (with the ids in GM, so that no id load waits behind it).
    oneRow_ = tokens == 1 && idsInGm_ && t.rowBytes <= kMoeRoutingRowChunk && begin_ < end_;
  }

  __aicore__ inline void Process() {
    if (begin_ >= end_ && GetBlockIdx() != 0 && !t_.splitCounts) return;  // split counts: SyncAll needs every core
    if (scalesInUb_ && begin_ < end_) {  // the first id load's MTE2 -> S wait covers this copy
      DataCopyPad(scaleUb_, scale_, DataCopyExtParams(1, t_.pairs / t_.topK * sizeof(float), 0, 0, 0),
                  DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
      if (idsInGm_) SetFlag<HardEvent::MTE2_S>(1);  // no id load: WriteRange waits for this one
    }
    if (oneRow_) {  // the only source row, while the ids are read and counted
      DataCopyPad(copyBuf_.GetWithOffset<int8_t>(rowBuf_, 0), x_, DataCopyExtParams(1, t_.rowBytes, 0, 0, 0),
                  DataCopyPadExtParams<int8_t>(false, 0, 0, 0));
      SetFlag<HardEvent::MTE2_MTE3>(0);
    }
    Histogram();
    if (begin_ >= end_) {  // a core without pairs (core 0: P = 0)
      if (GetBlockIdx() == 0) WriteExpertTokens();
      return;
    }
    SetFlag<HardEvent::V_MTE3>(0);  // the zero row is written
    WaitFlag<HardEvent::V_MTE3>(0);
    if (scalesInUb_ && idsInGm_) WaitFlag<HardEvent::MTE2_S>(1);
    for (uint64_t a = begin_; a < end_; a += kMoeRoutingRange) {
      const uint64_t b = end_ - a < kMoeRoutingRange ? end_ : a + kMoeRoutingRange;
      SetFlag<HardEvent::MTE3_S>(0);  // the previous range's (or the counts') writes read these buffers
      WaitFlag<HardEvent::MTE3_S>(0);
      AssignRows(a, b);
      WriteRange(a, b);
    }
    if (GetBlockIdx() == 0) WriteExpertTokens();  // the vector unit is idle while the row copies run
    DrainCopies();
  }

 private:
  // The per-bucket words (counts_, rowSums_, seen_) are laid out transposed: bucket e = 8g + r
  // (group g, rank r in it) at row r, column g, so the sums within each group are row-wise vector
  // adds. rowSums_[r][g] = pairs of buckets 8g .. 8g + r; groupStart_[g] = pairs of groups before g.
  __aicore__ inline uint32_t Pos(uint32_t e) const { return (e & 7) * ng_ + (e >> 3); }
  __aicore__ inline int32_t FirstRow(uint32_t e) {
    const uint32_t g = e >> 3, r = e & 7;
    return groupStart_.GetValue(g) + (r ? rowSums_.GetValue((r - 1) * ng_ + g) : 0);
  }

  __aicore__ inline uint32_t Bucket(int32_t id) const {
    const int64_t e = int64_t(id) - t_.expertStart;
    return e >= 0 && e < int64_t(t_.experts) ? static_cast<uint32_t>(e) : t_.experts;
  }

  // Loads ids [c, c + n) into UB for scalar reads unless they are there already (all ids fit in one
  // chunk: the second scan reuses the histogram's); returns n.
  __aicore__ inline uint32_t LoadIds(uint32_t c) {
    const uint32_t n = t_.pairs - c < kMoeRoutingIdChunk ? t_.pairs - c : kMoeRoutingIdChunk;
    if (c == loadedChunk_ || idsInGm_) return n;  // idsInGm_: one chunk (c = 0), read from GM
    loadedChunk_ = c;
    SetFlag<HardEvent::S_MTE2>(0);  // scalar reads of the previous chunk are done
    WaitFlag<HardEvent::S_MTE2>(0);
    DataCopyPad(idBuf_.Get<int32_t>(), ids_[c], DataCopyExtParams(1, n * sizeof(int32_t), 0, 0, 0),
                DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
    SetFlag<HardEvent::MTE2_S>(0);
    WaitFlag<HardEvent::MTE2_S>(0);
    return n;
  }

  // Ids i and i + 1 of the loaded chunk (i even) with one 64-bit scalar read of the int32 pair
  // (little-endian: id i in the low half); i + 1 == n: id i alone.
  __aicore__ inline void ReadIds(uint32_t i, uint32_t n, int32_t& first, int32_t& second) {
    if (idsInGm_) {  // input data, so no other core wrote it: the DataCache cannot be stale
      first = ids_.GetValue(i);
      if (i + 1 < n) second = ids_.GetValue(i + 1);
    } else if (i + 1 < n) {
      const uint64_t both = static_cast<uint64_t>(idBuf_.Get<int64_t>().GetValue(i / 2));
      first = static_cast<int32_t>(static_cast<uint32_t>(both));
      second = static_cast<int32_t>(static_cast<uint32_t>(both >> 32));
    } else {
      first = idBuf_.Get<int32_t>().GetValue(i);
    }
  }
  __aicore__ inline void CountId(uint32_t pair, int32_t id) {
    if (pair == begin_) {  // seen_: pairs per bucket before this core's first pair
      SetFlag<HardEvent::S_V>(0);  // one vector copy of the counts so far
      WaitFlag<HardEvent::S_V>(0);
      Adds(seen_, counts_, int32_t(0), static_cast<int32_t>(8 * ng_));
      SetFlag<HardEvent::V_S>(0);
      WaitFlag<HardEvent::V_S>(0);
    }
    CountOne(counts_, id);
  }
  template <typename X>
  __aicore__ inline void CountOne(const LocalTensor<X>& table, int32_t id) {
    const uint32_t at = Pos(Bucket(id));
    table.SetValue(at, static_cast<X>(table.GetValue(at) + 1));
  }

  // Pairs per bucket (counts_), then the running sums.
  __aicore__ inline void Histogram() {
    Duplicate(counts_, int32_t(0), static_cast<int32_t>(8 * ng_));
    const uint32_t countBytes = MoeRoutingSplitCountBytes(t_.pairs);
    if (t_.splitCounts)  // this core's counts, in its own place among every core's
      Duplicate(splitBuf_.GetWithOffset<int16_t>(4 * ng_ * countBytes, GetBlockIdx() * 8 * ng_ * countBytes),
                int16_t(0), static_cast<int32_t>(4 * ng_ * countBytes));
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    // The zero row for dropped pairs (int16 lanes: Duplicate takes 16/32-bit elements), written while
    // the first ids load.
    if (begin_ < end_) Duplicate(zeroRow_.ReinterpretCast<int16_t>(), int16_t(0), static_cast<int32_t>(rowBuf_ / 2));
    if (GetBlockIdx() == 0 && idsInGm_) ExpertOffsets();  // a few pairs: core 0's scans are short
    if (t_.splitCounts && countBytes == 2) {
      SplitCounts<int16_t>();
    } else if (t_.splitCounts) {
      SplitCounts<int32_t>();
    } else {
      CountAllPairs();
    }
    RunningSums();
    activeRows_ = static_cast<uint32_t>(FirstRow(t_.experts));
  }
  __aicore__ inline void CountAllPairs() {
    for (uint32_t c = 0; c < t_.pairs; c += kMoeRoutingIdChunk) {
      const uint32_t n = LoadIds(c);
      for (uint32_t i = 0; i < n; i += 2) {
        int32_t first = 0, second = 0;
        ReadIds(i, n, first, second);
        CountId(c + i, first);
        if (i + 1 < n) CountId(c + i + 1, second);
      }
    }
  }
  // Each core counts only its own pairs [begin_, end_) (into its place in splitBuf_, X: int16 or
  // int32), then every core's counts meet through the GM workspace (SyncAll: all written) and are
  // loaded in one copy; the cores before this one (its counts before its first pair: seen_) and the
  // rest are each summed by halving adds (the upper half of the rows onto the lower, one Add a
  // step); their sum is counts_.
  template <typename X>
  __aicore__ inline void SplitCounts() {
    const uint32_t words = 8 * ng_, cores = t_.blockDim, me = GetBlockIdx();
    const LocalTensor<X> all = splitBuf_.GetWithOffset<X>(cores * words, 0);
    CountOwnPairs(all[me * words]);
    GlobalTensor<X> allGm;
    allGm.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(workspace_), uint64_t(cores) * words);
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    DataCopyPad(allGm[uint64_t(me) * words], all[me * words], DataCopyExtParams(1, words * sizeof(X), 0, 0, 0));
    SyncAll();
    DataCopyPad(all, allGm, DataCopyExtParams(1, cores * words * sizeof(X), 0, 0, 0),
                DataCopyPadExtParams<X>(false, 0, 0, 0));
    if (vectorPick_) CreateVecIndex(chunkIndex_, int32_t(0), kMoeRoutingIdChunk);  // for PickWindow, meanwhile
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    for (uint32_t before = me, after = cores - me; before > 1 || after > 1;) {
      before = HalveRows(all, 0, before, words);
      after = HalveRows(all, me, after, words);
      PipeBarrier<PIPE_V>();
    }
    if (me > 0) {
      Add(all[me * words], all[me * words], all, int32_t(words));
      Widen(seen_, all, 0);
    } else {
      Duplicate(seen_, int32_t(0), int32_t(words));
    }
    PipeBarrier<PIPE_V>();
    Widen(counts_, all[me * words], 1);
    PipeBarrier<PIPE_V>();  // RunningSums reads counts_
  }
  template <typename X>
  __aicore__ inline void CountOwnPairs(const LocalTensor<X>& own) {
    for (uint32_t c = uint32_t(begin_) / kMoeRoutingIdChunk * kMoeRoutingIdChunk; c < end_; c += kMoeRoutingIdChunk) {
      const uint32_t n = LoadIds(c);
      const uint32_t lo = begin_ > c ? uint32_t(begin_) - c : 0, hi = end_ < c + n ? uint32_t(end_) - c : n;
      for (uint32_t i = lo & ~1u; i < hi; i += 2) {  // even i: two ids per read
        int32_t first = 0, second = 0;
        ReadIds(i, n, first, second);
        if (i >= lo) CountOne(own, first);
        if (i + 1 < hi) CountOne(own, second);
      }
    }
  }
  // Rows [first, first + rows) of `words` each: the upper half added onto the lower; returns the rows left.
  template <typename X>
  __aicore__ inline uint32_t HalveRows(const LocalTensor<X>& all, uint32_t first, uint32_t rows, uint32_t words) {
    const uint32_t half = rows / 2;
    if (half) Add(all[first * words], all[first * words], all[(first + rows - half) * words], int32_t(half * words));
    return rows - half;
  }
  // Summed counts into an int32 table: int32 copied; int16 through fp32 table `table` (0 or 1) after
  // the two tables of every core's counts (exact: the sums are below 2^15).
  __aicore__ inline void Widen(const LocalTensor<int32_t>& dst, const LocalTensor<int32_t>& src, uint32_t) {
    Adds(dst, src, int32_t(0), int32_t(8 * ng_));
  }
  __aicore__ inline void Widen(const LocalTensor<int32_t>& dst, const LocalTensor<int16_t>& src, uint32_t table) {
    const uint32_t words = 8 * ng_;
    const LocalTensor<float> wide = splitBuf_.GetWithOffset<float>(words, t_.blockDim * words * 2 + table * words * 4);
    Cast(wide, src, RoundMode::CAST_NONE, words);
    PipeBarrier<PIPE_V>();
    Cast(dst, wide, RoundMode::CAST_RINT, words);
  }

  // Sums within each group by vector, in three steps of four independent row adds (at span s, a
  // row with bit s set adds the last row of the block of s rows before it), then the groups' starts
  // by the scalar unit (two groups per 64-bit access; the even group in the low half).
  __aicore__ inline void RunningSums() {
    SetFlag<HardEvent::S_V>(0);  // the histogram's scalar writes are done
    WaitFlag<HardEvent::S_V>(0);
    const int32_t ng = static_cast<int32_t>(ng_);
    Adds(rowSums_, counts_, int32_t(0), 8 * ng);
    for (uint32_t span = 1; span < 8; span *= 2) {
      PipeBarrier<PIPE_V>();
      for (uint32_t r = 0; r < 8; ++r) {
        if (r & span) Add(rowSums_[r * ng_], rowSums_[r * ng_], rowSums_[((r & ~(2 * span - 1)) + span - 1) * ng_], ng);
      }
    }
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    const LocalTensor<int64_t> totals = rowSums_[7 * ng_].ReinterpretCast<int64_t>();  // row 7: group totals
    const LocalTensor<int64_t> starts = groupStart_.ReinterpretCast<int64_t>();
    const uint32_t groups = (t_.experts + 1 + 7) / 8;
    uint32_t row = 0;
    for (uint32_t g = 0; g < groups; g += 2) {
      const uint64_t both = static_cast<uint64_t>(totals.GetValue(g / 2));
      const uint32_t second = row + static_cast<uint32_t>(both);
      starts.SetValue(g / 2, static_cast<int64_t>(uint64_t(second) << 32 | row));
      row = second + static_cast<uint32_t>(both >> 32);
    }
  }

  // Core 0, after its row copies are issued: counts or running sums of the active experts put back
  // in expert order (one Gather through the transposed positions), widened to int64 by one Cast.
  // The scratch words are those of the finished scans (seen_, nextRow_, counts_ and rowSums_).
  // Core 0, before the scans when they are short (the vector unit is idle while the ids load; with
  // more pairs the scalar's issue time would delay core 0's scan), else after its row copies are
  // issued: the byte offset of expert e's word in the transposed table, 4 * ((e - 8q) * ng + q)
  // with q = e / 8, i.e. 4 * ng * e + (4 - 32 * ng) * q; q = floor(e * 0.125f) is exact in float
  // (e < 2^24).
  __aicore__ inline void ExpertOffsets() {
    const int32_t experts = static_cast<int32_t>(t_.experts);
    const LocalTensor<int32_t> offset = ExpertOffsetWords();
    const LocalTensor<int32_t> scratch =
        offsetBuf_.GetWithOffset<int32_t>(AlignUp(t_.experts, 8), AlignUp(t_.experts, 8) * sizeof(int32_t));
    const LocalTensor<float> eFloat = scratch.ReinterpretCast<float>();
    CreateVecIndex(eFloat, 0.0f, t_.experts);
    PipeBarrier<PIPE_V>();
    Muls(eFloat, eFloat, 0.125f, experts);
    PipeBarrier<PIPE_V>();
    Cast(offset, eFloat, RoundMode::CAST_FLOOR, t_.experts);
    PipeBarrier<PIPE_V>();
    Muls(offset, offset, static_cast<int32_t>(4 - 32 * ng_), experts);
    // CreateVecIndex starts with scalar writes (dav_c220 CreateVecIndexOneBlk): the Cast and Muls
    // above must be done with `scratch` first.
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    CreateVecIndex(scratch, int32_t(0), t_.experts);
    PipeBarrier<PIPE_V>();
    Muls(scratch, scratch, static_cast<int32_t>(4 * ng_), experts);
    PipeBarrier<PIPE_V>();
    Add(offset, offset, scratch, experts);
  }

  __aicore__ inline LocalTensor<int32_t> ExpertOffsetWords() {  // core 0's offsetBuf_: offsets, then scratch
    return offsetBuf_.GetWithOffset<int32_t>(AlignUp(t_.experts, 8), 0);
  }

  __aicore__ inline void WriteExpertTokens() {
    SetFlag<HardEvent::S_V>(0);  // the scalar writes of the scans are done
    WaitFlag<HardEvent::S_V>(0);
    if (t_.countType == 0) {  // running sums: each row plus its group's start
      for (uint32_t r = 0; r < 8; ++r) Add(rowSums_[r * ng_], rowSums_[r * ng_], groupStart_, int32_t(ng_));
      PipeBarrier<PIPE_V>();
    }
    if (!idsInGm_) {
      ExpertOffsets();
      PipeBarrier<PIPE_V>();
    }
    const LocalTensor<int32_t> offset = ExpertOffsetWords();
    Gather(seen_, t_.countType == 1 ? counts_ : rowSums_, offset.ReinterpretCast<uint32_t>(), 0, t_.experts);
    PipeBarrier<PIPE_V>();
    const LocalTensor<int64_t> out = countBuf_.GetWithOffset<int64_t>(t_.experts, 0);  // over counts_, rowSums_
    Cast(out, seen_, RoundMode::CAST_NONE, t_.experts);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(tokensOut_, out, DataCopyExtParams(1, t_.experts * sizeof(int64_t), 0, 0, 0));
  }

  // Second scan, for rows and pairs [a, b): the pair of each row, the row of each pair. Only the
  // experts whose rows meet [a, b) (the window) are followed through all pairs (their rows in pair
  // order: the stable sort); a pair in [a, b) gets its bucket's first row plus the pairs of its
  // bucket before it (seen_, which holds the counts before pair a).
  __aicore__ inline void AssignRows(uint64_t a, uint64_t b) {
    // The first expert whose rows end after a (FirstRow(E) = activeRows_: a binary search), then
    // on while its rows start before b.
    uint32_t lo = 0, hi = t_.experts;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (uint64_t(FirstRow(mid + 1)) > a) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    windowBegin_ = lo;
    windowEnd_ = lo;
    for (; windowEnd_ < t_.experts; ++windowEnd_) {
      const int32_t row = FirstRow(windowEnd_);
      if (uint64_t(row) >= b) break;
      nextRow_.SetValue(windowEnd_, row);
    }
    for (uint32_t c = 0; c < t_.pairs; c += kMoeRoutingIdChunk) {
      const uint32_t n = LoadIds(c);
      if (vectorPick_) {
        AssignPicked(c, n, a, b);
        continue;
      }
      for (uint32_t i = 0; i < n; i += 2) {
        int32_t first = 0, second = 0;
        ReadIds(i, n, first, second);
        AssignRow(c + i, first, a, b);
        if (i + 1 < n) AssignRow(c + i + 1, second, a, b);
      }
    }
  }
  __aicore__ inline void AssignRow(uint32_t pair, int32_t id, uint64_t a, uint64_t b) {
    const uint32_t e = Bucket(id);
    if (e >= windowBegin_ && e < windowEnd_) WindowRow(pair, e, a, b);
    if (pair >= a && pair < b) OwnPair(pair, e, a);
  }
  __aicore__ inline void WindowRow(uint32_t pair, uint32_t e, uint64_t a, uint64_t b) {
    const int32_t row = nextRow_.GetValue(e);
    nextRow_.SetValue(e, row + 1);
    if (uint64_t(row) >= a && uint64_t(row) < b) pairOfRow_.SetValue(uint32_t(row - a), int32_t(pair));
  }
  __aicore__ inline void OwnPair(uint32_t pair, uint32_t e, uint64_t a) {
    const uint32_t at = Pos(e);
    const int32_t before = seen_.GetValue(at);
    seen_.SetValue(at, before + 1);
    rowOfPair_.SetValue(uint32_t(pair - a), e < t_.experts ? FirstRow(e) + before : -1);
  }

  // AssignRows on the loaded chunk [c, c + n) with scalar reads of only the window's pairs (picked
  // by vector) and of the pairs in [a, b).
  __aicore__ inline void AssignPicked(uint32_t c, uint32_t n, uint64_t a, uint64_t b) {
    const uint32_t picked = windowBegin_ < windowEnd_ ? PickWindow(n) : 0;
    const LocalTensor<int32_t> ids = idBuf_.Get<int32_t>();
    for (uint32_t k = 0; k < picked; ++k) {
      const uint32_t i = static_cast<uint32_t>(picked_.GetValue(k));
      WindowRow(c + i, Bucket(ids.GetValue(i)), a, b);
    }
    const uint64_t lo = a > c ? a : c, hi = b < c + n ? b : c + n;
    for (uint64_t p = lo & ~uint64_t(1); p < hi; p += 2) {  // even p: two ids per read
      int32_t first = 0, second = 0;
      ReadIds(uint32_t(p - c), n, first, second);
      if (p >= lo) OwnPair(uint32_t(p), Bucket(first), a);
      if (p + 1 < hi) OwnPair(uint32_t(p + 1), Bucket(second), a);
    }
  }
  // picked_ = the chunk positions (of n) whose id is in the window's experts, in order; returns how many.
  __aicore__ inline uint32_t PickWindow(uint32_t n) {
    const uint32_t lanes = AlignUp(n, 64);
    const LocalTensor<float> idFloat = picked_.ReinterpretCast<float>();  // free until the GatherMask
    SetFlag<HardEvent::S_V>(0);  // the previous chunk's scalar reads of picked_ are done
    WaitFlag<HardEvent::S_V>(0);
    Cast(idFloat, idBuf_.Get<int32_t>(), RoundMode::CAST_NONE, lanes);
    PipeBarrier<PIPE_V>();
    SetMaskNorm();
    ResetMask();
    CompareScalar(atLeast_, idFloat, static_cast<float>(t_.expertStart + windowBegin_), CMPMODE::GE, lanes);
    CompareScalar(below_, idFloat, static_cast<float>(t_.expertStart + windowEnd_), CMPMODE::LT, lanes);
    PipeBarrier<PIPE_V>();
    And(atLeast_.ReinterpretCast<uint16_t>(), atLeast_.ReinterpretCast<uint16_t>(), below_.ReinterpretCast<uint16_t>(),
        int32_t(lanes / 16));
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;  // counter mode, one repeat of n lanes: the pattern bits are read continuously
    GatherMask(picked_, chunkIndex_, atLeast_.ReinterpretCast<uint32_t>(), true, n, GatherMaskParams(1, 1, 8, 0), kept);
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    return static_cast<uint32_t>(kept);
  }
  __aicore__ inline float TokenScale(uint32_t token) {
    return scalesInUb_ ? scaleUb_.GetValue(token) : scale_.GetValue(token);
  }

  __aicore__ inline void WriteRange(uint64_t a, uint64_t b) {
    const uint32_t n = static_cast<uint32_t>(b - a);
    for (uint32_t i = 0; i < n; ++i) {  // scatter form in place (active rows keep their pair), scales
      const bool active = a + i < activeRows_;
      const int32_t pair = pairOfRow_.GetValue(i);
      if (t_.rowIdxType == 1) pairOfRow_.SetValue(i, active ? pair : -1);
      if (t_.hasScale) rowScale_.SetValue(i, active ? TokenScale(uint32_t(pair) / t_.topK) : 0.0f);
    }
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    const DataCopyExtParams words(1, n * sizeof(int32_t), 0, 0, 0);
    DataCopyPad(rowIdx_[a], t_.rowIdxType == 1 ? pairOfRow_ : rowOfPair_, words);
    if (t_.hasScale) DataCopyPad(expandedScale_[a], rowScale_, words);
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t row = a + i;
      const bool active = row < activeRows_;
      if (oneRow_ && active) {
        if (!oneRowReady_) WaitFlag<HardEvent::MTE2_MTE3>(0);
        oneRowReady_ = true;
        DataCopyPad(expandedX_[row * t_.rowBytes], copyBuf_.GetWithOffset<int8_t>(rowBuf_, 0),
                    DataCopyExtParams(1, t_.rowBytes, 0, 0, 0));
        continue;
      }
      const uint64_t src = active ? uint64_t(pairOfRow_.GetValue(i)) / t_.topK : 0;
      for (uint32_t off = 0; off < t_.rowBytes; off += rowChunk_) {
        const uint32_t len = t_.rowBytes - off < rowChunk_ ? t_.rowBytes - off : rowChunk_;
        CopyPiece(active, src * t_.rowBytes + off, row * t_.rowBytes + off, len);
      }
    }
  }
  // One row piece GM -> UB -> GM through slots_ slots in turn, or the zero row for a dropped pair.
  __aicore__ inline void CopyPiece(bool active, uint64_t from, uint64_t to, uint32_t len) {
    const DataCopyExtParams p(1, len, 0, 0, 0);
    if (!active) {
      DataCopyPad(expandedX_[to], zeroRow_, p);
      return;
    }
    const uint32_t s = copies_ % slots_;
    if (copies_ >= slots_) WaitFlag<HardEvent::MTE3_MTE2>(s);  // this slot's previous store is done
    LocalTensor<int8_t> slot = copyBuf_.GetWithOffset<int8_t>(rowBuf_, s * rowBuf_);
    DataCopyPad(slot, x_[from], p, DataCopyPadExtParams<int8_t>(false, 0, 0, 0));
    SetFlag<HardEvent::MTE2_MTE3>(s);
    WaitFlag<HardEvent::MTE2_MTE3>(s);
    DataCopyPad(expandedX_[to], slot, p);
    SetFlag<HardEvent::MTE3_MTE2>(s);
    ++copies_;
  }
  __aicore__ inline void DrainCopies() {  // every SetFlag gets its WaitFlag
    if (oneRow_ && !oneRowReady_) WaitFlag<HardEvent::MTE2_MTE3>(0);
    for (uint32_t s = 0; s < slots_ && s < copies_; ++s) WaitFlag<HardEvent::MTE3_MTE2>((copies_ - 1 - s) % slots_);
  }

  MoeInitRoutingTiling t_;
  uint64_t begin_ = 0, end_ = 0;
  uint32_t rowChunk_ = 0, rowBuf_ = 0, slots_ = 0, activeRows_ = 0, copies_ = 0;
  uint32_t loadedChunk_ = 0xFFFFFFFFu;  // first id of the chunk in idBuf_ (none yet)
  uint32_t windowBegin_ = 0, windowEnd_ = 0;  // experts [begin, end) with rows in the current range
  uint32_t ng_ = 0;                           // columns of the transposed bucket table (groups, rounded up)
  bool scalesInUb_ = false, oneRow_ = false, oneRowReady_ = false, idsInGm_ = false, vectorPick_ = false;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> idBuf_, countBuf_, rangeBuf_, copyBuf_, offsetBuf_, pickBuf_, splitBuf_;
  LocalTensor<int32_t> counts_, rowSums_, groupStart_, nextRow_, seen_, pairOfRow_, rowOfPair_, chunkIndex_, picked_;
  LocalTensor<uint8_t> atLeast_, below_;
  LocalTensor<float> rowScale_, scaleUb_;
  LocalTensor<int8_t> zeroRow_;
  GlobalTensor<int8_t> x_, expandedX_;
  GlobalTensor<int32_t> ids_, rowIdx_;
  GM_ADDR workspace_ = nullptr;  // split counts: every core's
  GlobalTensor<int64_t> tokensOut_;
  GlobalTensor<float> scale_, expandedScale_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void moe_init_routing_v2(GM_ADDR x, GM_ADDR expertIdx, GM_ADDR scale,
                                                          GM_ADDR expandedX, GM_ADDR expandedRowIdx,
                                                          GM_ADDR expertTokens, GM_ADDR expandedScale,
                                                          GM_ADDR workspace, GM_ADDR tiling) {
  // MIX_AIV_1_0: vector cores only, as AIV_ONLY, with the inter-core sync hardware (SyncAll) on.
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);
  ascend_glm5::MoeInitRoutingTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  ascend_glm5::MoeInitRoutingKernel op;
  op.Init(x, expertIdx, scale, expandedX, expandedRowIdx, expertTokens, expandedScale, workspace, t);
  op.Process();
}
