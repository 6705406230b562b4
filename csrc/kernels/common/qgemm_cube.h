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
  QGemmSchedule sched;
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
    pipe.InitBuffer(aL1_, t.aDepth * t.unitSteps * t.aRows * kQGemmStepBytes);
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

  __aicore__ inline uint32_t Passes(const QGemmItem& it) const { return CeilDiv(it.rows, t_->tokensPerPass); }
  __aicore__ inline uint32_t LoadPasses(const QGemmItem& it) const { return t_->resident ? 1 : Passes(it); }
  // An item's steps in load units: unit u holds the item's steps [u U - shift, (u + 1) U - shift)
  // (U = unitSteps, clipped to the item), at positions shift.. of the first unit's slots. With a
  // tail (TailUnit), the item's last step is a unit of its own after those (at position 0).
  __aicore__ inline uint32_t BaseUnits(const QGemmItem& it) const { return CeilDiv(it.kSteps + shift_, t_->unitSteps); }
  __aicore__ inline uint32_t ItemUnits(const QGemmItem& it) const { return BaseUnits(it) + (TailUnit(it) ? 1 : 0); }
  // Split-K: the block's last piece loads its last step as a unit of its own when its last unit
  // would hold more steps: once the block's last copy has landed, MTE1 then moves one step to L0,
  // not a whole unit's (the earlier steps of that unit are moved while the last copy streams).
  __aicore__ inline bool TailUnit(const QGemmItem& it) const {
    if (!it.last) return false;
    const uint32_t p = it.kSteps + shift_ - 1, u = p / t_->unitSteps;  // the last step's position and unit
    return p > (u == 0 ? shift_ : u * t_->unitSteps);                    // not the first step of its unit
  }
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
    if (u == BaseUnits(it)) return (it.kStep0 + it.kSteps - 1) * kStepElems;  // the tail
    return (it.kStep0 + u * t_->unitSteps + UnitFirstPos(u) - shift_) * kStepElems;
  }
  // K elements of unit u (the last unit of an item, or of K, may be short).
  __aicore__ inline uint32_t UnitLen(const QGemmItem& it, uint32_t u, uint32_t kLen) const {
    const bool beforeTail = u + 1 == BaseUnits(it) && TailUnit(it);
    const uint32_t k0 = UnitK0(it, u), end = (it.kStep0 + it.kSteps - (beforeTail ? 1 : 0)) * kStepElems;
    const uint32_t stop = end < kLen ? end : kLen, unitK = (t_->unitSteps - UnitFirstPos(u)) * kStepElems;
    return stop - k0 < unitK ? stop - k0 : unitK;
  }
  __aicore__ inline AscendC::LocalTensor<T> Slot(uint32_t s) { return ringL1_.Get<T>()[s * chunkElems_]; }
  __aicore__ inline AscendC::LocalTensor<int8_t> SlotBytes(uint32_t s) {
    return ringL1_.Get<int8_t>()[s * chunkElems_ / kPerByte];
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

  // A unit's rows, once its weights are queued (so the flag after the A load covers both).
  __aicore__ inline bool TryLoadA() {
    if (!aReady_ || !aCur_.valid || aIssued_ - consumed_ >= t_->aDepth || wIssued_ <= aCur_.wBase + aCur_.step) return false;
    Fence();
    const uint32_t slot = uint32_t(aIssued_ % t_->aDepth);
    const uint32_t tokens = PassTokens(aCur_.it, aCur_.pass);
    const uint32_t kLen = kMsd ? t_->kPad : t_->k;
    const uint32_t mPad = QGemmPassRows(*t_, tokens);
    LoadA(ASlotBytes(slot)[UnitFirstPos(aCur_.step) * mPad * kQGemmStepBytes], aCur_.it, aCur_.pass * t_->tokensPerPass, tokens, UnitK0(aCur_.it, aCur_.step),
          UnitLen(aCur_.it, aCur_.step, kLen), mPad);
    AscendC::SetFlag<AscendC::HardEvent::MTE2_MTE1>(int32_t(slot));  // also covers the step's weights
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

  // Unit u of item `it` (K rows [UnitK0, +UnitLen), the item's columns) -> ring unit slot `slot`, in one
  // copy. [N, K]: nTile rows per 32 B column block, so step j of the unit is chunk slot slot * unitSteps
  // + j; [K, N]: unitSteps * kStep rows per column block, step j starting at row j * kStep of each.
  __aicore__ inline void LoadWeightUnit(const QGemmItem& it, uint32_t u, uint32_t slot) {
    const uint32_t unitK = t_->unitSteps * kStepElems, k0 = UnitK0(it, u), kRows = UnitLen(it, u, t_->k);
    const uint64_t base = uint64_t(it.group) * t_->k * t_->n / kPerByte;  // bytes
    const uint32_t pos = UnitFirstPos(u);
    const AscendC::LocalTensor<int8_t> dst =
        t_->weightKind == kWeightInt8NK ? SlotBytes(slot * t_->unitSteps + pos) : SlotBytes(slot * t_->unitSteps)[pos * kStepElems * 32];
    if (t_->weightKind == kWeightInt8NK)  // [N, K]: nValid rows of kRows columns
      CopyGmToNz(dst, weight_[base + uint64_t(it.n0) * t_->k + k0], it.nValid, kRows, t_->k, t_->nTile);
    else  // [K, N]: kRows rows of nValid columns
      CopyGmToNz(dst, weight_[base + (uint64_t(k0) * t_->n + it.n0) / kPerByte], kRows, it.nValid / kPerByte,
                 t_->n / kPerByte, unitK);
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

  __aicore__ inline void RunPass(const QGemmItem& it, uint32_t tokens, bool lastPass) {
    using namespace AscendC;
    const uint32_t mPad = QGemmPassRows(*t_, tokens), m1 = mPad / 16;
    const uint32_t kLen = kMsd ? t_->kPad : t_->k;
    const uint32_t acc = accSlots_.Acquire();
    const LocalTensor<int32_t> c = l0c_.Get<int32_t>()[acc * t_->mTile * t_->nTile];
    const bool tail = TailUnit(it);
    for (uint32_t s = 0; s < it.kSteps; ++s) {
      const uint32_t k0 = (it.kStep0 + s) * kStepElems, kValid = kLen - k0 < kStepElems ? kLen - k0 : kStepElems;
      const uint32_t k1 = CeilDiv(kValid, kC0);
      uint32_t u, j;
      StepUnit(it, tail, s, u, j);
      const uint32_t aSlot = uint32_t(consumed_ % t_->aDepth);
      const uint32_t ws = uint32_t((readBase_ + u) % ringUnits_);  // the unit's weight slot
      const bool unitEnds = j + 1 == t_->unitSteps || s + 1 == it.kSteps || (tail && s + 2 == it.kSteps);
      // L1 -> L0, once the unit's loads (A, and before it the weights) have arrived.
      const uint32_t l = l0Slots_.Acquire();
      const LocalTensor<T> l0a = l0a_.Get<T>()[l * t_->mTile * kStepElems];
      const LocalTensor<T> l0b = l0b_.Get<T>()[l * t_->nTile * kStepElems];
      if (j == 0 || s == 0) WaitFlag<HardEvent::MTE2_MTE1>(int32_t(aSlot));
      LoadAToL0(l0a, aL1_.Get<T>()[(aSlot * t_->unitSteps * t_->aRows + j * mPad) * kStepElems], m1, k1);
      if (t_->weightKind == kWeightInt8NK) {
        LoadBtToL0(l0b, Slot(ws * t_->unitSteps + j), t_->nTile / 16, k1);
      } else {
        const LocalTensor<T> w = ringL1_.Get<T>()[ws * t_->unitSteps * chunkElems_ + j * kStepElems * kC0];
        LoadBToL0Transposed(l0b, w, t_->unitSteps * kStepElems, t_->nTile / kC0, k1);
      }
      // The unit's last step read both slots: they take the stream's next loads.
      if (unitEnds) {
        ++consumed_;
        if (t_->resident ? lastPass : true) ++wFreed_;
        fence_ = true;
        Pump();
      }
      SetFlag<HardEvent::MTE1_M>(0);
      WaitFlag<HardEvent::MTE1_M>(0);
      // Never m = 1 (a GEMV on A2/A3, Mmad.md): mPad is a multiple of 16.
      Mmad(c, l0a, l0b, MmadParams(uint16_t(mPad), uint16_t(t_->nTile), uint16_t(k1 * kC0), 0, false, s == 0));
      l0Slots_.Release(l);
    }
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    const uint32_t rows = kMsd ? 2 * tokens + 1 : tokens;
    if (t_->splitK) {
      handoff_.PutPartial(c, rows, mPad, AlignUp(it.nValid, 16), it.slot);
      CrossCoreSetFlag<2, PIPE_FIX>(kQGemmFlagPartials);  // the piece's partial is in GM
    }
    else handoff_.Put(c, rows, mPad);
    accSlots_.Release(acc);
  }

  // The pass's A rows, columns [k0, k0 + kValid) -> L1 Nz with mPad rows per column block (bytes).
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
      CopyGmToNz(dst, act_[row * t_->k + k0], tokens, kValid, t_->k, mPad);
    }
  }

  const QGemmTiling* t_ = nullptr;
  QGemmSchedule sched_;         // the items, as the steps run
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
