// Lightning Indexer, vector side (AIV), phase 2: the cut of a row's partial lists before their
// merge (LiMerger::MergeStep), from the lists' quantiles (CutAtThreshold): the threshold T below
// which no entry is in the row's top k, for a final merge in parts the part's score band
// [bandLo_, bandHi_), and where a list's band lies (WindowBand, BandFrom / BandTo). Holds the
// quantile buffers (qIn_: the row's quantiles as loaded; qA_ / qB_: their merge rounds, then
// compare masks) and the band, which stays until the next cut merge sets it.
#pragma once

#include "../common/topk.h"
#include "kernel_operator.h"
#include "li_arena.h"
#include "lightning_indexer_tiling.h"

namespace ascend_glm5 {

class LiCut {
 public:
  __aicore__ inline void Init(const LightningIndexerTiling& t) { t_ = &t; }

  // `words`: 152 words the cut may use in a wide merge (which leaves the merger's header buffer unused).
  __aicore__ inline void Carve(LiArena& arena, const AscendC::LocalTensor<int32_t>& words) {
    words_ = words;
    qIn_ = arena.Take<float>(kLiMaxWideLists * kLiQuantiles * kPairFloats);
    qA_ = arena.Take<float>(kLiMaxWideLists * kLiQuantiles * kPairFloats);
    qB_ = arena.Take<float>(kLiMaxWideLists * kLiQuantiles * kPairFloats);
  }

  // A cut merge's quantiles (kLiQuantiles pairs per list, from list m.cutBase) GM -> qIn_. A wide merge
  // takes each list's first LiLoadedQuantiles pairs only (its run, the lengths in pairs 0 and 1, and a
  // margin for the count at the threshold), one strided copy into the same places: on the path of every
  // part of B = 1 x 8K, behind SyncAll, 2 KB instead of 4 (32K: 40 lists, 2.5 KB instead of 5).
  __aicore__ inline void LoadQuantiles(const AscendC::GlobalTensor<float>& src, const LiMerge& m) {
    using namespace AscendC;
    const uint32_t lists = uint32_t(m.cutLists);
    loaded_ = m.count > 4 ? LiLoadedQuantiles(WideRun(m, lists)) : kLiQuantiles;
    if (loaded_ == kLiQuantiles) {
      DataCopy(qIn_, src, lists * kLiQuantiles * kPairFloats);
      return;
    }
    const uint32_t bytes = loaded_ * kPairFloats * 4, gap = kLiQuantiles * kPairFloats * 4 - bytes;  // multiples of 32
    DataCopyPad(qIn_, src, DataCopyExtParams(uint16_t(lists), bytes, gap, gap / 32, 0), DataCopyPadExtParams<float>());
  }

  // Word w of list i's header (0: its length, 1: the pairs written before SyncAll) for a wide merge:
  // its quantiles' second words (LiVector::WriteQuantiles).
  __aicore__ inline uint32_t WideLength(const LiMerge& m, int32_t i, uint32_t w) {
    const uint32_t list = uint32_t(m.src - m.cutBase + i);
    return static_cast<uint32_t>(qIn_.ReinterpretCast<int32_t>().GetValue((list * kLiQuantiles + w) * kPairFloats + 1));
  }

  // Whether the last cut merge of up to 4 lists kept list i (0 .. 3) whole: every quantile at or above
  // the threshold (a part's band may still end sooner).
  __aicore__ inline bool KeptWhole(uint32_t i) const { return i < 4 && keptWhole_[i]; }

  // The next cut merge's band edges, if it is a final merge in parts: the codes of its upper and
  // lower edge (LiPackEdge, from the plan).
  __aicore__ inline void SetBandEdges(int32_t hi, int32_t lo) {
    edgeHi_ = hi;
    edgeLo_ = lo;
  }

  // A lower bound of where the band starts in list i (0 .. 3) of a band merge of up to 4 lists.
  __aicore__ inline uint32_t BandStart(int32_t i) const { return bandStart_[i]; }

  // The first pair of a sorted list (`len` pairs, best first) in the band: the entries above it.
  // `i` < 4: list i of a band merge of up to 4 lists, held from pair `skip` on: the search runs
  // between the list's quantiles around the edge (FewRange: one quantile step, ~6 UB reads where
  // the whole list took ~9).
  __aicore__ inline uint32_t BandFrom(const AscendC::LocalTensor<float>& list, uint32_t len, uint32_t i = 4, uint32_t skip = 0) {
    if (!hasHi_) return 0;
    uint32_t from = 0, to = len;
    if (fewBounds_ && i < 4) FewRange(hiAbove_[i], skip, from, to);
    return AtLeast(list, to, bandHi_, from, false);
  }
  // The end of the band in that list, its first pair `lo` (BandFrom).
  __aicore__ inline uint32_t BandTo(const AscendC::LocalTensor<float>& list, uint32_t len, uint32_t lo, uint32_t i = 4,
                                    uint32_t skip = 0) {
    if (!hasLo_) return len;
    uint32_t from = 0, to = len;
    if (fewBounds_ && i < 4) FewRange(loAbove_[i], skip, from, to);
    return AtLeast(list, to, bandLo_, from > lo ? from : lo, hasHi_ && from <= lo);
  }

