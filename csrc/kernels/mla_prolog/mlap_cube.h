// MLA prolog, cube side (AIC). MM1 of groups 0 and 1, then per group g its heads (MM2 / MM3), with MM1
// of group g + 2 before the last head's MM3 (it streams while the vector cores dequantize that head's
// q_nope); the vector cores rope group g's heads as they appear and normalize group g + 1 meanwhile
// (see mla_prolog_tiling.h).
//
//   MM1(g)   this core's columns of [x] @ [W_dq | W_dkv_kr] -> shared MM1 ring slot g % 2
//            (T: the float matmul result leaves the cube rounded, as CANN; int32 in mode 2).
//            Decode: its W_dq columns, posted, then its W_dkv_kr ones (KvInHalves: K's second
//            half after the split heads' MM2).
//   MM2(g,h) c^Q (loaded once per group into L1: with whole heads chunk by chunk beside the first
//            MM2 tile's W_uq_qr) @ W_uq_qr[:, head h] -> q ring slot k % 2.
//   MM3(g,h) q_nope (from the q ring in mode 0, from the vector cores' dequantized copy in modes
//            1, 2) @ W_uk[h] -> query[:, h, :] directly.
//   Split heads (decode): before the whole heads, this core's columns of their q -> the shared
//            split q ring; after the whole heads and a barrier of the vector cores, this core's
//            columns of their query (q_nope of every core's columns from GM).
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "mla_prolog_tiling.h"
#include "mlap_common.h"
#include "mlap_gemm.h"

namespace ascend_glm5 {

template <typename T, uint32_t kMode>
class MlapCube {
  using Ty = MlapTypes<T, kMode>;
  using X = typename Ty::X;
  using Cq = typename Ty::Cq;

