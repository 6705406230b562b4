// Lightning Indexer, cube side (AIC): score tiles relu(Q . K^T) into the workspace ring.
//
// Per item, the rows' queries [rows x N1, 128] go GM -> L1 -> L0A once. Per step, 2 x 64 keys (one
// run per vector core's key half; rowSplit: 128 consecutive keys, gathered row by row from a paged
// cache if needed) go GM -> L1
// (ND2NZ) -> L0B, one Mmad gives [rows x N1, 128] fp32, and the fixpipe applies ReLU on its way to
// GM. Every operand buffer is doubled (keys in L0B, queries in L1 and L0A, scores in L0C; keys in L1
// tripled, each buffer two steps' keys loaded together: they are copied while the ones before wait
// out their GM read latency) and
// released by its reader through a deferred event, so the next step's key load, the current Mmad
// and the previous step's fixpipe run at the same time.
#pragma once

#include "kernel_operator.h"
#include "../common/event_slots.h"
#include "../common/mmad.h"
#include "li_plan.h"

namespace ascend_glm5 {

template <typename T>
class LiCube {
 public:
  __aicore__ inline void Init(GM_ADDR query, GM_ADDR key, GM_ADDR blockTable, GM_ADDR plan, GM_ADDR workspace,
                              const LightningIndexerTiling& t) {
    t_ = &t;
    plan_.Init(plan, t);
    query_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(query));
    key_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(key));
    if (t.paged) blockTable_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(blockTable));
    ring_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + uint64_t(AscendC::GetBlockIdx()) * t.wsRingBytes),
                          t.wsRingBytes / sizeof(float));
    maxM_ = AlignUp(t.groupRows * t.heads, 16);
    pipe_.InitBuffer(qL1_, 2 * QElems() * sizeof(T));
    pipe_.InitBuffer(kL1_, kKeyL1Slots * kSlotElems * sizeof(T));
    pipe_.InitBuffer(qL0a_, 2 * QElems() * sizeof(T));
    pipe_.InitBuffer(kL0b_, 2 * kKeyElems * sizeof(T));
    pipe_.InitBuffer(cL0c_, 2 * maxM_ * kLiStepKeys * sizeof(float));
    kL1Slots_.Init(kKeyL1Slots, 0);  // MTE1_MTE2 0..kKeyL1Slots - 1
    qL1Slots_.Init(2, kKeyL1Slots);  // MTE1_MTE2 kKeyL1Slots, + 1
    kL0bSlots_.Init(2, 0);  // M_MTE1 0..1
    qL0aSlots_.Init(2, 2);  // M_MTE1 2..3
    cSlots_.Init(2, 0);     // FIX_M 0..1
  }

  __aicore__ inline void Process() {
    uint32_t first, last;
    plan_.CoreItems(AscendC::GetBlockIdx(), first, last);
    uint32_t step = 0;
    for (uint32_t i = first; i < last; ++i) ProcessItem(plan_.CoreItem(AscendC::GetBlockIdx(), first, i), step, i + 1 == last);
    FlushTile();
    // Take back the last tiles' "free" signals and every pending in-core event.
    for (uint32_t i = 0; i < (step < t_->ringSlots ? step : t_->ringSlots); ++i) AscendC::CrossCoreWaitFlag<2, PIPE_FIX>(kLiFlagTileFree);
    kL1Slots_.Drain();
    qL1Slots_.Drain();
    kL0bSlots_.Drain();
    qL0aSlots_.Drain();
    cSlots_.Drain();
  }

 private:
  static constexpr uint32_t kK1 = kLiHeadDim / 16;                // 16 x 16 fractals along D
  static constexpr uint32_t kKeyElems = kLiStepKeys * kLiHeadDim;  // one step's keys
  // Key buffers in L1: with 2, a core streaming alone at the end of the launch waited for each copy's
  // GM latency before the next could start (B = 16 x 8K 27.4 -> 27.0 us with 3; 4 are no faster).
  static constexpr uint32_t kKeyL1Slots = 3;
  // Each L1 key buffer holds the keys of kSlotSteps consecutive steps, loaded together: a vector
  // core's half then comes in runs of up to 128 rows (a paged block), one ND2NZ copy (ndNum = 2)
  // instead of two, each copy paying its fixed cost once for twice the bytes.
  static constexpr uint32_t kSlotSteps = 2;
  static constexpr uint32_t kSlotElems = kSlotSteps * kKeyElems;
  static constexpr uint32_t kSingleTailSteps = 4;  // a core's last steps that each get an L1 buffer alone (SlotSteps)
  static constexpr int32_t kEvLoaded = 0;                          // MTE2 -> MTE1 (+ buffer), MTE1 -> M

  __aicore__ inline uint32_t QElems() const { return maxM_ * kLiHeadDim; }

  __aicore__ inline void ProcessItem(const LiItem& item, uint32_t& step, bool lastItem) {
    using namespace AscendC;
    const uint32_t m = item.rows * t_->heads, m1 = CeilDiv(m, 16);
    // Queries GM -> L1 -> L0A (Nz column blocks -> Zz row blocks), into the other buffers than
    // the previous item's.
    const uint32_t qs = qL1Slots_.Acquire();
    const LocalTensor<T> qL1 = qL1_.Get<T>()[qs * QElems()];
    DataCopy(qL1, query_[uint64_t(item.row0) * t_->heads * kLiHeadDim],
             Nd2NzParams(1, m, kLiHeadDim, 0, kLiHeadDim, m1 * 16, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(2 + int32_t(qs));
    WaitFlag<HardEvent::MTE2_MTE1>(2 + int32_t(qs));
    const uint32_t qa = qL0aSlots_.Acquire();
    const LocalTensor<T> qL0a = qL0a_.Get<T>()[qa * QElems()];
    for (uint32_t i = 0; i < m1; ++i)
      LoadData(qL0a[i * kK1 * 256], qL1, LoadData2DParams(i, kK1, m1, 0, 0, false, 0));
    qL1Slots_.Release(qs);
    const uint32_t batch = uint32_t(item.batch);
    const uint32_t steps = item.halfKeys / kLiHalfKeys;
    uint32_t ks = 0, within = 0, held = 0;
    for (uint32_t j = 0; j < steps; ++j, ++step) {
      const uint32_t halves = LiStepHalves(lastItem, j, steps, t_->rowSplit);
      const bool byHalves = halves > 0;
      if (within == held) {  // the keys of the next steps into the next L1 buffer
        held = SlotSteps(item, j, steps, lastItem);  // (1 for a core's last step)
        within = 0;
        ks = kL1Slots_.Acquire();
        const AscendC::LocalTensor<T> buf = kL1_.Get<T>()[ks * kSlotElems];
        LoadKeys(item, j, held, batch, buf, 0, byHalves ? 1 : 2, byHalves);
        SetFlag<HardEvent::MTE2_MTE1>(int32_t(ks));
        if (byHalves) {  // half 1's keys on their own event: half 0's Mmad and fixpipe need not wait for them
          LoadKeys(item, j, held, batch, buf, 1, 2, true);
          SetFlag<HardEvent::MTE2_MTE1>(kEvKeysHalf1);
        }
        WaitFlag<HardEvent::MTE2_MTE1>(int32_t(ks));
      }
      const LocalTensor<T> kL1 = kL1_.Get<T>()[ks * kSlotElems + within * kKeyElems];
      ++within;
      const uint32_t bs = kL0bSlots_.Acquire();
      const LocalTensor<T> kL0b = kL0b_.Get<T>()[bs * kKeyElems];
      const uint64_t slot = uint64_t(step % t_->ringSlots) * (t_->wsRingBytes / t_->ringSlots / sizeof(float));
      if (byHalves) {
        FlushTile();
        LastTileByHalves(kL1, kL0b, qL0a, ks, m, slot, step, halves == 2);
      } else {
        LoadData(kL0b, kL1, LoadData2DParams(0, kK1 * (kLiStepKeys / 16), 1, 0, 0, false, 0));
        if (within == held) kL1Slots_.Release(ks);
        SetFlag<HardEvent::MTE1_M>(kEvLoaded);  // this step's keys (and the item's queries) are in L0
        WaitFlag<HardEvent::MTE1_M>(kEvLoaded);
        const uint32_t cs = cSlots_.Acquire();
        const LocalTensor<float> c = cL0c_.Get<float>()[cs * maxM_ * kLiStepKeys];
        MmadParams mp;
        mp.m = MmadM(m);
        mp.n = kLiStepKeys;
        mp.k = kLiHeadDim;
        Mmad(c, qL0a, kL0b, mp);
        SetFlag<HardEvent::M_FIX>(int32_t(cs));
        FlushTile();
        pend_ = {true, cs, StepColumns(item, j), m, m1 * 16, step, slot};
      }
      kL0bSlots_.Release(bs);
      if (j + 1 == steps) qL0aSlots_.Release(qa);  // the item's last Mmad has read its queries
    }
    if (steps == 0) qL0aSlots_.Release(qa);
  }

  // The previous step's score tile, GM-bound once the next step's Mmad is issued: its ring slot's wait
  // holds the whole core (dav_c220), so it goes after the next keys' copies and Mmad.
  struct PendingTile { bool valid; uint32_t cs, cols, m, mAligned, step; uint64_t slot; };
  PendingTile pend_{false, 0, 0, 0, 0, 0, 0};
  __aicore__ inline void FlushTile() {
    using namespace AscendC;
    if (!pend_.valid) return;
    pend_.valid = false;
    WaitFlag<HardEvent::M_FIX>(int32_t(pend_.cs));
    if (pend_.step >= t_->ringSlots) CrossCoreWaitFlag<2, PIPE_FIX>(kLiFlagTileFree);  // ring slot reusable
    const LocalTensor<float> c = cL0c_.Get<float>()[pend_.cs * maxM_ * kLiStepKeys];
    Fixpipe(ring_[pend_.slot], c, FixpipeParamsV220(pend_.cols, pend_.m, pend_.mAligned, kLiStepKeys, true));  // ReLU in the fixpipe
    CrossCoreSetFlag<2, PIPE_FIX>(kLiFlagTileReady);
    cSlots_.Release(pend_.cs);
  }

  // A core's last step (and from 4 steps on the one before it, `inParts` false: half 1 in one
  // part; LiStepHalves) by key halves (LiLastTileByHalves; its L1 buffer holds the step alone, each
  // half's keys a Zn matrix of 64 columns of their own, half 1's on event kEvKeysHalf1): half s's keys
  // -> L0B, Mmads of 64 columns into columns [64 s, 64 s + 64) of the L0C tile, fixpipes to those
  // columns of the ring slot, a flag after each. Half 0's Mmad and fixpipe run while half 1's keys
  // arrive; half 1 goes in two parts of head rows (LiLastHalfFirstRows), each with its own Nz layout
  // in L0C, so that vector core 1 weights the first while the second is written.
  __aicore__ inline void LastTileByHalves(const AscendC::LocalTensor<T>& kL1, const AscendC::LocalTensor<T>& kL0b,
                                          const AscendC::LocalTensor<T>& qL0a, uint32_t ks, uint32_t m, uint64_t slot,
                                          uint32_t step, bool inParts) {
    using namespace AscendC;
    constexpr uint32_t kHalfElems = kLiHalfKeys * kLiHeadDim;
    const uint32_t cs = cSlots_.Acquire(), rowsC = AlignUp(uint32_t(MmadM(m)), 16u);
    const uint32_t first = inParts ? LiLastHalfFirstRows(m) : 0, parts = first > 0 ? 2 : 1;
    const uint32_t rows[3] = {m, parts == 2 ? first : m, m - first};  // fixpipe f's head rows
    const uint32_t h0[3] = {0, 0, first};                              // and its first
    const LocalTensor<float> c = cL0c_.Get<float>()[cs * maxM_ * kLiStepKeys];
    const uint32_t cHalf = (kLiHalfKeys / 16) * rowsC * 16;  // half 1's parts after half 0's Nz tile
    const int32_t events[3] = {int32_t(cs), kEvHalf1Part0, kEvHalf1Part1};  // M -> FIX
    for (uint32_t f = 0; f < 1 + parts; ++f) {
      const uint32_t s = f == 0 ? 0 : 1;
      if (f < 2) {
        if (s == 1) WaitFlag<HardEvent::MTE2_MTE1>(kEvKeysHalf1);
        LoadData(kL0b[s * kHalfElems], kL1[s * kHalfElems], LoadData2DParams(0, kK1 * (kLiHalfKeys / 16), 1, 0, 0, false, 0));
        if (s == 1) kL1Slots_.Release(ks);
        SetFlag<HardEvent::MTE1_M>(kEvLoaded);
        WaitFlag<HardEvent::MTE1_M>(kEvLoaded);
      }
      MmadParams mp;
      mp.m = MmadM(rows[f]);
      mp.n = kLiHalfKeys;
      mp.k = kLiHeadDim;
      Mmad(c[s * cHalf + h0[f] * kLiHalfKeys], qL0a[h0[f] * kLiHeadDim], kL0b[s * kHalfElems], mp);  // row block h0 / 16 of the Zz queries
      SetFlag<HardEvent::M_FIX>(events[f]);
    }
    if (step >= t_->ringSlots) CrossCoreWaitFlag<2, PIPE_FIX>(kLiFlagTileFree);  // ring slot reusable
    for (uint32_t f = 0; f < 1 + parts; ++f) {
      const uint32_t s = f == 0 ? 0 : 1;
      WaitFlag<HardEvent::M_FIX>(events[f]);
      Fixpipe(ring_[slot + h0[f] * kLiStepKeys + s * kLiHalfKeys], c[s * cHalf + h0[f] * kLiHalfKeys],
              FixpipeParamsV220(kLiHalfKeys, rows[f], AlignUp(uint32_t(MmadM(rows[f])), 16u), kLiStepKeys, true));
      CrossCoreSetFlag<2, PIPE_FIX>(kLiFlagTileReady);
    }
    cSlots_.Release(cs);
  }
  static constexpr int32_t kEvHalf1Part0 = 2, kEvHalf1Part1 = 3;  // M -> FIX of half 1's Mmads (0, 1: the L0C buffers)
  static constexpr int32_t kEvKeysHalf1 = kKeyL1Slots + 2;  // MTE2 -> MTE1 of half 1's keys (after the key and query buffers' events)

  // Score columns step j writes: all 128; rowSplit: those up to the item's last key (rounded up to 16;
  // the fixpipe's time goes with its bytes, and an item's last step holds 64 keys on average).
  __aicore__ inline uint32_t StepColumns(const LiItem& item, uint32_t j) const {
    if (!t_->rowSplit) return kLiStepKeys;
    const uint32_t keys = uint32_t(item.keyEnd - item.keyBegin) - j * kLiStepKeys;
    return keys < kLiStepKeys ? AlignUp(keys, 16) : kLiStepKeys;
  }

  // Steps the L1 buffer that starts at step j holds: two when half 0's keys there start a 128-key
  // stretch (a paged block of 128 keys or more: one copy per half for both steps), else one. Also
  // one for the last kSingleTailSteps steps of a core's last item but its first (its last tile then
  // waits for one step's keys, not two: B = 1 x 8K 5.32 -> 5.13 us; and the fixpipe, which trails the
  // keys at the stream's end, starts on each of them once its own keys are in: B = 1 x 32K 16,592 ->
  // 16,166 cycles and B = 16 x 8K 46,996 -> 46,641 with four instead of two; a first step alone too:
  // B = 1 x 8K 8,046 -> 8,207) and for the first step of an odd AI core: its copies then
  // run half a buffer out of phase with the even cores', so that the fixed cost of one core's copy
  // overlaps the others' transfers instead of leaving the HBM idle for all cores at once (B = 16 x
  // 8K 26.32 -> 26.20 us).
  __aicore__ inline uint32_t SlotSteps(const LiItem& item, uint32_t j, uint32_t steps, bool lastItem) const {
    if (j == 0 && AscendC::GetBlockIdx() % 2 == 1) return 1;
    if (lastItem && (j + 2 >= steps || (j > 0 && j + kSingleTailSteps >= steps))) return 1;  // (LastTileByHalves: the last step alone)
    if (t_->rowSplit) return j + 1 < steps ? kSlotSteps : 1;  // two steps are 256 consecutive keys
    const int32_t key = item.keyBegin + int32_t(j * kLiHalfKeys);
    return j + 1 < steps && key % int32_t(kSlotSteps * kLiHalfKeys) == 0 ? kSlotSteps : 1;
  }
  // Keys of steps j0 .. j0 + held - 1 into one L1 buffer of as many step tiles. Key halves: key o
  // of vector core s's stretch of them (keys [lo_s + 64 j0, ...) of its half) goes to tile o / 64,
  // row 64 s + o % 64; rowSplit: key o of [keyBegin + 128 j0, ...) to tile o / 128, row o % 128.
  // One ND2NZ copy per contiguous run of key rows (runs break at paged-cache block boundaries) and
  // tile: whole tiles' rows of a run go together, one ND matrix per tile. Key halves [s0, s1) only
  // (rowSplit: its one part); `byHalves` (a core's last step, held 1): half s's keys are a Zn matrix
  // of 64 columns of their own at element s * 64 * 128 (LastTileByHalves).
  __aicore__ inline void LoadKeys(const LiItem& item, uint32_t j0, uint32_t held, uint32_t batch,
                                  const AscendC::LocalTensor<T>& kL1, uint32_t s0, uint32_t s1, bool byHalves) {
    const uint32_t parts = t_->rowSplit ? 1 : 2;
    const int32_t partKeys = int32_t(kLiStepKeys / parts);
    const uint16_t c0Stride = byHalves ? uint16_t(kLiHalfKeys) : uint16_t(kLiStepKeys);
    for (uint32_t s = s0; s < s1 && s < parts; ++s) {
      const int32_t lo = item.keyBegin + int32_t(s) * item.halfKeys;
      const int32_t span = t_->rowSplit ? 2 * item.halfKeys : item.halfKeys;
      const int32_t hi = lo + span < item.keyEnd ? lo + span : item.keyEnd;
      const int32_t start = lo + int32_t(j0) * partKeys, most = int32_t(held) * partKeys;
      const int32_t n = hi - start < most ? hi - start : most;
      for (int32_t done = 0; done < n;) {
        const int32_t t = start + done;
        int32_t run = n - done;
        uint64_t row = uint64_t(item.keyStart) + t;
        if (t_->paged) {
          const int32_t within = t % int32_t(t_->blockSize);
          const int32_t page = blockTable_.GetValue(uint64_t(batch) * t_->maxBlocks + t / t_->blockSize);
          row = uint64_t(page) * t_->blockSize + within;
          if (run > int32_t(t_->blockSize) - within) run = int32_t(t_->blockSize) - within;
        }
        // The run's part in this tile, or its whole tiles from a tile's first row on.
        const int32_t inTile = done % partKeys, room = partKeys - inTile;
        const uint16_t tiles = inTile == 0 && run >= partKeys ? uint16_t(run / partKeys) : 1;
        const int32_t rows = tiles > 1 ? int32_t(tiles) * partKeys : (run < room ? run : room);
        const uint32_t at = byHalves ? s * kLiHalfKeys * kLiHeadDim + uint32_t(inTile) * 16
                                     : uint32_t(done / partKeys) * kKeyElems + (s * uint32_t(partKeys) + uint32_t(inTile)) * 16;
        AscendC::DataCopy(kL1[at], key_[row * kLiHeadDim],
                          AscendC::Nd2NzParams(tiles, uint16_t(tiles > 1 ? partKeys : rows), kLiHeadDim,
                                               uint16_t(partKeys * int32_t(kLiHeadDim)), kLiHeadDim, c0Stride, 1,
                                               uint16_t(kKeyElems)));
        done += rows;
      }
    }
  }

  const LightningIndexerTiling* t_ = nullptr;
  LiPlan plan_;
  uint32_t maxM_ = 16;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::A1> qL1_;
  AscendC::TBuf<AscendC::TPosition::B1> kL1_;
  AscendC::TBuf<AscendC::TPosition::A2> qL0a_;
  AscendC::TBuf<AscendC::TPosition::B2> kL0b_;
  AscendC::TBuf<AscendC::TPosition::CO1> cL0c_;
  EventSlots<AscendC::HardEvent::MTE1_MTE2> kL1Slots_, qL1Slots_;
  EventSlots<AscendC::HardEvent::M_MTE1> kL0bSlots_, qL0aSlots_;
  EventSlots<AscendC::HardEvent::FIX_M> cSlots_;
  AscendC::GlobalTensor<T> query_, key_;
  AscendC::GlobalTensor<int32_t> blockTable_;
  AscendC::GlobalTensor<float> ring_;
};

}  // namespace ascend_glm5