  // A band merge of up to 4 lists (after CutAtThreshold set its edges): list i's band edges found by
  // the vector unit, one CompareScalar an edge over the quantile step FewRange leaves for it (`list`:
  // list i from pair `skip`, `len` pairs from there, in a buffer of `held` pairs), then V -> S event
  // `ev`; BandWindowFrom / BandWindowTo read the bits (~1.5 64-bit reads an edge where BandFrom /
  // BandTo searched with ~6 UB reads). Each list's compares are issued as it lands (LiMerger::MergeStep:
  // its own MTE2 -> V event), so the scalar reads the first lists' bits while the last is on its way.
  // False (nothing issued) where an edge's range is longer than kBandWinMax pairs (its quantiles all
  // above the edge, the list longer than 16 steps): BandFrom / BandTo then.
  __aicore__ inline bool CompareBandWindow(uint32_t i, const AscendC::LocalTensor<float>& list, uint32_t len, uint32_t skip,
                                           uint32_t held, int32_t ev) {
    using namespace AscendC;
    if (!fewBounds_ || i >= 4) return false;
    const bool used[2] = {hasHi_, hasLo_};
    const uint32_t above[2] = {hiAbove_[i], loAbove_[i]};
    const float v[2] = {bandHi_, bandLo_};
    for (uint32_t e = 0; e < 2; ++e) {
      if (!used[e]) continue;
      uint32_t from = 0, to = len;
      FewRange(above[e], skip, from, to);
      // the window: 32-pair blocks (a 64-float repeat each) from `from` (a multiple of the quantile
      // step, so 32-byte aligned), moved back to stay in the buffer
      const uint32_t width = AlignUp(to > from ? to - from : 1, 32u);
      if (width > kBandWinMax || width > held) return false;
      uint32_t w0 = from & ~3u;
      if (w0 + width > held) w0 = (held - width) & ~3u;
      if (to > w0 + width) return false;
      win_[i][e] = BandWin{from, to, w0, width};
    }
    CountFormMask();
    for (uint32_t e = 0; e < 2; ++e) {
      const BandWin& w = win_[i][e];
      if (used[e] && w.to > w.from)
        CompareScalar(bandBits_[(2 * i + e) * kBandWinWords].ReinterpretCast<uint8_t>(), list[w.w0 * kPairFloats], v[e],
                      CMPMODE::GE, w.width * kPairFloats);
    }
    SetFlag<HardEvent::V_S>(ev);
    return true;
  }
  // List i's band start (BandFrom) and end (BandTo, the start `lo`) from CompareBandWindow's bits; the
  // first of them waits for its event.
  __aicore__ inline uint32_t BandWindowFrom(uint32_t i, int32_t ev) {
    AscendC::WaitFlag<AscendC::HardEvent::V_S>(ev);
    return hasHi_ ? WindowCount(i, 0) : 0;
  }
  __aicore__ inline uint32_t BandWindowTo(uint32_t i, uint32_t len, uint32_t lo) {
    if (!hasLo_) return len;
    const uint32_t hi = WindowCount(i, 1);
    return hi > lo ? hi : lo;
  }

