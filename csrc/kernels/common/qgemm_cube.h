// Quantized GEMM engine, cube side (AIC): int8 x int8 or int4 x int4 -> exact int32 tiles.
//
// Per item (QGemmSchedule) and pass of up to tokensPerPass rows, per K step of kStep:
//   A    the pass's rows x kStep -> a slot of the A ring in L1: the activation rows (int8), or with
//        MSD the hi rows, the lo rows and one ones row from the split workspace (int4);
//   W    the weight chunk kStep x nTile -> a slot of the weight ring in L1;
//   L0   A -> L0A, W -> L0B (transposed for [K, N] weights), Mmad accumulates over K in L0C;
//   out  the fixpipe writes the int32 tile to the block's handoff slot for the vector cores.
//
// The load stream: the K steps of all items and passes form one sequence, loaded in units of
// unitSteps steps (one copy of weights, one of A rows per unit); MTE2 loads each unit's weight
// chunks (when the unit is their first read) and its A rows ahead of their use, in stream order:
// weights up to ringChunks / unitSteps units ahead, A up to aDepth units ahead (an A load is issued
// only after the weights its unit reads). MTE2 runs its queue in order, so the flag set after a
// unit's A load also says that the unit's weights have arrived: one wait per unit. A slot is
// refilled only after MTE1 has read it (a MTE1 -> MTE2 fence before the refill). Split-K launches
// (a short K range per block) issue each unit's A load right after its weights, and only two units
// before the A loads may start, so that MTE1 starts on the first unit early. So MTE2 always has
// about aDepth steps of loads queued, and the weight stream never waits for an A load queued
// behind it. When an item's whole K fits the ring (resident), each weight chunk is loaded once and
// read by every pass of the item: the weights cross GM once per launch. Otherwise every pass
// streams K again.
#pragma once

#include "kernel_operator.h"
#include "cube_copy.h"
#include "event_slots.h"
#include "host_device.h"
#include "qgemm_handoff.h"
#include "qgemm_schedule.h"
#include "qgemm_tiling.h"
#include "tiling.h"

namespace ascend_glm5 {

// A walk over the load stream of one block: items of the schedule, `passes` of each, K steps.
struct QGemmStreamCursor {
  QGemmChunkWalk sched;
  QGemmItem it{};
  bool valid = false;
  uint32_t pass = 0, step = 0;
  uint64_t wBase = 0;  // index in the weight load sequence of chunk 0 of this (item, load pass)
};

template <typename T, bool kMsd>
class QGemmCube {
 public:
  // Reads the tiling `t` from GM (`tiling`), sets the cube up and issues the first weight loads: they
  // need nothing from the vector cores, so they run while those still prepare the activations (the A
  // loads wait for Process). The scalar unit reads GM through its DataCache, one miss per 64-byte
  // line, and stalls on each: the cube reads only the tiling's stream head (its first line,
  // qgemm_tiling.h) and the group list before the loads, and the rest of the tiling after them.
  __aicore__ inline void Start(AscendC::TPipe& pipe, GM_ADDR tiling, QGemmTiling& t, GM_ADDR act, GM_ADDR weight,
                               GM_ADDR groupList, GM_ADDR workspace) {
    constexpr uint32_t words = sizeof(QGemmTiling) / sizeof(uint32_t);
    LoadTilingWords(t, tiling, 0, kQGemmHeadWords);
    InitStream(pipe, weight, groupList, t);
    StartWeights();
    LoadTilingWords(t, tiling, kQGemmHeadWords, words - kQGemmHeadWords);
    InitRest(pipe, act, workspace);
  }

  __aicore__ inline void Process() {
    aReady_ = true;
    Pump();
    QGemmItem it;
    while (sched_.Next(it)) RunItem(it);
    handoff_.DrainCube();
    l0Slots_.Drain();
    accSlots_.Drain();
    // Split-K: each piece's partial was flagged to the block's vector cores after its fixpipe
    // (RunPass); they wait for all of them and then meet in a vector-only SyncAll (one hop) rather
    // than all cores in a mixed SyncAll (three hops: AIV -> AIC, AIC -> AIC, AIC -> AIV).
  }

