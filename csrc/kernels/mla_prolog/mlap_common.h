// Types per weight_quant_mode and the workspace layout, shared by the cube and vector sides.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "mla_prolog_tiling.h"

namespace ascend_glm5 {

template <bool c, typename A, typename B> struct MlapIf { using type = A; };
template <typename A, typename B> struct MlapIf<false, A, B> { using type = B; };

// T is the float dtype (bf16 / fp16). Float matmuls accumulate in fp32 and leave the cube in T
// (CANN's rounding point); int8 matmuls accumulate exactly in int32 and are dequantized in fp32.
template <typename T, uint32_t kMode>
struct MlapTypes {
  using X = typename MlapIf<kMode == kMlapW8A8, int8_t, T>::type;   // MM1 operands (x, W_dq, W_dkv_kr)
  using Cq = typename MlapIf<kMode == kMlapBf16, T, int8_t>::type;  // MM2 operands (c^Q, W_uq_qr)
  using Acc1 = typename MlapIf<kMode == kMlapW8A8, int32_t, float>::type;
  using Acc2 = typename MlapIf<kMode == kMlapBf16, float, int32_t>::type;
  using Mm1Out = typename MlapIf<kMode == kMlapW8A8, int32_t, T>::type;  // MM1 ring element
  using QOut = typename MlapIf<kMode == kMlapBf16, T, int32_t>::type;    // q ring element
};

// Rows of group g.
__aicore__ inline uint32_t MlapGroupRows(const MlaPrologTiling& t, uint32_t g) {
  const uint32_t left = t.tokens - g * t.groupTokens;
  return left < t.groupTokens ? left : t.groupTokens;
}

// Byte addresses of the workspace rings: [MM1 x mm1Slots | x x2 | c^Q x2 | split q x2 | split q_nope x2 |
// per AI core: q x2, q_nope x2].
class MlapWorkspace {
 public:
  __aicore__ inline void Init(GM_ADDR base, const MlaPrologTiling& t, uint32_t core) {
    base_ = base;
    t_ = &t;
    mm1Slots_ = MlapMm1Slots(t);
    split_ = base + uint64_t(mm1Slots_) * t.mm1SlotBytes + 2ull * (t.xSlotBytes + t.cqSlotBytes);
    core_ = split_ + 2ull * (t.qsSlotBytes + t.qnsSlotBytes) + uint64_t(core) * t.coreBytes;
  }
  __aicore__ inline GM_ADDR Mm1(uint32_t g) const { return base_ + uint64_t(g % mm1Slots_) * t_->mm1SlotBytes; }
  __aicore__ inline GM_ADDR X(uint32_t g) const {
    return base_ + uint64_t(mm1Slots_) * t_->mm1SlotBytes + uint64_t(g % 2) * t_->xSlotBytes;
  }
  __aicore__ inline GM_ADDR XScale(uint32_t g) const {
    return X(g) + AlignUp(t_->groupTokens * t_->hidden * (t_->mode == kMlapW8A8 ? 1u : 2u), 32);
  }
  __aicore__ inline GM_ADDR Cq(uint32_t g) const {
    return base_ + uint64_t(mm1Slots_) * t_->mm1SlotBytes + 2ull * t_->xSlotBytes +
           uint64_t(g % 2) * t_->cqSlotBytes;
  }
  __aicore__ inline GM_ADDR CqScale(uint32_t g) const {
    return Cq(g) + AlignUp(t_->groupTokens * t_->qLora * (t_->mode == kMlapBf16 ? 2u : 1u), 32);
  }
  // The split heads' q ([rows, splitHeads * (D + Dr)]) and, modes 1, 2, dequantized q_nope
  // ([rows, splitHeads * D]) of group g: written by every AI core, read by all after a barrier.
  __aicore__ inline GM_ADDR SplitQ(uint32_t g) const { return split_ + uint64_t(g % 2) * t_->qsSlotBytes; }
  __aicore__ inline GM_ADDR SplitQn(uint32_t g) const {
    return split_ + 2ull * t_->qsSlotBytes + uint64_t(g % 2) * t_->qnsSlotBytes;
  }
  __aicore__ inline GM_ADDR Q(uint32_t k) const { return core_ + uint64_t(k % 2) * t_->qSlotBytes; }
  __aicore__ inline GM_ADDR Qn(uint32_t k) const { return core_ + 2ull * t_->qSlotBytes + uint64_t(k % 2) * t_->qnSlotBytes; }