  // A row whose partial lists hold more than k entries together: a lower bound T of its k-th best
  // score cuts each list before its first merge. Quantile j of list c is its score at rank s j + s - 1
  // (s = LiQuantileStep), so every quantile >= v vouches for s distinct entries >= v; the
  // ceil(k/s)-th largest quantile T thus has at least k entries at or above it, and entries below
  // T cannot be in the top k. A list keeps its entries before its first quantile below T (all of
  // them if there is none).
  // In two steps: StartCut issues the quantiles' merge (no list length needed), FinishCut reads its
  // result (LiMerger::MergeStep reads the lists' headers in between, while the vector unit merges).
  __aicore__ inline void CutAtThreshold(const LiMerge& m, uint32_t* lens) {
    StartCut(m);
    FinishCut(m, lens);
  }
  __aicore__ inline void StartCut(const LiMerge& m) {
    using namespace AscendC;
    const uint32_t lists = uint32_t(m.cutLists);
    WaitFlag<HardEvent::MTE2_V>(0);  // the quantiles (loaded with the headers) are in qIn_ (LiMerger::MergeStep)
    // Each list's quantiles are sorted already: merge the runs, 4 at a time. A wide merge's lists
    // (the row's, all of them) take part with their first quantiles only, 1.25 times their share
    // of the rank sought (LiWideQuantRun): T stays a bound vouched for by k entries, only looser
    // where a list holds far more than its share of the best (decode B = 1 x 8K, 32 lists: runs of
    // 5 instead of 16). Its runs are of any length (MrgSort's sources need 8-byte alignment; merged
    // runs start 32-byte aligned; li-decode3: 5 instead of 8 at B = 1 x 8K, 8,322 -> 8,178 cycles).
    // Up to 4 lists: every quantile (the prefixes of each list's quantiles any T is taken from vouch
    // for k entries alike; with all of them T is the highest such bound), so the merge needs no list
    // length and is issued as the quantiles land, the headers read while it runs (B = 16 x 8K: 48 of
    // the 64 quantiles merged by shares read from the headers first, 44 scalar cycles before the merge).
    uint32_t runLens[kLiMaxWideLists], starts[kLiMaxWideLists], runs = lists;
    for (uint32_t i = 0; i < runs; ++i) {
      runLens[i] = kLiQuantiles;
      starts[i] = i * kLiQuantiles;
    }
    const bool wide = m.count > 4;
    // A part of a wide band merge whose lists have tails: their best last loaded quantile, in the same wait
    // (below the threshold, no list is kept whole: CutPending).
    tailsToDecide_ = wide && windowLists_ > 0 && t_->tailFlagOffset > 0;
    gathered_ = wide && GatherListWords(m, tailsToDecide_);
    if (wide)  // the same run for every list, from the plan (LiWideQuantRun): no length needed yet
      for (uint32_t i = 0; i < runs; ++i) runLens[i] = WideRun(m, lists);
    qMerged_ = MergeQuantileRuns(runLens, starts, runs, qFree_);
    // Up to 4 lists: the merge's V -> S event now (FinishCut's reads wait for the merge only), then
    // the quantiles' scores gathered (GatherMask, the even words) while the scalar reads the
    // lengths and the threshold, for CompareFewQuantiles' one 64-bit read a value.
    fewScores_ = !wide && lists <= 4;
    if (!fewScores_) return;
    SetFlag<HardEvent::V_S>(0);
    uint64_t kept = 0;
    GatherMask(qFree_[kFewScoresFloats], qIn_, uint8_t(1), false, 0,
               GatherMaskParams(1, uint16_t(CeilDiv(lists * kLiQuantiles * kPairFloats, 64u)), 8, 0), kept);
  }
  __aicore__ inline void FinishCut(const LiMerge& m, uint32_t* lens) {
    using namespace AscendC;
    const uint32_t lists = uint32_t(m.cutLists);
    const uint32_t step = LiQuantileStep(t_->sparseCount, lists), rank = CeilDiv(t_->sparseCount, step) - 1;
    const bool wide = m.count > 4, gathered = gathered_, tailsToDecide = tailsToDecide_;
    const LocalTensor<float> src = qMerged_;
    LocalTensor<float> free = qFree_;  // the quantile buffer not holding the merged runs
    float bestLast = kNegInf;
    if (gathered) {  // the lists' lengths (and best last quantile), while the vector unit merges the quantiles
      ReadListWords(uint32_t(m.count), lens, tailsToDecide ? &bestLast : nullptr);
    } else if (wide) {
      for (int32_t i = 0; i < m.count; ++i) lens[i] = WideLength(m, i, 0);
      if (tailsToDecide) bestLast = BestLastLoaded(m);
    }
    if (!fewScores_) SetFlag<HardEvent::V_S>(0);  // (set by StartCut)
    WaitFlag<HardEvent::V_S>(0);
    const float threshold = src.GetValue(2 * rank);
    threshold_ = threshold;
    // A final merge in parts: part p's score band [bandLo_, bandHi_) between the edges the host
    // placed among the merged quantiles (SetBandEdges, about k / parts entries each).
    const uint32_t parts = CeilDiv(t_->sparseCount, t_->outChunk);
    if (m.dst < 0 && parts > 1) {
      const uint32_t part = uint32_t(-1 - m.dst);
      hasHi_ = part > 0;
      hasLo_ = part + 1 < parts;
      if (hasHi_) bandHi_ = BandEdge(src, edgeHi_);
      if (hasLo_) bandLo_ = BandEdge(src, edgeLo_);
    }
    uint32_t aboveAll[kLiMaxWideLists];
    if (wide) {
      // The window's compares (a band merge's part, ExpectWindow) go between the quantiles' compare and
      // its reads: the vector unit compares the window while the scalar unit counts the quantiles. With
      // no tails to decide on (every list written whole, or none kept whole: each then cut inside its
      // head) a part compares and counts its quantiles only if its window misses (CutPending): the
      // window's compares start at once.
      quantBits_ = free[kWindowBitsFloats].ReinterpretCast<uint32_t>();
      cutLate_ = windowLists_ > 0 && (t_->tailFlagOffset == 0 || bestLast < threshold);
      if (!cutLate_) CompareQuantiles(threshold, lists, quantBits_);
      if (windowLists_ > 0) CompareWindow(src.ReinterpretCast<uint64_t>(), free.ReinterpretCast<uint64_t>());
      if (!cutLate_) CountQuantiles(lists, quantBits_, aboveAll);
    }
    // Up to 4 lists: each list's quantiles at or above T and the band's edges counted by the vector
    // unit, one compare a value (CompareFewQuantiles), where a binary search a list and value took
    // ~5 UB reads (B = 16 x 8K: ~40 reads, ~450 cycles on the path of every part after SyncAll).
    const bool bands = m.dst < 0 && parts > 1 && m.count > 1 && m.count <= 4;
    const bool few = !wide && lists <= 4;  // (a cut merge of up to 4 lists cuts only its row's, at most 4)
    fewBounds_ = few && bands;
    if (fewBounds_) bandBits_ = free.ReinterpretCast<uint64_t>()[kBandBitsWords];  // (past CompareFewQuantiles' bits)
    uint32_t aboveFew[3][4];
    if (few) CompareFewQuantiles(lists, free, threshold, bands && hasHi_, bands && hasLo_, aboveFew);
    for (int32_t i = 0; i < m.count; ++i) {
      const uint32_t list = uint32_t(m.src - m.cutBase + i);
      uint32_t above = wide ? (cutLate_ ? kLiQuantiles : aboveAll[list]) : few ? aboveFew[0][list] : QuantilesAtLeast(list, threshold);
      if (i < 4) keptWhole_[i] = above == kLiQuantiles;
      CutLength(step, above, lens[i]);
      // A lower bound of where the band starts in list i: its quantiles at or above the band's upper
      // edge each vouch for `step` entries above the band (and the first one below it, an upper bound).
      bandStart_[i < 4 ? i : 3] = 0;
      if (hasHi_ && bands) {
        hiAbove_[i] = few ? aboveFew[1][list] : QuantilesAtLeast(list, bandHi_);
        bandStart_[i] = step * hiAbove_[i];
      }
      // A part above the last of a merge of up to 4 lists (always a band merge) reads a list only
      // down to its first quantile below the band's lower edge: no entry after it is in the band.
      if (hasLo_ && bands) {
        above = few ? aboveFew[2][list] : QuantilesAtLeast(list, bandLo_);
        loAbove_[i] = above;
        const uint32_t keep = step * above + step - 1;
        if (above < kLiQuantiles && keep < lens[i]) lens[i] = keep;
      }
    }
    step_ = step;
  }

