// Exact, stable running top-k over a stream of scores, on the vector unit.
//
// Lists are sorted (score, index) pairs, 8 bytes each (float score, uint32 index), best first,
// as Sort32 / MrgSort produce them. Keys arrive in increasing index order, which makes the
// tie rule (equal scores: lower index first) fall out of stable merging: earlier lists are
// always merged as the lower-numbered MrgSort queue.
//
// Per block of up to 64 scores: keep only scores above the current k-th best (Compare +
// GatherMask), Sort32 the few survivors into runs of 32 (padded with (-inf, -1)), and append
// the runs to a candidate buffer. When the buffer is full, merge its runs (4-way MrgSort
// rounds) and then merge them into the best list, keeping k. Once the best list is full, most
// blocks have no survivors, so the cost approaches one compare per key instead of a full sort.
// Before it is full every key survives: a block the caller marks whole (no masked key) then goes
// straight to Sort32.
// Every merge runs over the real entries only (the survivors of a run, the best list's count),
// so a list far shorter than k costs what it holds.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

constexpr uint32_t kPairFloats = 2;       // a pair is two 32-bit words
constexpr uint32_t kRunPairs = 32;        // Sort32 output run
constexpr uint32_t kTopKBlock = 64;       // scores filtered per call (one fp32 repeat)
constexpr float kNegInf = -__builtin_huge_valf();

// Fills `pairs` (a multiple of 32) pairs of `list` with (-inf, index -1): two masked Duplicates
// over the 32-bit words, even lanes the scores, odd lanes the indices.
__aicore__ inline void FillEmptyPairs(const AscendC::LocalTensor<float>& list, uint32_t pairs) {
  using namespace AscendC;
  LocalTensor<int32_t> words = list.ReinterpretCast<int32_t>();
  const uint8_t repeats = static_cast<uint8_t>(pairs * kPairFloats / 64);
  uint64_t scoreLanes[2] = {0x5555555555555555ull, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
  uint64_t indexLanes[2] = {0xAAAAAAAAAAAAAAAAull, 0};
  Duplicate(words, static_cast<int32_t>(0xFF800000u), scoreLanes, repeats, 1, 8);  // -inf
  Duplicate(words, int32_t(-1), indexLanes, repeats, 1, 8);
}

// Merges up to four sorted lists (queue order = key order, so ties keep the lower index) into
// `dst`; returns the merged length. Zero-length lists are left out.
__aicore__ inline uint32_t MergeLists(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>* lists,
                                      const uint32_t* lens, uint32_t count) {
  using namespace AscendC;
  AscendC::LocalTensor<float> q[4];
  uint16_t qlen[4] = {0, 0, 0, 0};
  uint32_t n = 0, total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (lens[i] == 0) continue;
    q[n] = lists[i];
    qlen[n++] = static_cast<uint16_t>(lens[i]);
    total += lens[i];
  }
  if (n == 1) {
    DataCopy(dst, q[0], AlignUp(total, 4) * kPairFloats);
  } else if (n > 1) {
    MrgSortSrcList<float> src(q[0], q[1], n > 2 ? q[2] : q[0], n > 3 ? q[3] : q[0]);
    MrgSort(dst, src, MrgSort4Info(qlen, false, static_cast<uint16_t>((1u << n) - 1), 1));
  }
  return total;
}

// MergeLists stopped as soon as list 0 is used up (MrgSort's exhausted suspension; the model
// charges the pairs written): dst then holds the merge's first pairs, up to list 0's last. Returns
// false if another list was used up first (all its pairs rank before list 0's last): dst then holds
// fewer. The scalar unit waits for the merge (GetMrgSortResult). Lists 0 and 1 must not be empty
// (an empty list is used up at once).
__aicore__ inline bool MergeUntilFirstEnds(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>* lists,
                                           const uint32_t* lens, uint32_t count) {
  using namespace AscendC;
  AscendC::LocalTensor<float> q[4];
  uint16_t qlen[4] = {0, 0, 0, 0};
  uint32_t n = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (lens[i] == 0) continue;
    q[n] = lists[i];
    qlen[n++] = static_cast<uint16_t>(lens[i]);
  }
  MrgSortSrcList<float> src(q[0], q[1], n > 2 ? q[2] : q[0], n > 3 ? q[3] : q[0]);
  MrgSort(dst, src, MrgSort4Info(qlen, true, static_cast<uint16_t>((1u << n) - 1), 1));
  SetFlag<HardEvent::V_S>(0);
  WaitFlag<HardEvent::V_S>(0);
  uint16_t used[4] = {0, 0, 0, 0};
  GetMrgSortResult(used[0], used[1], used[2], used[3]);
  return used[0] == qlen[0];
}

