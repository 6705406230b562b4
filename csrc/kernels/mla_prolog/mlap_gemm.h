// The cube's matmul tile for the MLA prolog: acc[rows, n] = A[rows, K] x B[K, n] (n <= 128), B an ND
// [K, *] matrix in GM (a weight), A either streamed from GM (ND rows) or resident in L1 (Nz).
//
// K is walked in L1 chunks (double buffered: the chunk i+1 copy is issued before chunk i is
// multiplied) and each chunk in two L0 steps (double-buffered L0A / L0B). A's Nz fractals load to
// L0A as Zz; B's Nz fractals ([k x n] row-major) are transposed on their way to L0B (Zn).
// M is padded to whole 16-row fractals (never m = 1: A2 runs that as a GEMV, Mmad.md).
#pragma once

#include "kernel_operator.h"
#include "../common/cube_copy.h"
#include "../common/event_slots.h"
#include "../common/host_device.h"
#include "mla_prolog_tiling.h"

namespace ascend_glm5 {

// The A operand of a tile: rows [0, rows) of an ND matrix in GM (leading dimension lda), or an Nz
// matrix already in L1 whose column blocks hold mPad rows (k offset `k0` into it). `fill` (resident,
// k0 = 0): the Run copies it from `gm` into `l1` chunk by chunk, each chunk's columns beside its B
// chunk, so that the first Mmad waits for one chunk of A instead of all of it; later Runs find it whole.
// `zz` (resident, k0 = 0): the L1 matrix is in L0A's order rather than Nz (MlapGemm::CopyZz), kTotal
// columns wide.
template <typename TI>
struct MlapOperandA {
  bool resident = false;
  bool fill = false;
  bool zz = false;
  AscendC::GlobalTensor<TI> gm;
  uint32_t lda = 0;
  AscendC::LocalTensor<TI> l1;
  uint32_t k0 = 0;
  uint32_t kTotal = 0;
};

// The B operand of a tile: its first `split` columns from `first` (leading dimension ld0), the
// others from `second` (ld1); an MM1 tile may straddle W_dq and W_dkv_kr. split is a multiple of
// the fractal width.
template <typename TI>
struct MlapOperandB {
  AscendC::GlobalTensor<TI> first, second;
  uint32_t ld0 = 0, ld1 = 0, split = 0xffffffffu;
};

template <typename TI>
__aicore__ inline MlapOperandB<TI> MlapB(const AscendC::GlobalTensor<TI>& gm, uint32_t ld) {
  MlapOperandB<TI> b;
  b.first = gm;
  b.ld0 = ld;
  return b;
}

// One engine for every operand type: the L1 / L0 slots and their events are shared by MM1, MM2, MM3.
class MlapGemm {
 public:
  static constexpr uint32_t kASlot = 32 * 1024;   // bytes: one A chunk in L1 (2 slots; `deep`: 3 of kDeepASlot)
  static constexpr uint32_t kBSlot = 64 * 1024;   // bytes: one B chunk in L1 (2 slots; `deep`: 3 of kDeepBSlot)
  // Prefill groups of 128 rows (Init's `deep`): 3 slots each of A and B chunks (72 + 96 KiB of the
  // same 192 KiB). With 2 slots of 64 KiB, chunk i + 2's copy starts only when chunk i's loads to L0
  // are done and lands (its bytes, then the GM latency) after the cube wants it: an MM2 chunk of 512
  // k takes 1,024 cycles of Mmad, its copy ~850 + 400 of latency. With 3 of 32 KiB the copy runs two
  // chunks (~1,000 cycles of Mmad) ahead of its use.
  static constexpr uint32_t kDeepASlot = 24 * 1024;  // 128 rows x 192 int8 k: an MM1 chunk of one L0 step
  static constexpr uint32_t kDeepBSlot = 32 * 1024;  // 256 int8 k x 128 columns: an MM2 chunk of one L0 step
  static constexpr uint32_t kL1Bytes = 2 * kASlot + 2 * kBSlot;  // the A region, then the B region
  static constexpr uint32_t kL0Slot = 32 * 1024;  // bytes: half of L0A / L0B
  static constexpr uint32_t kFractal = 512;       // bytes
  template <typename TI> static constexpr uint32_t C0() { return 32 / sizeof(TI); }  // 16 bf16, 32 int8
  template <typename TI> static constexpr uint32_t KL1() { return kASlot / (kMlapGroupTokens * sizeof(TI)); }
  template <typename TI> static constexpr uint32_t KL0() { return KL1<TI>() / 2; }
  // k granularity of B: a 16-bit fractal holds 16 k, an int8 transpose block 32.
  template <typename TI> static constexpr uint32_t KAlign() { return sizeof(TI) == 1 ? 32 : 16; }
  // Columns of a B tile as the cube multiplies them (int8 B fractals hold 32 k: whole 32-column blocks).
  template <typename TI> __aicore__ static inline uint32_t NPad(uint32_t n) { return AlignUp(n, sizeof(TI) == 1 ? 32 : 16); }
  // k of an L1 chunk for an n-column tile: as many as fill the B slot. An A streamed from GM caps it
  // at the A slot's k (fewer k for the mPad rows of a prefill group of 128) and at KL1. With an
  // L1-resident A, a tile narrower than kMlapColTile takes more k per chunk, so that PrefetchB's two
  // chunks hold more of its B (decode's split heads: all of it).
  template <typename TI> __aicore__ inline uint32_t ChunkK(uint32_t n, bool streamedA, uint32_t mPad) const {
    const uint32_t k = bSlotBytes_ / (NPad<TI>(n) * uint32_t(sizeof(TI))) / KAlign<TI>() * KAlign<TI>();
    if (!streamedA) return k;
    const uint32_t kA = aSlotBytes_ / (mPad * uint32_t(sizeof(TI))) / KAlign<TI>() * KAlign<TI>();
    const uint32_t cap = kA < KL1<TI>() ? kA : KL1<TI>();
    return cap < k ? cap : k;
  }
  // k of one L0 step: half of an L1 chunk of A (64 rows; 128 rows fill the L0A slot), or fewer so
  // that B's step fits its L0B slot.
  template <typename TI> __aicore__ static inline uint32_t StepK(uint32_t n) {
    const uint32_t k = kL0Slot / (NPad<TI>(n) * uint32_t(sizeof(TI))) / KAlign<TI>() * KAlign<TI>();
    return k < KL0<TI>() ? k : KL0<TI>();
  }