  // Whether CutAtThreshold left a part of a wide band merge uncut (its lists written whole, or each
  // with a loaded quantile below T: none is read past its head, no tail is needed): its window is
  // read with the lists' full lengths (its band is at or above T, the last part's ends at T), saving
  // the quantiles' compare and the counts' reads before the window's (B = 1 x 8K: 28 vector cycles
  // and 16 UB reads; 32K: 32 and 20); CutLate if it misses.
  __aicore__ inline bool CutPending() const { return cutLate_; }
  // Cuts lens (the lists' full lengths) at the threshold; returns their sum.
  __aicore__ inline uint32_t CutLate(const LiMerge& m, uint32_t* lens) {
    cutLate_ = false;
    const uint32_t lists = uint32_t(m.cutLists), step = LiQuantileStep(t_->sparseCount, lists);
    uint32_t above[kLiMaxWideLists], total = 0;
    CompareQuantiles(threshold_, lists, quantBits_);
    CountQuantiles(lists, quantBits_, above);
    for (int32_t i = 0; i < m.count; ++i) {
      CutLength(step, above[m.src - m.cutBase + i], lens[i]);
      total += lens[i];
    }
    return total;
  }

  // A wide band merge's window comes in chunks of whole lists (LiMerger::LoadWindow), each with its
  // own MTE2 -> V event: a chunk is compared as it arrives and its masks read while the next ones are
  // on their way, so only the last chunk's work follows the window's GM latency. 4 chunks, not 3:
  // each costs a copy's fixed cost on MTE2, but less compare and read work follows the last (B = 1 x
  // 32K, 40 lists: 12, 12, 12 and 4, not 16, 16 and 8; 8K: 4 x 8, not 12, 12 and 8; li-fixed).
  // A chunk holds a multiple of 4 lists: its compare bits start 32-byte aligned.
  static constexpr uint32_t kWindowChunks = 4;
  static constexpr int32_t kEvWindow = 1;  // MTE2 -> V and V -> S events kEvWindow .. + kWindowChunks - 1
  static_assert(kEvWindow + kWindowChunks <= 5, "the window's V -> S events end before kEvWords");
  __aicore__ static inline uint32_t WindowChunkLists(uint32_t count) { return AlignUp(CeilDiv(count, kWindowChunks), 4); }

  // The next cut merge is a part of a wide band merge whose window [skip, end) of its `count` lists
  // comes into inAll in chunks (list i at i * (end - skip), a multiple of 32 pairs): CutAtThreshold
  // compares it with the band's edges, WindowBand reads the result (EndWindow(0): none).
  __aicore__ inline void ExpectWindow(const AscendC::LocalTensor<float>& inAll, uint32_t count, uint32_t skip, uint32_t end) {
    winAll_ = inAll;
    windowLists_ = count;
    winSkip_ = skip;
    winEnd_ = end;
  }

  // A part of a wide band merge (ExpectWindow), list i (lists in order from 0; the first list of a
  // chunk waits for its compares): whether its window holds its band, and for the last part every
  // entry at or above the threshold (those below it rank past k): the window's first pair ranks above
  // the band (or the window starts at pair 0), and its last pair below the band (or the list ends in
  // it). Where the band is, is counted as in CountQuantiles: per chunk one compare with each edge
  // (CompareWindow), then per list the set bits that open its 64-bit words (~2 UB reads a list where
  // two binary searches took ~12). Sets lo / hi: the band's pairs in list i's window. The caller
  // merges the bands found while the scalar reads the next lists (LiMerger::WindowBandMerge), and
  // ends with EndWindow.
  __aicore__ inline bool WindowBand(uint32_t i, uint32_t fullLen, uint32_t& lo, uint32_t& hi) {
    const uint32_t words = (winEnd_ - winSkip_) / 32, per = WindowChunkLists(windowLists_);
    if (i % per == 0) AscendC::WaitFlag<AscendC::HardEvent::V_S>(kEvWindow + int32_t(i / per));
    return BandInWindow(fullLen, i * words, lo, hi);
  }

  // After WindowBand of lists [0, next): the events of the chunks no list opened are waited for too.
  __aicore__ inline void EndWindow(uint32_t next) {
    const uint32_t per = WindowChunkLists(windowLists_);
    for (uint32_t c = CeilDiv(next, per); c * per < windowLists_; ++c)
      AscendC::WaitFlag<AscendC::HardEvent::V_S>(kEvWindow + int32_t(c));
    windowLists_ = 0;
  }