// One round of 4-way merges over `n` sorted pair runs of `src` (run i: lens[i] pairs from pair
// starts[i]) into `dst`, each output run 32-byte aligned; returns the run count left. The rounds
// left are fixed by the run count, so a round merges only as many leading groups of 4 as the
// rounds after it need to reach `finalRuns` and copies the other runs as they are (40 runs to 1:
// 32 merged into 8, 8 copied; then 16 -> 4 -> 1). A merged run keeps at most `keep` pairs (a top-k
// needs no more). lens / starts are rewritten in place for the output runs.
__aicore__ inline uint32_t MergeRound(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
                                      uint32_t* lens, uint32_t* starts, uint32_t n, uint32_t finalRuns, uint32_t keep) {
  using namespace AscendC;
  uint32_t cap = finalRuns;
  while (cap * 4 < n) cap *= 4;
  uint32_t in = 0, out = 0, at = 0, left = n;
  while (in < n) {  // out <= in: a run's entries are read before they are overwritten
    if (left <= cap) {
      const uint32_t len = lens[in], from = starts[in];
      DataCopy(dst[at * kPairFloats], src[from * kPairFloats], AlignUp(len, 4) * kPairFloats);
      lens[out] = len;
      starts[out++] = at;
      at += AlignUp(len, 4);
      ++in;
      continue;
    }
    const uint32_t q = n - in < 4 ? n - in : 4;
    LocalTensor<float> group[4];
    for (uint32_t j = 0; j < q; ++j) group[j] = src[starts[in + j] * kPairFloats];
    const uint32_t merged = MergeLists(dst[at * kPairFloats], group, &lens[in], q);
    lens[out] = merged < keep ? merged : keep;
    starts[out] = at;
    at += AlignUp(lens[out++], 4);
    in += q;
    left -= q - 1;
  }
  PipeBarrier<PIPE_V>();
  return out;
}

// Scratch a RunningTopK needs, carved by the caller (all 32-byte aligned).
struct TopKScratch {
  AscendC::LocalTensor<float> scores;      // kTopKBlock floats: survivors' scores, padded
  AscendC::LocalTensor<uint32_t> indices;  // kTopKBlock: survivors' indices, padded
  AscendC::LocalTensor<uint8_t> mask;      // 32 bytes: compare result
  AscendC::LocalTensor<float> mergeA;      // (bestPairs + candPairs + sparePairs) pairs
  AscendC::LocalTensor<float> mergeB;      // (bestPairs + candPairs + sparePairs) pairs
};

class RunningTopK {
 public:
  static constexpr uint32_t kUnknownBlocks = 0xFFFFFFFFu;

  // best: bestPairs pairs (k rounded up to 32); cand: candPairs + sparePairs pairs (multiples of 32,
  // candPairs >= 64): candidates are merged into the best list when candPairs are taken, unless the
  // blocks still to come fit in the spare pairs (see Offer). earlyPairs: one block before the end,
  // the best list and the candidates are merged if they hold at most that many pairs (0: never).
  // own: a scratch no other RunningTopK merges through, with best as long as its merge buffers
  // (bestPairs + candPairs + sparePairs pairs): the best list then moves between best, own->mergeA and
  // own->mergeB, each merge's output becoming it, instead of being copied back into best.
  __aicore__ inline void Init(const AscendC::LocalTensor<float>& best, uint32_t k, uint32_t bestPairs,
                              const AscendC::LocalTensor<float>& cand, uint32_t candPairs, uint32_t sparePairs = 0,
                              uint32_t earlyPairs = 0, const TopKScratch* own = nullptr) {
    earlyPairs_ = earlyPairs;
    rotate_ = own != nullptr;
    if (rotate_) {
      work_[0] = own->mergeA;
      work_[1] = own->mergeB;
    }
    best_ = best;
    cand_ = cand;
    k_ = k;
    bestPairs_ = bestPairs;
    candPairs_ = candPairs;
    sparePairs_ = sparePairs;
    count_ = 0;
    runs_ = 0;
    threshold_ = kNegInf;
    hasHead_ = false;
  }