  // aL1 / bL1: 2 x kASlot / 2 x kBSlot bytes (with `deep`, 3 x kDeepASlot / 3 x kDeepBSlot of them);
  // l0a / l0b: 2 slots each (kL0Slot bytes).
  __aicore__ inline void Init(const AscendC::LocalTensor<uint8_t>& aL1, const AscendC::LocalTensor<uint8_t>& bL1,
                              const AscendC::LocalTensor<uint8_t>& l0a, const AscendC::LocalTensor<uint8_t>& l0b,
                              bool deep = false) {
    static_assert(3 * kDeepASlot <= 2 * kASlot + 2 * kBSlot - 3 * kDeepBSlot, "the deep slots fit the regions");
    aL1_ = aL1;
    bL1_ = bL1;
    l0a_ = l0a;
    l0b_ = l0b;
    const uint32_t slots = deep ? 3 : 2;
    aSlotBytes_ = deep ? kDeepASlot : kASlot;
    bSlotBytes_ = deep ? kDeepBSlot : kBSlot;
    aSlots_.Init(slots, kEvA);
    bSlots_.Init(slots, kEvB);
    l0aSlots_.Init(2, 0);
    l0bSlots_.Init(2, 2);
  }

  // acc = A x B for K (a multiple of 16), n <= kMlapMaxColTile columns of B (or whole rows per L1
  // chunk: all 576 of W_dkv_kr with kvByRows, up to 1024 split q columns of W_uq_qr with uqByRows) and rows <= 128 (rows x n fp32 within the caller's L0C tile);
  // with `accumulate`, acc += A x B.
  template <typename TI, typename TC>
  __aicore__ inline void Run(const AscendC::LocalTensor<TC>& acc, const MlapOperandA<TI>& a, const MlapOperandB<TI>& b,
                             uint32_t K, uint32_t n, uint32_t rows, bool accumulate = false) {
    static_assert(KL1<TI>() * kMlapColTile * sizeof(TI) == kBSlot, "a B chunk of kMlapColTile columns fills its L1 slot");
    mPad_ = AlignUp(rows, 16);
    kChunk_ = ChunkK<TI>(n, !a.resident, mPad_);
    const uint32_t chunks = CeilDiv(K, kChunk_);
    const uint32_t pre = prefetched_;  // chunks PrefetchB already loaded (A resident)
    prefetched_ = 0;
    Chunk cur = pre > 0 ? Fill(a, pre_[0], rows, 0) : Load(a, b, K, n, rows, 0);
    for (uint32_t i = 0; i < chunks; ++i) {
      Chunk next;
      if (i + 1 < chunks) next = i + 1 < pre ? Fill(a, pre_[i + 1], rows, i + 1) : Load(a, b, K, n, rows, i + 1);
      Multiply(acc, a, cur, n, i == 0 && !accumulate);
      cur = next;
    }
  }

