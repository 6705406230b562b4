// MLA prolog, vector side (AIV). Per step s, in the cube's order (mla_prolog_tiling.h):
//
//   Heads(s-1)  split heads (decode) first: modes 1, 2 dequantize our rows of our cube's q_nope
//               columns (uqByRows: after a barrier, our (head, row) pairs of every column, since
//               every cube added partial sums); a barrier of all vector cores (every cube's split
//               q is in GM, our cube may run their MM3), then their rope rows spread over all
//               vector cores.
//               Per whole head of our AI core, as the cube's MM2 produces it, our half of the
//               group's rows: RoPE(q_pe) -> query_rope; modes 1, 2: dequantized q_nope -> MM3
//   wait MM1(s) of our cube, barrier of all vector cores (every cube's MM1 columns are in GM)
//   NormCq(s)   the group's rows spread over all vector cores: c^Q = qc_qr_scale * RMSNorm(x @ W_dq)
//               [-> smooth, int8 quant] into the c^Q ring, and query_norm; a second barrier, then
//               our cube may start MM2 (it needs every row)
//   Kv(s)       decode: after the cubes' W_dkv_kr columns and a third barrier;
//               rows spread over all vector cores (from the last one): kc_scale * RMSNorm(c) -> kv_cache, RoPE(k_pe)
//               -> kr_cache, at the token's slot (combined cache: both in one 576-wide row, one copy)
//   XPrep(s+2)  rows spread over all vector cores: fused input RMSNorm of token_x (and its int8
//               quant in mode 2) -> the x ring (ready for the cubes after the next barrier)
// The last step (s = groups - 1 >= 1) runs NormCq(s) before Heads(s-1), then Kv(s): no MM1(s+1) hides it.
// Mode 2 dequantizes the int32 MM1 sums as acc * x_scale[t] * w_scale[n]; modes 1, 2 the MM2 sums
// as acc * cq_scale[t] * w_scale[n] (the reference's order).
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "mla_prolog_tiling.h"
#include "mlap_common.h"
#include "mlap_rows.h"

namespace ascend_glm5 {

// GM_ADDR is a macro (`__gm__ uint8_t*`): one declaration per line.
struct MlapVectorArgs {
  GM_ADDR tokenX;
  GM_ADDR gammaX;
  GM_ADDR gammaCq;
  GM_ADDR gammaCkv;
  GM_ADDR ropeSin;
  GM_ADDR ropeCos;
  GM_ADDR cacheIndex;
  GM_ADDR kvCache;
  GM_ADDR krCache;
  GM_ADDR scaleX;
  GM_ADDR scaleWDq;
  GM_ADDR scaleWUqQr;
  GM_ADDR scaleWDkvKr;
  GM_ADDR smooth;
  GM_ADDR queryRope;
  GM_ADDR queryNorm;
  GM_ADDR queryNormScale;
  GM_ADDR workspace;
};

template <typename T, uint32_t kMode>
class MlapVector {
  using Ty = MlapTypes<T, kMode>;
  using Mm1Out = typename Ty::Mm1Out;
  using Cq = typename Ty::Cq;
  using QOut = typename Ty::QOut;
  static constexpr bool kQuantCq = kMode != kMlapBf16;