  // Offers `n` (<= 64) scores whose keys are idx[0..n) (increasing). Scores past n must already
  // be -inf. Uses the scratch's scores/indices/mask. `blocksLeft`: at most how many more blocks
  // come before the caller's Flush (kUnknownBlocks: not known). `whole`: all 64 scores are keys the
  // caller's row sees (none masked to -inf); while the best list is short of k, all of them then
  // survive and are sorted as they are, with no compare and no gather (Sort32 reads `idx`, so the
  // caller must not rewrite it before a PipeBarrier<PIPE_V>).
  __aicore__ inline void Offer(const AscendC::LocalTensor<float>& scores, const AscendC::LocalTensor<uint32_t>& idx,
                               const TopKScratch& s, uint32_t blocksLeft = kUnknownBlocks, bool whole = false) {
    using namespace AscendC;
    Settle();  // Sort32 rewrites the candidate runs an unsettled Flush may still read (see Fenced)
    uint64_t kept = kTopKBlock;
    if (whole && threshold_ == kNegInf) {
      Sort32(cand_[runs_ * kRunPairs * kPairFloats], scores, idx, static_cast<int32_t>(kTopKBlock / kRunPairs));
    } else {
      kept = Survivors(scores, idx, s);
      if (kept == 0) return;
      Sort32(cand_[runs_ * kRunPairs * kPairFloats], s.scores, s.indices, static_cast<int32_t>(CeilDiv(uint32_t(kept), kRunPairs)));
    }
    const uint32_t runs = CeilDiv(static_cast<uint32_t>(kept), kRunPairs);
    for (uint32_t r = 0; r < runs; ++r)
      runLen_[runs_ + r] = static_cast<uint16_t>(kept - r * kRunPairs < kRunPairs ? kept - r * kRunPairs : kRunPairs);
    runs_ += runs;
    // No room for another block's 2 runs: merge into the best list now, unless every block still to
    // come fits in the spare pairs; then the caller's Flush merges them all with the best list once
    // (at a stream's end, one merge of the k best instead of two in a row).
    const bool restFits =
        blocksLeft != kUnknownBlocks && (runs_ + 2 * blocksLeft) * kRunPairs <= candPairs_ + sparePairs_;
    // One block before the end, a short best list and candidates are merged now, while the last block
    // is on its way: the final merge then takes the best list and one block's runs in one MrgSort
    // instead of a round over every block's runs first.
    const bool cheapNow = blocksLeft == 1 && count_ + runs_ * kRunPairs <= earlyPairs_;
    if (((runs_ + 2) * kRunPairs > candPairs_ && !restFits) || cheapNow) Flush(s);
  }

  // Merges pending candidates into the best list.
  __aicore__ inline void Flush(const TopKScratch& s) {
    using namespace AscendC;
    if (runs_ == 0) return;
    hasHead_ = false;  // the best list and the runs change: an early head no longer matches them
    // With the rotation no vector instruction reads the merge's output next: no barrier after it
    // (unsettled_; whatever reads the list or rewrites the runs settles first).
    const AscendC::LocalTensor<float> out = MergeIntoBest(s, kNoCut, !rotate_);
    if (rotate_) {  // the output is the best list now, the old best list's buffer a merge buffer
      work_[outInB_ ? 1 : 0] = best_;
      best_ = out;
    } else {
      DataCopy(best_, out, AlignUp(count_, 4) * kPairFloats);  // pairs past count_ are never read
      PipeBarrier<PIPE_V>();
    }
    if (count_ >= k_) {
      SetFlag<HardEvent::V_S>(0);
      WaitFlag<HardEvent::V_S>(0);
      threshold_ = best_.GetValue((k_ - 1) * kPairFloats);
      // The later merges rewrite the buffer read (the V -> S wait has drained the vector pipe: no stall).
      SetFlag<HardEvent::S_V>(0);
      WaitFlag<HardEvent::S_V>(0);
    }
  }

