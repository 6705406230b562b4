// Lightning Indexer, vector side (AIV), phase 2: the merge of each row's partial top-k lists and
// the output (LiVector runs phase 1 and hands this class the lists, their tail and the UB arena).
//
// After SyncAll over the vector cores, the host's merge plan, level by level (SyncAll between
// levels): each merge takes up to 4 consecutive lists of a row (key order, so MrgSort's queue order
// keeps ties on the lower index), keeps the best k, and writes a list slot or, for a row's last
// merge, its indices (and scores). A row merged in one step (a wide merge: more than 4 lists) cuts
// its lists at a threshold from their quantiles first (LiCut::CutAtThreshold), and a row's final merge in
// parts merges only its part's score band (BandMerge). A list phase 1 wrote in part has its tail
// written after SyncAll (WriteTail), or by the core's first merge only if a merge reads it
// (ResolveTail); GM flag tailFlagOffset counts the tails written (TailWritten, WaitTails).
// Events: id 0 of each pair (MTE2_V, MTE2_S, V_MTE2, V_MTE3, MTE3_V, V_S, S_V); phase 1's tile
// events (LiVector::kEvTile ..) are drained before Carve.
#pragma once

#include "../common/gm_flag.h"
#include "../common/topk.h"
#include "kernel_operator.h"
#include "li_arena.h"
#include "li_cut.h"
#include "li_lists.h"
#include "li_plan.h"

namespace ascend_glm5 {

class LiMerger {
 public:
  // `lists`: the workspace's list slots; `indices` / `values`: the outputs (values: returnValue only).
  __aicore__ inline void Init(GM_ADDR plan, const LiLists& lists, const AscendC::GlobalTensor<int32_t>& indices,
                              const AscendC::GlobalTensor<float>& values, const LightningIndexerTiling& t) {
    t_ = &t;
    plan_.Init(plan, t);
    cut_.Init(t);
    lists_ = lists;
    indices_ = indices;
    values_ = values;
    if (t.tailFlagOffset > 0) tailFlag_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(plan) + t.tailFlagOffset, 8);
  }

  // This core's first merge of level 0, read before phase 1: its GM misses overlap the wait for the
  // first score tile instead of following SyncAll (decode: the row's final merge).
  __aicore__ inline void ReadFirstMerge() {
    if (t_->numLevels > 0) {
      plan_.LevelMerges(0, m0_, end0_);
      m0_ += AscendC::GetBlockIdx();
      if (m0_ < end0_) firstMerge_ = plan_.Merge(m0_);
      if (m0_ < end0_ && t_->mergeWords == kLiMergeWordsWithEdges) plan_.BandEdges(m0_, firstEdges_[0], firstEdges_[1]);
    }
  }

  // Phase 2's early region (written from SyncAll on: headers, quantiles, lists loaded), then its late
  // region (written only after TailWritten: the merge's output and the extraction). Phase 1 keeps a
  // list it writes in part (KeepTail) only at or past EarlyBytes.
  __aicore__ static inline uint32_t EarlyBytes(const LightningIndexerTiling& t) {
    return 4 * t.bestPairs * kPairFloats * 4 + kLiMaxWideLists * 8 * 4 + 32 + 3 * kLiMaxWideLists * kLiQuantiles * kPairFloats * 4 +
           kRunPairs * kPairFloats * 4 + 32 + kOutPiecePairs * 4;
  }

  // Phase 1's last list of a row merged in one step, written up to pair `head` of its `count`
  // (slot `slot`): its tail is left in UB at `list` (at or past EarlyBytes) for WriteTail. `rest`: its
  // top-k, when the list's full merge follows SyncAll (RunningTopK::FinalFlushRest), else nullptr.
  __aicore__ inline void KeepTail(const AscendC::LocalTensor<float>& list, int32_t slot, uint32_t count, uint32_t head,
                                  RunningTopK* rest) {
    tailHead_ = head;
    tailList_ = list;
    tailSlot_ = slot;
    tailCount_ = count;
    tailRest_ = rest;
  }

  // Phase 2's buffers, from the arena's start (phase 1's buffers but a kept tail are free).
  __aicore__ inline void Carve(LiArena& arena) {
    arena.Seek(0);
    const uint32_t pairs = t_->bestPairs;
    inAll_ = arena.Take<float>(4 * pairs * kPairFloats);
    for (uint32_t i = 0; i < 4; ++i) in_[i] = inAll_[i * pairs * kPairFloats];
    heads_ = arena.Take<int32_t>(kLiMaxWideLists * 8);
    header_ = arena.Take<int32_t>(8);
    cut_.Carve(arena, heads_);  // a wide merge reads no headers: its cut gathers into their buffer
    emptyPair_ = arena.Take<float>(kRunPairs * kPairFloats);
    flagScratch_ = arena.Take<int32_t>(8);
    outOffsets_ = arena.Take<uint32_t>(kOutPiecePairs);  // (early: built after SyncAll, before a kept tail is written)
    // the late region (EarlyBytes from here)
    merged_ = arena.Take<float>((4 * pairs + 4) * kPairFloats);  // + 4: a band's single run and its (-inf, -1) pair
    outScores_ = arena.Take<float>(pairs);
    outIdx_ = arena.Take<uint32_t>(pairs);
    FillEmptyPairs(emptyPair_, kRunPairs);
  }

  // The merge plan's levels, this core's merges of each (SyncAll before each level).
  __aicore__ inline void Run() {
    const uint32_t vectorCores = 2 * t_->blockDim;
    for (uint32_t level = 0; level < t_->numLevels; ++level) {
      AscendC::SyncAll<true>();  // the lists this level reads are in GM
      if (level == 0) {
        // A core whose first merge reads its own list written in part decides there whether the tail
        // is needed (ResolveTail): every merge that reads the list (the row's parts) cuts it alike.
        if (tailCount_ > 0 && m0_ < end0_ && (firstMerge_.count > 4 || firstMerge_.cutLists > 0) && tailSlot_ >= firstMerge_.src &&
            tailSlot_ < firstMerge_.src + firstMerge_.count)
          tailLazy_ = true;
        else
          WriteTail();
        for (uint32_t m = m0_; m < end0_; m += vectorCores) {
          const LiMerge merge = m == m0_ ? firstMerge_ : plan_.Merge(m);
          SetBandEdges(m);
          if (merge.count > 0) MergeStep(merge);  // (an empty record: a core the host left without one)
        }
        ResolveTail(true);
        TailWritten();  // a core without a wide merge
        restMerging_ = false;  // (a core without a merge at this level: the next level's first merge waits)
        continue;
      }
      uint32_t m, end;
      plan_.LevelMerges(level, m, end);
      for (m += AscendC::GetBlockIdx(); m < end; m += vectorCores) MergeStep(plan_.Merge(m));
    }
  }