 private:
  static constexpr uint32_t kC0 = CubeElem<T>::c0;
  static constexpr uint32_t kStepElems = kQGemmStepBytes * 8 / CubeElem<T>::bits;  // == t.kStep
  static constexpr uint32_t kPerByte = 8 / CubeElem<T>::bits;                       // elements per byte
  static constexpr int32_t kEvFence = 0;  // MTE1 -> MTE2: the slots read so far may be refilled
  static constexpr uint32_t kSplitKEarlyUnits = 2;  // split-K: weight units issued before the A loads may start

  // What the weight loads need: the schedule, the weight ring (the first L1 buffer). Only the stream
  // head of `t` is loaded yet: only its fields may be read here (and in the schedule).
  __aicore__ inline void InitStream(AscendC::TPipe& pipe, GM_ADDR weight, GM_ADDR groupList, const QGemmTiling& t) {
    t_ = &t;
    const uint32_t block = uint32_t(AscendC::GetBlockIdx());
    sched_.Init(t, groupList, block);
    wCur_.sched.Init(t, groupList, block);
    aCur_.sched.Init(t, groupList, block);
    weight_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(weight));
    chunkElems_ = kStepElems * t.nTile;
    ringUnits_ = t.ringChunks / t.unitSteps;
    // Odd blocks start with a shorter unit, so that their row copies (from L2) fall between those of
    // the even blocks rather than at the same moments: the HBM keeps streaming weights meanwhile.
    shift_ = (block & 1) ? t.unitShift : 0;
    pipe.InitBuffer(ringL1_, t.ringChunks * t.nTile * kQGemmStepBytes);
    wCur_.valid = wCur_.sched.Next(wCur_.it);
    aCur_.valid = aCur_.sched.Next(aCur_.it);
  }

