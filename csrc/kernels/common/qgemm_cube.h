// Quantized GEMM engine, cube side (AIC): int8 x int8 or int4 x int4 -> exact int32 tiles.
//
// Per item (QGemmSchedule) and pass of up to tokensPerPass rows:
//   A    the pass's rows x kStep -> L1 (double buffered): the activation rows (int8), or with MSD
//        the hi rows, the lo rows and one ones row from the split workspace (int4);
//   W    weight chunks of kStep x nTile stream GM -> L1 slots of a ring (the weight stream);
//   L0   A -> L0A, W -> L0B (transposed for [K, N] weights), Mmad accumulates over K in L0C;
//   out  the fixpipe writes the int32 tile to the block's handoff slot for the vector cores.
//
// The weight stream: loads go to ring slot (load index % ringChunks) in item order; a load is
// issued right after the last read of the load ringChunks before it, so the next item's weights
// stream in while this one computes. When an item's whole K fits (resident), ringChunks equals
// the chunks per pass, each weight chunk is loaded once and read by every pass of the item: the
// weights cross GM once per launch. Otherwise every pass streams K again.
#pragma once

#include "kernel_operator.h"
#include "cube_copy.h"
#include "event_slots.h"
#include "host_device.h"
#include "qgemm_handoff.h"
#include "qgemm_schedule.h"
#include "qgemm_tiling.h"