 private:
  // Level 0's merge m's band edges to the cut, a final merge in parts (the first merge's read with
  // its record before phase 1, the others' in the scalar cache after their record's read).
  __aicore__ inline void SetBandEdges(uint32_t m) {
    if (t_->mergeWords < kLiMergeWordsWithEdges) return;
    int32_t hi = firstEdges_[0], lo = firstEdges_[1];
    if (m != m0_) plan_.BandEdges(m, hi, lo);
    cut_.SetBandEdges(hi, lo);
  }

  // After SyncAll: the tail of the list phase 1 wrote in part (KeepTail; from UB, phase 1's buffer
  // in phase 2's late region, which nothing writes before TailWritten).
  // A list whose final merge was cut to its head (RunningTopK::FinalFlushHead): its full merge
  // first, on the vector pipe while the first merge step's copies are on their way (MergeStep skips
  // its V -> MTE2 wait once: the merge reads and writes only the late region, which those copies do
  // not touch).
  __aicore__ inline void WriteTail(bool beforeMerge = true) {
    if (tailCount_ == 0) return;
    if (tailRest_ != nullptr) {
      tailRest_->FinalFlushRest();
      AscendC::SetFlag<AscendC::HardEvent::V_MTE3>(0);
      AscendC::WaitFlag<AscendC::HardEvent::V_MTE3>(0);
      restMerging_ = beforeMerge;
    }
    AscendC::DataCopyPad(lists_.pairs[lists_.Slot(tailSlot_) + kLiListHeaderFloats + tailHead_ * kPairFloats],
                         tailList_[tailHead_ * kPairFloats],
                         AscendC::DataCopyExtParams(1, (tailCount_ - tailHead_) * kPairFloats * 4, 0, 0, 0));
    tailCopied_ = true;
  }

  // A tail left for the core's first merge (tailLazy_, Run): written (its full merge first) if
  // `needed` (a merge of its row reads a list past its head), else dropped: the row's other merges
  // cut it alike and read none. Before TailWritten (and before the merge writes phase 2's late
  // region, where the list is kept). Saves the full merge after SyncAll (B = 1 x 128K: 1,310 cycles
  // on the vector pipe before the threshold's quantile merge).
  __aicore__ inline void ResolveTail(bool needed) {
    if (!tailLazy_) return;
    tailLazy_ = false;
    if (needed) WriteTail(false);
  }

  // Once per launch with list tails (tailFlagOffset), before the core writes phase 2's late region or
  // waits for the tails: its own tail is in GM (GmFlagAdd orders it before the add), count it. The
  // scalar goes on while the add's copy runs (B = 1 x 32K: it waited ~35 cycles for it before every
  // part's band merge); only the vector unit waits for MTE3, and only when the tail was copied (from
  // the late region, which it writes next). flagScratch_ is not written again (WaitTails polls with
  // the scalar).
  __aicore__ inline void TailWritten() {
    if (t_->tailFlagOffset == 0 || tailCounted_) return;
    tailCounted_ = true;
    GmFlagAdd(tailFlag_, 1, flagScratch_, false);
    if (!tailCopied_) return;
    AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
  }

  // Every vector core's tail is in GM.
  __aicore__ inline void WaitTails() {
    TailWritten();
    GmFlagWaitAtLeast(tailFlag_, int32_t(2 * t_->blockDim));
  }