 private:
  // The window's compares, chunk by chunk as they arrive, with the band's upper edge into above and
  // its lower edge (the last part: the threshold) into atLow (free quantile buffers).
  __aicore__ inline void CompareWindow(const AscendC::LocalTensor<uint64_t>& above, const AscendC::LocalTensor<uint64_t>& atLow) {
    using namespace AscendC;
    const uint32_t width = winEnd_ - winSkip_, words = width / 32, per = WindowChunkLists(windowLists_);
    const float low = hasLo_ ? bandLo_ : threshold_;
    CountFormMask();
    winAbove_ = above;
    winAtLow_ = atLow;
    if (hasHi_) {  // `above` is the merged quantiles' buffer: the scalar has read T and the band's edges from it
      SetFlag<HardEvent::S_V>(0);
      WaitFlag<HardEvent::S_V>(0);
    }
    for (uint32_t first = 0, c = 0; first < windowLists_; first += per, ++c) {
      const uint32_t elems = (windowLists_ - first < per ? windowLists_ - first : per) * width * kPairFloats;  // a multiple of 64
      const LocalTensor<float> chunk = winAll_[first * width * kPairFloats];
      WaitFlag<HardEvent::MTE2_V>(kEvWindow + int32_t(c));
      if (hasHi_) CompareScalar(above[first * words].ReinterpretCast<uint8_t>(), chunk, bandHi_, CMPMODE::GE, elems);
      CompareScalar(atLow[first * words].ReinterpretCast<uint8_t>(), chunk, low, CMPMODE::GE, elems);
      SetFlag<HardEvent::V_S>(kEvWindow + int32_t(c));
    }
  }

  // WindowBand for one list (its compare bits from word w0, its cut length fullLen): whether its
  // window holds its band, and where (lo / hi: the band's pairs in the window).
  __aicore__ inline bool BandInWindow(uint32_t fullLen, uint32_t w0, uint32_t& lo, uint32_t& hi) {
    const uint32_t width = winEnd_ - winSkip_, words = width / 32, len = fullLen < winEnd_ ? fullLen : winEnd_;
    if (winSkip_ > 0 && (!hasHi_ || len <= winSkip_)) return false;
    const uint32_t local = len > winSkip_ ? len - winSkip_ : 0;
    const uint32_t first = hasHi_ ? LeadingSet(winAbove_, w0, words, 0) : 0;
    if (winSkip_ > 0 && first == 0) return false;
    // the entries above the band are at or above its lower edge too: their whole words are set
    const float low = hasLo_ ? bandLo_ : threshold_;
    const uint32_t last = LeadingSet(winAtLow_, w0, words, hasHi_ && low <= bandHi_ ? first / 32 : 0);
    if (fullLen > winEnd_ && last >= width) return false;
    lo = first < local ? first : local;
    hi = last < local ? last : local;
    return true;
  }

  // Merges `runs` sorted quantile runs of qIn_ (run i: lens[i] pairs from pair starts[i]) into one,
  // 4 at a time, alternating between qA_ and qB_; returns the buffer holding it. Only the scores are
  // read after (the threshold and the band edges), so the queues' order does not matter. The rounds
  // are fixed by the run count (4-way: 32 runs take 3); the first merges only as many leading groups
  // as the rounds after it need, and the other runs wait in qIn_ for the second: each merged element
  // costs the same in every round (MrgSort), so a run merged twice instead of three times saves its
  // length (B = 1 x 8K: 32 runs of 5, 22 of them merged three times, 430 elements instead of 480).
  __aicore__ inline AscendC::LocalTensor<float> MergeQuantileRuns(uint32_t* lens, uint32_t* starts, uint32_t runs,
                                                                  AscendC::LocalTensor<float>& free) {
    using namespace AscendC;
    uint32_t cap = 1;  // the most runs the rounds after the first can merge into one
    while (cap * 4 < runs) cap *= 4;
    bool raw[kLiMaxWideLists];  // run i still in qIn_ (not merged by the first round)
    for (uint32_t i = 0; i < runs; ++i) raw[i] = true;
    LocalTensor<float> src = qIn_;
    bool toA = true;
    for (bool first = true; runs > 1; first = false) {
      const LocalTensor<float> dst = toA ? qA_ : qB_;
      uint32_t in = 0, out = 0, at = 0, left = runs;
      while (in < runs) {
        if (first && left <= cap) {  // the rest waits in qIn_ for the next round
          lens[out] = lens[in];
          starts[out] = starts[in];
          raw[out++] = true;
          ++in;
          continue;
        }
        uint32_t q = runs - in < 4 ? runs - in : 4;
        if (first && left - cap + 1 < q) q = left - cap + 1;  // down to exactly cap runs
        LocalTensor<float> group[4];
        for (uint32_t j = 0; j < q; ++j) group[j] = (raw[in + j] ? qIn_ : src)[starts[in + j] * kPairFloats];
        const uint32_t len = MergeLists(dst[at * kPairFloats], group, &lens[in], q);
        lens[out] = len;
        starts[out] = at;
        raw[out++] = false;
        at += AlignUp(len, 4);  // runs start 32-byte aligned
        in += q;
        left -= q - 1;
      }
      // (the last round's result is read after CutAtThreshold's V -> S event, which waits for it too)
      if (out > 1) PipeBarrier<PIPE_V>();
      runs = out;
      src = dst;
      toA = !toA;
    }
    free = toA ? qA_ : qB_;
    return src;
  }