namespace ascend_glm5 {

template <typename T, bool kMsd>
class QGemmCube {
 public:
  __aicore__ inline void Init(AscendC::TPipe& pipe, GM_ADDR act, GM_ADDR weight, GM_ADDR groupList, GM_ADDR workspace,
                              const QGemmTiling& t) {
    t_ = &t;
    sched_.Init(t, groupList, uint32_t(AscendC::GetBlockIdx()));
    if constexpr (kMsd) {
      hi_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsHiOffsetLo, t.wsHiOffsetHi)));
      lo_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsLoOffsetLo, t.wsLoOffsetHi)));
      ones_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(workspace + Join64(t.wsOnesOffsetLo, t.wsOnesOffsetHi)));
    } else {
      act_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(act));
    }
    weight_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(weight));
    handoff_.Init(workspace, t, uint32_t(AscendC::GetBlockIdx()));
    chunkElems_ = t.kStep * t.nTile;
    pipe.InitBuffer(ringL1_, t.ringChunks * t.nTile * kQGemmStepBytes);
    pipe.InitBuffer(aL1_, 2 * t.mTile * kQGemmStepBytes);
    pipe.InitBuffer(l0a_, 2 * t.mTile * kQGemmStepBytes);
    pipe.InitBuffer(l0b_, 2 * t.nTile * kQGemmStepBytes);
    pipe.InitBuffer(l0c_, 2 * t.mTile * t.nTile * sizeof(int32_t));
    aSlots_.Init(2, 0);
    l0Slots_.Init(2, 0);
    accSlots_.Init(2, 0);
  }

  // Issues the first ring of weight loads: they need nothing from the vector cores, so they can
  // run while those still prepare the activations.
  __aicore__ inline void StartWeights() {
    haveCur_ = sched_.Next(cur_);
    if (!haveCur_) return;
    haveNext_ = sched_.Next(next_);
    for (uint32_t i = 0; i < t_->ringChunks && LoadPending(); ++i) IssueNextLoad();
  }

  __aicore__ inline void Process() {
    if (!haveCur_) return;
    for (;;) {
      RunItem(cur_);
      if (!haveNext_) break;
      cur_ = next_;
      haveNext_ = sched_.Next(next_);
      --loadWhich_;
    }
    handoff_.DrainCube();
    aSlots_.Drain();
    l0Slots_.Drain();
    accSlots_.Drain();
  }

 private:
  static constexpr uint32_t kC0 = CubeElem<T>::c0;
  static constexpr uint32_t kStepElems = kQGemmStepBytes * 8 / CubeElem<T>::bits;  // == t.kStep
  static constexpr uint32_t kPerByte = 8 / CubeElem<T>::bits;                       // elements per byte
  static constexpr int32_t kEvLoaded = 2, kEvSlotFree = 2;  // weight stream events (A uses 0 / 1)

  __aicore__ inline uint32_t Passes(const QGemmItem& it) const { return CeilDiv(it.rows, t_->tokensPerPass); }
  __aicore__ inline uint32_t LoadPasses(const QGemmItem& it) const { return t_->resident ? 1 : Passes(it); }
  __aicore__ inline AscendC::LocalTensor<T> Slot(uint32_t s) { return ringL1_.Get<T>()[s * chunkElems_]; }
  __aicore__ inline AscendC::LocalTensor<int8_t> SlotBytes(uint32_t s) {
    return ringL1_.Get<int8_t>()[s * chunkElems_ / kPerByte];
  }

  // ---- the weight stream ----------------------------------------------------------------------
  // Chunk c of item `it` (rows [c kStep, +kStep) of K, the item's nTile columns) -> ring slot.
  __aicore__ inline void LoadWeightChunk(const QGemmItem& it, uint32_t c, uint32_t slot) {
    const uint32_t k0 = c * t_->kStep, kRows = t_->k - k0 < t_->kStep ? t_->k - k0 : t_->kStep;
    const uint64_t base = uint64_t(it.group) * t_->k * t_->n / kPerByte;  // bytes
    if (t_->weightKind == kWeightInt8NK)  // [N, K]: nValid rows of kRows columns, nTile rows per column block
      CopyGmToNz(SlotBytes(slot), weight_[base + uint64_t(it.n0) * t_->k + k0], it.nValid, kRows, t_->k, t_->nTile);
    else  // [K, N]: kRows rows of nValid columns, kStep rows per column block
      CopyGmToNz(SlotBytes(slot), weight_[base + (uint64_t(k0) * t_->n + it.n0) / kPerByte], kRows, it.nValid / kPerByte,
                 t_->n / kPerByte, t_->kStep);
  }

  // The cursor is in the current item (0) or the next one (1). It reaches 2 only when resident,
  // at an item (and load group) boundary: it resumes once the next item becomes current.
  __aicore__ inline bool LoadPending() const { return loadWhich_ == 0 || (loadWhich_ == 1 && haveNext_); }

  // Issues the load at the stream cursor and advances it. The loads form groups of ringChunks;
  // the last load of a group (or of the stream) signals the group.
  __aicore__ inline void IssueNextLoad() {
    const QGemmItem& it = loadWhich_ == 0 ? cur_ : next_;
    LoadWeightChunk(it, loadChunk_, uint32_t(loadQ_ % t_->ringChunks));
    ++loadQ_;
    if (++loadChunk_ == t_->chunksPerPass) {
      loadChunk_ = 0;
      if (++loadPass_ == LoadPasses(it)) {
        loadPass_ = 0;
        ++loadWhich_;
      }
    }
    const bool streamEnds = loadWhich_ == 1 && !haveNext_;
    if (loadQ_ % t_->ringChunks == 0 || streamEnds)
      AscendC::SetFlag<AscendC::HardEvent::MTE2_MTE1>(kEvLoaded + int32_t(((loadQ_ - 1) / t_->ringChunks) % 2));
  }

  // ---- one item ---------------------------------------------------------------------------------
  __aicore__ inline void RunItem(const QGemmItem& it) {
    const uint32_t passes = Passes(it);
    for (uint32_t p = 0; p < passes; ++p) {
      const uint32_t tok0 = p * t_->tokensPerPass;
      const uint32_t tokens = it.rows - tok0 < t_->tokensPerPass ? it.rows - tok0 : t_->tokensPerPass;
      RunPass(it, tok0, tokens, p == 0, p + 1 == passes);
      if (!t_->resident) readBase_ += t_->chunksPerPass;
    }
    if (t_->resident) readBase_ += t_->chunksPerPass;
  }

  __aicore__ inline void RunPass(const QGemmItem& it, uint32_t tok0, uint32_t tokens, bool firstPass, bool lastPass) {
    using namespace AscendC;
    const uint32_t mPad = QGemmPassRows(*t_, tokens), m1 = mPad / 16;
    const uint32_t kLen = kMsd ? t_->kPad : t_->k;
    const uint32_t acc = accSlots_.Acquire();
    const LocalTensor<int32_t> c = l0c_.Get<int32_t>()[acc * t_->mTile * t_->nTile];
    for (uint32_t s = 0; s < t_->chunksPerPass; ++s) {
      const uint32_t k0 = s * t_->kStep, kValid = kLen - k0 < t_->kStep ? kLen - k0 : t_->kStep;
      const uint32_t k1 = CeilDiv(kValid, kC0);
      // A -> L1
      const uint32_t a = aSlots_.Acquire();
      const LocalTensor<T> aL1 = aL1_.Get<T>()[a * t_->mTile * kStepElems];
      LoadA(aL1_.Get<int8_t>()[a * t_->mTile * kQGemmStepBytes], it, tok0, tokens, k0, kValid, mPad);
      SetFlag<HardEvent::MTE2_MTE1>(a);
      // The weight chunk's group must have arrived.
      const uint64_t q = readBase_ + s;
      const bool firstRead = t_->resident ? firstPass : true;
      if (firstRead && q % t_->ringChunks == 0)
        WaitFlag<HardEvent::MTE2_MTE1>(kEvLoaded + int32_t((q / t_->ringChunks) % 2));
      // L1 -> L0
      const uint32_t l = l0Slots_.Acquire();
      const LocalTensor<T> l0a = l0a_.Get<T>()[l * t_->mTile * kStepElems];
      const LocalTensor<T> l0b = l0b_.Get<T>()[l * t_->nTile * kStepElems];
      WaitFlag<HardEvent::MTE2_MTE1>(a);
      LoadAToL0(l0a, aL1, m1, k1);
      aSlots_.Release(a);
      const LocalTensor<T> w = Slot(uint32_t(q % t_->ringChunks));
      if (t_->weightKind == kWeightInt8NK) LoadBtToL0(l0b, w, t_->nTile / 16, k1);
      else LoadBToL0Transposed(l0b, w, t_->kStep, t_->nTile / kC0, k1);
      // Last read of this chunk: its slot takes the stream's next load.
      if ((t_->resident ? lastPass : true) && LoadPending()) {
        SetFlag<HardEvent::MTE1_MTE2>(kEvSlotFree);
        WaitFlag<HardEvent::MTE1_MTE2>(kEvSlotFree);
        IssueNextLoad();
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
    handoff_.Put(c, rows, mPad);
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
  QGemmSchedule sched_;
  QGemmHandoff handoff_;
  QGemmItem cur_{}, next_{};
  bool haveCur_ = false, haveNext_ = false;
  uint32_t loadWhich_ = 0, loadPass_ = 0, loadChunk_ = 0, chunkElems_ = 0;
  uint64_t loadQ_ = 0, readBase_ = 0;
  AscendC::TBuf<AscendC::TPosition::B1> ringL1_;
  AscendC::TBuf<AscendC::TPosition::A1> aL1_;
  AscendC::TBuf<AscendC::TPosition::A2> l0a_;
  AscendC::TBuf<AscendC::TPosition::B2> l0b_;
  AscendC::TBuf<AscendC::TPosition::CO1> l0c_;
  EventSlots<AscendC::HardEvent::MTE1_MTE2> aSlots_;
  EventSlots<AscendC::HardEvent::M_MTE1> l0Slots_;
  EventSlots<AscendC::HardEvent::FIX_M> accSlots_;
  AscendC::GlobalTensor<int8_t> act_, hi_, lo_, ones_, weight_;  // bytes
};

}  // namespace ascend_glm5