 private:
  GM_ADDR base_ = nullptr;
  GM_ADDR split_ = nullptr;
  GM_ADDR core_ = nullptr;
  const MlaPrologTiling* t_ = nullptr;
  uint32_t mm1Slots_ = 2;
};

// Rows [begin, end) of a group's `rows` that vector core `vec` of `vecCores` handles.
__aicore__ inline void MlapVectorRows(uint32_t rows, uint32_t vecCores, uint32_t vec, uint32_t& begin, uint32_t& end) {
  const uint32_t base = rows / vecCores, extra = rows % vecCores;
  begin = vec * base + (vec < extra ? vec : extra);
  end = begin + base + (vec < extra ? 1 : 0);
}

// Prefill (two or more groups, every core a head): the last group's extra heads go to the last cores.
// The first cores take the extra heads of every other group (MlapMm1Split gives them fewer MM1 units
// for it), but after the last norm no MM1 is left to even out: with the extra head of both of the
// last two groups they ended a head (~7 us at GLM-5 TP1) after every other core.
__aicore__ inline bool MlapLastExtraHeadsMoved(const MlaPrologTiling& t, uint32_t g) {
  const uint32_t whole = t.heads - t.splitHeads;
  return t.groups >= 2 && g + 1 == t.groups && whole >= t.blockDim && whole % t.blockDim != 0;
}

// Whole heads [begin, end) of AI core `core` in MM2 / MM3 of group g (the split heads come after
// them): the first (whole heads) % blockDim cores take one more (none with split heads: they divide
// evenly), the last ones in the last group (MlapLastExtraHeadsMoved).
__aicore__ inline void MlapHeads(const MlaPrologTiling& t, uint32_t core, uint32_t g, uint32_t& begin, uint32_t& end) {
  const uint32_t whole = t.heads - t.splitHeads;
  const uint32_t base = whole / t.blockDim, extra = whole % t.blockDim;
  const uint32_t c = MlapLastExtraHeadsMoved(t, g) ? (core + extra) % t.blockDim : core;  // the last cores first
  begin = c * base + (c < extra ? c : extra);
  end = begin + base + (c < extra ? 1 : 0);
}

// Columns [begin, end) of the concatenated [W_dq | W_dkv_kr] (Hcq + 576 columns) that AI core
// `core` multiplies in MM1, in units of `unit` columns (a fractal's width: 32 bytes of x's type).
// The units are spread so that every core streams about the same weight bytes per group, MM1 and
// its heads' W_uq_qr and W_uk together: the cores with one head more (the first ones) take fewer
// units, their share of bytes rounded down (their heads keep the cube busy, and any MM1 unit
// costs all of x: at GLM-5 TP1 on 20 cores 1 unit each, not 1 or 2; up with the K split, below), and the other cores split
// the remaining units evenly (the first ones a unit more). In prefill the cube streams MM1(g + 2)
// and the heads of group g back to back, so the busiest core sets the pace.
//
// K split (mode 2, from group 2 on): the cores with a head more stream their units together, each
// all of their columns over a share of K (x's columns) instead of its own unit over all of K: a
// unit costs all of x (786 KB at GLM-5 prefill for 32 columns), a quarter of K a quarter of it. The
// int32 partial sums add exactly into the MM1 ring (GM atomic add), whose columns the vector cores
// zero after their norm of group g - mm1Slots read them (mlap_vector.h ZeroKSplit), before the slot
// is released, and those of slot 2 (3 slots) at the start; groups 0 and 1 keep the units (nothing
// zeroed their slots), the sums are the same.
// Only within W_dq's columns (the cache rows read W_dkv_kr's after the norm).
struct MlapMm1Split {
  uint32_t units = 0, cores = 0, more = 0;  // `more`: cores with one head more
  uint32_t moreUnits = 0;                   // units of each of those
  bool kSplit = false;                      // from group 2 on, those units split by K (above)