  // Issues the B copies of the first (up to 2) chunks of the next Run, which must have the same B
  // and an L1-resident A: the weights stream in while the caller still waits for A.
  template <typename TI>
  __aicore__ inline void PrefetchB(const MlapOperandB<TI>& b, uint32_t K, uint32_t n) {
    MlapOperandA<TI> none;
    none.resident = true;
    kChunk_ = ChunkK<TI>(n, false, 16);
    const uint32_t chunks = CeilDiv(K, kChunk_);
    prefetched_ = chunks < 2 ? chunks : 2;
    for (uint32_t i = 0; i < prefetched_; ++i) pre_[i] = Load(none, b, K, n, 0, i);
  }

  // A resident A in L0A's order (Zz): K in groups of G = KL0 columns (an L0 step's k when the tile
  // is at most kMlapColTile wide); group g, W = min(G, kTotal - g G) columns, starts g x mPad x G
  // elements in, and holds its row blocks one after another, each its W / c0 fractals in order. A
  // step on one whole group then goes to L0A in one load (Multiply), not one per row block. This
  // copies columns [k0, k0 + k) of `rows` ND rows (leading dimension lda) into such a matrix, in
  // whichever form takes fewer copies (MTE2 pays ~18 cycles a copy): per row block, one copy of a
  // run of whole groups (ND matrices G columns apart in GM, mPad x G in L1) and one per part of a
  // group; or per group part, one copy of its whole row blocks (ND matrices 16 rows apart in GM:
  // 16 x lda must fit the 16-bit srcNdMatrixStride) and one of a last partial row block. mPad x G <=
  // 32768 elements (the 16-bit dstNzMatrixStride).
  template <typename TI>
  __aicore__ static inline void CopyZz(const AscendC::LocalTensor<TI>& l1, const AscendC::GlobalTensor<TI>& gm,
                                       uint32_t rows, uint32_t mPad, uint32_t lda, uint32_t kTotal, uint32_t k0,
                                       uint32_t k) {
    using namespace AscendC;
    constexpr uint32_t G = KL0<TI>(), c0 = C0<TI>();
    const uint32_t end = k0 + k, fullRb = rows / 16, restRows = rows % 16;
    uint32_t runs = 0;  // copies per row block (the first form)
    for (uint32_t col = k0; col < end; ++runs) col = RunEnd<TI>(kTotal, col, end);
    const uint32_t parts = (end - 1) / G - k0 / G + 1;  // group parts (the second form)
    const uint32_t byGroup = parts * ((fullRb > 0 ? 1u : 0u) + (restRows > 0 ? 1u : 0u));
    if (16 * lda <= 65535 && byGroup < runs * CeilDiv(rows, 16u)) {
      for (uint32_t col = k0; col < end;) {
        const uint32_t g = col / G, off = col % G, w = GroupWidth<TI>(kTotal, g), wPad = AlignUp(w, c0);
        const uint32_t stop = end < g * G + w ? end : g * G + w;
        if (fullRb > 0)
          DataCopy(l1[g * mPad * G + off * 16], gm[col],
                   Nd2NzParams(uint16_t(fullRb), 16, uint16_t(stop - col), uint16_t(16 * lda), uint16_t(lda), 16, 1,
                               uint16_t(16 * wPad)));
        if (restRows > 0)
          DataCopy(l1[g * mPad * G + (fullRb * wPad + off) * 16], gm[uint64_t(fullRb) * 16 * lda + col],
                   Nd2NzParams(1, uint16_t(restRows), uint16_t(stop - col), 0, uint16_t(lda), 16, 1, 0));
        col = stop;
      }
      return;
    }
    for (uint32_t rb = 0; rb * 16 < rows; ++rb) {
      const uint32_t n = rows - rb * 16 < 16 ? rows - rb * 16 : 16;
      const GlobalTensor<TI> src = gm[uint64_t(rb) * 16 * lda];
      for (uint32_t col = k0; col < end;) {
        const uint32_t g = col / G, off = col % G, w = GroupWidth<TI>(kTotal, g), stop = RunEnd<TI>(kTotal, col, end);
        if (off == 0 && w == G && stop - col >= G)  // a run of whole groups
          DataCopy(l1[g * mPad * G + rb * 16 * G], src[col],
                   Nd2NzParams(uint16_t((stop - col) / G), uint16_t(n), uint16_t(G), uint16_t(G), uint16_t(lda), 16, 1,
                               uint16_t(mPad * G)));
        else
          DataCopy(l1[g * mPad * G + (rb * AlignUp(w, c0) + off) * 16], src[col],
                   Nd2NzParams(1, uint16_t(n), uint16_t(stop - col), 0, uint16_t(lda), 16, 1, 0));
        col = stop;
      }
    }
  }
  template <typename TI>
  __aicore__ static inline uint32_t GroupWidth(uint32_t kTotal, uint32_t g) {
    return kTotal - g * KL0<TI>() < KL0<TI>() ? kTotal - g * KL0<TI>() : KL0<TI>();
  }
  // The end of the first-form copy from column col (< end): a run of whole groups (col at a group's
  // start, G columns or more to go), or the rest of col's group.
  template <typename TI>
  __aicore__ static inline uint32_t RunEnd(uint32_t kTotal, uint32_t col, uint32_t end) {
    constexpr uint32_t G = KL0<TI>();
    const uint32_t g = col / G, w = GroupWidth<TI>(kTotal, g);
    if (col % G == 0 && w == G && end - col >= G) {
      const uint32_t whole = kTotal / G - g, fit = (end - col) / G;
      return col + (fit < whole ? fit : whole) * G;
    }
    return end < g * G + w ? end : g * G + w;
  }