  __aicore__ inline void MergeStep(const LiMerge& m) {
    using namespace AscendC;
    const uint32_t k = t_->sparseCount, pairs = t_->bestPairs;
    // The lists' lengths: one strided copy of their headers, then read from UB.
    if (!restMerging_) {
      SetFlag<HardEvent::V_MTE2>(0);
      WaitFlag<HardEvent::V_MTE2>(0);
    }
    restMerging_ = false;
    // The previous merge's scalar reads (headers, quantiles, lists, compare bits) before this one's
    // loads overwrite them, and through the loads' MTE2 -> V events before its vector writes (the
    // quantiles' merge rounds). The scalar unit is past them: no stall.
    SetFlag<HardEvent::S_MTE2>(0);
    WaitFlag<HardEvent::S_MTE2>(0);
    const bool wide = m.count > 4;  // a row merged in one step: its lists' lengths come with the quantiles
    // A cut needs the row's quantiles: they come in with the headers (one GM round trip). Their
    // pairs 0 and 1 carry each list's header words (LiVector::WriteQuantiles): a cut merge reads
    // no header (up to 4 lists: the copy's 18 MTE2 cycles were before every list's copy).
    const bool cut = m.cutLists > 0 && LiCutDecides(k, uint32_t(m.cutLists));
    if (!wide && !cut)
      DataCopyPad(heads_, lists_.words[lists_.Slot(m.src)],
                  DataCopyExtParams(uint16_t(m.count), 8, t_->listSlotBytes - 8, 0, 0), DataCopyPadExtParams<int32_t>());
    if (cut) cut_.LoadQuantiles(lists_.quants[uint64_t(m.cutBase) * kLiQuantiles * kPairFloats], m);
    SetFlag<HardEvent::MTE2_S>(0);  // the headers (and quantiles) are in: the flags fire before the lists'
    if (cut) SetFlag<HardEvent::MTE2_V>(0);
    // A cut merge also loads the first pairs of every list right away (the plan's estimate of its
    // cut length): the lists then arrive while the threshold is computed, and only a list cut longer
    // is loaded again. Up to 4 lists: each its own estimate into in_[i] (LiSpecPairs); a wide
    // merge: pairs [winSkip, wideSpec) of every list, one strided copy into inAll_ (list i at
    // i * (wideSpec - winSkip)); a part of a band merge takes only the window its bands are
    // expected in (LiWindowSkip / LiWindowEnd, LiCut::WindowBand), other merges start at pair 0.
    uint32_t spec[4] = {0, 0, 0, 0};
    // (no further than every list's head: a list's tail may be on its way, WriteTail)
    const uint32_t wideHead = wide ? LiListHead(k, uint32_t(m.count), t_->wideHeadQuantiles) : 0;
    const uint32_t winEnd = cut && wide ? LiWindowEnd(m.spec) : 0, winSkip = cut && wide ? LiWindowSkip(m.spec) : 0;
    const uint32_t wideSpec = winEnd < wideHead ? winEnd : wideHead, winWidth = wideSpec > winSkip ? wideSpec - winSkip : 0;
    // A part of a band merge compares its window chunk by chunk (LiCut::WindowBand).
    const bool probe = winWidth > 0 && winWidth % 32 == 0 && m.dst < 0 && cut && t_->outChunk < k;
    if (winWidth > 0) LoadWindow(m, winSkip, winWidth, probe ? LiCut::WindowChunkLists(uint32_t(m.count)) : uint32_t(m.count), probe);
    // A part of a band merge above the last needs a list only down to its band's lower edge: about
    // (part + 1) / parts of its expected cut (a list found longer is loaded again below).
    const uint32_t parts = CeilDiv(k, t_->outChunk), part = m.dst < 0 ? uint32_t(-1 - m.dst) : 0;
    const bool upperPart = cut && !wide && m.count > 1 && m.dst < 0 && part + 1 < parts;
    // A part below the first skips the head of each list, about part / parts of it, less a margin
    // (a list whose band starts sooner is loaded again below): in_[i] holds list i from pair skip_[i].
    const bool lowerPart = cut && !wide && m.count > 1 && m.dst < 0 && parts > 1 && part > 0;
    // A band merge of up to 4 lists: each list's load sets its own MTE2 -> V event (kEvList + i), its
    // band's edges are compared as it lands (LiCut::CompareBandWindow).
    const bool perList = cut && !wide && m.count > 1 && m.dst < 0 && parts > 1;
    bool listEv[4] = {false, false, false, false};
    for (int32_t i = 0; i < 4; ++i) skip_[i] = 0;
    // This core's own list of the row (its first merge reads the list it kept in UB, tailLazy_): its
    // pairs from UB, a vector copy while the headers are on their way, where the others come from GM.
    const int32_t own = OwnListInUb(m, perList);
    for (int32_t i = 0; cut && !wide && i < m.count; ++i) {
      if (i == own) {
        spec[i] = OwnListHeld();
        DataCopy(in_[i], tailList_, AlignUp(spec[i], 4) * kPairFloats);
        PipeBarrier<PIPE_V>();
        continue;
      }
      spec[i] = LiSpecPairs(m.spec, uint32_t(i));
      if (lowerPart) skip_[i] = LowerPartSkip(spec[i], part, parts, LiQuantileStep(k, uint32_t(m.cutLists)));
      if (upperPart) spec[i] = UpperPartPairs(spec[i], part, parts);
    }
    // Two neighbouring lists of a band merge in one strided copy (they land together, on list i's
    // event) where that costs less than the second copy's fixed cost: both from the lower skip to the
    // higher end (B = 16 x 8K: a part's two lists of one length, 3 copies -> 2). Those first: the
    // last list to land is then compared and read alone.
    // order_: the lists in the order they land (the own list first), in which their windows are
    // compared and read (LiCut::CompareBandWindow, BandMerge).
    bool loaded[4] = {false, false, false, false};
    uint32_t placed = 0;
    if (own >= 0) {
      order_[placed++] = uint32_t(own);
      loaded[own] = true;
    }
    for (int32_t i = 0; perList && i + 1 < m.count; ++i) {
      if (loaded[i] || loaded[i + 1] || spec[i] <= skip_[i] || !LoadTwoLists(m, i, spec, pairs)) continue;
      SetFlag<HardEvent::MTE2_V>(kEvList + i);
      listEv[i] = loaded[i] = loaded[i + 1] = true;
      order_[placed++] = uint32_t(i);
      order_[placed++] = uint32_t(i + 1);
      ++i;
    }
    for (int32_t i = 0; cut && !wide && i < m.count; ++i) {
      if (loaded[i] || spec[i] <= skip_[i]) continue;
      LoadList(in_[i], m, i, spec[i] - skip_[i], skip_[i]);
      loaded[i] = true;
      order_[placed++] = uint32_t(i);
      if (perList) {
        SetFlag<HardEvent::MTE2_V>(kEvList + i);
        listEv[i] = true;
      }
    }
    for (int32_t i = 0; i < m.count && i < 4; ++i)
      if (!loaded[i]) order_[placed++] = uint32_t(i);
    if (m.dst < 0) BuildOutOffsets();  // (the scalar and vector units wait for the headers' GM latency)
    WaitFlag<HardEvent::MTE2_S>(0);
    uint32_t lens[kLiMaxWideLists], written[4] = {0, 0, 0, 0}, total = 0;
    if (probe) cut_.ExpectWindow(inAll_, uint32_t(m.count), winSkip, wideSpec);
    if (cut) cut_.StartCut(m);  // (the quantiles' merge: the headers are read while it runs)
    // (a wide merge reads them in LiCut::FinishCut, while its quantiles merge; a cut one of up to 4
    // lists its lengths from the quantiles, the pairs written only below)
    for (int32_t i = 0; !wide && i < m.count; ++i) {
      if (cut) {
        lens[i] = written[i] = cut_.WideLength(m, i, 0);
      } else {
        ReadHeader(i, lens[i], written[i]);
      }
    }
    if (cut) cut_.FinishCut(m, lens);
    // A list of up to 4 cut at its head or past it (only there may its pairs written be fewer: a list
    // written in two parts holds its head, LiListHead, LiPartsHead): those pairs, from the quantiles.
    for (int32_t i = 0; cut && !wide && i < m.count; ++i)
      if (lens[i] >= LiListHead(k, uint32_t(m.cutLists))) written[i] = cut_.WideLength(m, i, 1);
    if (m.dst == kLiTailDecision) {  // a core without a merge: its tail, only if a merge of the row can read it
      ResolveTail(!cut || cut_.KeptWhole(uint32_t(tailSlot_ - m.src)));
      TailWritten();
      return;
    }
    for (int32_t i = 0; i < m.count; ++i) total += lens[i];
    const bool final = m.dst < 0, one = m.count == 1;  // one list is copied as it is; more are merged
    // A cut final merge repeated over several parts merges only its own score band (BandMerge).
    bool band = final && cut && !one && t_->outChunk < k;
    uint32_t from = final ? uint32_t(-1 - m.dst) * t_->outChunk : 0, n = 0;
    if (m.count > 4) {
      // A wide merge (a row's final one; its lists hold at least k entries together as the row
      // sees more than k keys, so the output needs no (-inf, -1) padding): into merged_, in UB by
      // rounds of 4-way merges when the (cut) lists fit, else 3 lists at a time onto the best k.
      // A part whose lists are not cut yet (LiCut::CutLate: written whole, or none kept whole: no
      // tails are read) tries its window with their full lengths first, and cuts them only if it misses.
      const bool early = probe && cut_.CutPending();
      bool windowed = false;
      if (early) {
        ResolveTail(false);
        windowed = WindowBandMerge(lens, uint32_t(m.count), winSkip, winWidth, from, n);
        if (!windowed) total = cut_.CutLate(m, lens);
      }
      uint32_t need = 0, longest = 0;
      for (int32_t i = 0; i < m.count; ++i) {
        need += AlignUp(lens[i], 4);
        longest = lens[i] > longest ? lens[i] : longest;
      }
      // A list cut past its head (all its quantiles at or above the threshold), or a copy of every
      // list's first `longest` pairs reaching past a head (LoadTree): wait for the tails.
      // (a list written in part holds wideHead pairs: none is reached when longest fits in it; nor
      // by a part cut late, whose lens may be the full lengths)
      bool tails = false;
      for (int32_t i = 0; !early && AlignUp(longest, 4) > wideHead && i < m.count; ++i) {
        const uint32_t written = ListLength(m, i, 1);
        if (written < ListLength(m, i, 0) && AlignUp(longest, 4) > written) tails = true;
      }
      ResolveTail(tails);
      if (tails) WaitTails();
      if (probe && !early && need > 4 * pairs) cut_.EndWindow(0);
      if (probe && !early && need <= 4 * pairs) windowed = WindowBandMerge(lens, uint32_t(m.count), winSkip, winWidth, from, n);
      if (!windowed && need <= 4 * pairs) {
        uint32_t starts[kLiMaxWideLists];
        if (winWidth > 0 && band) {  // LiCut::CompareWindow compared the window: before the reload overwrites it
          SetFlag<HardEvent::V_MTE2>(0);
          WaitFlag<HardEvent::V_MTE2>(0);
        }
        LoadTree(m, lens, winSkip == 0 ? wideSpec : 0, starts);
        TailWritten();
        if (band) {
          LocalTensor<float> lists[kLiMaxWideLists];
          for (int32_t i = 0; i < m.count; ++i) lists[i] = inAll_[starts[i] * kPairFloats];
          n = BandMerge(lists, lens, uint32_t(m.count), from, nullptr);
        } else {
          MergeTree(lens, starts, uint32_t(m.count));
        }
      } else if (!windowed) {
        band = false;  // every part of the row decides alike (the same lens): all merge in full
        if (probe) {  // LiCut::CompareWindow compared the window: before MergeChain's loads overwrite it
          SetFlag<HardEvent::V_MTE2>(0);
          WaitFlag<HardEvent::V_MTE2>(0);
        }
        TailWritten();
        MergeChain(m, lens);
      }
    } else {
      // Up to 4 lists: one cut past the head written before SyncAll (LiListInParts) needs every
      // tail; this core's own tail is counted before the merge writes phase 2's late region. A tail
      // left for this merge (it reads the list: Run) is needed only if the threshold kept the list
      // whole (each part of the row cuts it alike; a part's band may end sooner, the last's does not).
      if (tailLazy_) ResolveTail(!cut || cut_.KeptWhole(uint32_t(tailSlot_ - m.src)));
      bool pastHead[4] = {false, false, false, false}, tails = false;
      for (int32_t i = 0; i < m.count; ++i) {
        pastHead[i] = lens[i] > written[i];
        tails = tails || pastHead[i];
      }
      // The tail counted (TailWritten) after the band's merges are issued when no tail was copied out
      // of the late region (the vector unit then need not wait for MTE3 before it writes there; the
      // count's scalar work was on the path of every part of B = 16 x 8K), else after the compares.
      const bool countLate = !tails && band && m.visible >= int32_t(k);
      if (tails) {
        WaitTails();
      } else if (!countLate) {
        TailWritten();
      }
      if (final && m.visible < int32_t(k)) {
        FillEmptyPairs(merged_, pairs);  // pairs past the row's keys read as (-inf, -1)
        SetFlag<HardEvent::V_MTE2>(0);
        WaitFlag<HardEvent::V_MTE2>(0);
      }
      bool windowed[4] = {false, false, false, false};
      for (int32_t i = 0; i < m.count; ++i) {
        // Empty, or in in_[i] already (a band that starts before the skipped head: loaded again).
        const bool headOk = skip_[i] <= cut_.BandStart(i);
        if (!headOk) skip_[i] = cut_.BandStart(i) & ~3u;
        windowed[i] = true;  // (its pairs as loaded: compared as they land, below)
        if (lens[i] <= skip_[i] || (!one && lens[i] <= spec[i] && headOk && !pastHead[i])) continue;
        windowed[i] = false;
        if (i == own) {  // its head was copied from UB into in_[i] (vector): the reload waits for that copy
          SetFlag<HardEvent::V_MTE2>(0);
          WaitFlag<HardEvent::V_MTE2>(0);
        }
        DataCopyPad(one ? merged_ : in_[i], lists_.pairs[lists_.Slot(m.src + i) + kLiListHeaderFloats + skip_[i] * kPairFloats],
                    DataCopyExtParams(1, (lens[i] - skip_[i]) * kPairFloats * 4, 0, 0, 0), DataCopyPadExtParams<float>());
      }
      for (int32_t o = 0; o < m.count; ++o) {
        const int32_t i = int32_t(order_[o]);
        if (listEv[i]) WaitFlag<HardEvent::MTE2_V>(kEvList + i);
        const uint32_t len = lens[i] > skip_[i] ? lens[i] - skip_[i] : 0;
        windowed[i] = band && windowed[i] && cut_.CompareBandWindow(uint32_t(i), in_[i], len, skip_[i], pairs, kEvList + i);
      }
      if (countLate && tailCopied_) TailWritten();
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      if (band) {
        n = BandMerge(in_, lens, uint32_t(m.count), from, skip_, windowed, order_);
        if (countLate) TailWritten();
      } else if (!one) {
        MergeLists(merged_, in_, lens, uint32_t(m.count));
        PipeBarrier<PIPE_V>();
      }
    }
    const uint32_t keep = total < k ? total : k;
    if (!final) {
      lists_.WriteList(header_, m.dst, merged_, keep);
      return;
    }
    // This merge writes output part -1 - dst. A band merge: its band's n pairs, merged_[0, n), are
    // ranks [from, from + n) (BandMerge). Otherwise ranks [from, from + n) of the whole merge (the
    // row's final merge is repeated once per part on other vector cores, each extracting its own
    // ranks). Pairs past k are not written: the output takes k.
    uint32_t at = 0;
    if (!band) {
      // A copied list's last 32-byte block may end past its pairs (undefined there): with fewer keys
      // than k those pairs are inside the output, so they become (-inf, -1) again.
      if (keep < k) FillPairs(total, AlignUp(total, 4));
      n = k - from < t_->outChunk ? k - from : t_->outChunk;
      at = from;
    } else {
      n = from >= k ? 0 : (k - from < n ? k - from : n);
      if (n == 0) return;
    }
    // In pieces of kOutPiecePairs: each piece's copy out runs while the next piece is extracted (B = 16
    // x 8K, parts of ~1,000 ranks: the extraction ~450 cycles, the copy ~170 after it when whole).
    const uint64_t out = uint64_t(m.row) * k + from;
    for (uint32_t p0 = 0; p0 < n; p0 += kOutPiecePairs) {
      const uint32_t len = n - p0 < kOutPiecePairs ? n - p0 : kOutPiecePairs, repeats = CeilDiv(len, kRunPairs);
      if (t_->returnValue) {
        AscendC::Extract(outScores_[p0], outIdx_[p0], merged_[(at + p0) * kPairFloats], static_cast<int32_t>(repeats));
      } else {  // the indices only: the odd words of the pairs, gathered at the byte offsets 8 i + 4 (BuildOutOffsets)
        // 64 a repeat (GatherMask, pattern 2: 32): whole repeats where outIdx_ holds them (the words
        // past the piece are not copied out)
        const uint32_t whole = AlignUp(len, 64), count = p0 + whole <= t_->bestPairs ? whole : len;
        Gather(outIdx_[p0], merged_[(at + p0) * kPairFloats].ReinterpretCast<uint32_t>(), outOffsets_, 0u, count);
      }
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopyPad(indices_[out + p0], outIdx_[p0].ReinterpretCast<int32_t>(), DataCopyExtParams(1, len * 4, 0, 0, 0));
      if (t_->returnValue) DataCopyPad(values_[out + p0], outScores_[p0], DataCopyExtParams(1, len * 4, 0, 0, 0));
    }
    SetFlag<HardEvent::MTE3_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);
  }
  static constexpr int32_t kEvList = 1;  // MTE2 -> V and V -> S events kEvList + i of a band merge's list i (up to 4)
  static constexpr uint32_t kOutPiecePairs = 256;  // a multiple of 64 (whole Gather repeats, 32-byte pieces)

  // outOffsets_[i] = 8 i + 4: the byte offset of pair i's index (the indices' Gather of a final merge's
  // output). Built once, by the first final merge after SyncAll while its headers are on their way
  // (the early region: no kept tail there); its first Gather follows a PipeBarrier<PIPE_V> (the merge's).
  __aicore__ inline void BuildOutOffsets() {
    using namespace AscendC;
    if (outOffsetsBuilt_ || t_->returnValue) return;
    outOffsetsBuilt_ = true;
    const LocalTensor<int32_t> off = outOffsets_.ReinterpretCast<int32_t>();
    CreateVecIndex(off, int32_t(0), kOutPiecePairs);
    PipeBarrier<PIPE_V>();
    ShiftLeft(off, off, int32_t(3), int32_t(kOutPiecePairs));
    PipeBarrier<PIPE_V>();
    Adds(off, off, int32_t(4), int32_t(kOutPiecePairs));
    PipeBarrier<PIPE_V>();
  }

  // Pairs [skip, skip + width) of every list of a wide merge into inAll_ (list i at i * width), in
  // copies of `per` lists; `flagged`: each copy sets its own MTE2 -> V event (LiCut::kEvWindow + c).
  __aicore__ inline void LoadWindow(const LiMerge& m, uint32_t skip, uint32_t width, uint32_t per, bool flagged) {
    using namespace AscendC;
    const uint32_t bytes = width * kPairFloats * 4;
    for (uint32_t first = 0, c = 0; first < uint32_t(m.count); first += per, ++c) {
      const uint32_t lists = uint32_t(m.count) - first < per ? uint32_t(m.count) - first : per;
      DataCopyPad(inAll_[first * width * kPairFloats],
                  lists_.pairs[lists_.Slot(m.src + int32_t(first)) + kLiListHeaderFloats + skip * kPairFloats],
                  DataCopyExtParams(uint16_t(lists), bytes, t_->listSlotBytes - bytes, 0, 0), DataCopyPadExtParams<float>());
      if (flagged) SetFlag<HardEvent::MTE2_V>(LiCut::kEvWindow + int32_t(c));
    }
  }

  // Word w of list i's header (0: its length, 1: the pairs written before SyncAll): from the headers
  // (heads_), or for a wide merge from its quantiles' second words (LiVector::WriteQuantiles).
  // The index in merge m of the list this core kept in UB (KeepTail) when a band merge of up to 4
  // lists (`perList`) reads it from there (its first merge, before ResolveTail), else -1.
  __aicore__ inline int32_t OwnListInUb(const LiMerge& m, bool perList) const {
    if (!perList || !tailLazy_ || tailSlot_ < m.src || tailSlot_ >= m.src + m.count) return -1;
    return AlignUp(OwnListHeld(), 4) <= t_->bestPairs ? tailSlot_ - m.src : -1;
  }
  // Its pairs valid in UB: the head when its full merge is still to come (FinalFlushHead), else all.
  __aicore__ inline uint32_t OwnListHeld() const { return tailRest_ != nullptr ? tailHead_ : tailCount_; }

  // Words 0 and 1 of list i's header (up to 4 lists: heads_) in one 64-bit read (little-endian: word 0 low).
  __aicore__ inline void ReadHeader(int32_t i, uint32_t& len, uint32_t& written) {
    const uint64_t two = heads_.ReinterpretCast<uint64_t>().GetValue(uint32_t(i) * 4);
    len = static_cast<uint32_t>(two);
    written = static_cast<uint32_t>(two >> 32);
  }
  __aicore__ inline uint32_t ListLength(const LiMerge& m, int32_t i, uint32_t w) {
    if (m.count <= 4) return static_cast<uint32_t>(heads_.GetValue(uint32_t(i) * 8 + w));
    return cut_.WideLength(m, i, w);
  }

  // Lists i and i + 1 of merge m (in_[i], in_[i + 1]) in one strided copy, pairs [min skip, max spec)
  // of both (skip_ and spec set so), if that is whole 32-byte blocks and costs less than a copy's
  // fixed cost more than their two copies (kCopyFixedPairs); else false (nothing issued).
  __aicore__ inline bool LoadTwoLists(const LiMerge& m, int32_t i, uint32_t* spec, uint32_t pairs) {
    const int32_t j = i + 1;
    if (spec[j] <= skip_[j]) return false;
    const uint32_t s = skip_[i] < skip_[j] ? skip_[i] : skip_[j], e = spec[i] > spec[j] ? spec[i] : spec[j], len = e - s;
    const uint32_t apart = (spec[i] - skip_[i]) + (spec[j] - skip_[j]);
    if (len % 4 != 0 || pairs % 4 != 0 || len > pairs || 2 * len > apart + kCopyFixedPairs) return false;
    skip_[i] = skip_[j] = s;
    spec[i] = spec[j] = e;
    AscendC::DataCopyPad(in_[i], lists_.pairs[lists_.Slot(m.src + i) + kLiListHeaderFloats + s * kPairFloats],
                         AscendC::DataCopyExtParams(2, len * kPairFloats * 4, t_->listSlotBytes - len * kPairFloats * 4,
                                                    (pairs - len) * kPairFloats * 4 / 32, 0),
                         AscendC::DataCopyPadExtParams<float>());
    return true;
  }
  // Pairs a GM -> UB copy moves in its fixed cost (~18 cycles at ~58 B a cycle).
  static constexpr uint32_t kCopyFixedPairs = 128;

  // List i of merge m (lens[i] pairs) GM -> `dst`.
  __aicore__ inline void LoadList(const AscendC::LocalTensor<float>& dst, const LiMerge& m, int32_t i, uint32_t len,
                                  uint32_t from = 0) {
    AscendC::DataCopyPad(dst, lists_.pairs[lists_.Slot(m.src + i) + kLiListHeaderFloats + from * kPairFloats],
                         AscendC::DataCopyExtParams(1, len * kPairFloats * 4, 0, 0, 0),
                         AscendC::DataCopyPadExtParams<float>());
  }

  // Every list of m into UB at once (inAll_: 4 x bestPairs pairs, each list 32-byte aligned), then
  // rounds of 4-way merges of consecutive runs (key order, so ties keep the lower index) between
  // inAll_ and merged_ until one run is left; it ends in merged_. A run keeps its best k (entries
  // past them cannot be in the top k; MrgSort takes at most 4095 per queue).
  // Every list i of m into inAll_ from pair starts[i] (LoadTree), then the rounds (MergeTree).
  __aicore__ inline void LoadTree(const LiMerge& m, const uint32_t* lens, uint32_t spec, uint32_t* starts) {
    using namespace AscendC;
    uint32_t at = 0, longest = 0;
    for (int32_t i = 0; i < m.count; ++i) longest = lens[i] > longest ? lens[i] : longest;
    // Every list's first `longest` pairs in one strided copy (the slots are consecutive) when that
    // fits: one GM copy instead of one per list (each pays the copy's fixed cost); none when the
    // speculative load brought them.
    const bool loaded = longest <= spec;
    const uint32_t stride = loaded ? spec : AlignUp(longest, 4);
    const bool together = stride * uint32_t(m.count) <= 4 * t_->bestPairs;
    if (together && longest > 0 && !loaded)
      DataCopyPad(inAll_, lists_.pairs[lists_.Slot(m.src) + kLiListHeaderFloats],
                  DataCopyExtParams(uint16_t(m.count), stride * kPairFloats * 4, t_->listSlotBytes - stride * kPairFloats * 4, 0, 0),
                  DataCopyPadExtParams<float>());
    for (int32_t i = 0; i < m.count; ++i) {
      if (together) {
        at = uint32_t(i) * stride;
      } else if (lens[i] > 0) {
        LoadList(inAll_[at * kPairFloats], m, i, lens[i]);
      }
      starts[i] = at;
      if (!together) at += AlignUp(lens[i], 4);
    }
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
  }

  __aicore__ inline void MergeTree(const uint32_t* lens, const uint32_t* listStarts, uint32_t count) {
    using namespace AscendC;
    uint32_t runLens[kLiMaxWideLists], starts[kLiMaxWideLists], runs = 0;
    for (uint32_t i = 0; i < count; ++i) {
      if (lens[i] == 0) continue;
      runLens[runs] = lens[i];
      starts[runs++] = listStarts[i];
    }
    const uint32_t k = t_->sparseCount;
    LocalTensor<float> src = inAll_;
    bool inMerged = false;
    while (runs > 1) {  // rounds of 4-way merges, each run cut at k
      const LocalTensor<float> dst = inMerged ? inAll_ : merged_;
      runs = MergeRound(dst, src, runLens, starts, runs, 1, k);
      src = dst;
      inMerged = !inMerged;
    }
    if (!inMerged && runs == 1) {  // one run (or one non-empty list) left outside merged_
      DataCopy(merged_, src[starts[0] * kPairFloats], AlignUp(runLens[0] < k ? runLens[0] : k, 4) * kPairFloats);
      PipeBarrier<PIPE_V>();
    }
  }

  // Lists too long to fit in UB together (no cut, e.g. all scores tied): list 0 into in_[0], then
  // 3 lists at a time into in_[1..3] merged with the best k so far (queue 0: lower keys) into
  // merged_, whose first k pairs go back to in_[0] for the next round. Ends in merged_.
  __aicore__ inline void MergeChain(const LiMerge& m, const uint32_t* lens) {
    using namespace AscendC;
    const uint32_t k = t_->sparseCount;
    uint32_t bestLen = lens[0];
    if (bestLen > 0) LoadList(in_[0], m, 0, bestLen);
    for (int32_t i = 1; i < m.count; i += 3) {
      uint32_t chunkLens[4] = {bestLen, 0, 0, 0};
      for (int32_t j = 0; j < 3 && i + j < m.count; ++j) {
        chunkLens[1 + j] = lens[i + j];
        if (lens[i + j] > 0) LoadList(in_[1 + j], m, i + j, lens[i + j]);
      }
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      const uint32_t merged = MergeLists(merged_, in_, chunkLens, 4);
      PipeBarrier<PIPE_V>();
      bestLen = merged < k ? merged : k;
      if (i + 3 < m.count) {
        DataCopy(in_[0], merged_, AlignUp(bestLen, 4) * kPairFloats);
        SetFlag<HardEvent::V_MTE2>(0);  // in_[1..3] read, in_[0] written: the next lists may load
        WaitFlag<HardEvent::V_MTE2>(0);
      }
    }
  }

  // Pairs a part above the last loads with the headers: its share of the expected cut, plus a margin.
  __aicore__ static inline uint32_t UpperPartPairs(uint32_t spec, uint32_t part, uint32_t parts) {
    const uint32_t want = AlignUp(spec * (part + 1) / parts + spec / kUpperMarginDiv, 16);
    return want < spec ? want : spec;
  }
  static constexpr uint32_t kUpperMarginDiv = 6;
  // Pairs a part below the first skips at the head of a list: its share above the band, less a margin.
  // A multiple of the quantile step: a band starting at or after it is then known to (LiCut::CutAtThreshold).
  __aicore__ static inline uint32_t LowerPartSkip(uint32_t spec, uint32_t part, uint32_t parts, uint32_t step) {
    const uint32_t share = spec * part / parts, margin = spec / kUpperMarginDiv;
    return share > margin ? (share - margin) / step * step : 0;
  }

  // A row's final merge in parts, each part on its own vector core: part p merges only the entries
  // of its score band [bandLo_, bandHi_) (no upper bound for part 0, no lower one for the last),
  // found in each (cut, loaded) list by binary search. Bands split the merge order exactly: an
  // entry's band follows from its score alone, equal scores share a band, and within it the stable
  // merge of the lists in key order keeps ties on the lower index. The band's entries are therefore
  // ranks [from, from + n) of the row, from = the entries above its band, counted per list. The
  // merged band ends in merged_; returns n and sets from. Cost: about k / parts merged pairs per
  // round instead of all of them, for two binary searches per list.
  // `windowed` (up to 4 lists): list i's edges compared by the vector unit (LiCut::CompareBandWindow),
  // read from their bits; the scalar waits for the lists' loads only if it searches one.
  // `order` (up to 4 lists): the order in which the lists' bands are read (their windows' compares
  // were issued so, MergeStep's order_); they are merged in list order.
  __aicore__ inline uint32_t BandMerge(const AscendC::LocalTensor<float>* lists, const uint32_t* lens, uint32_t count,
                                       uint32_t& from, const uint32_t* skip, const bool* windowed = nullptr,
                                       const uint32_t* order = nullptr) {
    using namespace AscendC;
    bool search = windowed == nullptr;
    for (uint32_t i = 0; !search && i < count; ++i) search = !windowed[i];
    if (search) {
      SetFlag<HardEvent::MTE2_S>(0);  // the lists' loads are complete (MTE2_V waited): the scalar reads them
      WaitFlag<HardEvent::MTE2_S>(0);
    }
    // (without `order`, each list's run is added as its band is found: a wide merge's first merges
    // run while the scalar reads the next lists)
    uint32_t los[4], his[4];
    const bool first = order != nullptr && count <= 4;
    for (uint32_t o = 0; first && o < count; ++o) BandOf(lists, lens, order[o], skip, windowed, los[order[o]], his[order[o]]);
    StartBand();
    from = 0;
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t lo = 0, hi = 0;
      if (first) {
        lo = los[i];
        hi = his[i];
      } else {
        BandOf(lists, lens, i, skip, windowed, lo, hi);
      }
      from += (skip != nullptr ? skip[i] : 0) + lo;
      if (hi > lo) AddBandRun(lists[i][lo * kPairFloats], hi - lo);  // MrgSort's sources need 8-byte alignment only (MrgSort.md)
    }
    return FinishBand();
  }
  // List i's band [lo, hi) in lists[i], which holds it from pair skip[i] (<= its band's start: the pairs
  // it skipped rank above the band).
  __aicore__ inline void BandOf(const AscendC::LocalTensor<float>* lists, const uint32_t* lens, uint32_t i,
                                const uint32_t* skip, const bool* windowed, uint32_t& lo, uint32_t& hi) {
    const uint32_t s = skip != nullptr ? skip[i] : 0, len = lens[i] > s ? lens[i] - s : 0;
    const bool win = windowed != nullptr && windowed[i];
    lo = win ? cut_.BandWindowFrom(i, kEvList + int32_t(i)) : cut_.BandFrom(lists[i], len, i, s);
    hi = win ? cut_.BandWindowTo(i, len, lo) : cut_.BandTo(lists[i], len, lo, i, s);
  }

  // BandMerge of a part of a wide band merge from its window (LiCut::WindowBand: list i's pairs
  // [skip, skip + width) at inAll_[i * width]): the band's first merges are issued as its lists'
  // bands are read, so the vector unit merges while the scalar reads the next lists (B = 1 x 8K:
  // 32 lists, ~150 cycles of reads). False when a list's band is not in its window (the merges
  // issued are then dropped: the caller loads the lists and runs BandMerge).
  __aicore__ inline bool WindowBandMerge(const uint32_t* lens, uint32_t count, uint32_t skip, uint32_t width, uint32_t& from,
                                         uint32_t& n) {
    TailWritten();  // (before the band's first merges write phase 2's late region)
    StartBand();
    from = 0;
    uint32_t i = 0, lo = 0, hi = 0;
    for (; i < count && cut_.WindowBand(i, lens[i], lo, hi); ++i) {
      from += skip + lo;
      if (hi > lo) AddBandRun(inAll_[(i * width + lo) * kPairFloats], hi - lo);
    }
    cut_.EndWindow(i < count ? i + 1 : count);
    if (i < count) return false;
    n = FinishBand();
    return true;
  }

  // A band merge's first round, run by run (AddBandRun): every 4 runs (any pair offset) are merged
  // at once into a 32-byte aligned run of merged_; FinishBand merges the others, then rounds of 4-way
  // merges between merged_ and inAll_ (MergeRound) down to one run, which ends in merged_; returns
  // the band's pairs.
  __aicore__ inline void StartBand() {
    pending_ = 0;
    bandRuns_ = 0;
    bandAt_ = 0;
    bandTotal_ = 0;
  }
  __aicore__ inline void AddBandRun(const AscendC::LocalTensor<float>& run, uint32_t len) {
    pendingRun_[pending_] = run;
    pendingLen_[pending_++] = len;
    bandTotal_ += len;
    if (pending_ == 4) MergePending();
  }
  __aicore__ inline void MergePending() {
    if (pending_ == 0) return;
    const uint32_t len = MergeRuns(merged_[bandAt_ * kPairFloats], pendingRun_, pendingLen_, pending_);
    bandLens_[bandRuns_] = len;
    bandStarts_[bandRuns_++] = bandAt_;
    bandAt_ += AlignUp(len + (pending_ == 1 ? 1 : 0), 4);  // a single run's (-inf, -1) pair too
    pending_ = 0;
  }
  __aicore__ inline uint32_t FinishBand() {
    using namespace AscendC;
    MergePending();
    if (bandRuns_ == 0) return 0;
    PipeBarrier<PIPE_V>();
    if (bandRuns_ > 1) {  // the rounds write inAll_, whose lists the scalar may have searched (BandFrom / BandTo)
      SetFlag<HardEvent::S_V>(0);
      WaitFlag<HardEvent::S_V>(0);
    }
    LocalTensor<float> src = merged_;
    bool inMerged = true;
    uint32_t out = bandRuns_;
    while (out > 1) {
      const LocalTensor<float> dst = inMerged ? inAll_ : merged_;
      out = MergeRound(dst, src, bandLens_, bandStarts_, out, 1, t_->sparseCount);
      src = dst;
      inMerged = !inMerged;
    }
    if (!inMerged) {  // the last run starts at pair 0 of inAll_
      DataCopy(merged_, src, AlignUp(bandLens_[0], 4) * kPairFloats);
      PipeBarrier<PIPE_V>();
    }
    return bandTotal_;
  }

  // Up to 4 sorted runs at any pair offset -> dst (32-byte aligned), stable (queue order). A single
  // run is merged with one (-inf, -1) pair as the later queue (MrgSort takes 2 to 4 queues; the pair
  // goes after every entry, -inf ones too, and past the returned length).
  __aicore__ inline uint32_t MergeRuns(const AscendC::LocalTensor<float>& dst, AscendC::LocalTensor<float>* run,
                                       uint32_t* lens, uint32_t q) {
    if (q > 1) return MergeLists(dst, run, lens, q);
    AscendC::LocalTensor<float> two[2] = {run[0], emptyPair_};
    uint32_t twoLens[2] = {lens[0], 1};
    MergeLists(dst, two, twoLens, 2);
    return lens[0];
  }

  // Pairs [from, to) of merged_ -> (-inf, -1), by the scalar unit (at most 3 pairs).
  __aicore__ inline void FillPairs(uint32_t from, uint32_t to) {
    using namespace AscendC;
    if (from >= to) return;
    LocalTensor<int32_t> words = merged_.ReinterpretCast<int32_t>();
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    for (uint32_t i = from; i < to; ++i) {
      words.SetValue(2 * i, static_cast<int32_t>(0xFF800000u));
      words.SetValue(2 * i + 1, -1);
    }
    SetFlag<HardEvent::S_V>(0);
    WaitFlag<HardEvent::S_V>(0);
  }

  const LightningIndexerTiling* t_ = nullptr;
  LiPlan plan_;
  LiLists lists_;
  LiCut cut_;  // the threshold and score bands of a cut merge
  AscendC::GlobalTensor<int32_t> indices_;
  AscendC::GlobalTensor<float> values_;
  // Level 0's merges of this core, [m0_, end0_) every 2 x blockDim, and the first one (ReadFirstMerge).
  uint32_t m0_ = 0, end0_ = 0;
  LiMerge firstMerge_{};
  int32_t firstEdges_[2] = {0, 0};  // its band edges' codes (LiPlan::BandEdges)
  // A list written in two parts (KeepTail, WriteTail) and the counter of tails written.
  AscendC::GlobalTensor<int32_t> tailFlag_;
  AscendC::LocalTensor<int32_t> flagScratch_;
  AscendC::LocalTensor<float> tailList_;
  int32_t tailSlot_ = 0;
  uint32_t tailCount_ = 0, tailHead_ = 0;
  RunningTopK* tailRest_ = nullptr;  // its top-k, when the list's full merge follows SyncAll (FinalFlushRest)
  bool tailCounted_ = false;
  bool tailCopied_ = false;     // WriteTail copied the tail out of the late region
  bool tailLazy_ = false;       // the tail waits for the core's first merge (ResolveTail)
  bool restMerging_ = false;    // the full merge is on the vector pipe: the first MergeStep's copies need not wait
  uint32_t skip_[4] = {0, 0, 0, 0};       // a band merge of up to 4 lists: in_[i] holds list i from pair skip_[i]
  uint32_t order_[4] = {0, 1, 2, 3};      // and the order its lists land in (MergeStep)
  // A band merge's runs (StartBand .. FinishBand): up to 3 not merged yet, and the first round's output.
  AscendC::LocalTensor<float> pendingRun_[4];
  uint32_t pendingLen_[4] = {0, 0, 0, 0}, pending_ = 0;
  uint32_t bandLens_[kLiMaxWideLists], bandStarts_[kLiMaxWideLists], bandRuns_ = 0, bandAt_ = 0, bandTotal_ = 0;
  AscendC::LocalTensor<float> emptyPair_;  // (-inf, -1) pairs: the second queue of a band's single run
  AscendC::LocalTensor<float> merged_, inAll_, outScores_;
  AscendC::LocalTensor<float> in_[4];
  AscendC::LocalTensor<int32_t> header_, heads_;
  AscendC::LocalTensor<uint32_t> outIdx_;
  AscendC::LocalTensor<uint32_t> outOffsets_;  // BuildOutOffsets
  bool outOffsetsBuilt_ = false;
};

}  // namespace ascend_glm5