  // The stream's end: the final list (Count() pairs) is the merge of the best list and the pending
  // candidates, left where the merge wrote it (no copy back into the best list); Offer needs Init again.
  // The merge may still be running: Settle() before a vector instruction reads the list (a copy
  // out after SetFlag<V_MTE3> needs nothing). The same for FinalFlushHead.
  __aicore__ inline AscendC::LocalTensor<float> FinalFlush(const TopKScratch& s) {
    return runs_ == 0 ? best_ : MergeIntoBest(s, kNoCut, false);
  }

  // The stream's end in two merges, for a caller that needs the final list's first `head` pairs
  // sooner than the rest: FinalFlushHead merges the best list and the pending candidates with every
  // queue cut to its first `head` pairs. A stable merge's first `head` pairs come from its queues'
  // first `head` pairs, so the returned list's first min(head, Count()) pairs are the final list's;
  // Count() is the whole list's length. FinalFlushRest then merges the queues in full into the same
  // buffer (its first pairs rewritten with the same values; the caller has finished reading them).
  __aicore__ inline AscendC::LocalTensor<float> FinalFlushHead(const TopKScratch& s, uint32_t head) {
    if (runs_ == 0) return best_;
    const uint32_t queues = (preRuns_ > headRuns_ ? 2 : 1) + runs_ - preRuns_;
    return hasHead_ && queues <= 4 ? MergeOntoHead(head) : MergeIntoBest(s, head, false);
  }
  // (nothing to do unless FinalFlushHead cut a queue that reached into the list's first Count() pairs)
  __aicore__ inline void FinalFlushRest() {
    if (!restPending_) return;
    restPending_ = false;
    Fence();
    if (restFromRuns_) {
      MergeAllRuns();
      return;
    }
    MergeLists(restOut_, restLists_, restLens_, restQueues_);
  }

  // Before a stream's end that FinalFlushHead(s, head) takes, while its last blocks are on their way:
  // the best list and the pending runs merged now with every queue cut to `head` (the head so far,
  // in a merge buffer; the best list and the runs stay as they are). FinalFlushHead then merges only
  // that head and the runs offered after it, and FinalFlushRest the best list and every run. Called
  // again, it merges the runs offered since into one run (PreMergeRuns). Only
  // with Init's `own` and a best list longer than `head` (else the cut saves nothing) and short of k:
  // once it is full, few keys survive a block and the final merge is mostly the best list's head,
  // while FinalFlushRest would redo the early head's rounds over the runs (B = 1 x 128K +0.7 %).
  __aicore__ inline void EarlyHead(const TopKScratch& s, uint32_t head) {
    using namespace AscendC;
    if (!rotate_ || runs_ == 0 || count_ <= head || count_ >= k_) return;
    if (hasHead_) {
      PreMergeRuns();
      return;
    }
    Fence();
    uint32_t lens[kMaxRuns], starts[kMaxRuns], n = 0;
    bool inA = false;
    const LocalTensor<float> runs = MergeRuns(s, lens, starts, n, inA);
    headIn_ = inA ? 1 : 0;  // the merge buffer the runs are not in
    LocalTensor<float> lists[4] = {best_, best_, best_, best_};
    uint32_t cut[4] = {head, 0, 0, 0};
    for (uint32_t i = 0; i < n; ++i) {
      lists[1 + i] = runs[starts[i] * kPairFloats];
      cut[1 + i] = lens[i] < head ? lens[i] : head;
    }
    const uint32_t merged = MergeLists(work_[headIn_], lists, cut, 1 + n);
    headLen_ = merged < head ? merged : head;
    headRuns_ = runs_;
    preRuns_ = runs_;
    preLen_ = 0;
    hasHead_ = true;
  }

  // The barrier a merge left out (Flush, FinalFlush), before the next vector instruction that reads its output or
  // rewrites its inputs (the merges that follow start with a barrier of their own).
  __aicore__ inline void Settle() {
    if (unsettled_) Fence();
  }
  // The caller issued a PipeBarrier<PIPE_V> since the last Flush: the merge is settled (so that
  // Offer adds no second barrier, which costs the vector pipe's drain again).
  __aicore__ inline void Fenced() { unsettled_ = false; }

  __aicore__ inline const AscendC::LocalTensor<float>& Best() const { return best_; }
  // Pairs of the best list that hold keys (after Flush): min(k, keys offered that survived).
  __aicore__ inline uint32_t Count() const { return count_; }

