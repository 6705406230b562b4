// The selected cache rows of an SFA item, computed on a vector core (AIV) with vector
// instructions: the item's sparse_indices are loaded in chunks, the first -1 is located from an
// equality mask, ids outside [0, end) are dropped by two compares and GatherMask, and paged ids
// become cache rows through a vector Gather from the block table. The cube then reads one list
// entry per selected row instead of walking the indices and the block table with scalar reads.
//
// Ids pass through fp32 for the range compares (CompareScalar takes int32 only with EQ on A2/A3,
// CompareScalar.md), which is exact because the host refuses key lengths above 2^24.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "sfa_plan.h"
#include "sfa_sort.h"

namespace ascend_glm5 {

constexpr uint32_t kSfaSelChunk = 512;   // positions per pass
constexpr uint32_t kSfaSelTable = 1024;  // block-table entries held at a time
constexpr uint32_t kSfaSelMaskBytes = kSfaSelChunk / 8;
// UB the selector needs: five chunk-long 32-bit vectors, three bit masks, a table chunk.
constexpr uint32_t kSfaSelScratchBytes = 5 * kSfaSelChunk * 4 + 3 * kSfaSelMaskBytes + kSfaSelTable * 4;
static_assert(4 * kSfaSelChunk >= kSfaMaxSparseCount && kSfaSelChunk * 4 * 8 >= kSfaMaxSparseCount,
              "a row's whole prefix fits the first four chunk vectors, its mask the fifth");
// With this much more scratch (N1 <= 64), a piece of a split row (decode) reads its ids [0, posEnd)
// in one copy: its prefix check and every chunk then need no GM round trip of their own. So does a
// whole row of a split launch (decode B = 64: its next item's selection, at an item boundary, is on
// the path). Other whole rows keep reading chunk by chunk, which stops at the chunk of the first -1:
// in causal prefill most rows end early.
constexpr uint32_t kSfaSelWideBytes = kSfaMaxSparseCount * 4 + kSfaMaxSparseCount / 8;

class SfaSelector {
 public:
  // `scratch`: scratchBytes >= kSfaSelScratchBytes of UB (32-byte aligned), free whenever Select runs.
  __aicore__ inline void Init(GM_ADDR indices, GM_ADDR blockTable, const SparseFlashAttentionTiling& t,
                              const AscendC::LocalTensor<uint8_t>& scratch, uint32_t scratchBytes) {
    t_ = &t;
    indices_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(indices), uint64_t(t.numRows) * t.sparseCount);
    if (t.paged) blockTable_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(blockTable));
    uint32_t at = 0;
    idx_ = Slice<int32_t>(scratch, at, kSfaSelChunk);
    f_ = Slice<float>(scratch, at, kSfaSelChunk);
    ids_ = Slice<int32_t>(scratch, at, kSfaSelChunk);
    q_ = Slice<int32_t>(scratch, at, kSfaSelChunk);
    tmp_ = Slice<int32_t>(scratch, at, kSfaSelChunk);
    eq_ = Slice<uint8_t>(scratch, at, kSfaSelMaskBytes);
    ge_ = Slice<uint8_t>(scratch, at, kSfaSelMaskBytes);
    lt_ = Slice<uint8_t>(scratch, at, kSfaSelMaskBytes);
    table_ = Slice<int32_t>(scratch, at, kSfaSelTable);
    // The prefix before a piece (up to K ids) is checked in one pass: the ids over idx_ .. q_, the
    // equality mask in tmp_.
    prefix_ = scratch.ReinterpretCast<int32_t>();
    prefixEq_ = tmp_.ReinterpretCast<uint8_t>();
    chunk_ = idx_;
    wideRoom_ = scratchBytes >= at + kSfaSelWideBytes;
    if (wideRoom_) {
      all_ = Slice<int32_t>(scratch, at, kSfaMaxSparseCount);
      allEq_ = Slice<uint8_t>(scratch, at, kSfaMaxSparseCount / 8);
    }
    // A piece of a one-reference launch (sfa-oneref) finds its row's first key (wide: the row's ids
    // from 0 are in all_) and appends its cache row to its list through this word.
    oneRef_ = t.oneRef != 0 && wideRoom_;
    refWord_ = Slice<int32_t>(scratch, at, 8);
    // Paged: page = id / blockSize through fp32, exact when the block size is a power of two,
    // else corrected by one step (below).
    if (t.paged) {
      invBlock_ = 1.0f / static_cast<float>(t.blockSize);
      pow2Block_ = (t.blockSize & (t.blockSize - 1)) == 0;
    }
  }

  // The ids of an item about to be selected (a wide one: row's ids [0, posEnd) into all_), copied
  // while the caller still works on the tile before: Select then waits for the copy instead of
  // issuing it. The caller's stage (the scratch) must be free until that Select.
  __aicore__ inline void Prefetch(const SfaItem& item) {
    using namespace AscendC;
    if (prefetched_ || firstRun_ || !wideRoom_ || !(item.piece >= 0 || t_->numSplits > 0) || item.posEnd <= 0) return;
    SetFlag<HardEvent::V_MTE2>(0);  // the vector work on the scratch is done
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopyPad(all_, indices_[uint64_t(item.row) * t_->sparseCount], DataCopyExtParams(1, uint32_t(item.posEnd) * 4, 0, 0, 0),
                DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
    SetFlag<HardEvent::MTE2_V>(kEvPrefetch);
    prefetched_ = true;
    prefetchItem_ = item;
  }
  // A prefetch's copy, waited for (Select, or the caller's end): whether it holds `item`'s ids.
  __aicore__ inline bool TakePrefetch(const SfaItem& item) {
    if (!prefetched_) return false;
    AscendC::WaitFlag<AscendC::HardEvent::MTE2_V>(kEvPrefetch);
    prefetched_ = false;
    return prefetchItem_.row == item.row && prefetchItem_.posEnd == item.posEnd;
  }

  // One-reference launches (sfa-oneref): the cache row of the last Select's row's first selected key
  // (sparse_indices[row][0]), which its list carries after its own rows; -1 where that key is not a
  // valid one (a -1, or outside [0, end)) or the piece selected nothing. A vector core that does not
  // write the list knows only whether it is valid (0).
  __aicore__ inline int32_t RefRow() const { return refRow_; }

  // The first entries of the last Select's list (up to kSfaSlotRows; 0 if sorted, or if a later
  // chunk took their buffer), in UB until the caller reuses the scratch: the work slot carries them.
  __aicore__ inline uint32_t HeadRows(AscendC::LocalTensor<int32_t>& rows) const {
    rows = head_;
    return headRows_;
  }
  // The whole list of the last Select when it is one piece of UB (all its rows from one chunk; 0
  // otherwise), at the same place as HeadRows', until the caller reuses the scratch.
  __aicore__ inline uint32_t ListRows(AscendC::LocalTensor<int32_t>& rows) const {
    rows = head_;
    return listRows_;
  }

  // Whole rows the host marks sorted (SfaRow::sorted = kSfaSortWhole) are sorted in `scratch`:
  // kSfaSortScratchBytes of UB (32-byte aligned), free whenever Select runs.
  __aicore__ inline void InitSort(const AscendC::LocalTensor<uint8_t>& scratch) {
    sortScratch_ = scratch;
    sorts_ = true;
  }

  // The number of selected rows of `item` (row info `row`, not Empty). With `write` (one vector
  // core per AI core), also writes their cache rows to the item's list in GM: in order, or in
  // increasing cache row for a whole row marked kSfaSortWhole (with InitSort).
  __aicore__ inline uint32_t Select(const SfaItem& item, const SfaRow& row, bool write,
                                    const AscendC::GlobalTensor<int32_t>& list) {
    const uint32_t n = Run(item, row, write, list);
    if (sorts_ && row.sorted == kSfaSortWhole && write && item.piece < 0 && n > 1) {
      // A list of one chunk is in UB (listRows_): sorted from there, not read back from GM.
      const bool inUb = listRows_ == n;
      sorter_.Start(sortScratch_, list, n, true, inUb ? &head_ : nullptr);
      sorter_.Finish();
      headRows_ = 0;
      listRows_ = 0;
    }
    // The scratch is the caller's stage: later copies into it wait for every read of it here.
    AscendC::SetFlag<AscendC::HardEvent::V_MTE2>(0);
    AscendC::WaitFlag<AscendC::HardEvent::V_MTE2>(0);
    AscendC::SetFlag<AscendC::HardEvent::MTE3_MTE2>(0);
    AscendC::WaitFlag<AscendC::HardEvent::MTE3_MTE2>(0);
    return n;
  }

 private:
  __aicore__ inline uint32_t Run(const SfaItem& item, const SfaRow& row, bool write,
                                 const AscendC::GlobalTensor<int32_t>& list) {
    headRows_ = 0;
    listRows_ = 0;
    const uint64_t base = uint64_t(item.row) * t_->sparseCount;
    // Reading stops at the row's first -1: a piece that starts after it selects nothing. The
    // prefix is one copy and one compare (one GM round trip, not one per chunk).
    const uint32_t prefix = uint32_t(item.posBegin);
    const bool wide = wideRoom_ && (item.piece >= 0 || t_->numSplits > 0);
    const uint32_t tableNeed = t_->paged ? CeilDiv(uint32_t(row.end), t_->blockSize) : 0;
    const bool table = write && t_->paged && tableNeed <= kSfaSelTable;
    // The block table rides with the item's first ids copy, one GM round trip for both: at a core's
    // first selection (the cube waits for its list at the launch's start), and at every selection
    // of a launch of whole rows, which reads its ids chunk by chunk (prefill: on the path of a row
    // of one tile, its selection to its scores; sfa-sel).
    const bool carried = table && (firstRun_ || !wide);
    tableBatch_ = row.batch;
    tablePending_ = carried ? tableNeed : 0;
    firstRun_ = false;
    const bool ready = TakePrefetch(item);
    if (wide) {  // the prefix and the item's own ids, in one copy (or prefetched)
      if (!ready) LoadIds(all_, base, uint32_t(item.posEnd));
      if (prefix > 0 && FirstMinusOne(all_, allEq_, prefix) < prefix) return 0;
    } else if (prefix > 0) {
      LoadIds(prefix_, base, prefix);
      if (FirstMinusOne(prefix_, prefixEq_, prefix) < prefix) return 0;
    }
    if (table && !carried) LoadTable(row.batch, 0, tableNeed);
    refRow_ = oneRef_ && wide && item.piece >= 0 ? FirstKeyRow(row, table, tableNeed) : -1;
    uint32_t n = 0;
    bool written = false;  // a wide chunk's list write not waited for yet
    for (uint32_t p = uint32_t(item.posBegin); p < uint32_t(item.posEnd); p += kSfaSelChunk) {
      uint32_t len = Min(kSfaSelChunk, uint32_t(item.posEnd) - p);
      // The chunk's ids: in place in all_ (CacheRows then overwrites them with the chunk's rows,
      // at most AlignUp(len, 64) lanes: within the chunk, or past posEnd), or loaded into idx_.
      idx_ = wide ? all_[p] : chunk_;
      if (!wide && n > 0) headRows_ = 0;  // the first rows' buffer takes this chunk
      if (!wide && n > 0) listRows_ = 0;
      if (!wide) LoadIds(idx_, base + p, len);
      const uint32_t stop = FirstMinusOne(idx_, eq_, len);
      const bool last = stop < len;
      len = stop;
      if (len > 0) {
        const uint32_t kept = Compact(len, row.end);
        if (write && kept > 0) {
          CacheRows(kept, row, tableNeed);
          WriteRows(list, n, kept, !wide);
          written = wide;
          if (n == 0) {
            head_ = idx_;
            headRows_ = Min(kept, kSfaSlotRows);
            listRows_ = kept;
          } else {
            listRows_ = 0;  // a later chunk's rows are elsewhere
          }
        }
        n += kept;
      }
      if (last) break;
    }
    if (written) {  // the list writes have read their chunks of all_ (the caller's stage)
      AscendC::SetFlag<AscendC::HardEvent::MTE3_V>(0);
      AscendC::WaitFlag<AscendC::HardEvent::MTE3_V>(0);
    }
    if (n == 0) refRow_ = -1;
    else if (write && oneRef_ && item.piece >= 0) AppendRefRow(list, n);
    return n;
  }

  // The cache row of the row's first id (all_[0], loaded with the prefix), or -1 (RefRow). The table
  // is in UB when `table` (this core writes the list) and holds the row's blocks from the first.
  __aicore__ inline int32_t FirstKeyRow(const SfaRow& row, bool table, uint32_t tableNeed) {
    using namespace AscendC;
    SetFlag<HardEvent::MTE2_S>(0);  // the ids (and the table) are in UB
    WaitFlag<HardEvent::MTE2_S>(0);
    const int32_t id = all_.GetValue(0);
    int32_t cacheRow = -1;
    if (id >= 0 && id < row.end && (!t_->paged || tableNeed <= kSfaSelTable)) {
      const int32_t bs = static_cast<int32_t>(t_->blockSize);
      cacheRow = !t_->paged ? row.kvStart + id : table ? table_.GetValue(uint32_t(id / bs)) * bs + id % bs : 0;
    }
    VectorAfterScalar();  // the selection's vector work overwrites all_ and the table later
    return cacheRow;
  }
  // list[n] = RefRow(): the entry after the item's own rows (the cube copies that key's row into
  // the tile after them; -1: no such key).
  __aicore__ inline void AppendRefRow(const AscendC::GlobalTensor<int32_t>& list, uint32_t n) {
    using namespace AscendC;
    SetFlag<HardEvent::V_S>(0);  // the stage's earlier vector writes are done
    WaitFlag<HardEvent::V_S>(0);
    refWord_.SetValue(0, refRow_);
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    DataCopyPad(list[n], refWord_, DataCopyExtParams(1, 4, 0, 0, 0));
    SetFlag<HardEvent::MTE3_S>(0);  // the word has left UB before the next item's
    WaitFlag<HardEvent::MTE3_S>(0);
  }

  template <typename T>
  __aicore__ inline static AscendC::LocalTensor<T> Slice(const AscendC::LocalTensor<uint8_t>& s, uint32_t& at, uint32_t n) {
    const AscendC::LocalTensor<T> out = s[at].ReinterpretCast<T>();
    at += AlignUp(n * sizeof(T), 32);
    return out;
  }
  __aicore__ inline static uint32_t Min(uint32_t a, uint32_t b) { return a < b ? a : b; }

  // indices[at, at + len) -> ids (the rest of its last 64 lanes keeps stale values, never used);
  // the item's block table too if Run left it pending.
  __aicore__ inline void LoadIds(const AscendC::LocalTensor<int32_t>& ids, uint64_t at, uint32_t len) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE2>(0);  // the previous chunk's vector work has read the scratch
    WaitFlag<HardEvent::V_MTE2>(0);
    DataCopyPad(ids, indices_[at], DataCopyExtParams(1, len * 4, 0, 0, 0), DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
    if (tablePending_ > 0) CopyTable(tableBatch_, 0, tablePending_);
    tablePending_ = 0;
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
  }

  // Position of the first -1 among ids[0, len), or len (eq: len bits of scratch).
  __aicore__ inline uint32_t FirstMinusOne(const AscendC::LocalTensor<int32_t>& ids, const AscendC::LocalTensor<uint8_t>& eq,
                                           uint32_t len) {
    using namespace AscendC;
    // The count-form compare runs under the vector mask register (Compare.md): all lanes first.
    SetMaskNorm();
    ResetMask();
    CompareScalar(eq, ids, int32_t(-1), CMPMODE::EQ, AlignUp(len, 64));
    SetFlag<HardEvent::V_S>(0);
    WaitFlag<HardEvent::V_S>(0);
    // 64 lanes a scalar read (the compare wrote whole 64-lane groups): half the reads of 32.
    const AscendC::LocalTensor<uint64_t> words = eq.ReinterpretCast<uint64_t>();
    uint32_t first = len;
    for (uint32_t w = 0; w * 64 < len; ++w) {
      const uint64_t bits = words.GetValue(w);
      if (bits == 0) continue;
      uint32_t b = 0;
      while (((bits >> b) & 1ull) == 0) ++b;
      first = Min(w * 64 + b, len);  // a bit past len (stale lanes) means none
      break;
    }
    VectorAfterScalar();  // the next compare overwrites the words read
    return first;
  }

  // ids_ = the ids of idx_[0, len) inside [0, end), in order; returns how many.
  __aicore__ inline uint32_t Compact(uint32_t len, int32_t end) {
    using namespace AscendC;
    const uint32_t lanes = AlignUp(len, 64);
    Cast(f_, idx_, RoundMode::CAST_NONE, lanes);
    PipeBarrier<PIPE_V>();
    SetMaskNorm();
    ResetMask();
    CompareScalar(ge_, f_, 0.0f, CMPMODE::GE, lanes);
    CompareScalar(lt_, f_, static_cast<float>(end), CMPMODE::LT, lanes);
    PipeBarrier<PIPE_V>();
    And(ge_.ReinterpretCast<uint16_t>(), ge_.ReinterpretCast<uint16_t>(), lt_.ReinterpretCast<uint16_t>(),
        int32_t(lanes / 16));
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;
    // Counter mode, one repeat of `len` elements: the pattern bits are consumed continuously
    // (GatherMask.md, configuration 1).
    GatherMask(ids_, idx_, ge_.ReinterpretCast<uint32_t>(), true, len, GatherMaskParams(1, 1, 8, 0), kept);
    PipeBarrier<PIPE_V>();
    return static_cast<uint32_t>(kept);
  }

  // idx_[0, n) = cache rows of ids_[0, n).
  __aicore__ inline void CacheRows(uint32_t n, const SfaRow& row, uint32_t tableNeed) {
    using namespace AscendC;
    const uint32_t lanes = AlignUp(n, 64);
    if (!t_->paged) {
      Adds(idx_, ids_, row.kvStart, int32_t(lanes));
      PipeBarrier<PIPE_V>();
      return;
    }
    const int32_t bs = static_cast<int32_t>(t_->blockSize);
    // q_ = id / bs (block of the id), ids_ = id % bs.
    Cast(f_, ids_, RoundMode::CAST_NONE, lanes);
    PipeBarrier<PIPE_V>();
    Muls(f_, f_, invBlock_, int32_t(lanes));
    PipeBarrier<PIPE_V>();
    Cast(q_, f_, RoundMode::CAST_FLOOR, lanes);
    PipeBarrier<PIPE_V>();
    Muls(tmp_, q_, bs, int32_t(lanes));
    PipeBarrier<PIPE_V>();
    Sub(ids_, ids_, tmp_, int32_t(lanes));
    PipeBarrier<PIPE_V>();
    if (!pow2Block_) {
      // fp32 rounding of id * (1 / bs) can put the quotient one off (ids < 2^24): the remainder is
      // then in [-bs, 2 bs), and floor(remainder / bs) in {-1, 0, 1} fixes both.
      Cast(f_, ids_, RoundMode::CAST_NONE, lanes);
      PipeBarrier<PIPE_V>();
      Muls(f_, f_, invBlock_, int32_t(lanes));
      PipeBarrier<PIPE_V>();
      Cast(tmp_, f_, RoundMode::CAST_FLOOR, lanes);
      PipeBarrier<PIPE_V>();
      Add(q_, q_, tmp_, int32_t(lanes));
      Muls(tmp_, tmp_, bs, int32_t(lanes));
      PipeBarrier<PIPE_V>();
      Sub(ids_, ids_, tmp_, int32_t(lanes));
      PipeBarrier<PIPE_V>();
    }
    if (tableNeed <= kSfaSelTable) {
      Gather(idx_, table_, Offsets(q_, lanes), 0, n);  // the table is loaded once per item
      PipeBarrier<PIPE_V>();
    } else {
      // A long table is read in chunks; each id takes its page from the chunk that holds it: the
      // first chunk's gather (of clamped blocks) is overwritten where a later chunk holds the block.
      for (uint32_t c0 = 0; c0 < tableNeed; c0 += kSfaSelTable) {
        const uint32_t cn = Min(kSfaSelTable, tableNeed - c0);
        LoadTable(row.batch, c0, cn);
        Adds(tmp_, q_, -int32_t(c0), int32_t(lanes));
        PipeBarrier<PIPE_V>();
        Maxs(tmp_, tmp_, int32_t(0), int32_t(lanes));
        PipeBarrier<PIPE_V>();
        Mins(tmp_, tmp_, int32_t(cn - 1), int32_t(lanes));
        PipeBarrier<PIPE_V>();
        if (c0 == 0) {
          Gather(idx_, table_, Offsets(tmp_, lanes), 0, n);
          PipeBarrier<PIPE_V>();
          continue;
        }
        Cast(f_, q_, RoundMode::CAST_NONE, lanes);  // exact: blocks < 2^24
        PipeBarrier<PIPE_V>();
        SetMaskNorm();
        ResetMask();
        CompareScalar(ge_, f_, static_cast<float>(c0), CMPMODE::GE, lanes);
        CompareScalar(lt_, f_, static_cast<float>(c0 + cn), CMPMODE::LT, lanes);
        PipeBarrier<PIPE_V>();
        And(eq_.ReinterpretCast<uint16_t>(), ge_.ReinterpretCast<uint16_t>(), lt_.ReinterpretCast<uint16_t>(),
            int32_t(lanes / 16));
        Gather(f_, table_.ReinterpretCast<float>(), Offsets(tmp_, lanes), 0, n);
        PipeBarrier<PIPE_V>();
        // Select moves 32-bit lanes unchanged: the page ids travel as fp32 bit patterns.
        const LocalTensor<float> pages = idx_.ReinterpretCast<float>();
        AscendC::Select(pages, eq_, f_, pages, SELMODE::VSEL_TENSOR_TENSOR_MODE, lanes);
        PipeBarrier<PIPE_V>();
      }
    }
    Muls(idx_, idx_, bs, int32_t(lanes));
    PipeBarrier<PIPE_V>();
    Add(idx_, idx_, ids_, int32_t(lanes));
    PipeBarrier<PIPE_V>();
  }

  // Byte offsets (4 * block) in place, as the uint32 vector Gather takes them.
  __aicore__ inline AscendC::LocalTensor<uint32_t> Offsets(const AscendC::LocalTensor<int32_t>& blocks, uint32_t lanes) {
    using namespace AscendC;
    Muls(blocks, blocks, int32_t(4), int32_t(lanes));
    PipeBarrier<PIPE_V>();
    return blocks.ReinterpretCast<uint32_t>();
  }

  __aicore__ inline void LoadTable(int32_t batch, uint32_t first, uint32_t n) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE2>(0);
    WaitFlag<HardEvent::V_MTE2>(0);
    CopyTable(batch, first, n);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
  }
  __aicore__ inline void CopyTable(int32_t batch, uint32_t first, uint32_t n) {
    AscendC::DataCopyPad(table_, blockTable_[uint64_t(batch) * t_->maxBlocks + first], AscendC::DataCopyExtParams(1, n * 4, 0, 0, 0),
                         AscendC::DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
  }

  // wait: for the copy before the next vector work, where the next chunk overwrites idx_ (chunk_);
  // a wide chunk's idx_ is its own part of all_, which the later chunks do not write (Run waits
  // once, after the last).
  __aicore__ inline void WriteRows(const AscendC::GlobalTensor<int32_t>& list, uint32_t at, uint32_t n, bool wait) {
    using namespace AscendC;
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(list[at], idx_, DataCopyExtParams(1, n * 4, 0, 0, 0));
    if (!wait) return;
    SetFlag<HardEvent::MTE3_V>(0);  // idx_ is overwritten by the next chunk
    WaitFlag<HardEvent::MTE3_V>(0);
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  AscendC::GlobalTensor<int32_t> indices_, blockTable_;
  AscendC::LocalTensor<uint8_t> sortScratch_;
  SfaRowSorter sorter_;
  bool sorts_ = false;
  AscendC::LocalTensor<int32_t> idx_, ids_, q_, tmp_, table_, prefix_, chunk_, all_;
  AscendC::LocalTensor<int32_t> head_;  // the last Select's first list entries (headRows_ of them)
  uint32_t headRows_ = 0, listRows_ = 0;  // listRows_: the whole list at head_ (ListRows)
  AscendC::LocalTensor<float> f_;
  AscendC::LocalTensor<uint8_t> eq_, ge_, lt_, prefixEq_, allEq_;
  bool wideRoom_ = false;
  bool oneRef_ = false;  // sfa-oneref: RefRow for every piece
  int32_t refRow_ = -1;
  AscendC::LocalTensor<int32_t> refWord_;
  bool firstRun_ = true;
  bool prefetched_ = false;  // a Prefetch's copy not waited for yet (MTE2 -> V kEvPrefetch)
  SfaItem prefetchItem_{};
  static constexpr int32_t kEvPrefetch = 6;
  uint32_t tablePending_ = 0;  // block-table entries the item's next ids copy also brings (LoadIds)
  int32_t tableBatch_ = 0;
  float invBlock_ = 1.0f;
  bool pow2Block_ = true;
};

}  // namespace ascend_glm5