 public:
  __aicore__ inline void Init(GM_ADDR tokenX, GM_ADDR weightDq, GM_ADDR weightUqQr, GM_ADDR weightUk,
                              GM_ADDR weightDkvKr, GM_ADDR query, GM_ADDR workspace, const MlaPrologTiling& t) {
    t_ = &t;
    core_ = uint32_t(AscendC::GetBlockIdx());
    ws_.Init(workspace, t, core_);
    tokenX_.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(tokenX));
    wDq_.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(weightDq));
    wDkv_.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(weightDkvKr));
    wUq_.SetGlobalBuffer(reinterpret_cast<__gm__ Cq*>(weightUqQr));
    wUk_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(weightUk));
    query_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(query));
    c1_ = t.qLora + kMlapKvRopeDim;
    qCols_ = t.nope + kMlapRopeDim;
    mm1_ = MlapMm1Columns(t, core_, kMm1Unit);
    MlapHeads(t, core_, 0, headBegin_, headEnd_);
    if (t.kvByRows) MlapKvRows(t, core_, kvBegin_, kvEnd_);
    if (t.uqByRows) MlapUqRows(t, core_, uqBegin_, uqEnd_);
    wholeCols_ = (t.heads - t.splitHeads) * qCols_;
    MlapSplitColumns(t, t.splitHeads * qCols_, MlapSplitQUnit(t), core_, false, q2Begin_, q2End_);
    MlapSplitColumns(t, t.splitHeads * kMlapKvLoraDim, 16, core_, true, q3Begin_, q3End_);
    // Prefill groups of 128 rows: 3 A and 3 B chunk slots (MlapGemm::Init), in the same 192 KiB.
    const bool deep = t.groupTokens == kMlapPrefillGroupTokens;
    const uint32_t aBytes = deep ? 3 * MlapGemm::kDeepASlot : 2 * MlapGemm::kASlot;
    pipe_.InitBuffer(aL1_, aBytes);
    pipe_.InitBuffer(bL1_, MlapGemm::kL1Bytes - aBytes);
    pipe_.InitBuffer(cqL1_, t.groupTokens * t.qLora * sizeof(Cq));
    pipe_.InitBuffer(qnL1_, t.groupTokens * t.nope * sizeof(T));
    pipe_.InitBuffer(l0a_, 2 * MlapGemm::kL0Slot);
    pipe_.InitBuffer(l0b_, 2 * MlapGemm::kL0Slot);
    pipe_.InitBuffer(l0c_, 2 * kAccSlot);
    gemm_.Init(aL1_.Get<uint8_t>(), bL1_.Get<uint8_t>(), l0a_.Get<uint8_t>(), l0b_.Get<uint8_t>(), deep);
    acc_.Init(2, 0);
  }

  __aicore__ inline void Process() {
    // MM1 runs two groups ahead of the heads: MM1(0) and MM1(1) first (the vector cores normalize
    // c^Q(0) under MM1(1)), then MM1(g + 2) inside Mm23(g), before its last head's MM3.
    const uint32_t groups = t_->groups;
    for (uint32_t g = 0; g < groups && g < 2; ++g) Mm1(g);
    for (uint32_t g = 0; g < groups; ++g) Mm23(g, g + 2 < groups);
    // Take back the last heads' "q slot free" signals, then every in-core event.
    for (uint32_t i = 0; i < (headSteps_ < 2 ? headSteps_ : 2); ++i) AscendC::CrossCoreWaitFlag<2, PIPE_FIX>(kMlapFlagQFree);
    if (cqLoaded_) AscendC::WaitFlag<AscendC::HardEvent::MTE1_MTE2>(kEvCq);
    if (qnLoaded_) AscendC::WaitFlag<AscendC::HardEvent::MTE1_MTE2>(kEvQn);
    gemm_.Drain();
    acc_.Drain();
  }

 private:
  static constexpr uint32_t kMm1Unit = 32 / sizeof(X);  // MM1 columns per unit: a fractal's width
  static constexpr uint32_t kAccSlot = kMlapGroupTokens * kMlapMaxColTile * 4;  // bytes: one L0C tile (2: all of L0C)

  static constexpr int32_t kEvCq = 6, kEvQn = 7;                           // MTE2 <-> MTE1 event ids (0..5: gemm)

  template <typename TC>
  __aicore__ inline AscendC::LocalTensor<TC> AccTile(uint32_t slot) {
    return l0c_.Get<uint8_t>()[slot * kAccSlot].template ReinterpretCast<TC>();
  }

  // L0C tile -> GM rows (row-major), in the float dtype (rounded by the fixpipe) or int32.
  template <typename TO, typename TC>
  __aicore__ inline void Store(const AscendC::GlobalTensor<TO>& dst, const AscendC::LocalTensor<TC>& acc, uint32_t rows,
                               uint32_t cols, uint32_t dstStride) {
    using namespace AscendC;
    FixpipeParamsV220 p(uint16_t(cols), uint16_t(rows), uint16_t(AlignUp(rows, 16)), dstStride, false);
    if constexpr (SameType<TO, bfloat16_t>::value) p.quantPre = QuantMode_t::F322BF16;
    if constexpr (SameType<TO, half>::value) p.quantPre = QuantMode_t::F322F16;
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    Fixpipe(dst, acc, p);
  }

  __aicore__ inline void Mm1(uint32_t g) {
    using namespace AscendC;
    if (t_->hasGammaX) CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagXReady);  // every row of x(g) is in the ring
    if (g >= MlapMm1Slots(*t_)) CrossCoreWaitFlag<2, PIPE_FIX>(kMlapFlagMm1Free);  // every vector core read its slot
    if (mm1_.kCols > 0 && g >= 2) Mm1KSplit(g);
    else Mm1Range(g, mm1_.b0, mm1_.e0);
    CrossCoreSetFlag<2, PIPE_FIX>(kMlapFlagMm1Done);  // decode: the W_dq columns, c^Q may be normalized
    if (!MlapCqFirst(*t_)) return;
    // Decode: the vector cores normalize c^Q while we stream W_dkv_kr.
    if (KvInHalves(g)) {
      KvHalf(g, false);  // the second half after the split heads' MM2 (Mm23)
    } else {
      Mm1Range(g, mm1_.b1, mm1_.e1);
      CrossCoreSetFlag<2, PIPE_FIX>(kMlapFlagMm1KvDone);
    }
  }

  // Decode with split heads, when our W_dkv_kr columns make one tile of at most half an L0C slot: K's
  // first half streams while the vector cores normalize c^Q, the second after the split heads' MM2
  // (whose weights are prefetched meanwhile), so that neither the norm nor the split heads' barrier
  // waits for all of it. With kvByRows, our rows' halves over all 576 columns (of at most 16 rows). The tile
  // accumulates at the top of L0C slot 1 (kept between the two halves; every other tile of decode
  // after MM1 is at most kMlapColTile wide and starts at its slot's base).
  __aicore__ inline bool KvInHalves(uint32_t g) const {
    if (t_->kvByRows) return true;
    const uint32_t n = mm1_.e1 - mm1_.b1;
    return t_->splitHeads > 0 && n > 0 && AlignUp(MlapGroupRows(*t_, g), 16) * n * 4 <= kAccSlot / 2;
  }
  __aicore__ inline void KvHalf(uint32_t g, bool second) {
    using namespace AscendC;
    using Acc = typename Ty::Acc1;
    using Out = typename Ty::Mm1Out;
    const uint32_t rows = MlapGroupRows(*t_, g);
    // K range [k0, k1) of this half over columns [c, c + n) of W_dkv_kr; by rows, [kvBegin_, kvEnd_) in two.
    const bool byRows = t_->kvByRows;
    const uint32_t kb = byRows ? kvBegin_ : 0, ke = byRows ? kvEnd_ : t_->hidden;
    const uint32_t mid = kb + (ke - kb) / 64 * 32;  // whole 32-row units (an int8 transpose block)
    const uint32_t k0 = second ? mid : kb, k1 = second ? ke : mid;
    const uint32_t c = byRows ? 0 : mm1_.b1 - t_->qLora, n = byRows ? kMlapKvRopeDim : mm1_.e1 - mm1_.b1;
    MlapOperandA<X> a = XOperand(g);
    a.gm = a.gm[k0];
    const LocalTensor<Acc> acc =
        l0c_.Get<uint8_t>()[2 * kAccSlot - AlignUp(rows, 16) * n * 4].template ReinterpretCast<Acc>();
    acc_.Wait(1);  // the last fixpipe out of slot 1 is done (first half) / keeps later tiles off it (second)
    if (k1 > k0)
      gemm_.Run(acc, a, MlapB(wDkv_[uint64_t(k0) * kMlapKvRopeDim + c], kMlapKvRopeDim), k1 - k0, n, rows,
                second && mid > kb);
    if (!second) return;
    if (ke > kb) {
      GlobalTensor<Out> out;
      out.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(ws_.Mm1(g)));
      // By rows every core adds its partial sums into the same columns, which the vector cores zeroed
      // before the barrier ahead of c^Q (we waited for c^Q in Mm23): exact in int32.
      if (byRows) SetAtomicAdd<Acc>();
      Store(out[t_->qLora + c], acc, rows, n, c1_);
      if (byRows) SetAtomicNone();
    }
    acc_.Release(1);
    CrossCoreSetFlag<2, PIPE_FIX>(kMlapFlagMm1KvDone);
  }

  // x of group g (from the caller, or the fused input norm's ring): MM1's A.
  __aicore__ inline MlapOperandA<X> XOperand(uint32_t g) {
    MlapOperandA<X> a;
    if (t_->hasGammaX) a.gm.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(ws_.X(g)));
    else a.gm = tokenX_[uint64_t(g) * t_->groupTokens * t_->hidden];
    a.lda = t_->hidden;
    return a;
  }

  // Columns [begin, end) of [x] @ [W_dq | W_dkv_kr] of group g -> the MM1 ring, in tiles of up to
  // kMlapMaxColTile columns.
  __aicore__ inline void Mm1Range(uint32_t g, uint32_t begin, uint32_t end) {
    using namespace AscendC;
    using Acc = typename Ty::Acc1;
    using Out = typename Ty::Mm1Out;
    const uint32_t rows = MlapGroupRows(*t_, g), he = t_->hidden;
    const MlapOperandA<X> a = XOperand(g);
    GlobalTensor<Out> out;
    out.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(ws_.Mm1(g)));
    for (uint32_t c = begin; c < end;) {
      const uint32_t n = end - c < kMlapMaxColTile ? end - c : kMlapMaxColTile;
      // A tile's columns: those of W_dq first, then those of W_dkv_kr.
      MlapOperandB<X> b;
      if (c < t_->qLora) {
        b = MlapB(wDq_[c], t_->qLora);
        b.second = wDkv_;
        b.ld1 = kMlapKvRopeDim;
        b.split = t_->qLora - c;
      } else {
        b = MlapB(wDkv_[c - t_->qLora], kMlapKvRopeDim);
      }
      // A tile of a prefill group of 128 rows wider than 128 columns takes all of L0C (both slots):
      // one tile per core keeps x read once per group (a second tile would re-read all of x).
      const bool wholeL0c = AlignUp(rows, 16) * n * 4 > kAccSlot;
      const uint32_t slot = acc_.Acquire(), other = wholeL0c ? acc_.Acquire() : slot;
      const LocalTensor<Acc> acc = AccTile<Acc>(slot < other ? slot : other);
      gemm_.Run(acc, a, b, he, n, rows);
      Store(out[c], acc, rows, n, c1_);
      acc_.Release(slot);
      if (wholeL0c) acc_.Release(other);
      c += n;
    }
  }

  // K split (MlapMm1Split, mode 2, g >= 2): the shared columns [0, kCols) over our rows [kb, ke) of K,
  // the int32 partial sums added into the MM1 ring (the vector cores zeroed those columns before
  // they released the slot, Mm1Free, which Mm1 waited for).
  __aicore__ inline void Mm1KSplit(uint32_t g) {
    using namespace AscendC;
    using Acc = typename Ty::Acc1;
    using Out = typename Ty::Mm1Out;
    const uint32_t rows = MlapGroupRows(*t_, g), kb = mm1_.kb, ke = mm1_.ke;
    if (ke == kb) return;
    MlapOperandA<X> a = XOperand(g);
    a.gm = a.gm[kb];
    GlobalTensor<Out> out;
    out.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(ws_.Mm1(g)));
    for (uint32_t c = 0; c < mm1_.kCols;) {
      const uint32_t n = mm1_.kCols - c < kMlapMaxColTile ? mm1_.kCols - c : kMlapMaxColTile;
      const bool wholeL0c = AlignUp(rows, 16) * n * 4 > kAccSlot;
      const uint32_t slot = acc_.Acquire(), other = wholeL0c ? acc_.Acquire() : slot;
      const LocalTensor<Acc> acc = AccTile<Acc>(slot < other ? slot : other);
      gemm_.Run(acc, a, MlapB(wDq_[uint64_t(kb) * t_->qLora + c], t_->qLora), ke - kb, n, rows);
      SetAtomicAdd<Acc>();
      Store(out[c], acc, rows, n, c1_);
      SetAtomicNone();
      acc_.Release(slot);
      if (wholeL0c) acc_.Release(other);
      c += n;
    }
  }

  // Heads of group g; with `mm1Next`, MM1(g + 2) before the last head's MM3: it streams while the
  // vector cores dequantize that head's q_nope (the MM3 waits for it, and nothing else would).
  __aicore__ inline void Mm23(uint32_t g, bool mm1Next) {
    using namespace AscendC;
    const uint32_t rows = MlapGroupRows(*t_, g), mPad = AlignUp(rows, 16), hcq = t_->qLora;
    const uint32_t ldUq = t_->heads * qCols_;
    MlapHeads(*t_, core_, g, headBegin_, headEnd_);
    const bool split = t_->splitHeads > 0, splitMm2 = t_->uqByRows ? uqBegin_ < uqEnd_ : q2Begin_ < q2End_;
    const bool kvSecond = split && MlapCqFirst(*t_) && KvInHalves(g);  // W_dkv_kr's second half after Mm2Split
    // The first W_uq_qr chunks stream in while the vector cores normalize c^Q (the prefetch is for
    // the next Run: not the first whole head's when W_dkv_kr's second half comes before it).
    if (splitMm2 && t_->uqByRows) gemm_.PrefetchB(SplitUqRowsB(), uqEnd_ - uqBegin_, t_->splitHeads * qCols_);
    else if (splitMm2) gemm_.PrefetchB(MlapB(wUq_[uint64_t(wholeCols_) + q2Begin_], ldUq), hcq, SplitTile(q2Begin_, q2End_));
    else if (headBegin_ < headEnd_ && !kvSecond) gemm_.PrefetchB(MlapB(wUq_[uint64_t(headBegin_) * qCols_], ldUq), hcq, Tile(qCols_));
    const bool early = cqEarly_;  // c^Q(g) came into L1 during the last MM3 of group g - 1 (CqEarly)
    cqEarly_ = false;
    if (!early) CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagCqReady);  // every row of c^Q(g) is in the ring
    const bool needCq = splitMm2 || headBegin_ < headEnd_;
    // Modes 1, 2, whole heads, the group before the last: c^Q of the last group is copied into L1
    // while the last MM3 waits for its q_nope (the last group's norm ran first on the vector cores).
    const bool cqNext = kMode != kMlapBf16 && !split && headBegin_ < headEnd_ && g + 2 == t_->groups;
    MlapOperandA<Cq> a;
    if (needCq) {  // c^Q -> L1 once for all of this core's heads
      GlobalTensor<Cq> cq;
      cq.SetGlobalBuffer(reinterpret_cast<__gm__ Cq*>(ws_.Cq(g)));
      const LocalTensor<Cq> cqL1 = cqL1_.Get<Cq>();
      a.resident = true;
      a.l1 = cqL1;
      a.zz = true;  // in L0A's order (MlapGemm::CopyZz)
      a.kTotal = hcq;
      if (early) {
        WaitFlag<HardEvent::MTE2_MTE1>(kEvCq);  // its copy (CqEarly) is done
      } else {
        if (cqLoaded_) WaitFlag<HardEvent::MTE1_MTE2>(kEvCq);  // the previous group's MM2 loads from it are done
        if (split) {  // the split heads' MM2 may take any K range of it (uqByRows): all of it first
          MlapGemm::CopyZz(cqL1, cq, rows, mPad, hcq, hcq, 0, hcq);
          SetFlag<HardEvent::MTE2_MTE1>(kEvCq);
          WaitFlag<HardEvent::MTE2_MTE1>(kEvCq);
        } else {  // the first whole head's first MM2 tile loads it chunk by chunk beside its W_uq_qr (MlapGemm::Fill)
          a.fill = true;
          a.gm = cq;
          a.lda = hcq;
        }
      }
    }
    // The split heads' MM2 first: the barrier that makes all of their q visible to every core then
    // passes while this core works through its whole heads.
    if (split) {
      Mm2Split(a, g, rows);
      CrossCoreSetFlag<2, PIPE_FIX>(kMlapFlagSplitQReady);
      if (kvSecond) KvHalf(g, true);
    }
    // MM2 of head h + 1 before MM3 of head h: the vector cores rope (and dequantize) head h while
    // the cube streams the next head's W_uq_qr.
    for (uint32_t h = headBegin_; h < headEnd_; ++h, ++headSteps_) {
      Mm2(a, h, headSteps_, rows);
      if (h > headBegin_) Mm3(g, h - 1, headSteps_ - 1, rows);
    }
    if (mm1Next) Mm1(g + 2);
    if (headBegin_ < headEnd_) Mm3(g, headEnd_ - 1, headSteps_ - 1, rows, cqNext);
    if (split) Mm3Split(g, rows);
    if (needCq && !cqNext) {  // with cqNext, CqEarly waited for these loads
      SetFlag<HardEvent::MTE1_MTE2>(kEvCq);
      cqLoaded_ = true;
    }
  }

  // Columns of an MM2 / MM3 tile: up to kMlapColTile.
  __aicore__ static inline uint32_t Tile(uint32_t cols) { return cols < kMlapColTile ? cols : kMlapColTile; }
  // The first tile of [begin, end) of the split heads' q columns (contiguous in W_uq_qr: a tile may
  // span two heads).
  __aicore__ static inline uint32_t SplitTile(uint32_t begin, uint32_t end) { return Tile(end - begin); }
  // End of the part of the split query columns [c, q3End_) that lies in c's head (512 columns each).
  __aicore__ inline uint32_t SplitUkEnd(uint32_t c) const {
    const uint32_t headEnd = (c / kMlapKvLoraDim + 1) * kMlapKvLoraDim;
    return headEnd < q3End_ ? headEnd : q3End_;
  }

  // MM2 of the split heads: this core's columns [q2Begin_, q2End_) of their q (columns of W_uq_qr
  // after the whole heads') -> the shared split q ring.
  __aicore__ inline void Mm2Split(const MlapOperandA<Cq>& a, uint32_t g, uint32_t rows) {
    using namespace AscendC;
    using Acc2 = typename Ty::Acc2;
    using QOut = typename Ty::QOut;
    const uint32_t ldUq = t_->heads * qCols_, ldQ = t_->splitHeads * qCols_;
    GlobalTensor<QOut> q;
    q.SetGlobalBuffer(reinterpret_cast<__gm__ QOut*>(ws_.SplitQ(g)));
    if (t_->uqByRows) {
      Mm2SplitRows(a, q, rows);
      return;
    }
    for (uint32_t c = q2Begin_; c < q2End_;) {
      const uint32_t n = SplitTile(c, q2End_);
      const uint32_t slot = acc_.Acquire();
      const LocalTensor<Acc2> acc = AccTile<Acc2>(slot);
      gemm_.Run(acc, a, MlapB(wUq_[uint64_t(wholeCols_) + c], ldUq), t_->qLora, n, rows);
      Store(q[c], acc, rows, n, ldQ);
      acc_.Release(slot);
      c += n;
    }
  }

  // uqByRows: this core's rows [uqBegin_, uqEnd_) of the split heads' W_uq_qr.
  __aicore__ inline MlapOperandB<Cq> SplitUqRowsB() const {
    return MlapB(wUq_[uint64_t(uqBegin_) * t_->heads * qCols_ + wholeCols_], t_->heads * qCols_);
  }

  // uqByRows: the split heads' MM2 over our rows of W_uq_qr and all of their q columns (<= 1024: 16
  // rows of int32 fill at most L0C slot 0; W_dkv_kr's tile waits at the top of slot 1, KvHalf). The
  // partial sums are added into the split q ring, which the vector cores zeroed before the barrier
  // ahead of c^Q (we waited for c^Q): exact in int32.
  __aicore__ inline void Mm2SplitRows(const MlapOperandA<Cq>& a, const AscendC::GlobalTensor<typename Ty::QOut>& q,
                                      uint32_t rows) {
    using namespace AscendC;
    using Acc2 = typename Ty::Acc2;
    if (uqBegin_ == uqEnd_) return;
    MlapOperandA<Cq> part = a;
    part.k0 = uqBegin_;  // our rows of c^Q's columns (whole 32-column blocks)
    const uint32_t n = t_->splitHeads * qCols_;
    acc_.Wait(0);
    const LocalTensor<Acc2> acc = AccTile<Acc2>(0);
    gemm_.Run(acc, part, SplitUqRowsB(), uqEnd_ - uqBegin_, n, rows);
    SetAtomicAdd<Acc2>();
    Store(q, acc, rows, n, n);
    SetAtomicNone();
    acc_.Release(0);
  }

  // MM3 of the split heads: this core's columns [q3Begin_, q3End_) of their query (head j's 512
  // columns at j * 512), once every core's split q_nope is in GM.
  __aicore__ inline void Mm3Split(uint32_t g, uint32_t rows) {
    using namespace AscendC;
    const uint32_t d = t_->nope, whole = t_->heads - t_->splitHeads;
    if (q3Begin_ < q3End_) {  // W_uk streams in while the barrier passes
      const uint32_t j = q3Begin_ / kMlapKvLoraDim;
      gemm_.PrefetchB(MlapB(wUk_[uint64_t(whole + j) * d * kMlapKvLoraDim + q3Begin_ % kMlapKvLoraDim], kMlapKvLoraDim), d,
                      Tile(SplitUkEnd(q3Begin_) - q3Begin_));
    }
    CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagSplitReady);
    SetFlag<HardEvent::FIX_MTE2>(0);  // mode 0: our own part of q_nope was written by our fixpipe
    WaitFlag<HardEvent::FIX_MTE2>(0);
    GlobalTensor<T> nope;
    uint32_t ldNope = t_->splitHeads * qCols_, headStride = qCols_;
    if constexpr (kMode == kMlapBf16) {
      nope.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.SplitQ(g)));
    } else {
      nope.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.SplitQn(g)));
      ldNope = t_->splitHeads * d;
      headStride = d;
    }
    for (uint32_t c = q3Begin_; c < q3End_;) {
      const uint32_t j = c / kMlapKvLoraDim, end = SplitUkEnd(c);
      const MlapOperandA<T> qn = LoadNope(nope[j * headStride], ldNope, rows);
      UkColumns(g, whole + j, qn, c - j * kMlapKvLoraDim, end - j * kMlapKvLoraDim, rows);
      c = end;
    }
  }

  // MM2: q[:, h] = c^Q @ W_uq_qr[:, h*(D+Dr) : (h+1)*(D+Dr)] into q ring slot k % 2.
  // A `fill` c^Q is copied into L1 by the first tile (all of K); the later tiles find it there.
  __aicore__ inline void Mm2(MlapOperandA<Cq>& a, uint32_t h, uint32_t k, uint32_t rows) {
    using namespace AscendC;
    using Acc2 = typename Ty::Acc2;
    using QOut = typename Ty::QOut;
    const uint32_t ldUq = t_->heads * qCols_;
    if (k >= 2) CrossCoreWaitFlag<2, PIPE_FIX>(kMlapFlagQFree);
    GlobalTensor<QOut> q;
    q.SetGlobalBuffer(reinterpret_cast<__gm__ QOut*>(ws_.Q(k)));
    for (uint32_t c = 0; c < qCols_; c += kMlapColTile) {
      const uint32_t n = qCols_ - c < kMlapColTile ? qCols_ - c : kMlapColTile;
      const uint32_t slot = acc_.Acquire();
      const LocalTensor<Acc2> acc = AccTile<Acc2>(slot);
      gemm_.Run(acc, a, MlapB(wUq_[uint64_t(h) * qCols_ + c], ldUq), t_->qLora, n, rows);
      a.fill = false;
      Store(q[c], acc, rows, n, qCols_);
      acc_.Release(slot);
    }
    CrossCoreSetFlag<2, PIPE_FIX>(kMlapFlagQReady);
  }

  // MM3: query[:, h, :] = q_nope @ W_uk[h] (q_nope of head step k).
  __aicore__ inline void Mm3(uint32_t g, uint32_t h, uint32_t k, uint32_t rows, bool cqNext = false) {
    using namespace AscendC;
    const uint32_t d = t_->nope;
    GlobalTensor<T> nope;
    uint32_t ldNope = qCols_;
    if constexpr (kMode == kMlapBf16) {
      SetFlag<HardEvent::FIX_MTE2>(0);  // q_nope was written by our own fixpipe
      WaitFlag<HardEvent::FIX_MTE2>(0);
      nope.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.Q(k)));
    } else {
      // W_uk[h] streams in while the vector cores dequantize q_nope.
      gemm_.PrefetchB(MlapB(wUk_[uint64_t(h) * d * kMlapKvLoraDim], kMlapKvLoraDim), d, kMlapColTile);
      if (cqNext) CqEarly(g + 1);
      CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagQnReady);
      nope.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.Qn(k)));
      ldNope = d;
    }
    UkColumns(g, h, LoadNope(nope, ldNope, rows), 0, kMlapKvLoraDim, rows);
  }

  // c^Q of group g (the last) -> L1 during the last MM3 of group g - 1, after its W_uk prefetch and
  // before its wait for q_nope: the MTE2 queue would otherwise idle there. Mm23(g) then finds it in L1.
  __aicore__ inline void CqEarly(uint32_t g) {
    using namespace AscendC;
    const uint32_t rows = MlapGroupRows(*t_, g), hcq = t_->qLora;
    SetFlag<HardEvent::MTE1_MTE2>(kEvCq);  // group g - 1's MM2 loads from L1's c^Q are done
    WaitFlag<HardEvent::MTE1_MTE2>(kEvCq);
    CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagCqReady);  // every row of c^Q(g) is in the ring
    GlobalTensor<Cq> cq;
    cq.SetGlobalBuffer(reinterpret_cast<__gm__ Cq*>(ws_.Cq(g)));
    MlapGemm::CopyZz(cqL1_.Get<Cq>(), cq, rows, AlignUp(rows, 16), hcq, hcq, 0, hcq);  // Mm23(g) reads it as Zz
    SetFlag<HardEvent::MTE2_MTE1>(kEvCq);  // waited in Mm23(g)
    cqEarly_ = true;
  }

  // q_nope rows (ND, leading dimension ld) -> the L1 buffer of MM3's A.
  __aicore__ inline MlapOperandA<T> LoadNope(const AscendC::GlobalTensor<T>& nope, uint32_t ld, uint32_t rows) {
    using namespace AscendC;
    const uint32_t d = t_->nope, mPad = AlignUp(rows, 16);
    MlapOperandA<T> qn;
    qn.resident = true;
    qn.zz = true;  // in L0A's order (MlapGemm::CopyZz)
    qn.kTotal = d;
    qn.l1 = qnL1_.Get<T>();
    if (qnLoaded_) WaitFlag<HardEvent::MTE1_MTE2>(kEvQn);  // the previous MM3's loads from it are done
    MlapGemm::CopyZz(qn.l1, nope, rows, mPad, ld, d, 0, d);
    SetFlag<HardEvent::MTE2_MTE1>(kEvQn);
    WaitFlag<HardEvent::MTE2_MTE1>(kEvQn);
    return qn;
  }

  // query[:, h, c0:c1] = q_nope @ W_uk[h][:, c0:c1], in tiles of up to kMlapColTile columns.
  __aicore__ inline void UkColumns(uint32_t g, uint32_t h, const MlapOperandA<T>& qn, uint32_t c0, uint32_t c1,
                                   uint32_t rows) {
    using namespace AscendC;
    const uint32_t d = t_->nope;
    const GlobalTensor<T> wUk = wUk_[uint64_t(h) * d * kMlapKvLoraDim];
    const uint64_t outRow = uint64_t(t_->heads) * kMlapKvLoraDim;
    const uint64_t t0 = uint64_t(g) * t_->groupTokens;
    for (uint32_t c = c0; c < c1;) {
      const uint32_t n = Tile(c1 - c);
      const uint32_t slot = acc_.Acquire();
      const LocalTensor<float> acc = AccTile<float>(slot);
      gemm_.Run(acc, qn, MlapB(wUk[c], kMlapKvLoraDim), d, n, rows);
      Store(query_[t0 * outRow + uint64_t(h) * kMlapKvLoraDim + c], acc, rows, n, uint32_t(outRow));
      acc_.Release(slot);
      c += n;
    }
    SetFlag<HardEvent::MTE1_MTE2>(kEvQn);  // qn's L1 buffer may be refilled
    qnLoaded_ = true;
  }

  const MlaPrologTiling* t_ = nullptr;
  uint32_t core_ = 0, c1_ = 0, qCols_ = 0, headBegin_ = 0, headEnd_ = 0, headSteps_ = 0;
  MlapMm1Ranges mm1_;  // our MM1 columns
  uint32_t kvBegin_ = 0, kvEnd_ = 0;  // kvByRows: our rows of W_dkv_kr
  uint32_t uqBegin_ = 0, uqEnd_ = 0;  // uqByRows: our rows of the split heads' W_uq_qr
  uint32_t wholeCols_ = 0, q2Begin_ = 0, q2End_ = 0, q3Begin_ = 0, q3End_ = 0;  // split heads: W_uq_qr offset, our columns
  bool cqLoaded_ = false, qnLoaded_ = false;
  bool cqEarly_ = false;  // c^Q of the next group is already in L1 (CqEarly)
  MlapWorkspace ws_;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::A1> aL1_, cqL1_, qnL1_;
  AscendC::TBuf<AscendC::TPosition::B1> bL1_;
  AscendC::TBuf<AscendC::TPosition::A2> l0a_;
  AscendC::TBuf<AscendC::TPosition::B2> l0b_;
  AscendC::TBuf<AscendC::TPosition::CO1> l0c_;
  MlapGemm gemm_;
  EventSlots<AscendC::HardEvent::FIX_M, 2> acc_;
  AscendC::GlobalTensor<X> tokenX_, wDq_, wDkv_;
  AscendC::GlobalTensor<Cq> wUq_;
  AscendC::GlobalTensor<T> wUk_, query_;
};

}  // namespace ascend_glm5