 private:
  // The block's scores above the k-th best and their keys -> s.scores / s.indices, in key order,
  // padded with (-inf, -1) to a whole run of 32; returns how many.
  __aicore__ inline uint64_t Survivors(const AscendC::LocalTensor<float>& scores, const AscendC::LocalTensor<uint32_t>& idx,
                                       const TopKScratch& s) {
    using namespace AscendC;
    // Survivors: score > k-th best. A tie with the k-th best loses: its key index is higher.
    // The count-form compare runs under the vector mask register (Compare.md), which the caller's
    // last mask-form instruction or GatherMask may have left partial: set it to all lanes first.
    SetMaskNorm();
    ResetMask();
    CompareScalar(s.mask, scores, threshold_, CMPMODE::GT, kTopKBlock);
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;
    const GatherMaskParams oneRepeat(1, 1, 8, 0);
    GatherMask(s.scores, scores, s.mask.ReinterpretCast<uint32_t>(), false, 0, oneRepeat, kept);
    GatherMask(s.indices.ReinterpretCast<float>(), idx.ReinterpretCast<float>(), s.mask.ReinterpretCast<uint32_t>(), false,
               0, oneRepeat, kept);
    if (kept == 0) return 0;
    if (kept % kRunPairs != 0) {
      // Sort32 sorts whole runs of 32: the lanes past the survivors must hold (-inf, -1).
      uint64_t tail[2] = {~0ull << kept, 0};  // non-const: CANN's mask[] parameter is uint64_t[]
      Duplicate(s.scores, kNegInf, tail, 1, 1, 8);
      Duplicate(s.indices.ReinterpretCast<int32_t>(), int32_t(-1), tail, 1, 1, 8);
    }
    PipeBarrier<PIPE_V>();
    return kept;
  }

  // A barrier before a merge: it settles too.
  __aicore__ inline void Fence() {
    unsettled_ = false;
    AscendC::PipeBarrier<PIPE_V>();
  }

  static constexpr uint32_t kNoCut = 0xFFFFFFFFu;  // MergeIntoBest: every queue merged in full
  // The best list and the pending candidates merged into merge buffer A or B (returned); count_ set.
  // `cut` < the queues' lengths: each queue is merged only up to its first `cut` pairs (FinalFlushHead),
  // the full merge is kept for FinalFlushRest.
  // `settle`: a barrier after the merge (else unsettled_ is set).
  __aicore__ inline AscendC::LocalTensor<float> MergeIntoBest(const TopKScratch& s, uint32_t cut = kNoCut, bool settle = true) {
    using namespace AscendC;
    Fence();
    // The candidate runs merged down to at most 3, then those and the best list in one 4-way merge
    // (best, of lower keys, is queue 0 and the runs follow in key order, so ties keep the lower index).
    uint32_t lens[kMaxRuns], starts[kMaxRuns], n = 0;
    bool inA = false;
    const AscendC::LocalTensor<float> runs = MergeRuns(s, lens, starts, n, inA);
    outInB_ = inA;
    AscendC::LocalTensor<float> out = MergeBuffer(s, inA);
    AscendC::LocalTensor<float> lists[4] = {best_, best_, best_, best_};
    uint32_t listLens[4] = {count_, 0, 0, 0};
    for (uint32_t i = 0; i < n; ++i) {
      lists[1 + i] = runs[starts[i] * kPairFloats];
      listLens[1 + i] = lens[i];
    }
    uint32_t merged = 0;
    restPending_ = false;
    if (cut != kNoCut) {
      uint32_t cutLens[4];
      bool shortened = false;
      for (uint32_t i = 0; i < 1 + n; ++i) {
        merged += listLens[i];
        cutLens[i] = listLens[i] < cut ? listLens[i] : cut;
        shortened = shortened || cutLens[i] < listLens[i];
      }
      // The rest is needed only when a cut queue holds pairs of the final list past its head; until
      // it is merged only the head is read, so a best list of `cut` pairs or more ends the merge.
      const bool rest = shortened && (merged < k_ ? merged : k_) > cut;
      if (!rest || !MergeHead(out, lists, cutLens, 1 + n, cut)) MergeLists(out, lists, cutLens, 1 + n);
      if (rest) {
        restPending_ = true;
        restOut_ = out;
        restQueues_ = 1 + n;
        for (uint32_t i = 0; i < 1 + n; ++i) {
          restLists_[i] = lists[i];
          restLens_[i] = listLens[i];
        }
      }
    } else {
      merged = MergeLists(out, lists, listLens, 1 + n);
    }
    if (settle) {
      PipeBarrier<PIPE_V>();
    } else {
      unsettled_ = true;
    }
    count_ = merged < k_ ? merged : k_;
    runs_ = 0;
    return out;
  }