  // The rest: A rows, L0, the handoff (the whole tiling is loaded).
  __aicore__ inline void InitRest(AscendC::TPipe& pipe, GM_ADDR act, GM_ADDR workspace) {
    const QGemmTiling& t = *t_;
    if constexpr (kMsd) {
      hi_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsHiOffsetLo, t.wsHiOffsetHi)));
      lo_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsLoOffsetLo, t.wsLoOffsetHi)));
      ones_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsOnesOffsetLo, t.wsOnesOffsetHi)));
    } else {
      act_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(act));
    }
    handoff_.Init(workspace, t, uint32_t(AscendC::GetBlockIdx()));
    pipe.InitBuffer(aL1_, ASlots() * t.unitSteps * t.aRows * kQGemmStepBytes);
    pipe.InitBuffer(l0a_, 2 * t.mTile * kQGemmStepBytes);
    pipe.InitBuffer(l0b_, 2 * t.nTile * kQGemmStepBytes);
    pipe.InitBuffer(l0c_, t.accSlots * t.mTile * t.nTile * sizeof(int32_t));
    l0Slots_.Init(2, 0);
    accSlots_.Init(t.accSlots, 0);
  }

  // The first weight loads. Split-K launches (short K ranges per block) issue only
  // kSplitKEarlyUnits: the first A loads then do not queue behind the whole ring on MTE2, and MTE1
  // starts earlier.
  __aicore__ inline void StartWeights() {
    if (!t_->splitK) {
      Pump();
      return;
    }
    for (uint32_t u = 0; u < kSplitKEarlyUnits && TryLoadWeights(); ++u) {
    }
  }

  // A ring slots (of a unit's rows each): aDepth, or K-chunked the units of a chunk, each unit's rows in
  // the slot of its place in the chunk (every tile of a run reads them there). Either way the loads run
  // at most aDepth units ahead (the MTE2 -> MTE1 events).
  __aicore__ inline uint32_t ASlots() const { return t_->chunkSteps ? CeilDiv(uint32_t(t_->chunkSteps), uint32_t(t_->unitSteps)) : t_->aDepth; }
  __aicore__ inline uint32_t Passes(const QGemmItem& it) const { return CeilDiv(it.rows, t_->tokensPerPass); }
  __aicore__ inline uint32_t LoadPasses(const QGemmItem& it) const { return t_->resident ? 1 : Passes(it); }
  // An item's steps in load units: unit u holds the item's steps [u U - shift, (u + 1) U - shift)
  // (U = unitSteps, clipped to the item), at positions shift.. of the first unit's slots. With a
  // tail (TailUnit), the item's last step is a unit of its own after those (at position 0).
  __aicore__ inline uint32_t BaseUnits(const QGemmItem& it) const { return CeilDiv(it.kSteps + shift_, t_->unitSteps); }
  __aicore__ inline uint32_t ItemUnits(const QGemmItem& it) const {
    return BaseUnits(it) + (TailUnit(it) ? 1 : CutUnits(it));
  }
  // Split-K: the block's last piece loads its last step as a unit of its own when its last unit
  // would hold more steps: once the block's last copy has landed, MTE1 then moves one step to L0,
  // not a whole unit's (the earlier steps of that unit are moved while the last copy streams).
  __aicore__ inline bool TailUnit(const QGemmItem& it) const {
    if (!it.last || CutUnits(it) > 0) return false;
    const uint32_t p = it.kSteps + shift_ - 1, u = p / t_->unitSteps;  // the last step's position and unit
    return p > (u == 0 ? shift_ : u * t_->unitSteps);                    // not the first step of its unit
  }
  // Split-K with t.cutUnits (a long partial fixpipe): instead of the tail, the block's last piece loads
  // its last cutUnits base units in two column halves: each of them on columns [0, CutColumns), then
  // each again on the rest, as as many more units of the stream (weight copies and MTE2 -> MTE1
  // flags, no A copies: they read the first halves' rows, still in the A ring; their flags take the
  // next A slots' events). The first half's Mmads and partial fixpipe then run while the second
  // half's weights stream. Tiles of one column unit are not cut.
  __aicore__ inline uint32_t CutUnits(const QGemmItem& it) const {
    if (t_->cutUnits == 0 || !it.last || it.nValid <= t_->nGran) return 0;
    const uint32_t base = BaseUnits(it);
    return t_->cutUnits < base ? t_->cutUnits : base;
  }
  __aicore__ inline bool CutSecondHalf(const QGemmItem& it, uint32_t u) const { return u >= BaseUnits(it) && CutUnits(it) > 0; }
  // Columns of the cut's first half: whole nGran units, the larger half of the tile's.
  __aicore__ inline uint32_t CutColumns(const QGemmItem& it) const {
    return CeilDiv(CeilDiv(it.nValid, t_->nGran), 2) * t_->nGran;
  }
  // The item's first cut base unit, and its first step.
  __aicore__ inline uint32_t CutFirstUnit(const QGemmItem& it) const { return BaseUnits(it) - CutUnits(it); }
  __aicore__ inline uint32_t CutFirstStep(const QGemmItem& it) const {
    const uint32_t u = CutFirstUnit(it);
    return u == 0 ? 0 : u * t_->unitSteps - shift_;
  }
  // Columns [c0, c0 + cols) of the tile that unit u loads: the whole tile, or a half of the cut.
  __aicore__ inline void UnitColumns(const QGemmItem& it, uint32_t u, uint32_t& c0, uint32_t& cols) const {
    c0 = 0;
    cols = it.nValid;
    if (CutUnits(it) == 0 || u < CutFirstUnit(it)) return;
    const uint32_t half = CutColumns(it);
    if (u < BaseUnits(it)) cols = half;
    else c0 = half, cols = it.nValid - half;
  }
  // The base unit whose K steps unit u loads (a second half: its first half's).
  __aicore__ inline uint32_t KUnit(const QGemmItem& it, uint32_t u) const { return CutSecondHalf(it, u) ? u - CutUnits(it) : u; }
  // Unit and position in it of the item's step s.
  __aicore__ inline void StepUnit(const QGemmItem& it, bool tail, uint32_t s, uint32_t& u, uint32_t& j) const {
    u = (s + shift_) / t_->unitSteps;
    j = (s + shift_) % t_->unitSteps;
    if (tail && s + 1 == it.kSteps) {
      u += 1;
      j = 0;
    }
  }
  __aicore__ inline uint32_t UnitFirstPos(uint32_t u) const { return u == 0 ? shift_ : 0; }
  __aicore__ inline uint32_t UnitK0(const QGemmItem& it, uint32_t u) const {
    if (u == BaseUnits(it) && CutUnits(it) == 0) return (it.kStep0 + it.kSteps - 1) * kStepElems;  // the tail
    u = KUnit(it, u);
    return (it.kStep0 + u * t_->unitSteps + UnitFirstPos(u) - shift_) * kStepElems;
  }
  // K elements of unit u (the last unit of an item, or of K, may be short).
  __aicore__ inline uint32_t UnitLen(const QGemmItem& it, uint32_t u, uint32_t kLen) const {
    const uint32_t ku = KUnit(it, u);
    const bool beforeTail = ku + 1 == BaseUnits(it) && TailUnit(it);
    const uint32_t k0 = UnitK0(it, u), end = (it.kStep0 + it.kSteps - (beforeTail ? 1 : 0)) * kStepElems;
    const uint32_t stop = end < kLen ? end : kLen, unitK = (t_->unitSteps - UnitFirstPos(ku)) * kStepElems;
    return stop - k0 < unitK ? stop - k0 : unitK;
  }
  __aicore__ inline AscendC::LocalTensor<T> Slot(uint32_t s) { return ringL1_.Get<T>()[s * chunkElems_]; }
  __aicore__ inline AscendC::LocalTensor<int8_t> SlotBytes(uint32_t s) {
    return ringL1_.Get<int8_t>()[s * chunkElems_ / kPerByte];
  }
  // Columns the cube runs of an item's tile: nTile, or K-chunked the tile's own (whole column units; its
  // [N, K] weights then lie in L1 at that many rows per column block, so L0B takes them in one load).
  __aicore__ inline uint32_t TileColumns(const QGemmItem& it) const {
    return t_->chunkSteps ? AlignUp(it.nValid, uint32_t(t_->nGran)) : uint32_t(t_->nTile);
  }
  __aicore__ inline uint32_t PassTokens(const QGemmItem& it, uint32_t pass) const {
    const uint32_t tok0 = pass * t_->tokensPerPass;
    return it.rows - tok0 < t_->tokensPerPass ? it.rows - tok0 : t_->tokensPerPass;
  }

  // ---- the load stream ---------------------------------------------------------------------------
  // Issues every load whose slot is free; before the first one after an L1 read, the fence that makes
  // MTE2 wait for MTE1's reads so far. Weights first, except in split-K launches: there each unit's
  // A load follows right after its weights, so MTE1 can start on a unit as soon as it has arrived.
  __aicore__ inline void Pump() {
    if (t_->splitK) {
      while (TryLoadA() || TryLoadWeights()) {
      }
      return;
    }
    while (TryLoadWeights() || TryLoadA()) {
    }
  }

  __aicore__ inline bool TryLoadWeights() {
    if (!wCur_.valid || wIssued_ - wFreed_ >= ringUnits_) return false;
    Fence();
    LoadWeightUnit(wCur_.it, wCur_.step, uint32_t(wIssued_ % ringUnits_));
    ++wIssued_;
    NextStep(wCur_, LoadPasses(wCur_.it));
    return true;
  }

  // A unit's rows, once its weights are queued (so the flag after the A load covers both). The cut's
  // second half has no rows of its own: only its flag.
  __aicore__ inline bool TryLoadA() {
    if (!aReady_ || !aCur_.valid || aIssued_ - consumed_ >= t_->aDepth || wIssued_ <= aCur_.wBase + aCur_.step) return false;
    Fence();
    const uint32_t event = uint32_t(aIssued_ % t_->aDepth), slot = t_->chunkSteps ? aCur_.step : event;
    const uint32_t tokens = PassTokens(aCur_.it, aCur_.pass);
    const uint32_t kLen = kMsd ? t_->kPad : t_->k;
    const uint32_t mPad = QGemmPassRows(*t_, tokens);
    if (!CutSecondHalf(aCur_.it, aCur_.step) && !aCur_.it.rowsLoaded)
      LoadA(ASlotBytes(slot)[UnitFirstPos(aCur_.step) * mPad * kQGemmStepBytes], aCur_.it, aCur_.pass * t_->tokensPerPass,
            tokens, UnitK0(aCur_.it, aCur_.step), UnitLen(aCur_.it, aCur_.step, kLen), mPad);
    AscendC::SetFlag<AscendC::HardEvent::MTE2_MTE1>(int32_t(event));  // also covers the step's weights
    ++aIssued_;
    NextStep(aCur_, Passes(aCur_.it));
    return true;
  }

  // Moves a cursor to the next step of the stream. The weight cursor walks the load passes of each
  // item (one when resident), the A cursor every pass; wBase follows the weight loads either way.
  __aicore__ inline void NextStep(QGemmStreamCursor& c, uint32_t passes) {
    const uint32_t units = ItemUnits(c.it);
    if (++c.step < units) return;
    c.step = 0;
    if (!t_->resident) c.wBase += units;
    if (++c.pass < passes) return;
    c.pass = 0;
    if (t_->resident) c.wBase += units;
    c.valid = c.sched.Next(c.it);
  }

  __aicore__ inline void Fence() {
    if (!fence_) return;
    AscendC::SetFlag<AscendC::HardEvent::MTE1_MTE2>(kEvFence);
    AscendC::WaitFlag<AscendC::HardEvent::MTE1_MTE2>(kEvFence);
    fence_ = false;
  }

  __aicore__ inline AscendC::LocalTensor<int8_t> ASlotBytes(uint32_t s) {
    return aL1_.Get<int8_t>()[s * t_->unitSteps * t_->aRows * kQGemmStepBytes];
  }

  // Unit u of item `it` (K rows [UnitK0, +UnitLen), the unit's columns [c0, c0 + cols)) -> ring unit
  // slot `slot`, in one copy. [N, K]: TileColumns rows per 32 B column block, so step j of the unit
  // starts j x TileColumns x 128 B into the unit's slots (chunk slot slot * unitSteps + j when nTile
  // wide), column c0 its row c0; [K, N]: unitSteps * kStep rows per column block,
  // step j starting at row j * kStep of each, column c0 in column block c0 / c0-elements.
  __aicore__ inline void LoadWeightUnit(const QGemmItem& it, uint32_t u, uint32_t slot) {
    const uint32_t unitK = t_->unitSteps * kStepElems, k0 = UnitK0(it, u), kRows = UnitLen(it, u, t_->k);
    const uint64_t base = uint64_t(it.group) * t_->k * t_->n / kPerByte;  // bytes
    const uint32_t pos = UnitFirstPos(KUnit(it, u));
    uint32_t c0, cols;
    UnitColumns(it, u, c0, cols);
    if (t_->weightKind == kWeightInt8NK)  // [N, K]: cols rows of kRows columns
      CopyGmToNz(SlotBytes(slot * t_->unitSteps)[pos * TileColumns(it) * kQGemmStepBytes + c0 * 32],
                 weight_[base + uint64_t(it.n0 + c0) * t_->k + k0], cols, kRows, t_->k, TileColumns(it));
    else  // [K, N]: kRows rows of cols columns
      CopyGmToNz(SlotBytes(slot * t_->unitSteps)[(pos * kStepElems + c0 / kC0 * unitK) * 32],
                 weight_[base + (uint64_t(k0) * t_->n + it.n0 + c0) / kPerByte], kRows, cols / kPerByte, t_->n / kPerByte,
                 unitK);
  }

  // ---- one item ---------------------------------------------------------------------------------
  __aicore__ inline void RunItem(const QGemmItem& it) {
    const uint32_t passes = Passes(it);
    for (uint32_t p = 0; p < passes; ++p) {
      RunPass(it, PassTokens(it, p), p + 1 == passes);
      if (!t_->resident) readBase_ += ItemUnits(it);
    }
    if (t_->resident) readBase_ += ItemUnits(it);
  }

  // One K step: where its operands are and what it reads of the tile.
  struct Step {
    uint32_t s;       // the item's step
    uint32_t aSlot;   // A ring slot holding its rows
    int32_t wait;     // MTE2 -> MTE1 event of its unit's loads to wait for first (-1: none)
    uint32_t ws, j;   // its unit's weight ring slot and its position in the unit
    uint32_t col0, cols;  // the tile's columns it multiplies (multiples of 16)
    bool unitEnds;    // its unit's last read of both slots
  };

  __aicore__ inline void RunPass(const QGemmItem& it, uint32_t tokens, bool lastPass) {
    using namespace AscendC;
    const uint32_t mPad = QGemmPassRows(*t_, tokens), rows = kMsd ? 2 * tokens + 1 : tokens;
    const uint32_t acc = accSlots_.Acquire();
    const LocalTensor<int32_t> c = l0c_.Get<int32_t>()[acc * t_->mTile * t_->nTile];
    const bool tail = TailUnit(it);
    const uint32_t cut = CutUnits(it);
    // The cut's steps run here on its first half's columns, after the first half's fixpipe on the rest.
    const uint32_t cutStep = cut ? CutFirstStep(it) : it.kSteps, half = cut ? CutColumns(it) : 0;
    uint64_t cutRead = 0;  // the first cut unit's index in the A ring's reads
    for (uint32_t s = 0; s < it.kSteps; ++s) {
      uint32_t u, j;
      StepUnit(it, tail, s, u, j);
      const uint32_t event = uint32_t(consumed_ % t_->aDepth), aSlot = t_->chunkSteps ? u : event;
      if (s == cutStep) cutRead = consumed_;
      const bool unitEnds = j + 1 == t_->unitSteps || s + 1 == it.kSteps || (tail && s + 2 == it.kSteps);
      RunStep(it, c, mPad, lastPass,
              Step{s, aSlot, j == 0 || s == 0 ? int32_t(event) : -1, UnitSlot(u), j, 0, s < cutStep ? TileColumns(it) : half, unitEnds});
    }
    uint32_t col0 = 0;
    if (cut) {
      WaitMmads();
      handoff_.PutPartial(c, rows, mPad, 0, half, it.slot);
      RunSecondHalves(it, c, mPad, lastPass, cutStep, cutRead);
      col0 = half;
    }
    WaitMmads();
    if (t_->splitK) {
      handoff_.PutPartial(c, rows, mPad, col0, AlignUp(it.nValid, 16) - col0, it.slot);
      CrossCoreSetFlag<2, PIPE_FIX>(kQGemmFlagPartials);  // the piece's partial is in GM
    }
    else if (t_->chunkSteps) handoff_.PutChunk(c, rows, mPad, TileColumns(it), it);
    else handoff_.Put(c, rows, mPad);
    accSlots_.Release(acc);
  }

  // The cut's steps again on the columns past its first half: second half i (of cut unit i) waits for
  // its own flag, the A ring's read cutRead + cut + i, and reads the rows of read cutRead + i.
  __aicore__ inline void RunSecondHalves(const QGemmItem& it, const AscendC::LocalTensor<int32_t>& c, uint32_t mPad,
                                         bool lastPass, uint32_t cutStep, uint64_t cutRead) {
    const uint32_t first = CutFirstUnit(it), cut = CutUnits(it), half = CutColumns(it);
    const uint32_t cols = AlignUp(it.nValid, t_->nGran) - half;
    for (uint32_t s = cutStep; s < it.kSteps; ++s) {
      const uint32_t u = (s + shift_) / t_->unitSteps, j = (s + shift_) % t_->unitSteps, i = u - first;
      const int32_t wait = s == cutStep || j == 0 ? int32_t((cutRead + cut + i) % t_->aDepth) : -1;
      RunStep(it, c, mPad, lastPass, Step{s, uint32_t((cutRead + i) % t_->aDepth), wait, UnitSlot(u + cut), j, half, cols,
                                          j + 1 == t_->unitSteps || s + 1 == it.kSteps});
    }
  }

  __aicore__ inline uint32_t UnitSlot(uint32_t u) const { return uint32_t((readBase_ + u) % ringUnits_); }
  __aicore__ inline void WaitMmads() {
    AscendC::SetFlag<AscendC::HardEvent::M_FIX>(0);
    AscendC::WaitFlag<AscendC::HardEvent::M_FIX>(0);
  }

  // Step st: L1 -> L0 once its unit's loads (A, and before it the weights) have arrived, Mmad into its
  // columns of c (the first step starts the sum).
  __aicore__ inline void RunStep(const QGemmItem& it, const AscendC::LocalTensor<int32_t>& c, uint32_t mPad, bool lastPass,
                                 const Step& st) {
    using namespace AscendC;
    const uint32_t kLen = kMsd ? t_->kPad : t_->k;
    const uint32_t k0 = (it.kStep0 + st.s) * kStepElems, kValid = kLen - k0 < kStepElems ? kLen - k0 : kStepElems;
    const uint32_t k1 = CeilDiv(kValid, kC0);
    const uint32_t l = l0Slots_.Acquire();
    const LocalTensor<T> l0a = l0a_.Get<T>()[l * t_->mTile * kStepElems];
    const LocalTensor<T> l0b = l0b_.Get<T>()[l * t_->nTile * kStepElems];
    if (st.wait >= 0) WaitFlag<HardEvent::MTE2_MTE1>(st.wait);
    const LocalTensor<T> aStep = aL1_.Get<T>()[(st.aSlot * t_->unitSteps * t_->aRows + st.j * mPad) * kStepElems];
    if (t_->aZz) LoadAZzToL0(l0a, aStep, mPad / 16, k1);
    else LoadAToL0(l0a, aStep, mPad / 16, k1);
    LoadBToL0Columns(l0b, st, k1, TileColumns(it));
    // The unit's last step read both slots: they take the stream's next loads.
    if (st.unitEnds) {
      ++consumed_;
      if (t_->resident ? lastPass : true) ++wFreed_;
      fence_ = true;
      Pump();
    }
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    // Never m = 1 (a GEMV on A2/A3, Mmad.md): mPad is a multiple of 16.
    Mmad(c[st.col0 * mPad], l0a, l0b, MmadParams(uint16_t(mPad), uint16_t(st.cols), uint16_t(k1 * kC0), 0, false, st.s == 0));
    l0Slots_.Release(l);
  }

  // The step's weights, columns [col0, col0 + cols) of a tile of tileCols -> L0B.
  __aicore__ inline void LoadBToL0Columns(const AscendC::LocalTensor<T>& l0b, const Step& st, uint32_t k1, uint32_t tileCols) {
    if (t_->weightKind == kWeightInt8NK) {
      const AscendC::LocalTensor<T> w = Slot(st.ws * t_->unitSteps)[st.j * tileCols * kStepElems];
      if (st.cols == tileCols) LoadBtToL0(l0b, w, tileCols / 16, k1);
      else LoadBtColumnsToL0(l0b, w, tileCols / 16, st.col0 / 16, st.cols / 16, k1);
      return;
    }
    const uint32_t kRows = t_->unitSteps * kStepElems;
    const AscendC::LocalTensor<T> w = ringL1_.Get<T>()[st.ws * t_->unitSteps * chunkElems_ + (st.j * kStepElems + st.col0 / kC0 * kRows) * kC0];
    LoadBToL0Transposed(l0b, w, kRows, st.cols / kC0, k1);
  }

  // The pass's A rows, columns [k0, k0 + kValid) -> L1 (bytes): Nz with mPad rows per column block,
  // or with aZz (never MSD: K-chunked prefill only) in L0A's order, step by step (CopyGmToZz).
  __aicore__ inline void LoadA(const AscendC::LocalTensor<int8_t>& dst, const QGemmItem& it, uint32_t tok0, uint32_t tokens,
                               uint32_t k0, uint32_t kValid, uint32_t mPad) {
    const uint64_t row = uint64_t(it.row0) + tok0;
    if constexpr (kMsd) {  // hi rows, lo rows, the ones row: x = 16 hi + lo + 8 (see the split)
      const uint64_t pitch = t_->kPad / kPerByte, col = k0 / kPerByte;
      const uint32_t bytes = kValid / kPerByte;
      CopyGmToNz(dst, hi_[row * pitch + col], tokens, bytes, pitch, mPad);
      CopyGmToNz(dst[tokens * 32], lo_[row * pitch + col], tokens, bytes, pitch, mPad);
      CopyGmToNz(dst[2 * tokens * 32], ones_[col], 1, bytes, bytes, mPad);
    } else {
      if (t_->aZz) CopyGmToZz(dst, act_[row * t_->k + k0], tokens, kValid, t_->k, 0, mPad, kQGemmStepBytes);
      else CopyGmToNz(dst, act_[row * t_->k + k0], tokens, kValid, t_->k, mPad);
    }
  }

  const QGemmTiling* t_ = nullptr;
  QGemmChunkWalk sched_;        // the items, as the steps run
  QGemmStreamCursor wCur_, aCur_;  // the next weight load, the next A load
  QGemmHandoff handoff_;
  bool aReady_ = false, fence_ = false;
  uint32_t chunkElems_ = 0, ringUnits_ = 0, shift_ = 0;
  uint64_t wIssued_ = 0, wFreed_ = 0;      // weight loads issued; ring slots read for the last time
  uint64_t aIssued_ = 0, consumed_ = 0;    // steps whose A is loaded; steps read by MTE1
  uint64_t readBase_ = 0;                  // weight load index of chunk 0 of the running pass
  AscendC::TBuf<AscendC::TPosition::B1> ringL1_;
  AscendC::TBuf<AscendC::TPosition::A1> aL1_;
  AscendC::TBuf<AscendC::TPosition::A2> l0a_;
  AscendC::TBuf<AscendC::TPosition::B2> l0b_;
  AscendC::TBuf<AscendC::TPosition::CO1> l0c_;
  EventSlots<AscendC::HardEvent::M_MTE1> l0Slots_;
  EventSlots<AscendC::HardEvent::FIX_M> accSlots_;
  AscendC::GlobalTensor<int8_t> act_, hi_, lo_, ones_, weight_;  // bytes
};

}  // namespace ascend_glm5