  __aicore__ inline MlapMm1Split(const MlaPrologTiling& t, uint32_t unit) {
    units = (t.qLora + kMlapKvRopeDim) / unit;
    cores = t.blockDim;
    more = (t.heads - t.splitHeads) % cores;  // the split heads weigh the same on every core
    const uint64_t unitBytes = uint64_t(t.hidden) * 32;
    const uint64_t headBytes = uint64_t(t.qLora) * (t.nope + kMlapRopeDim) * (t.mode == kMlapBf16 ? 2 : 1) +
                               uint64_t(t.nope) * kMlapKvLoraDim * 2;  // W_uq_qr and W_uk of one head
    const uint64_t level = (uint64_t(units) * unitBytes + uint64_t(more) * headBytes) / cores;  // bytes per core
    const uint64_t spare = level > headBytes ? level - headBytes : 0;  // their bytes beside the extra head
    moreUnits = uint32_t(spare / unitBytes);  // <= units / more
    kSplit = KSplitFits(t, unit, moreUnits);
    // With the K split a unit costs them a share of x, and with the last group's extra heads moved they
    // no longer end last: their share rounded up (GLM-5 TP1 prefill: 2 units each, 325.90 -> 324.05 us).
    const uint32_t up = uint32_t((spare + unitBytes - 1) / unitBytes);
    if (kSplit && MlapLastExtraHeadsMoved(t, t.groups - 1) && KSplitFits(t, unit, up)) moreUnits = up;
  }
  __aicore__ inline bool KSplitFits(const MlaPrologTiling& t, uint32_t unit, uint32_t each) const {
    return t.mode == kMlapW8A8 && t.groups > 2 && more >= 2 && each > 0 && more * each * unit <= t.qLora &&
           t.hidden / 32 >= more;
  }
  // K split: the columns [0, KCols()) the cores with a head more share.
  __aicore__ inline uint32_t KCols(uint32_t unit) const { return kSplit ? more * moreUnits * unit : 0; }
  // First unit of core c (the last core ends at `units`).
  __aicore__ inline uint32_t Start(uint32_t c) const {
    if (c >= cores) return units;
    const uint32_t m = c < more ? c : more, rest = units - more * moreUnits, others = cores - more;
    const uint32_t i = c - m;  // cores without the extra head before c
    return m * moreUnits + i * (rest / others) + (i < rest % others ? i : rest % others);
  }
};


// Columns [begin, end) of `cols` that AI core `core` takes, in units of `unit` columns spread as
// evenly as they go: the split heads' MM2 and MM3 columns (`cols` a multiple of `unit`). The first
// cores take a unit more, or with `lastMore` the last ones (MM3: so that no core gets the extra
// unit of both).
// MM2 unit of the split heads' q columns: a fractal's width, 16 columns; 32 for int8 W_uq_qr when
// they divide into 32s (int8 tiles are padded to 32: no MACs on padding columns).
__aicore__ inline uint32_t MlapSplitQUnit(const MlaPrologTiling& t) {
  const uint32_t cols = t.splitHeads * (t.nope + kMlapRopeDim);
  return t.mode != kMlapBf16 && cols % 32 == 0 ? 32 : 16;
}

__aicore__ inline void MlapSplitColumns(const MlaPrologTiling& t, uint32_t cols, uint32_t unit, uint32_t core,
                                        bool lastMore, uint32_t& begin, uint32_t& end) {
  const uint32_t units = cols / unit, cores = t.blockDim;
  if (lastMore) {  // mirror the split: core c takes what core cores - 1 - c would, counted from the end
    MlapVectorRows(units, cores, cores - 1 - core, begin, end);
    const uint32_t b = units - end;
    end = units - begin;
    begin = b;
  } else {
    MlapVectorRows(units, cores, core, begin, end);
  }
  begin *= unit;
  end *= unit;
}

// Decode (one group): every AI core streams its W_dq columns first and posts them, then its W_dkv_kr
// columns; the vector cores normalize c^Q while the cubes stream W_dkv_kr, so the norm leaves the
// critical path. Prefill keeps one contiguous range per core (the norm of group g + 1 already runs
// under the heads of group g, and a second range would read x once more per group).
__aicore__ inline bool MlapCqFirst(const MlaPrologTiling& t) { return t.groups == 1; }

// Decode with kvByRows (mode 2: int8): the rows [begin, end) of W_dkv_kr (K of its MM1 stage) that AI
// core `core` multiplies over all 576 columns, in units of 32 rows (an int8 transpose block); the
// last cores take a unit more (the first ones take W_dq's extra unit).
__aicore__ inline void MlapKvRows(const MlaPrologTiling& t, uint32_t core, uint32_t& begin, uint32_t& end) {
  MlapSplitColumns(t, t.hidden, 32, core, true, begin, end);
}

// Decode with uqByRows (mode 2): the rows [begin, end) of W_uq_qr (K of the split heads' MM2) that AI
// core `core` multiplies over all split q columns, in units of 32 rows. The cores right after those
// with W_dq's extra unit take a unit more (at GLM-5's TP16 on 20 cores: cores 4-7, which have
// neither W_dq's nor W_dkv_kr's extra unit; the last ones, like W_dkv_kr's rows: 14.65 us, these: 14.58).
__aicore__ inline void MlapUqRows(const MlaPrologTiling& t, uint32_t core, uint32_t& begin, uint32_t& end) {
  const uint32_t cores = t.blockDim, shift = (t.qLora / 32) % cores;  // W_dq's cores with a unit more
  MlapVectorRows(t.qLora / 32, cores, (core + cores - shift) % cores, begin, end);
  begin *= 32;
  end *= 32;
}

// MM1 columns of AI core `core` over the concatenated [W_dq | W_dkv_kr], in units of `unit` columns (a
// fractal's width): range 0 [b0, e0), then range 1 [b1, e1). With MlapCqFirst, range 0 is a share of
// W_dq (the first cores take a unit more) and range 1 a share of W_dkv_kr (the last cores take a unit
// more: no core gets both extras; with kvByRows range 1 is empty, MlapKvRows gives the core's rows
// instead); else range 0 is MlapMm1Split's and range 1 is empty.
struct MlapMm1Ranges {
  uint32_t b0 = 0, e0 = 0, b1 = 0, e1 = 0;
  uint32_t kCols = 0, kb = 0, ke = 0;  // K split (MlapMm1Split): from group 2 on, columns [0, kCols) over rows [kb, ke) of K
};

__aicore__ inline MlapMm1Ranges MlapMm1Columns(const MlaPrologTiling& t, uint32_t core, uint32_t unit) {
  MlapMm1Ranges r;
  if (MlapCqFirst(t)) {
    MlapSplitColumns(t, t.qLora, unit, core, false, r.b0, r.e0);
    if (!t.kvByRows) MlapSplitColumns(t, kMlapKvRopeDim, unit, core, true, r.b1, r.e1);  // else MlapKvRows
    r.b1 += t.qLora;
    r.e1 += t.qLora;
  } else {
    const MlapMm1Split split(t, unit);
    r.b0 = split.Start(core) * unit;
    r.e0 = split.Start(core + 1) * unit;
    if (split.kSplit && core < split.more) {  // K in units of 32 rows (an int8 transpose block)
      r.kCols = split.KCols(unit);
      MlapVectorRows(t.hidden / 32, split.more, core, r.kb, r.ke);
      r.kb *= 32;
      r.ke *= 32;
    }
  }
  return r;
}

}  // namespace ascend_glm5