  // A merge of which only the first `head` pairs are read: when queue 0 holds `head` pairs or more
  // and another queue is not empty, it stops once queue 0 is used up (MergeUntilFirstEnds: its first
  // `head` pairs are the whole merge's). False if it was not run or stopped short (then redo it whole).
  __aicore__ static inline bool MergeHead(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>* lists,
                                          const uint32_t* lens, uint32_t count, uint32_t head) {
    uint32_t others = 0;
    for (uint32_t i = 1; i < count; ++i) others += lens[i] > 0 ? 1 : 0;
    return lens[0] >= head && others > 0 && MergeUntilFirstEnds(dst, lists, lens, count);
  }

  // EarlyHead again (a head so far): the runs offered since it (at least 2, or any with a run merged
  // before: a block's) and that run merged into one run past the head, so that FinalFlushHead's merge
  // takes the head, this run and the last block's runs without a round first.
  __aicore__ inline void PreMergeRuns() {
    using namespace AscendC;
    const bool pre = preRuns_ > headRuns_;
    const uint32_t n = runs_ - preRuns_;
    if ((!pre && n < 2) || (pre && n == 0) || n + (pre ? 1 : 0) > 4) return;
    Fence();
    LocalTensor<float> lists[4];
    uint32_t lens[4], q = 0;
    if (pre) {
      lists[q] = work_[headIn_][preAt_ * kPairFloats];
      lens[q++] = preLen_;
    }
    for (uint32_t i = preRuns_; i < runs_; ++i) {
      lists[q] = cand_[i * kRunPairs * kPairFloats];
      lens[q++] = runLen_[i];
    }
    const uint32_t at = pre ? preAt_ + AlignUp(preLen_, kRunPairs) : AlignUp(headLen_, kRunPairs);
    preLen_ = MergeLists(work_[headIn_][at * kPairFloats], lists, lens, q);
    preAt_ = at;
    preRuns_ = runs_;
  }

  // FinalFlushHead after EarlyHead: the early head, its pre-merged run (PreMergeRuns) and the runs
  // offered after them (4 queues at most), every queue cut to `head`, into the other merge buffer,
  // which FinalFlushRest fills with the whole list.
  __aicore__ inline AscendC::LocalTensor<float> MergeOntoHead(uint32_t head) {
    using namespace AscendC;
    hasHead_ = false;
    Fence();
    const LocalTensor<float> headList = work_[headIn_];
    LocalTensor<float> lists[4] = {headList, headList, headList, headList};
    uint32_t cut[4] = {headLen_, 0, 0, 0}, q = 1, total = count_;
    if (preRuns_ > headRuns_) {
      lists[q] = headList[preAt_ * kPairFloats];
      cut[q++] = preLen_ < head ? preLen_ : head;
    }
    for (uint32_t i = preRuns_; i < runs_; ++i) {
      lists[q] = cand_[i * kRunPairs * kPairFloats];
      cut[q++] = runLen_[i] < head ? runLen_[i] : head;
    }
    for (uint32_t i = 0; i < runs_; ++i) total += runLen_[i];
    const LocalTensor<float> out = work_[1 - headIn_];
    bestLen_ = count_;
    count_ = total < k_ ? total : k_;
    restPending_ = count_ > head;  // the early head held all pairs up to `head`: the merge is whole unless longer
    // Until FinalFlushRest only the first `head` pairs are read (B = 1 x 32K: 177 pairs merged of 320).
    if (!restPending_ || !MergeHead(out, lists, cut, q, head)) MergeLists(out, lists, cut, q);
    unsettled_ = true;  // (FinalFlushHead's caller settles)
    restFromRuns_ = restPending_;
    restOut_ = out;
    restRuns_ = runs_;
    runs_ = 0;
    return out;
  }