  __aicore__ inline void Drain() {
    aSlots_.Drain();
    bSlots_.Drain();
    l0aSlots_.Drain();
    l0bSlots_.Drain();
  }

 private:
  static constexpr int32_t kEvA = 0, kEvB = 3;  // MTE2 <-> MTE1 event ids of the A and B L1 slots (up to 3 each)
  struct Chunk {
    uint32_t k0 = 0, k = 0, aSlot = 0, bSlot = 0;  // first k and k count of the chunk
  };

  // A `fill` operand: chunk i's columns of A, GM -> their place in the resident L1 matrix (MTE2 ->
  // MTE1 event kEvA + i % 2: a Run with a resident A uses no A slot, and chunk i + 2's copy is issued
  // after chunk i's Multiply waited for it).
  template <typename TI>
  __aicore__ inline Chunk Fill(const MlapOperandA<TI>& a, Chunk c, uint32_t rows, uint32_t i) {
    using namespace AscendC;
    if (!a.fill) return c;
    c.aSlot = i % 2;
    if (a.zz) CopyZz(a.l1, a.gm, rows, mPad_, a.lda, a.kTotal, c.k0, c.k);
    else DataCopy(a.l1[(c.k0 / C0<TI>()) * mPad_ * C0<TI>()], a.gm[c.k0], Nd2NzParams(1, rows, c.k, 0, a.lda, mPad_, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(kEvA + int32_t(c.aSlot));
    return c;
  }

  template <typename TI>
  __aicore__ inline AscendC::LocalTensor<TI> ASlot(uint32_t s) { return aL1_[s * aSlotBytes_].ReinterpretCast<TI>(); }
  template <typename TI>
  __aicore__ inline AscendC::LocalTensor<TI> BSlot(uint32_t s) { return bL1_[s * bSlotBytes_].ReinterpretCast<TI>(); }

  // Chunk i of B (and of A when streamed): GM -> L1, ND to Nz.
  template <typename TI>
  __aicore__ inline Chunk Load(const MlapOperandA<TI>& a, const MlapOperandB<TI>& b, uint32_t K,
                               uint32_t n, uint32_t rows, uint32_t i) {
    using namespace AscendC;
    Chunk c;
    const uint32_t kL1 = kChunk_;
    c.k0 = i * kL1;
    c.k = K - c.k0 < kL1 ? K - c.k0 : kL1;
    c.bSlot = bSlots_.Acquire();
    const uint32_t n0 = b.split < n ? b.split : n;  // Nz: column blocks of c.k rows, so part 2 starts at n0 * c.k
    DataCopy(BSlot<TI>(c.bSlot), b.first[uint64_t(c.k0) * b.ld0], Nd2NzParams(1, c.k, n0, 0, b.ld0, c.k, 1, 0));
    if (n0 < n)
      DataCopy(BSlot<TI>(c.bSlot)[n0 * c.k], b.second[uint64_t(c.k0) * b.ld1], Nd2NzParams(1, c.k, n - n0, 0, b.ld1, c.k, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(kEvB + int32_t(c.bSlot));
    if (!a.resident) {
      c.aSlot = aSlots_.Acquire();
      DataCopy(ASlot<TI>(c.aSlot), a.gm[c.k0], Nd2NzParams(1, rows, c.k, 0, a.lda, mPad_, 1, 0));
      SetFlag<HardEvent::MTE2_MTE1>(kEvA + int32_t(c.aSlot));
    }
    return Fill(a, c, rows, i);
  }

  template <typename TI, typename TC>
  __aicore__ inline void Multiply(const AscendC::LocalTensor<TC>& acc, const MlapOperandA<TI>& a, const Chunk& c,
                                  uint32_t n, bool firstChunk) {
    using namespace AscendC;
    const uint32_t m1 = mPad_ / 16, kRows = c.k;
    WaitFlag<HardEvent::MTE2_MTE1>(kEvB + int32_t(c.bSlot));
    if (!a.resident || a.fill) WaitFlag<HardEvent::MTE2_MTE1>(kEvA + int32_t(c.aSlot));
    constexpr uint32_t kC0 = C0<TI>();
    const uint32_t nMmad = NPad<TI>(n), kKL0 = StepK<TI>(n);
    const LocalTensor<TI> aSrc = a.resident ? a.l1 : ASlot<TI>(c.aSlot);
    // Column block of the chunk's first k in aSrc (resident A holds all of K, offset k0).
    const uint32_t aBlock0 = a.resident ? (a.k0 + c.k0) / kC0 : 0;
    const LocalTensor<TI> bSrc = BSlot<TI>(c.bSlot);
    for (uint32_t kk = 0; kk < c.k; kk += kKL0) {
      const uint32_t kl = c.k - kk < kKL0 ? c.k - kk : kKL0, kb = kl / kC0;
      const uint32_t la = l0aSlots_.Acquire(), lb = l0bSlots_.Acquire();
      const LocalTensor<TI> l0a = l0a_[la * kL0Slot].ReinterpretCast<TI>(), l0b = l0b_[lb * kL0Slot].ReinterpretCast<TI>();
      // A: Nz (column blocks of mPad rows) -> Zz (per 16-row block, its k fractals in order), in
      // whichever form takes fewer loads (LoadAToL0). A Zz resident A: LoadAZz.
      if (a.zz) LoadAZz(l0a, aSrc, a.kTotal, a.k0 + c.k0 + kk, kb, m1);
      else LoadAToL0(l0a, aSrc[(aBlock0 + kk / kC0) * m1 * (kFractal / sizeof(TI))], m1, kb);
      LoadB(l0b, bSrc, kk, kl, kRows, nMmad / 16);
      SetFlag<HardEvent::MTE1_M>(0);
      WaitFlag<HardEvent::MTE1_M>(0);
      Mmad(acc, l0a, l0b, MmadParams(uint16_t(mPad_), uint16_t(nMmad), uint16_t(kl), 0, false, firstChunk && kk == 0));
      l0aSlots_.Release(la);
      l0bSlots_.Release(lb);
    }
    bSlots_.Release(c.bSlot);
    if (!a.resident) aSlots_.Release(c.aSlot);
  }

  // Columns [k, k + kb c0) of a Zz resident A (CopyZz) -> L0A: one load when they are one whole
  // group, else one per row block and group they touch.
  template <typename TI>
  __aicore__ inline void LoadAZz(const AscendC::LocalTensor<TI>& l0a, const AscendC::LocalTensor<TI>& aSrc, uint32_t kTotal,
                                 uint32_t k, uint32_t kb, uint32_t m1) {
    using namespace AscendC;
    constexpr uint32_t G = KL0<TI>(), c0 = C0<TI>(), fr = kFractal / sizeof(TI);
    const uint32_t g = k / G, w = kTotal - g * G < G ? kTotal - g * G : G;
    if (k % G == 0 && kb * c0 == AlignUp(w, c0)) {
      LoadData(l0a, aSrc[g * mPad_ * G], LoadData2DParams(0, uint8_t(m1 * kb), 1, 0, 0, false, 0));
      return;
    }
    for (uint32_t mb = 0; mb < m1; ++mb)
      for (uint32_t col = k; col < k + kb * c0;) {
        const uint32_t gc = col / G, wc = kTotal - gc * G < G ? kTotal - gc * G : G;
        const uint32_t end = k + kb * c0 < gc * G + wc ? k + kb * c0 : gc * G + wc;
        LoadData(l0a[(mb * kb + (col - k) / c0) * fr], aSrc[gc * mPad_ * G + mb * AlignUp(wc, c0) * 16],
                 LoadData2DParams(uint16_t((col % G) / c0), uint8_t((end - col) / c0), 1, 0, 0, false, 0));
        col = end;
      }
  }

  // B rows [kk, kk + kl) of an Nz chunk (column blocks of kRows rows) -> L0B Zn ([n x k] fractals,
  // per k block its n fractals in order). 16-bit: each 16 x 16 fractal transposed by LoadData 2D,
  // documented for (u)int16 / half (Load2D.md), so bf16 moves through a half view (the same bits).
  // int8: LoadData 2D cannot transpose 8-bit data; LoadDataWithTranspose turns each 32 x 32 block
  // (two stacked [16 k x 32 n] fractals) into two [16 n x 32 k] fractals (LoadDataWithTranspose.md).
  // Whichever form needs fewer loads (MTE1 pays ~22 cycles a load besides its bytes): one per k block
  // (its n fractals / squares, kRows / 16 or / 32 apart in L1), or one per n fractal / square (its k
  // blocks, consecutive in L1, landing n1 fractals apart: dstGap). A prefill step of 256 int8 k x 128
  // columns: 4 loads, not 8.
  template <typename TI>
  __aicore__ inline void LoadB(const AscendC::LocalTensor<TI>& l0b, const AscendC::LocalTensor<TI>& bSrc, uint32_t kk,
                               uint32_t kl, uint32_t kRows, uint32_t n1) {
    using namespace AscendC;
    if constexpr (sizeof(TI) == 2) {
      const LocalTensor<half> dst = l0b.template ReinterpretCast<half>(), src = bSrc.template ReinterpretCast<half>();
      const uint32_t kb1 = kl / 16;
      if (n1 < kb1) {
        for (uint32_t nb = 0; nb < n1; ++nb)
          LoadData(dst[nb * (kFractal / 2)], src,
                   LoadData2DParams(uint16_t(nb * (kRows / 16) + kk / 16), uint8_t(kb1), 1, 0, uint16_t(n1 - 1), true, 0));
        return;
      }
      for (uint32_t kb = 0; kb < kb1; ++kb)
        LoadData(dst[kb * n1 * (kFractal / 2)], src,
                 LoadData2DParams(uint16_t(kk / 16 + kb), uint8_t(n1), uint16_t(kRows / 16), 0, 0, true, 0));
    } else {
      static_assert(sizeof(TI) == 1, "B operands are 16-bit floats or int8");
      const uint32_t squares = n1 / 2, kb1 = kl / 32;  // n1 is even: int8 tiles are padded to 32 columns
      if (squares < kb1) {
        for (uint32_t sq = 0; sq < squares; ++sq)
          LoadDataWithTranspose(l0b[sq * 2 * kFractal], bSrc,
                                LoadData2dTransposeParams(uint16_t(sq * (kRows / 32) + kk / 32), uint8_t(kb1), 1,
                                                          uint16_t(n1 - 1), 0));
        return;
      }
      for (uint32_t kb = 0; kb < kb1; ++kb)
        LoadDataWithTranspose(l0b[kb * n1 * kFractal], bSrc,
                              LoadData2dTransposeParams(uint16_t(kk / 32 + kb), uint8_t(squares), uint16_t(kRows / 32), 1, 0));
    }
  }

  AscendC::LocalTensor<uint8_t> aL1_, bL1_, l0a_, l0b_;
  uint32_t mPad_ = 16, prefetched_ = 0, kChunk_ = 0;
  uint32_t aSlotBytes_ = kASlot, bSlotBytes_ = kBSlot;
  Chunk pre_[2];
  EventSlots<AscendC::HardEvent::MTE1_MTE2, 3> aSlots_, bSlots_;
  EventSlots<AscendC::HardEvent::M_MTE1, 2> l0aSlots_, l0bSlots_;
};

}  // namespace ascend_glm5