 public:
  __aicore__ inline void Init(const MlapVectorArgs& a, const MlaPrologTiling& t) {
    using namespace AscendC;
    t_ = &t;
    core_ = uint32_t(GetBlockIdx()) / 2;
    sub_ = uint32_t(GetSubBlockIdx());
    ws_.Init(a.workspace, t, core_);
    c1_ = t.qLora + kMlapKvRopeDim;
    qCols_ = t.nope + kMlapRopeDim;
    MlapHeads(t, core_, 0, headBegin_, headEnd_);
    wholeHeads_ = t.heads - t.splitHeads;
    MlapSplitColumns(t, t.splitHeads * qCols_, MlapSplitQUnit(t), core_, false, q2Begin_, q2End_);
    if (kMode == kMlapW8A8) kCols_ = MlapMm1Split(t, 32).KCols(32);  // int8 x: units of 32 columns
    tokenX_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.tokenX));
    gammaXGm_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.gammaX));
    gammaCqGm_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.gammaCq));
    gammaCkvGm_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.gammaCkv));
    sin_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.ropeSin));
    cos_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.ropeCos));
    cacheIndex_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(a.cacheIndex));
    kvCache_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.kvCache));
    krCache_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.krCache));
    scaleX_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.scaleX));
    scaleWDq_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.scaleWDq));
    scaleWUq_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.scaleWUqQr));
    scaleWDkv_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.scaleWDkvKr));
    smooth_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.smooth));
    queryRope_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a.queryRope));
    queryNorm_.SetGlobalBuffer(reinterpret_cast<__gm__ Cq*>(a.queryNorm));
    queryNormScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a.queryNormScale));
    Carve();
  }

  __aicore__ inline void Process() {
    using namespace AscendC;
    const uint32_t groups = t_->groups;
    const bool prep = t_->hasGammaX;
    const uint32_t slots = MlapMm1Slots(*t_);
    LoadConstants();
    ZeroSums();  // by rows: before the first barrier, every cube adds into them after it
    // K split: MM1(2) adds into slot 2 (with 3 slots), which no norm read before: zero it now.
    for (uint32_t g = 2; kCols_ > 0 && g < slots && g < groups; ++g) ZeroKSplit(g);
    if (prep) {  // x of the first two groups
      XPrep(0);
      if (groups > 1) XPrep(1);
      SyncAll<true>();
      for (uint32_t g = 0; g < (groups < 2 ? groups : 2); ++g) CrossCoreSetFlag<2, PIPE_MTE3>(kMlapFlagXReady);
    }
    for (uint32_t s = 0; s <= groups; ++s) {
      // The heads of group s - 1 first: the cube works through them right after its MM1(s). The
      // last group's norm goes before them (`lastFirst`): no MM1(s + 1) is left to hide it from
      // the cube, whose MM1(s) is long done, and the heads of s - 1 keep the cube busy meanwhile.
      const bool lastFirst = s >= 1 && s + 1 == groups;
      if (s >= 1 && !lastFirst) Heads(s - 1);
      if (s == groups) break;
      CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagMm1Done);
      SyncAll<true>();  // every AI core's MM1 columns of group s are in the ring; step s - 1 is done
      if (prep && s >= 1 && s + 1 < groups) CrossCoreSetFlag<2, PIPE_MTE3>(kMlapFlagXReady);  // x(s+1), made in step s-1
      // The MM1 slot of group s - 1, for MM1(s - 1 + mm1Slots).
      if (s >= 1 && s - 1 + slots < groups) CrossCoreSetFlag<2, PIPE_MTE2>(kMlapFlagMm1Free);
      NormCq(s);
      if (kCols_ > 0 && s + slots < groups) ZeroKSplit(s);  // MM1(s + mm1Slots) adds into its slot
      SyncAll<true>();  // every row of c^Q(s) is in the ring
      CrossCoreSetFlag<2, PIPE_MTE3>(kMlapFlagCqReady);
      if (MlapCqFirst(*t_)) {  // decode: the cubes stream their W_dkv_kr columns meanwhile, the last
        if (t_->splitHeads > 0) SplitHeads(s);  // part after the split heads' q (mlap_cube.h KvHalf)
        KvStart(s);
        CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagMm1KvDone);
        SyncAll<true>();
      }
      if (lastFirst) Heads(s - 1);  // before the cache rows: the cube's MM3 waits for q_nope
      Kv(s);
      if (prep && s + 2 < groups) XPrep(s + 2);
    }
  }

 private:
  // Rows [begin, end) of group g that this vector core handles: its half of the AI core's (Heads),
  // or its share among all vector cores (the norms, the caches).
  __aicore__ inline void OwnRows(uint32_t g, uint32_t& begin, uint32_t& end) const {
    const uint32_t rows = MlapGroupRows(*t_, g), first = (rows + 1) / 2;
    begin = sub_ == 0 ? 0 : first;
    end = sub_ == 0 ? first : rows;
  }
  __aicore__ inline void SharedRows(uint32_t g, uint32_t& begin, uint32_t& end) const {
    MlapVectorRows(MlapGroupRows(*t_, g), 2 * t_->blockDim, 2 * core_ + sub_, begin, end);
  }
  // The cache rows, spread from the last vector core down: with few tokens they land on other vector
  // cores than the c^Q rows and the split heads' rope rows (the first ones).
  __aicore__ inline void KvRows(uint32_t g, uint32_t& begin, uint32_t& end) const {
    MlapVectorRows(MlapGroupRows(*t_, g), 2 * t_->blockDim, 2 * t_->blockDim - 1 - (2 * core_ + sub_), begin, end);
  }

  static constexpr uint32_t kArenaBytes = 180 * 1024;  // of the 184 KiB a kernel may use
  // Rows of q_nope dequantized per copy in / out (modes 1, 2): 16 x D of int32 (<= 16 KiB) fits the
  // staging buffer the fused norm of the widest hidden row needs anyway.
  static constexpr uint32_t kNopeBlockRows = 16;
  static constexpr uint32_t kCqBlockRows = 4;  // from this many cq scales on, DequantRows by blocks (Brcb)

  template <typename U>
  __aicore__ inline AscendC::LocalTensor<U> Take(uint32_t elems) {
    AscendC::LocalTensor<U> out = arena_.GetWithOffset<U>(elems, used_);
    used_ += AlignUp(elems * uint32_t(sizeof(U)), 32);
    return out;
  }

  __aicore__ inline void Carve() {
    const MlaPrologTiling& t = *t_;
    const uint32_t ropeElems = kMlapMaxRopeRows * kMlapRopeDim;
    uint32_t lrow = 2 * ropeElems;  // RoPE needs two row blocks of temporaries
    if (t.hasGammaX && t.hidden > lrow) lrow = t.hidden;
    if (t.qLora > lrow) lrow = t.qLora;
    uint32_t inBytes = ropeElems * uint32_t(sizeof(QOut));
    const uint32_t csBytes = kMlapPrefillGroupTokens / 2 * kMlapRopeDim * uint32_t(sizeof(T));  // Heads' cos / sin rows
    if (csBytes > inBytes) inBytes = csBytes;
    if (t.hasGammaX && t.hidden * 2 > inBytes) inBytes = t.hidden * 2;
    if (c1_ * uint32_t(sizeof(Mm1Out)) > inBytes) inBytes = c1_ * uint32_t(sizeof(Mm1Out));
    if (kNopeBlockRows * t.nope * 4 > inBytes) inBytes = kNopeBlockRows * t.nope * 4;
    uint32_t outBytes = ropeElems * 2;
    if (t.hasGammaX && t.hidden * 2 > outBytes) outBytes = t.hidden * 2;
    if (t.qLora * 2 > outBytes) outBytes = t.qLora * 2;
    if (kNopeBlockRows * t.nope * 2 > outBytes) outBytes = kNopeBlockRows * t.nope * 2;
    if (kCols_ * 4 > outBytes) outBytes = kCols_ * 4;  // ZeroKSplit's zeros
    if (t.kvByRows && kMlapKvRopeDim * 4 > outBytes) outBytes = kMlapKvRopeDim * 4;  // ZeroSums' zeros
    if (t.uqByRows && t.splitHeads * qCols_ * 4 > outBytes) outBytes = t.splitHeads * qCols_ * 4;
    pipe_.InitBuffer(arena_, kArenaBytes);
    MlapScratch s;
    s.row = Take<float>(lrow);
    s.tmp = Take<float>(lrow);
    s.in = Take<uint8_t>(inBytes);
    s.out = Take<uint8_t>(outBytes);
    s.red = Take<float>(8);
    rows_.Init(s);
    gammaCq_ = Take<T>(t.qLora);
    gammaCkv_ = Take<T>(kMlapKvLoraDim);
    if (t.hasGammaX) gammaX_ = Take<T>(t.hidden);
    cosRows_ = Take<float>(kMlapPrefillGroupTokens / 2 * kMlapRopeDim);  // a vector core's half of a group
    sinRows_ = Take<float>(kMlapPrefillGroupTokens / 2 * kMlapRopeDim);
    deint_ = Take<uint32_t>(ropeElems);
    cosKv_ = Take<float>(kMlapRopeDim);
    sinKv_ = Take<float>(kMlapRopeDim);
    if (kQuantCq) {
      smoothUb_ = Take<float>(t.qLora);
      scaleWUqUb_ = Take<float>(AlignUp(qCols_, 32));  // a head's scales, or a core's split columns (32-column units)
      cqScale_ = Take<float>(kMlapPrefillGroupTokens / 2);  // our half of a group's rows
      cqBlocks_ = Take<float>(kMlapPrefillGroupTokens / 2 * 8);  // each of them in a 32-byte block (Brcb)
    }
    if (kMode == kMlapW8A8) {
      scaleWDqUb_ = Take<float>(t.qLora);
      scaleWDkvUb_ = Take<float>(kMlapKvRopeDim);
      xScale_[0] = Take<float>(kMlapPrefillGroupTokens);
      xScale_[1] = Take<float>(kMlapPrefillGroupTokens);
    }
  }

  __aicore__ inline void CopyIn(const AscendC::LocalTensor<float>& dst, const AscendC::GlobalTensor<float>& src, uint32_t n) {
    AscendC::DataCopyPad(dst, src, AscendC::DataCopyExtParams(1, n * 4, 0, 0, 0), AscendC::DataCopyPadExtParams<float>());
  }
  template <typename U>
  __aicore__ inline void CopyInRaw(const AscendC::LocalTensor<U>& dst, const AscendC::GlobalTensor<U>& src, uint32_t n) {
    AscendC::DataCopyPad(dst, src, AscendC::DataCopyExtParams(1, n * uint32_t(sizeof(U)), 0, 0, 0),
                         AscendC::DataCopyPadExtParams<U>());
  }

  // Gammas and per-channel scales, resident for the whole launch.
  __aicore__ inline void LoadConstants() {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    CopyInRaw(gammaCq_, gammaCqGm_, t.qLora);
    CopyInRaw(gammaCkv_, gammaCkvGm_, kMlapKvLoraDim);
    if (t.hasGammaX) CopyInRaw(gammaX_, gammaXGm_, t.hidden);
    if (kQuantCq && t.hasSmooth) CopyIn(smoothUb_, smooth_, t.qLora);
    if (kMode == kMlapW8A8) {
      CopyIn(scaleWDqUb_, scaleWDq_, t.qLora);
      CopyIn(scaleWDkvUb_, scaleWDkv_, kMlapKvRopeDim);
    }
    rows_.BuildDeinterleave(deint_);
    MlapSync<HardEvent::MTE2_V>();
  }

  // x scale of token t of group g (mode 2): the caller's dequant_scale_x, or the one XPrep made.
  __aicore__ inline float XScale(uint32_t g, uint32_t r) {
    if (!t_->hasGammaX) return scaleX_.GetValue(uint64_t(g) * t_->groupTokens + r);
    return xScale_[g % 2].GetValue(r);
  }

  // Mode 2: v = acc * x_scale[t] * w_scale[n].
  __aicore__ inline void Dequant(const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<float>& wScale,
                                 float xScale, uint32_t n) {
    using namespace AscendC;
    Muls(v, v, xScale, n);
    PipeBarrier<PIPE_V>();
    Mul(v, v, wScale, n);
    PipeBarrier<PIPE_V>();
  }

  // Fused input RMSNorm of this vector core's rows of group g -> the x ring; mode 2 quantizes them.
  __aicore__ inline void XPrep(uint32_t g) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    uint32_t r0, r1;
    SharedRows(g, r0, r1);
    const LocalTensor<float> v = rows_.Scratch().row;
    using X = typename Ty::X;
    GlobalTensor<X> xs;
    xs.SetGlobalBuffer(reinterpret_cast<__gm__ X*>(ws_.X(g)));
    for (uint32_t r = r0; r < r1; ++r) {
      const uint64_t token = uint64_t(g) * t_->groupTokens + r;
      rows_.Load(v, tokenX_[token * t.hidden], t.hidden);
      rows_.RmsNorm(v, gammaX_, t.hidden, t.epsX, 1.0f);
      if constexpr (kMode == kMlapW8A8) {
        float scale = 0.0f;
        const LocalTensor<int8_t> q = rows_.Quantize(v, t.hidden, scale);
        rows_.Store(xs[uint64_t(r) * t.hidden], q, t.hidden);
        GlobalTensor<float> scales;
        scales.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws_.XScale(g)));
        WriteScale(scales[r], scale);
      } else {
        rows_.Store(xs[uint64_t(r) * t.hidden], rows_.template Convert<T>(v, t.hidden), t.hidden);
      }
    }
  }

  // One fp32 scale to GM.
  __aicore__ inline void WriteScale(const AscendC::GlobalTensor<float>& dst, float value) {
    using namespace AscendC;
    const LocalTensor<float> red = rows_.Scratch().red;
    MlapSync<HardEvent::V_S>();  // the vector unit is done with `red`
    red.SetValue(0, value);
    MlapSync<HardEvent::S_MTE3>();
    DataCopyPad(dst, red, DataCopyExtParams(1, 4, 0, 0, 0));
    MlapSync<HardEvent::MTE3_S>();
    MlapSync<HardEvent::S_V>();  // `red` is free again for the vector unit
  }

  // This vector core's rows of group g: c^Q -> the c^Q ring and query_norm (modes 1, 2: int8 with
  // its scale, to both).
  __aicore__ inline void NormCq(uint32_t g) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    const uint32_t hcq = t.qLora;
    uint32_t r0, r1;
    SharedRows(g, r0, r1);
    const LocalTensor<float> v = rows_.Scratch().row;
    GlobalTensor<Mm1Out> mm1;
    mm1.SetGlobalBuffer(reinterpret_cast<__gm__ Mm1Out*>(ws_.Mm1(g)));
    GlobalTensor<Cq> cq;
    cq.SetGlobalBuffer(reinterpret_cast<__gm__ Cq*>(ws_.Cq(g)));
    GlobalTensor<float> cqScale;
    cqScale.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws_.CqScale(g)));
    if (kMode == kMlapW8A8 && t.hasGammaX) LoadXScales(g);
    for (uint32_t r = r0; r < r1; ++r) {
      const uint64_t token = uint64_t(g) * t_->groupTokens + r;
      rows_.Load(v, mm1[uint64_t(r) * c1_], hcq);
      if constexpr (kMode == kMlapW8A8) Dequant(v, scaleWDqUb_, XScale(g, r), hcq);
      rows_.RmsNorm(v, gammaCq_, hcq, t.epsCq, t.qcQrScale);
      if constexpr (kQuantCq) {
        if (t.hasSmooth) {
          Mul(v, v, smoothUb_, hcq);
          PipeBarrier<PIPE_V>();
        }
        float scale = 0.0f;
        const LocalTensor<int8_t> q = rows_.Quantize(v, hcq, scale);
        rows_.Store(cq[uint64_t(r) * hcq], q, hcq);
        if (t.queryNorm) rows_.Store(queryNorm_[token * hcq], q, hcq);
        WriteScale(cqScale[r], scale);
        if (t.queryNorm) WriteScale(queryNormScale_[token], scale);
      } else {
        const LocalTensor<T> o = rows_.template Convert<T>(v, hcq);
        rows_.Store(cq[uint64_t(r) * hcq], o, hcq);
        if (t.queryNorm) rows_.Store(queryNorm_[token * hcq], o, hcq);
      }
    }
  }

  // Mode 2 with the fused input norm: the x scales of the whole group (both halves) from GM.
  __aicore__ inline void LoadXScales(uint32_t g) {
    using namespace AscendC;
    GlobalTensor<float> src;
    src.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws_.XScale(g)));
    MlapSync<HardEvent::S_MTE2>();
    CopyIn(xScale_[g % 2], src, MlapGroupRows(*t_, g));
    MlapSync<HardEvent::MTE2_S>();
  }

  // The group's latent and rope-key rows, spread over all vector cores, to the caches.
  __aicore__ inline void Kv(uint32_t g) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    uint32_t r0, r1;
    KvRows(g, r0, r1);
    const bool started = kvStarted_;
    kvStarted_ = false;
    const LocalTensor<float> v = rows_.Scratch().row;
    GlobalTensor<Mm1Out> mm1;
    mm1.SetGlobalBuffer(reinterpret_cast<__gm__ Mm1Out*>(ws_.Mm1(g)));
    for (uint32_t r = r0; r < r1; ++r) {
      const int64_t slot = r == r0 && started ? kvFirstSlot_ : KvRowStart(g, r);
      if (slot < 0) continue;  // negative cache_index: not cached
      rows_.Load(v, mm1[uint64_t(r) * c1_ + t.qLora], kMlapKvRopeDim);
      if constexpr (kMode == kMlapW8A8) Dequant(v, scaleWDkvUb_, XScale(g, r), kMlapKvRopeDim);
      rows_.RmsNorm(v, gammaCkv_, kMlapKvLoraDim, t.epsCkv, t.kcScale);
      const LocalTensor<float> kpe = v[kMlapKvLoraDim];
      rows_.Rope(kpe, cosKv_, sinKv_, deint_, 1);
      if (t.combined) {  // v is the whole cache row now: [c^KV | roped k], one copy out
        rows_.Store(kvCache_[uint64_t(slot) * kMlapKvRopeDim], rows_.template Convert<T>(v, kMlapKvRopeDim),
                    kMlapKvRopeDim);
      } else {
        rows_.Store(kvCache_[uint64_t(slot) * kMlapKvLoraDim], rows_.template Convert<T>(v, kMlapKvLoraDim),
                    kMlapKvLoraDim);
        rows_.Store(krCache_[uint64_t(slot) * kMlapRopeDim], rows_.template Convert<T>(kpe, kMlapRopeDim),
                    kMlapRopeDim);
      }
    }
  }
  // Decode (one group), the sums the cubes add their partial sums into := 0. kvByRows: our cache
  // rows' W_dkv_kr columns of the MM1 ring (mlap_cube.h KvHalf); uqByRows: our shared rows of the
  // split q ring (mlap_cube.h Mm2SplitRows).
  __aicore__ inline void ZeroSums() {
    using namespace AscendC;
    if (!t_->kvByRows && !t_->uqByRows) return;
    const uint32_t ldQs = t_->splitHeads * qCols_, width = t_->uqByRows && ldQs > kMlapKvRopeDim ? ldQs : kMlapKvRopeDim;
    const LocalTensor<int32_t> zeros = rows_.Scratch().out.template ReinterpretCast<int32_t>();
    Duplicate(zeros, int32_t(0), width);
    MlapSync<HardEvent::V_MTE3>();
    uint32_t r0, r1;
    if (t_->kvByRows) {
      GlobalTensor<int32_t> mm1;
      mm1.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws_.Mm1(0)));
      KvRows(0, r0, r1);
      for (uint32_t r = r0; r < r1; ++r) rows_.Store(mm1[uint64_t(r) * c1_ + t_->qLora], zeros, kMlapKvRopeDim);
    }
    if (t_->uqByRows) {
      GlobalTensor<int32_t> q;
      q.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws_.SplitQ(0)));
      SharedRows(0, r0, r1);
      for (uint32_t r = r0; r < r1; ++r) rows_.Store(q[uint64_t(r) * ldQs], zeros, ldQs);
    }
  }

  // K split (MlapMm1Split): after NormCq(g) read our rows of group g's MM1 slot, their shared columns
  // := 0; the cubes of the cores with a head more add MM1(g + mm1Slots)'s partial sums into them once
  // every vector core passed the barrier after the heads of g (Mm1Free). With 3 slots, slot 2 is
  // zeroed at the start for MM1(2).
  __aicore__ inline void ZeroKSplit(uint32_t g) {
    using namespace AscendC;
    uint32_t r0, r1;
    SharedRows(g, r0, r1);
    if (r0 == r1) return;
    const LocalTensor<int32_t> zeros = rows_.Scratch().out.template ReinterpretCast<int32_t>();
    MlapSync<HardEvent::MTE3_V>();  // NormCq's last copy out of the staging buffer is done
    Duplicate(zeros, int32_t(0), kCols_);
    MlapSync<HardEvent::V_MTE3>();
    GlobalTensor<int32_t> mm1;
    mm1.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws_.Mm1(g)));
    for (uint32_t r = r0; r < r1; ++r) rows_.Store(mm1[uint64_t(r) * c1_], zeros, kCols_);
  }

  // Cache row r of group g: its slot (negative: not cached) and, if cached, the token's RoPE tables
  // -> cosKv_ / sinKv_.
  __aicore__ inline int64_t KvRowStart(uint32_t g, uint32_t r) {
    const uint64_t token = uint64_t(g) * t_->groupTokens + r;
    const int64_t slot = t_->paged ? cacheIndex_.GetValue(token) : int64_t(token);
    if (slot >= 0) rows_.LoadCosSin(cosKv_, sinKv_, cos_[token * kMlapRopeDim], sin_[token * kMlapRopeDim], 1);
    return slot;
  }

  // Decode: the first of our cache rows' slot and tables, while the cubes still stream W_dkv_kr
  // (a token's cache row is the last vector work of the launch).
  __aicore__ inline void KvStart(uint32_t g) {
    uint32_t r0, r1;
    KvRows(g, r0, r1);
    kvStarted_ = r0 < r1;
    if (kvStarted_) kvFirstSlot_ = KvRowStart(g, r0);
  }


  // Per head of this AI core: RoPE(q_pe) of our rows -> query_rope; modes 1, 2: q_nope -> the cube.
  // The split heads (decode only: Process takes them right after c^Q) come first: the cube computes
  // their q before its whole heads'.
  __aicore__ inline void Heads(uint32_t g) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    if (t.splitHeads > 0 && !MlapCqFirst(t)) SplitHeads(g);
    MlapHeads(t, core_, g, headBegin_, headEnd_);
    uint32_t r0, r1;
    OwnRows(g, r0, r1);
    const uint32_t n = r1 - r0;
    const uint64_t t0 = uint64_t(g) * t_->groupTokens;
    // Our rows (at most half a group: 64) are roped in blocks of up to kMlapMaxRopeRows; their cos /
    // sin rows (cosRows_ / sinRows_ hold 64) are loaded once for all heads.
    if (headBegin_ < headEnd_ && n > 0) {
      LoadRopeRows(t0 + r0, n);
      if constexpr (kQuantCq) LoadCqScales(g, r0, n);
    }
    for (uint32_t h = headBegin_; h < headEnd_; ++h, ++headSteps_) {
      const uint32_t k = headSteps_;
      GlobalTensor<QOut> q;
      q.SetGlobalBuffer(reinterpret_cast<__gm__ QOut*>(ws_.Q(k)));
      if constexpr (kQuantCq) LoadHeadScales(h);  // while the cube still computes q
      CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagQReady);
      if constexpr (kQuantCq) Nope(q, r0, n, k);  // first: the cube's MM3 waits for it
      for (uint32_t i = 0; i < n; i += kMlapMaxRopeRows) {
        const uint32_t m = n - i < kMlapMaxRopeRows ? n - i : kMlapMaxRopeRows;
        CopyPe(q[uint64_t(r0 + i) * qCols_ + t.nope], qCols_, m);
        if (i + m == n) CrossCoreSetFlag<2, PIPE_MTE2>(kMlapFlagQFree);  // all of q that we read is in UB
        RopeOut(m, t0 + r0 + i, h, i);
      }
      if (n == 0) CrossCoreSetFlag<2, PIPE_MTE2>(kMlapFlagQFree);
    }
  }

  // cos / sin of n rows from token0 -> cosRows_ / sinRows_.
  __aicore__ inline void LoadRopeRows(uint64_t token0, uint32_t n) {
    rows_.LoadCosSin(cosRows_, sinRows_, cos_[token0 * kMlapRopeDim], sin_[token0 * kMlapRopeDim], n);
  }

  // The split heads of group g (their columns spread over all AI cores): modes 1, 2 dequantize our
  // rows of the nope columns our cube computed; after a barrier of all vector cores every core's
  // q_nope is in GM (our cube's MM3 may read it), and the rope rows of all split heads, spread
  // over all vector cores, go to query_rope.
  __aicore__ inline void SplitHeads(uint32_t g) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    const uint32_t rows = MlapGroupRows(t, g), ldQ = t.splitHeads * qCols_, d = t.nope;
    GlobalTensor<QOut> q;
    q.SetGlobalBuffer(reinterpret_cast<__gm__ QOut*>(ws_.SplitQ(g)));
    CrossCoreWaitFlag<2, PIPE_MTE2>(kMlapFlagSplitQReady);
    uint32_t i0, i1;  // our (head, row) pairs, head-major
    MlapVectorRows(t.splitHeads * rows, 2 * t.blockDim, 2 * core_ + sub_, i0, i1);
    SplitBlock loaded;  // the block whose scales are in UB
    if constexpr (kQuantCq) {
      if (t.uqByRows) {  // every cube's partial sums must be in before any column is final
        SyncAll<true>();
        SplitNopeBlocks(g, q, i0, i1, loaded);
      } else {
        SplitNope(g, q);
      }
    }
    SyncAll<true>();
    CrossCoreSetFlag<2, PIPE_MTE3>(kMlapFlagSplitReady);
    const uint64_t t0 = uint64_t(g) * t_->groupTokens;
    for (uint32_t i = i0; i < i1;) {
      const SplitBlock b = NextSplitBlock(i, i1, rows);
      LoadRopeRows(t0 + b.r, b.n);
      if constexpr (kQuantCq) LoadSplitScales(g, b, loaded);
      CopyPe(q[uint64_t(b.r) * ldQ + b.j * qCols_ + d], ldQ, b.n);
      RopeOut(b.n, t0 + b.r, wholeHeads_ + b.j, 0);
      i += b.n;
    }
  }

  // A block of (head, row) pairs of the split heads: head j, rows [r, r + n) (n <= kMlapMaxRopeRows).
  struct SplitBlock {
    uint32_t j = 0, r = 0, n = 0;
    __aicore__ inline bool operator==(const SplitBlock& o) const { return j == o.j && r == o.r && n == o.n; }
  };
  // The block starting at pair i of [i, i1) (pairs head-major, `rows` per head).
  __aicore__ static inline SplitBlock NextSplitBlock(uint32_t i, uint32_t i1, uint32_t rows) {
    SplitBlock b;
    b.j = i / rows;
    b.r = i % rows;
    const uint32_t headEnd = (b.j + 1) * rows, left = (i1 < headEnd ? i1 : headEnd) - i;
    b.n = left < kMlapMaxRopeRows ? left : kMlapMaxRopeRows;
    return b;
  }
  // Modes 1, 2: the block's c^Q scales and its head's W_uq_qr scales, unless they are `loaded`.
  __aicore__ inline void LoadSplitScales(uint32_t g, const SplitBlock& b, SplitBlock& loaded) {
    if (b == loaded) return;
    LoadCqScales(g, b.r, b.n);
    LoadHeadScales(wholeHeads_ + b.j);
    loaded = b;
  }

  // uqByRows (mode 2): the q_nope of our (head, row) pairs [i0, i1) of the split heads, dequantized
  // -> the split q_nope ring (the q sums are complete: every cube added its rows' before the
  // barrier). `loaded`: the block whose scales are in UB (the last one's stay for its rope).
  __aicore__ inline void SplitNopeBlocks(uint32_t g, const AscendC::GlobalTensor<QOut>& q, uint32_t i0, uint32_t i1,
                                         SplitBlock& loaded) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    const uint32_t rows = MlapGroupRows(t, g), d = t.nope, ldQ = t.splitHeads * qCols_, ldQn = t.splitHeads * d;
    GlobalTensor<T> qn;
    qn.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.SplitQn(g)));
    SplitBlock b;
    for (uint32_t i = i0; i < i1; i += b.n) {
      b = NextSplitBlock(i, i1, rows);
      LoadSplitScales(g, b, loaded);
      DequantNope(q[b.j * qCols_], ldQ, qn[b.j * d], ldQn, scaleWUqUb_, d, b.r, b.n);
    }
  }

  // Modes 1, 2: our rows of the nope columns among our cube's split q columns [q2Begin_, q2End_)
  // (head j's at j * (D + Dr)), dequantized -> the split q_nope ring (head j's at j * D).
  __aicore__ inline void SplitNope(uint32_t g, const AscendC::GlobalTensor<QOut>& q) {
    using namespace AscendC;
    const MlaPrologTiling& t = *t_;
    uint32_t r0, r1;
    OwnRows(g, r0, r1);
    if (r0 == r1 || q2Begin_ == q2End_) return;
    const uint32_t d = t.nope, ldQ = t.splitHeads * qCols_, ldQn = t.splitHeads * d;
    GlobalTensor<T> qn;
    qn.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.SplitQn(g)));
    LoadCqScales(g, r0, r1 - r0);
    MlapSync<HardEvent::V_MTE2>();
    CopyIn(scaleWUqUb_, scaleWUq_[uint64_t(wholeHeads_) * qCols_ + q2Begin_], q2End_ - q2Begin_);
    MlapSync<HardEvent::MTE2_V>();
    for (uint32_t j = q2Begin_ / qCols_; j * qCols_ < q2End_; ++j) {
      const uint32_t nope0 = j * qCols_, a = q2Begin_ > nope0 ? q2Begin_ : nope0;
      const uint32_t b = q2End_ < nope0 + d ? q2End_ : nope0 + d;
      if (a < b)
        DequantNope(q[a], ldQ, qn[j * d + (a - nope0)], ldQn, scaleWUqUb_[a - q2Begin_], b - a, r0, r1 - r0);
    }
  }

  // n rows of q_pe (ld elements apart in GM) -> the input staging buffer.
  __aicore__ inline void CopyPe(const AscendC::GlobalTensor<QOut>& src, uint32_t ld, uint32_t n) {
    using namespace AscendC;
    const LocalTensor<QOut> raw = rows_.Scratch().in.template ReinterpretCast<QOut>();
    const uint32_t rowBytes = kMlapRopeDim * uint32_t(sizeof(QOut));
    MlapSync<HardEvent::V_MTE2>();
    DataCopyPad(raw, src, DataCopyExtParams(uint16_t(n), rowBytes, (ld - kMlapRopeDim) * uint32_t(sizeof(QOut)), 0, 0),
                DataCopyPadExtParams<QOut>());
  }

  // The n staged q_pe rows of head h (modes 1, 2: dequantized with the head's rope scales and the cq
  // scales from cqScale_[cq0]) roped with cosRows_ / sinRows_ from row cq0 -> query_rope of tokens
  // token0...
  __aicore__ inline void RopeOut(uint32_t n, uint64_t token0, uint32_t h, uint32_t cq0) {
    using namespace AscendC;
    const LocalTensor<float> v = rows_.Scratch().row;
    const LocalTensor<QOut> raw = rows_.Scratch().in.template ReinterpretCast<QOut>();
    MlapSync<HardEvent::MTE2_V>();
    Cast(v, raw, SameType<QOut, int32_t>::value ? RoundMode::CAST_RINT : RoundMode::CAST_NONE, n * kMlapRopeDim);
    PipeBarrier<PIPE_V>();
    if constexpr (kQuantCq) DequantRows(v, scaleWUqUb_[t_->nope], cq0, n, kMlapRopeDim);
    rows_.Rope(v, cosRows_[cq0 * kMlapRopeDim], sinRows_[cq0 * kMlapRopeDim], deint_, n);
    const LocalTensor<T> o = rows_.template Convert<T>(v, n * kMlapRopeDim);
    rows_.Store(queryRope_[(token0 * t_->heads + h) * kMlapRopeDim], o, kMlapRopeDim, n, t_->heads * kMlapRopeDim);
  }

  // Modes 1, 2: the c^Q scales of our rows (written by whichever vector core normalized them).
  __aicore__ inline void LoadCqScales(uint32_t g, uint32_t r0, uint32_t n) {
    using namespace AscendC;
    GlobalTensor<float> src;
    src.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws_.CqScale(g)));
    // A few rows (decode) are scaled one Muls each (DequantRows): no Brcb, the scalar reads them.
    cqPerRow_ = n < kCqBlockRows;
    if (cqPerRow_) {
      MlapSync<HardEvent::S_MTE2>();
      CopyIn(cqScale_, src[r0], n);
      MlapSync<HardEvent::MTE2_S>();
      return;
    }
    MlapSync<HardEvent::V_MTE2>();  // the last Brcb read the previous scales
    MlapSync<HardEvent::S_MTE2>();  // and the scalar unit, if the last group's rows were few
    CopyIn(cqScale_, src[r0], n);
    MlapSync<HardEvent::MTE2_V>();
    PipeBarrier<PIPE_V>();  // the last DequantRows read the previous blocks
    Brcb(cqBlocks_, cqScale_, uint8_t(CeilDiv(n, 8u)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
  }

  // Modes 1, 2: this head's per-channel scales of W_uq_qr ([D nope | Dr rope]).
  __aicore__ inline void LoadHeadScales(uint32_t h) {
    using namespace AscendC;
    MlapSync<HardEvent::V_MTE2>();
    CopyIn(scaleWUqUb_, scaleWUq_[uint64_t(h) * qCols_], qCols_);
    MlapSync<HardEvent::MTE2_V>();
  }

  // rows x cols values of v (packed rows; our rows first .. first + rows - 1):
  // acc * cq_scale[t] * w_scale[col]. Per 64 columns one Mul over all rows (a repeat a row, cols / 8
  // blocks apart) by the rows' cq scale blocks (cqBlocks_, read with block stride 0) and one by the
  // scale row (repeat stride 0), not two per row; the same products in the same order. With fewer
  // than kCqBlockRows scales loaded (cqPerRow_), a Muls and a Mul per row.
  __aicore__ inline void DequantRows(const AscendC::LocalTensor<float>& v, const AscendC::LocalTensor<float>& wScale,
                                     uint32_t first, uint32_t rows, uint32_t cols) {
    using namespace AscendC;
    if (cqPerRow_) {
      for (uint32_t i = 0; i < rows; ++i) Muls(v[i * cols], v[i * cols], cqScale_.GetValue(first + i), cols);
      PipeBarrier<PIPE_V>();
      for (uint32_t i = 0; i < rows; ++i) Mul(v[i * cols], v[i * cols], wScale, cols);
      PipeBarrier<PIPE_V>();
      return;
    }
    constexpr uint32_t kLanes = 64;
    const uint8_t pitch = uint8_t(cols * sizeof(float) / 32);  // cols: a multiple of 8 (<= kMlapMaxNope + Dr)
    for (uint32_t c = 0; c < cols; c += kLanes)
      Mul(v[c], v[c], cqBlocks_[first * 8], uint64_t(cols - c < kLanes ? cols - c : kLanes), uint8_t(rows),
          BinaryRepeatParams(1, 1, 0, pitch, pitch, 1));
    PipeBarrier<PIPE_V>();
    for (uint32_t c = 0; c < cols; c += kLanes)
      Mul(v[c], v[c], wScale[c], uint64_t(cols - c < kLanes ? cols - c : kLanes), uint8_t(rows),
          BinaryRepeatParams(1, 1, 1, pitch, pitch, 0));
    PipeBarrier<PIPE_V>();
  }

  // Modes 1, 2: our rows of q_nope (int32) dequantized to the float dtype -> q_nope slot k.
  __aicore__ inline void Nope(const AscendC::GlobalTensor<QOut>& q, uint32_t r0, uint32_t n, uint32_t k) {
    using namespace AscendC;
    GlobalTensor<T> qn;
    qn.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws_.Qn(k)));
    DequantNope(q, qCols_, qn, t_->nope, scaleWUqUb_, t_->nope, r0, n);
    CrossCoreSetFlag<2, PIPE_MTE3>(kMlapFlagQnReady);
  }

  // Modes 1, 2: rows [r0, r0 + n) of `cols` int32 columns (src, ldSrc apart) times their cq scales
  // (loaded for rows r0..) and wScale -> the float dtype at dst (ldDst apart), in blocks of
  // kNopeBlockRows rows: one strided copy in and one out per block (a copy per row paid the GM
  // read latency once per row).
  __aicore__ inline void DequantNope(const AscendC::GlobalTensor<QOut>& src, uint32_t ldSrc,
                                     const AscendC::GlobalTensor<T>& dst, uint32_t ldDst,
                                     const AscendC::LocalTensor<float>& wScale, uint32_t cols, uint32_t r0, uint32_t n) {
    using namespace AscendC;
    const LocalTensor<float> w = rows_.Scratch().tmp;  // the rope rows stay in `row`
    const LocalTensor<QOut> raw = rows_.Scratch().in.template ReinterpretCast<QOut>();
    for (uint32_t i = 0; i < n; i += kNopeBlockRows) {
      const uint32_t m = n - i < kNopeBlockRows ? n - i : kNopeBlockRows;
      MlapSync<HardEvent::V_MTE2>();
      DataCopyPad(raw, src[uint64_t(r0 + i) * ldSrc],
                  DataCopyExtParams(uint16_t(m), cols * uint32_t(sizeof(QOut)), (ldSrc - cols) * uint32_t(sizeof(QOut)), 0, 0),
                  DataCopyPadExtParams<QOut>());
      MlapSync<HardEvent::MTE2_V>();
      Cast(w, raw, RoundMode::CAST_RINT, m * cols);
      PipeBarrier<PIPE_V>();
      DequantRows(w, wScale, i, m, cols);
      rows_.Store(dst[uint64_t(r0 + i) * ldDst], rows_.template Convert<T>(w, m * cols), cols, m, ldDst);
    }
  }

  const MlaPrologTiling* t_ = nullptr;
  uint32_t core_ = 0, sub_ = 0, c1_ = 0, qCols_ = 0, headBegin_ = 0, headEnd_ = 0, headSteps_ = 0, used_ = 0;
  uint32_t wholeHeads_ = 0, q2Begin_ = 0, q2End_ = 0;  // split heads: our cube's MM2 columns
  uint32_t kCols_ = 0;  // K split: the MM1 columns the cores with a head more share (MlapMm1Split)
  bool cqPerRow_ = true;  // the loaded cq scales are few: DequantRows scales row by row (LoadCqScales)
  bool kvStarted_ = false;  // decode: KvStart took our first cache row's slot (kvFirstSlot_) and tables
  int64_t kvFirstSlot_ = -1;
  MlapWorkspace ws_;
  MlapRows rows_;
  AscendC::TPipe pipe_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> arena_;
  AscendC::LocalTensor<T> gammaCq_, gammaCkv_, gammaX_;
  AscendC::LocalTensor<float> cosRows_, sinRows_, cosKv_, sinKv_, smoothUb_, scaleWUqUb_, scaleWDqUb_, scaleWDkvUb_;
  AscendC::LocalTensor<float> cqScale_, cqBlocks_, xScale_[2];
  AscendC::LocalTensor<uint32_t> deint_;
  AscendC::GlobalTensor<T> tokenX_, gammaXGm_, gammaCqGm_, gammaCkvGm_, sin_, cos_, kvCache_, krCache_, queryRope_;
  AscendC::GlobalTensor<int64_t> cacheIndex_;
  AscendC::GlobalTensor<float> scaleX_, scaleWDq_, scaleWUq_, scaleWDkv_, smooth_, queryNormScale_;
  AscendC::GlobalTensor<Cq> queryNorm_;
};

}  // namespace ascend_glm5