  // FinalFlushRest after MergeOntoHead: the best list and every run in full, into restOut_; the
  // rounds alternate between the early head's buffer and the candidate buffer (both done with).
  __aicore__ inline void MergeAllRuns() {
    using namespace AscendC;
    restFromRuns_ = false;
    uint32_t lens[kMaxRuns], starts[kMaxRuns], n = restRuns_;
    for (uint32_t i = 0; i < n; ++i) {
      lens[i] = runLen_[i];
      starts[i] = i * kRunPairs;
    }
    LocalTensor<float> src = cand_;
    for (bool toHead = true; n > 3; toHead = !toHead) {
      const LocalTensor<float> dst = toHead ? work_[headIn_] : cand_;
      n = MergeRound(dst, src, lens, starts, n, 3, 0xFFFFFFFFu);
      src = dst;
    }
    LocalTensor<float> lists[4] = {best_, best_, best_, best_};
    uint32_t full[4] = {bestLen_, 0, 0, 0};
    for (uint32_t i = 0; i < n; ++i) {
      lists[1 + i] = src[starts[i] * kPairFloats];
      full[1 + i] = lens[i];
    }
    MergeLists(restOut_, lists, full, 1 + n);
  }

  // The merge buffers: s.mergeA / s.mergeB, or the two the best list does not hold (rotate_).
  __aicore__ inline AscendC::LocalTensor<float> MergeBuffer(const TopKScratch& s, bool b) const {
    return rotate_ ? work_[b ? 1 : 0] : (b ? s.mergeB : s.mergeA);
  }

  // 4-way MrgSort rounds (MergeRound) over the candidate runs until at most 3 are left (lens /
  // starts, in pairs from the returned tensor: cand_ (no round), merge buffer A (inA) or B); runs
  // start every 32 pairs in cand_ but hold only their survivors.
  __aicore__ inline AscendC::LocalTensor<float> MergeRuns(const TopKScratch& s, uint32_t* lens, uint32_t* starts,
                                                          uint32_t& n, bool& inA) {
    using namespace AscendC;
    n = runs_;
    for (uint32_t i = 0; i < n; ++i) {
      lens[i] = runLen_[i];
      starts[i] = i * kRunPairs;
    }
    AscendC::LocalTensor<float> src = cand_;
    inA = false;
    while (n > 3) {
      const AscendC::LocalTensor<float> dst = MergeBuffer(s, inA);
      n = MergeRound(dst, src, lens, starts, n, 3, 0xFFFFFFFFu);
      src = dst;
      inA = !inA;
    }
    return src;
  }

  static constexpr uint32_t kMaxRuns = 64;
  AscendC::LocalTensor<float> best_, cand_;
  uint32_t k_ = 0, bestPairs_ = 0, candPairs_ = 0, sparePairs_ = 0, earlyPairs_ = 0, count_ = 0, runs_ = 0;
  uint16_t runLen_[kMaxRuns] = {};
  bool rotate_ = false, outInB_ = false;  // (Init's own) outInB_: the last merge's output is merge buffer B
  AscendC::LocalTensor<float> work_[2];   // rotate_: the merge buffers A and B, the two the best list is not in
  float threshold_ = 0;
  // FinalFlushHead's queues in full, for FinalFlushRest.
  AscendC::LocalTensor<float> restOut_, restLists_[4];
  uint32_t restLens_[4] = {0, 0, 0, 0}, restQueues_ = 0;
  bool restPending_ = false;
  // EarlyHead: its list (headLen_ pairs in work_[headIn_]) covers the runs before headRuns_;
  // MergeOntoHead leaves FinalFlushRest the best list (bestLen_ pairs) and restRuns_ runs.
  // PreMergeRuns: runs [headRuns_, preRuns_) as one run of preLen_ pairs at pair preAt_ of the head's buffer.
  uint32_t headLen_ = 0, headRuns_ = 0, headIn_ = 0, preRuns_ = 0, preLen_ = 0, preAt_ = 0, bestLen_ = 0, restRuns_ = 0;
  bool hasHead_ = false, restFromRuns_ = false;
  bool unsettled_ = false;  // a merge's output written with no barrier after it yet (Settle)
};

}  // namespace ascend_glm5
