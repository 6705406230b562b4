// Sparse Flash Attention, vector side (AIV): the merge of rows split across cores (flash-decoding),
// after a vector core's items (sfa_vector.h).
//
// Each vector core merges its share of the split rows' pieces: M = max m_i, l = sum exp(r_i - M) l_i,
// out = sum (exp(r_i - M) / l) acc_i, spread over all vector cores by (row, head) in ranges of equal
// weight the host plans (SfaCoreHead::merge); a run of a row starts once every vector core of each
// of the row's pieces has counted its part in the row's flag (SfaOutput::PostPiece, gm_flag.h).
// What it takes from the item phase: the tiling, the plan (its merge units and split rows), the GM
// of the outputs and pieces (SfaOutput), the arena its UB is carved from once the items are done,
// and the whole-piece post of the core's last piece that Accumulate leaves to it (HoldPiece).
#pragma once

#include "kernel_operator.h"
#include "../common/gm_flag.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "../common/tiling.h"
#include "sfa_output.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

template <typename T>
class SfaMerge {
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
  // alternating) and the next run's statistics fit the second, smaller set (3 x kPrefetchStatFloats).
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

 public:
  // UB of the merge's buffers (Carve).
  static constexpr uint32_t kUbBytes = kCombineBytes;

  __aicore__ inline void Init(const SparseFlashAttentionTiling& t, const SfaPlan& plan, SfaOutput<T>& io) {
    t_ = &t;
    plan_ = &plan;
    io_ = &io;
    keptCols_ = SfaKeptCols(t);
    earlyMerge_ = SfaEarlyMerge(t);
  }
  // The piece whose whole-piece post (and, early merge, the post of its upper kept half) Accumulate
  // leaves to the merge (FinishPiece, FinishKeptHigh): this core's last one, whose early columns the
  // merge weighs meanwhile.
  // keptHigh: whether the cube flags the piece's upper kept half (not for a one-reference piece).
  __aicore__ inline void HoldPiece(const SfaItem& piece, bool keptHigh = true) {
    unfinished_ = piece;
    hasUnfinished_ = true;
    highPosted_ = !keptHigh;
  }
  // The whole-piece post held for this core's last piece (HoldPiece), made now, with `flag` (8 int32
  // of UB) as the add's scratch: a one-reference launch normalises its rows instead of merging them
  // (sfa_one_ref.h), and waits for every post first.
  __aicore__ inline void PostHeld(const AscendC::LocalTensor<int32_t>& flag) {
    cFlag_ = flag;
    FinishPiece();
  }
  // The merge's first run (a plan line the scalar misses): read while the cube finishes.
  __aicore__ inline void Start() {
    plan_->MergeUnits(uint32_t(AscendC::GetSubBlockIdx()), mergeAt_, mergeEnd_);
    if (!earlyMerge_ && mergeEnd_ > mergeAt_) PlanPairWait();
    firstRun_ = NextRun(mergeAt_, mergeEnd_);
  }
  // The merge's buffers, from the start of the vector core's arena (the item phase's are free by
  // then): each run waits for its row's pieces (row flags), not for every core.
  __aicore__ inline void Carve(AscendC::TBuf<AscendC::TPosition::VECCALC>& arena) {
    arena_ = &arena;
    used_ = 0;
    cAcc_ = Take<float>(kCombineHeads * kSfaLatentDim);
    cLoad_ = Take<float>(kCombineLoadFloats);
    cOut_ = Take<T>(kCombineHeads * kSfaLatentDim * 2 / sizeof(T));
    cStats_ = Take<float>(3 * kMaxPieces * kCombineHeads);
    cM_ = Take<float>(2 * kCombineHeads);
    cL_ = Take<float>(2 * kCombineHeads);
    cW_ = Take<float>(kCombineHeads);
    cT_ = Take<float>(kCombineHeads);
    cBcast_ = Take<float>(kCombineBcastFloats);
    cFlag_ = Take<int32_t>(8);
    cStats1_ = Take<float>(3 * kPrefetchStatFloats);
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

 private:
  static constexpr float kNegInf = -__builtin_huge_valf();
  static constexpr uint32_t kStageRows = kSfaStageRows;  // output rows cast and copied at once (WriteOutput)

  template <typename U>
  __aicore__ inline AscendC::LocalTensor<U> Take(uint32_t elems) {
    AscendC::LocalTensor<U> out = arena_->GetWithOffset<U>(elems, used_);
    used_ += AlignUp(elems * sizeof(U), 32);
    return out;
  }

  // The whole-piece post Accumulate left to the merge: once the cube's P . V of the piece is in.
  // Called before the merge waits for any row to be whole (a row may wait for this very piece).
  __aicore__ inline void FinishPiece() {
    if (!hasUnfinished_) return;
    FinishKeptHigh();
    hasUnfinished_ = false;
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(kSfaFlagOut);
    AscendC::CrossCoreSetFlag<2, PIPE_MTE2>(kSfaFlagOutFree);
    io_->PostWhole(unfinished_, cFlag_, true);
  }

  // Its post of the upper kept half: once the cube has written it (before any wait on that count).
  __aicore__ inline void FinishKeptHigh() {
    if (!hasUnfinished_ || highPosted_) return;
    highPosted_ = true;
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagKeptHigh);
    io_->PostPiece(unfinished_, kSfaRowFlagKeptHigh, cFlag_);
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
      DataCopy(io_->out[(uint64_t(row) * t_->heads + head0 + r) * kSfaLatentDim], stage[r * kSfaLatentDim], rows * kSfaLatentDim);
    }
  }
  // The previous combine run's output and statistics copies (kEvCombineWrites) are done.
  __aicore__ inline void WaitCombineWrites() {
    if (!writesPending_) return;
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(kEvCombineWrites);
    writesPending_ = false;
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
  // The statistics as in GM (SfaStatAt): the m of the row's group of G pieces, then their l, then
  // their true maxes, each piece's AlignUp(hn, 8) floats (the run's heads).
  struct LoadSlot {
    AscendC::LocalTensor<float> max, sum, tru, load;
    int32_t evStats, evPieces;
  };
  __aicore__ inline LoadSlot Slot(const CombineRun& run) const {
    const uint32_t group = SfaPieceGroup(*t_) * AlignUp(run.hn, 8);
    const AscendC::LocalTensor<float> stats = run.slot == 0 ? cStats_ : cStats1_;
    const AscendC::LocalTensor<float> load = run.slot == 0 ? cLoad_ : cLoad_[kCombineLoadFloats - RunFloats(run)];
    const int32_t events = run.slot == 0 ? 0 : kSlotEvents;
    return LoadSlot{stats, stats[group], stats[2 * group], load, kEvStats + events, kEvPieces + events};
  }
  // acc floats of a run's pieces in one batch.
  __aicore__ inline static uint32_t RunFloats(const CombineRun& run) {
    return uint32_t(run.split.pieces) * run.hn * kSfaLatentDim;
  }
  // Whether `next`'s loads can be issued before `run` is weighed (late merge), into the other slot:
  // both in one batch, together within cLoad_, and in slot 1 next's statistics within its set.
  __aicore__ inline bool CanPrefetch(const CombineRun& run, const CombineRun& next) const {
    return !earlyMerge_ && next.hn > 0 && RunFloats(run) + RunFloats(next) <= kCombineLoadFloats &&
           (run.slot == 1 || SfaPieceGroup(*t_) * AlignUp(next.hn, 8) <= kPrefetchStatFloats);
  }
  __aicore__ inline CombineRun NextRun(uint64_t& u, uint64_t end) {
    if (u >= end) return CombineRun{SfaSplit{}, 0, 0, 0, false, 0, kSfaLatentDim};
    if (earlyMerge_) return NextColumnRun(u, end);
    const uint32_t j = uint32_t(u / t_->heads), h = uint32_t(u % t_->heads);
    uint32_t n = t_->heads - h;  // the row's heads left in this core's range
    if (n > end - u) n = uint32_t(end - u);
    // A row of few pieces: runs small enough that two of them fit cLoad_ together, so that each run's
    // loads can be issued before the run before it is weighed (CanPrefetch).
    const SfaSplit split = plan_->Split(j);
    const uint32_t pair = kCombineLoadFloats / (2 * uint32_t(split.pieces) * kSfaLatentDim);
    const uint32_t cap = uint32_t(split.pieces) <= kPairPieces && pair < kCombineHeads ? pair : kCombineHeads;
    // The row's heads in equal runs: a short run after a full one would leave the run after it
    // waiting for the full one's weighing (its slot) with little to load meanwhile.
    const uint32_t runs = (n + cap - 1) / cap;
    n = (n + runs - 1) / runs;
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
    const SfaSplit split = plan_->Split(j);
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

  // m_i, l_i and the true maxes of heads [h0, h0 + hn) of every piece of the run (one strided copy,
  // ps floats per piece: LoadSlot), then the first batch of acc_i, so that it streams in while the
  // weights are made.
  // prefetch: the run goes to the other slot than `current`, the run being weighed, whose V work is
  // not waited for (only the work before its kEvPrefetch flag, CombineHeads); else to slot 0.
  __aicore__ inline void LoadRun(CombineRun& run, bool prefetch = false, uint32_t current = 0) {
    using namespace AscendC;
    const uint32_t pieces = uint32_t(run.split.pieces), p0 = uint32_t(run.split.firstPiece), hn = run.hn;
    const bool early = EarlyRun(run);
    if (early && run.split.row != waitedRow_)  // the statistics and streamed columns of every piece
      GmFlagWaitAtLeast(io_->rowFlags[uint64_t(run.split.row) * kSfaRowFlagWords + kSfaRowFlagStreamed], int32_t(2 * pieces));
    else if (!early)
      WaitRowDone(run.split);
    run.slot = prefetch ? 1 - current : 0;
    run.loaded = true;
    const LoadSlot s = Slot(run);
    if (prefetch) {
      WaitFlag<HardEvent::V_MTE2>(kEvPrefetch);  // the runs before the current one are done with the slot
    } else {
      SetFlag<HardEvent::V_MTE2>(0);  // the previous run is done with cStats_ and cLoad_
      WaitFlag<HardEvent::V_MTE2>(0);
    }
    // The rows of the row's group from its first m to its last piece's true max: the unused slots'
    // rows between (G - pieces of each of m and l) come along.
    const uint32_t statRows = 2 * SfaPieceGroup(*t_) + pieces, rowFloats = SfaStatRowFloats(t_->heads);
    DataCopyPad(s.max, io_->stats[SfaStatAt(*t_, p0, 0) + run.h0],
                DataCopyExtParams(uint16_t(statRows), hn * 4, (rowFloats - hn) * 4, 0, 0),
                DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    SetFlag<HardEvent::MTE2_V>(s.evStats);
    if (early) {
      LoadColumns(cLoad_, run, keptCols_, kSfaLatentDim);
      return;
    }
    const uint32_t batch = RunBatch(hn);
    LoadPieces(s, p0, run.h0, hn * kSfaLatentDim, pieces < batch ? pieces : batch, SmallRun(hn));
  }
  // Every vector core of every piece of the split row has posted its whole part. The first row of a
  // merge that spans two consecutive rows waits for both at once (their pair word): a second poll
  // would leave MTE2 idle for its latency between the runs' loads.
  __aicore__ inline void WaitRowDone(const SfaSplit& split) {
    FinishPiece();
    if (split.row >= waitedFrom_ && split.row <= waitedRow_) return;
    const bool pair = split.row == pairRow_;
    const uint32_t word = pair ? kSfaRowFlagPair : 0;
    GmFlagWaitAtLeast(io_->rowFlags[uint64_t(split.row) * kSfaRowFlagWords + word], pair ? pairTarget_ : int32_t(2 * split.pieces));
    waitedFrom_ = split.row;
    waitedRow_ = pair ? split.row + 1 : split.row;
  }
  // Whether this core's merge units span two splits of consecutive rows (pairRow_: the first).
  __aicore__ inline void PlanPairWait() {
    const uint32_t j0 = uint32_t(mergeAt_ / t_->heads), j1 = uint32_t((mergeEnd_ - 1) / t_->heads);
    if (j1 != j0 + 1) return;
    const SfaSplit a = plan_->Split(j0), b = plan_->Split(j1);
    if (b.row != a.row + 1) return;
    pairRow_ = a.row;
    pairTarget_ = int32_t(2 * (a.pieces + b.pieces));
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
    const bool empty = cM.GetValue(0) == kNegInf;
    VectorAfterScalar();  // cM is written again by the vector unit
    if (empty) {  // every piece empty (all heads alike): the row attends nothing
      // The loads have landed in the slot, the zeros' stage.
      WaitPieces(s, pieces < batch ? pieces : batch, small);
      io_->WriteZeroRows(row, h0, hn, s.load, cT_);
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
    if (t_->returnLse) io_->IssueStats(uint64_t(row) * t_->heads + h0, hn, cM, cL);
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
    CopyRunColumns(run, s0, s1);
    if (!last) return;
    const uint32_t writers = run.cHi < kSfaLatentDim ? run.hn - 1 : run.hn;
    if (t_->returnLse && writers > 0) io_->IssueStats(uint64_t(row) * t_->heads + run.h0, writers, m, l);
    SetFlag<HardEvent::MTE3_V>(kEvCombineWrites);  // waited before the next run's writes
    writesPending_ = true;
  }

  // The cast columns [s0, s1) of the run's heads (cOut_) -> out: one strided copy per group of
  // consecutive heads with the same columns (a run's first and last heads may be partial), since
  // each GM copy has a fixed cost.
  __aicore__ inline void CopyRunColumns(const CombineRun& run, uint32_t s0, uint32_t s1) {
    const uint64_t rowHead = uint64_t(run.split.row) * t_->heads + run.h0;
    for (uint32_t h = 0; h < run.hn;) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      uint32_t n = 1;
      for (uint32_t lo2, hi2; h + n < run.hn; ++n) {
        HeadCols(run, h + n, s0, s1, lo2, hi2);
        if (lo2 != lo || hi2 != hi) break;
      }
      if (lo < hi) io_->WriteColumns(rowHead + h, n, lo, hi, cOut_[h * kSfaLatentDim]);
      h += n;
    }
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
    VectorAfterScalar();  // the weights read are written again by the vector unit
  }
  // Pieces [p, p + n)'s acc rows of the run (rowFloats each) -> the slot: a few heads' in one strided
  // copy (`small`, signals the slot's evPieces), else one copy per piece, each signalling evPieces +
  // its index (the vector core weighs a piece while the next ones are still in flight).
  __aicore__ inline void LoadPieces(const LoadSlot& s, uint32_t p, uint32_t h0, uint32_t rowFloats, uint32_t n, bool small) {
    using namespace AscendC;
    const GlobalTensor<float> src = io_->pieces[io_->PieceAcc(p) + uint64_t(h0) * kSfaLatentDim];
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
      DataCopyPad(buf[at], io_->pieces[io_->PieceAcc(p) + uint64_t(run.h0 + h) * kSfaLatentDim + lo],
                  DataCopyExtParams(uint16_t(n), cols * 4, t_->pieceBytes - cols * 4, (block - cols) / 8, 0),
                  DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
      SetFlag<HardEvent::MTE2_V>(kEvPieces + int32_t(h));
      at += cols;
    }
    return n * block;
  }
  // acc's columns [s0, s1) of the run's heads = the weighed sum of LoadColumns' pieces in buf: each
  // head weighed as its copy lands, then the pieces of all heads summed in halving rounds, the last
  // into acc head by head. Returns the floats of buf read. The weights: BroadcastWeights', or with
  // `scalarWeights` the run's w_i / l (cStats_, ps floats a piece) read by the scalar (WeighByScalar).
  __aicore__ inline uint32_t MergeColumns(const AscendC::LocalTensor<float>& buf, const CombineRun& run, uint32_t s0,
                                          uint32_t s1, bool scalarWeights = false) {
    using namespace AscendC;
    const uint32_t n = uint32_t(run.split.pieces), block = StageCols(run, s0, s1), ps = AlignUp(run.hn, 8);
    if (block == 0) return 0;
    const uint8_t blockBlocks = uint8_t(block / 8), psBlocks = uint8_t(ps);
    if (scalarWeights) {  // the scalar reads the weights V wrote
      SetFlag<HardEvent::V_S>(0);
      WaitFlag<HardEvent::V_S>(0);
    }
    uint32_t at = 0;
    for (uint32_t h = 0; h < run.hn; ++h) {
      uint32_t lo, hi;
      HeadCols(run, h, s0, s1, lo, hi);
      if (lo >= hi) continue;
      WaitFlag<HardEvent::MTE2_V>(kEvPieces + int32_t(h));
      if (scalarWeights) WeighByScalar(buf[at], h, hi - lo, n, block, ps);
      else
        for (uint32_t c = at; c < at + hi - lo; c += 64)
          Mul(buf[c], buf[c], cBcast_[h * 8], 64, uint8_t(n), BinaryRepeatParams(1, 1, 0, blockBlocks, blockBlocks, psBlocks));
      at += hi - lo;
    }
    PipeBarrier<PIPE_V>();
    const uint32_t m = Halve<false>(buf, scalarWeights ? n - n / 2 : n, block, 2);
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
  // Head h's `cols` columns of the n pieces at buf (piece stride `block`), each times its weight
  // w_i / l (cStats_[i * ps + h], which the scalar may read), with the first halving round fused
  // (Halve's: piece i + keep onto piece i, keep = n - n / 2): a Muls on each piece that stays, then
  // an Axpy of each other piece onto its pair, which rounds the product, then the sum, as the Mul
  // and the Add did (bit for bit). Muls and Axpy take one and two cycles a repeat, where the Mul by
  // the broadcast weights and the round's Add take two each. The caller sums the keep pieces left.
  __aicore__ inline void WeighByScalar(const AscendC::LocalTensor<float>& buf, uint32_t h, uint32_t cols, uint32_t n,
                                       uint32_t block, uint32_t ps) {
    using namespace AscendC;
    const uint32_t keep = n - n / 2;
    for (uint32_t i = 0; i < keep; ++i) Muls(buf[i * block], buf[i * block], cStats_.GetValue(i * ps + h), int32_t(cols));
    PipeBarrier<PIPE_V>();
    for (uint32_t i = 0; i + keep < n; ++i)
      Axpy(buf[i * block], buf[(i + keep) * block], cStats_.GetValue((i + keep) * ps + h), int32_t(cols));
    VectorAfterScalar();  // the weights read are written again by the vector unit
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
    BroadcastWeights(cStats_, 0, pieces, ps);
    uint32_t at = MergeColumns(cLoad_, run, kc, kSfaLatentDim);
    FinishKeptHigh();
    if (HasCols(run, half, kc)) {
      GmFlagWaitAtLeast(io_->rowFlags[uint64_t(run.split.row) * kSfaRowFlagWords + kSfaRowFlagKeptHigh], int32_t(2 * pieces));
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
    // The last stage's weights by the scalar: V is idle until its copies land, and then on the path.
    MergeColumns(cLoad_[at], run, 0, half, true);
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  const SfaPlan* plan_ = nullptr;
  SfaOutput<T>* io_ = nullptr;
  AscendC::TBuf<AscendC::TPosition::VECCALC>* arena_ = nullptr;
  uint32_t used_ = 0, keptCols_ = 0;
  bool earlyMerge_ = false;  // SfaEarlyMerge: pieces post their streamed columns early
  CombineRun firstRun_{};
  uint64_t mergeAt_ = 0, mergeEnd_ = 0;  // the (split, head) units of this core's merge after firstRun_
  SfaItem unfinished_{};        // a piece whose whole-piece post waits for the merge (FinishPiece)
  bool hasUnfinished_ = false, highPosted_ = false;
  AscendC::LocalTensor<T> cOut_;
  AscendC::LocalTensor<float> cAcc_, cLoad_, cStats_, cM_, cL_, cW_, cT_, cBcast_;
  AscendC::LocalTensor<float> cStats1_;  // a prefetched run's statistics (slot 1)
  AscendC::LocalTensor<int32_t> cFlag_;  // scratch of the row flags' polls
  int32_t waitedRow_ = -1;               // the split row whose flag the combine last waited for
  int32_t waitedFrom_ = -1;              // with a pair wait, the first of the two rows (else waitedRow_)
  int32_t pairRow_ = -1, pairTarget_ = 0;  // PlanPairWait: the first row of a two-row merge, both rows' posts
  uint32_t runParity_ = 0;      // the combine run's pair of cM_ / cL_
  bool writesPending_ = false;  // a combine run's copies to the output are in flight
};

}  // namespace ascend_glm5