  // How many of list `list`'s quantiles are at or above v: a binary search (they are sorted, best first).
  __aicore__ inline uint32_t QuantilesAtLeast(uint32_t list, float v) {
    uint32_t lo = 0, hi = kLiQuantiles;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (qIn_.GetValue((list * kLiQuantiles + mid) * kPairFloats) >= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // The entries at or above edge e of list i (its window's compare: those before `from` are, the count
  // is at most `to`; the set score bits are a prefix of the sorted window).
  __aicore__ inline uint32_t WindowCount(uint32_t i, uint32_t e) {
    const BandWin& w = win_[i][e];
    if (w.to <= w.from) return w.from;
    const uint32_t c = w.w0 + LeadingSet(bandBits_, (2 * i + e) * kBandWinWords, w.width / 32, 0);
    return c < w.from ? w.from : c > w.to ? w.to : c;
  }

  // QuantilesAtLeast of each of up to 4 lists with T into above[0], with the band's upper edge
  // (`hi`) into above[1] and its lower edge (`lo`) into above[2]: a compare of all their quantiles'
  // scores (StartCut gathered them, 16 a list, from float kFewScoresFloats of `free`, the quantile
  // buffer not holding the merged ones) with each value into its own words of `free`, one V -> S
  // wait, one 64-bit read a value (16 bits a list, little-endian: list c at bit 16 c; every quantile
  // of a list of up to 4 is loaded, so a count of 16 is all of them). The compares of the pairs took
  // a read per two lists and value (B = 16 x 8K: 4 reads, 44 scalar cycles on the path of every part).
  __aicore__ inline void CompareFewQuantiles(uint32_t lists, const AscendC::LocalTensor<float>& free, float t, bool hi,
                                             bool lo, uint32_t (*above)[4]) {
    using namespace AscendC;
    const LocalTensor<uint32_t> bits = free.ReinterpretCast<uint32_t>();
    const float v[3] = {t, bandHi_, bandLo_};
    const bool used[3] = {true, hi, lo};
    CountFormMask();
    PipeBarrier<PIPE_V>();  // (the scores' gather)
    for (uint32_t w = 0; w < 3; ++w)
      if (used[w])
        CompareScalar(bits[w * kFewBitsWords].ReinterpretCast<uint8_t>(), free[kFewScoresFloats], v[w], CMPMODE::GE,
                      4 * kLiQuantiles);
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    const LocalTensor<uint64_t> words = bits.ReinterpretCast<uint64_t>();
    for (uint32_t w = 0; w < 3; ++w) {
      if (!used[w]) continue;
      const uint64_t four = words.GetValue(w * kFewBitsWords / 2);
      for (uint32_t c = 0; c < lists && c < 4; ++c) above[w][c] = BitsSet16(uint32_t(four >> (16 * c)) & 0xFFFFu);
    }
  }
  __aicore__ static inline uint32_t BitsSet16(uint32_t x) { return EvenBitsSet(x) + EvenBitsSet(x >> 1); }
  static constexpr uint32_t kFewBitsWords = 64;  // 32-bit words between CompareFewQuantiles' values' bits
  // The scores StartCut gathers for CompareFewQuantiles (64 floats), in the free quantile buffer past
  // the values' bits (3 x kFewBitsWords words) and CompareBandWindow's (from 64-bit word kBandBitsWords).
  static constexpr uint32_t kFewScoresFloats = 512;
  // CompareBandWindow's windows: at most kBandWinMax pairs (the quantile step's cap), their bits in
  // slots of kBandWinWords 64-bit words from 64-bit word kBandBitsWords of the free quantile buffer.
  static constexpr uint32_t kBandWinMax = 256, kBandWinWords = kBandWinMax / 32, kBandBitsWords = 128;
  struct BandWin {
    uint32_t from, to, w0, width;
  };
  BandWin win_[4][2] = {};
  AscendC::LocalTensor<uint64_t> bandBits_;

  // The pairs of a list held from pair `skip` between which its entries at or above a value end, from
  // its quantiles at or above it (`above`): quantile j is the list's score at rank step j + step - 1.
  __aicore__ inline void FewRange(uint32_t above, uint32_t skip, uint32_t& from, uint32_t& to) const {
    const uint32_t first = step_ * above;  // every entry before it is at or above
    from = first > skip ? first - skip : 0;
    if (above < kLiQuantiles) {  // the next quantile's entry is below: the count is at most its rank
      const uint32_t last = step_ * above + step_ - 1;
      const uint32_t end = last > skip ? last - skip : 0;
      if (end < to) to = end;
    }
    if (from > to) from = to;
  }

  // QuantilesAtLeast of each of `lists` lists at once (a wide merge: a binary search each took ~260
  // cycles of UB reads at B = 1 x 8K): one compare of all their quantiles with v into `bits` (a free
  // quantile buffer), where list c's 16 pairs are the 32 bits of word c, its scores the even bits;
  // the quantiles are sorted, so the set even bits are a prefix and their count is the answer
  // (CountQuantiles, after the vector unit's next work is issued).
  __aicore__ inline void CompareQuantiles(float v, uint32_t lists, const AscendC::LocalTensor<uint32_t>& bits) {
    using namespace AscendC;
    CountFormMask();
    CompareScalar(bits.ReinterpretCast<uint8_t>(), qIn_, v, CMPMODE::GE, AlignUp(lists * kLiQuantiles * kPairFloats, 64));
    SetFlag<HardEvent::V_S>(0);
  }
  // Only the loaded quantiles count (LoadQuantiles); a list whose loaded ones are all at or above v is
  // taken as all 16 (not cut: its next quantiles are not known).
  __aicore__ inline void CountQuantiles(uint32_t lists, const AscendC::LocalTensor<uint32_t>& bits, uint32_t* above) {
    AscendC::WaitFlag<AscendC::HardEvent::V_S>(0);
    const uint32_t loadedBits = loaded_ < kLiQuantiles ? (1u << (2 * loaded_)) - 1u : 0xFFFFFFFFu;
    const AscendC::LocalTensor<uint64_t> pairsOfWords = bits.ReinterpretCast<uint64_t>();
    for (uint32_t c = 0; c < lists; c += 2) {  // two lists a read (little-endian: list c in the low word)
      const uint64_t two = pairsOfWords.GetValue(c / 2);
      above[c] = EvenBitsSet(uint32_t(two) & loadedBits);
      if (c + 1 < lists) above[c + 1] = EvenBitsSet(uint32_t(two >> 32) & loadedBits);
    }
    for (uint32_t c = 0; c < lists; ++c)
      if (above[c] == loaded_) above[c] = kLiQuantiles;
  }

  // The best of the merge's lists' last loaded quantiles: below T, every list has a loaded quantile
  // below it (CountQuantiles counts fewer than loaded_), so each is cut inside its head (CutLength:
  // at most 16 step - 1 pairs). Read by the scalar unit while the vector unit merges the quantiles
  // (B = 1 x 32K: 40 UB reads there instead of the counts' 20 and a compare after it).
  // A wide merge's list lengths (the second word of each list's first quantile pair) and, with `best`,
  // its lists' last loaded quantiles' best, gathered into words_ by the vector unit ahead of the
  // quantiles' merge: the scalar unit then reads the lengths two to a 64-bit word and the best once,
  // not 2 x count UB reads one by one (B = 1 x 128K: 80 reads, 880 cycles on the path of phase 2).
  // One 32-byte block of each list a lane group (a block stride of one list), the pattern keeping one
  // word of it. False (nothing issued) when the gather's last repeat would pass the loaded lists.
  __aicore__ inline bool GatherListWords(const LiMerge& m, bool best) {
    using namespace AscendC;
    const uint32_t first = uint32_t(m.src - m.cutBase), repeats = CeilDiv(uint32_t(m.count), 8u);
    if (first + 8 * repeats > kLiMaxWideLists) return false;
    constexpr uint32_t listWords = kLiQuantiles * kPairFloats, listBlocks = listWords * 4 / 32;
    const GatherMaskParams everyList(uint8_t(listBlocks), uint16_t(repeats), uint16_t(8 * listBlocks), 0);
    const LocalTensor<uint32_t> q = qIn_.ReinterpretCast<uint32_t>()[first * listWords];
    const LocalTensor<uint32_t> pattern = words_[kPatternWords].ReinterpretCast<uint32_t>();
    const uint32_t last = loaded_ - 1;  // the last loaded pair: word 2 (last % 4) of the list's block last / 4
    Duplicate(pattern.ReinterpretCast<int32_t>(), int32_t(kLengthPattern), 8);
    if (best) Duplicate(pattern[8].ReinterpretCast<int32_t>(), int32_t(kFirstWordPattern << (2 * (last % 4))), 8);
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;
    GatherMask(words_.ReinterpretCast<uint32_t>(), q, pattern, false, 0, everyList, kept);
    if (best) {
      const LocalTensor<float> lasts = words_[kLastWords].ReinterpretCast<float>();
      GatherMask(lasts, q[(last / 4) * 8].ReinterpretCast<float>(), pattern[8], false, 0, everyList, kept);
      PipeBarrier<PIPE_V>();
      WholeReduceMax(words_[kBestWord].ReinterpretCast<float>(), lasts, m.count, 1, 1, 1, 8, ReduceOrder::ORDER_ONLY_VALUE);
    }
    SetFlag<HardEvent::V_S>(kEvWords);
    return true;
  }
  __aicore__ inline void ReadListWords(uint32_t count, uint32_t* lens, float* best) {
    AscendC::WaitFlag<AscendC::HardEvent::V_S>(kEvWords);
    const AscendC::LocalTensor<uint64_t> two = words_.ReinterpretCast<uint64_t>();
    for (uint32_t c = 0; c < count; c += 2) {  // little-endian: list c in the low word
      const uint64_t w = two.GetValue(c / 2);
      lens[c] = uint32_t(w);
      if (c + 1 < count) lens[c + 1] = uint32_t(w >> 32);
    }
    if (best) *best = words_[kBestWord].ReinterpretCast<float>().GetValue(0);
  }
  static constexpr uint32_t kLastWords = 64, kPatternWords = 128, kBestWord = 144;  // words_: lengths from 0
  static constexpr uint32_t kLengthPattern = 0x02020202u;     // word 1 of each 8-word block
  static constexpr uint32_t kFirstWordPattern = 0x01010101u;  // word 0 of each 8-word block
  static constexpr int32_t kEvWords = 5;                      // V -> S, after the window's events (kEvWindow ..)

  __aicore__ inline float BestLastLoaded(const LiMerge& m) {
    float best = kNegInf;
    for (int32_t i = 0; i < m.count; ++i) {
      const float last = qIn_.GetValue((uint32_t(m.src - m.cutBase + i) * kLiQuantiles + loaded_ - 1) * kPairFloats);
      best = last > best ? last : best;
    }
    return best;
  }

  // Count-form compares run under the vector mask register (see RunningTopK::Offer): all lanes.
  __aicore__ static inline void CountFormMask() {
    AscendC::SetMaskNorm();
    AscendC::ResetMask();
  }

  // A list of `len` pairs with `above` quantiles at or above the threshold: its entries from quantile
  // `above` on are below it (none if all 16 are at or above).
  __aicore__ static inline void CutLength(uint32_t step, uint32_t above, uint32_t& len) {
    const uint32_t keep = step * above + step - 1;
    if (above < kLiQuantiles && keep < len) len = keep;
  }

  // A wide merge's quantile run, the same for every list (LiWideRun).
  __aicore__ inline uint32_t WideRun(const LiMerge& m, uint32_t lists) const {
    return LiWideRun(t_->sparseCount, lists, m.visible);
  }

  __aicore__ static inline uint32_t EvenBitsSet(uint32_t x) {
    x &= 0x55555555u;  // each 2-bit field holds 0 or 1
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
  }

  // A band edge from its host code (LiPackEdge), read from the merged quantiles.
  __aicore__ inline float BandEdge(const AscendC::LocalTensor<float>& merged, int32_t code) {
    const float a = merged.GetValue(2 * LiEdgeA(code)), b = merged.GetValue(2 * LiEdgeB(code)), c = LiEdgeCoef(code);
    return a > b && b != kNegInf && a != -kNegInf ? a + (a - b) * c : a;  // no inf - inf; tied quantiles
  }

  // Entries of a sorted list (best first) whose score is at least v, the first `from` known to be:
  // a search in UB, galloping from `from` (a band is short: its lower edge is a few entries on).
  __aicore__ inline uint32_t AtLeast(const AscendC::LocalTensor<float>& list, uint32_t len, float v, uint32_t from,
                                     bool gallop) {
    uint32_t lo = from, hi = len;
    for (uint32_t gap = 1; gallop && lo < hi; gap *= 2) {
      const uint32_t probe = lo + gap - 1 < hi ? lo + gap - 1 : hi - 1;
      if (list.GetValue(2 * probe) < v) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (list.GetValue(2 * mid) >= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // The pairs whose compare bit is set before the first one that is not, in a list's `words` 64-bit
  // words of a count-form compare from word w0 (32 pairs a word, the scores the even bits), its
  // first `full` words known to be set.
  __aicore__ inline uint32_t LeadingSet(const AscendC::LocalTensor<uint64_t>& bits, uint32_t w0, uint32_t words,
                                        uint32_t full) {
    for (uint32_t w = full; w < words; ++w) {
      const uint64_t clear = ~bits.GetValue(w0 + w) & 0x5555555555555555ull;
      if (clear != 0) {
        const uint64_t below = (clear & (~clear + 1u)) - 1u;  // the bits below the first clear score bit
        return 32 * w + EvenBitsSet(uint32_t(below)) + EvenBitsSet(uint32_t(below >> 32));
      }
    }
    return 32 * words;
  }

  // StartCut's state for FinishCut: the merged quantiles, the free quantile buffer, the wide merge's gather.
  AscendC::LocalTensor<float> qMerged_, qFree_;
  bool gathered_ = false, tailsToDecide_ = false, fewScores_ = false;
  const LightningIndexerTiling* t_ = nullptr;
  float bandHi_ = 0.0f, bandLo_ = 0.0f, threshold_ = 0.0f;  // a final merge in parts: its score band (CutAtThreshold)
  bool hasHi_ = false, hasLo_ = false;
  int32_t edgeHi_ = 0, edgeLo_ = 0;  // the band's edges' codes (SetBandEdges)
  bool keptWhole_[4] = {false, false, false, false};  // KeptWhole
  // A band merge of up to 4 lists (fewBounds_): list i's quantiles at or above the band's upper and
  // lower edge (BandFrom / BandTo search between them), and the quantile step.
  bool fewBounds_ = false;
  uint32_t hiAbove_[4] = {0, 0, 0, 0}, loAbove_[4] = {0, 0, 0, 0}, step_ = 4;
  uint32_t bandStart_[4] = {0, 0, 0, 0};  // a band merge of up to 4 lists: list i's band starts at or after pair bandStart_[i]
  AscendC::LocalTensor<float> qIn_, qA_, qB_;
  AscendC::LocalTensor<int32_t> words_;  // GatherListWords' output and patterns (the merger's headers' buffer)
  // A band merge's window (ExpectWindow) and its compare bits (CompareWindow); windowLists_ 0: none.
  // The quantiles' compare bits sit past the window's in the same buffer (at most bestPairs <= 2,048
  // bytes of window bits: the host keeps a window within 4 x bestPairs pairs, WideBandWindow).
  static constexpr uint32_t kWindowBitsFloats = 1024;
  AscendC::LocalTensor<float> winAll_;
  AscendC::LocalTensor<uint64_t> winAbove_, winAtLow_;
  uint32_t windowLists_ = 0, winSkip_ = 0, winEnd_ = 0;
  uint32_t loaded_ = kLiQuantiles;  // quantiles loaded per list (LoadQuantiles)
  AscendC::LocalTensor<uint32_t> quantBits_;  // a wide merge's quantiles compared with T (CompareQuantiles)
  bool cutLate_ = false;  // the wide merge's lists not cut yet (CutLate)
};

}  // namespace ascend_glm5
