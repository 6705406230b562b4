// Dequant -> SwiGLU -> per-token int8 quant (torch_npu npu_dequant_swiglu_quant, dynamic mode).
//
// x [T, 2H] is the gate/up GEMM output of an expert MLP: int32 sums (dequantized here with the
// per-channel weight scale of the row's group and the row's activation scale) or fp16/bf16. Each
// vector core takes a contiguous range of rows. A row is read tile by tile, both halves of a tile
// at once; silu(a) * b (times the smooth scale) goes into a resident fp32 row buffer while its
// max |.| is tracked, then the row is scaled by 127/max, rounded half-to-even and written as int8
// with its fp32 scale, exactly as dynamic_quant does. The next tile's load is issued before the
// current tile is computed, also across rows. The group of a row comes from group_index (counts),
// scanned once per core; a group's scales are loaded when the first row of the group arrives.
// Few rows (decode): a row's columns are cut over several cores instead, which exchange their
// part's max through the GM workspace after SyncAll.
// GM traffic: x read once, y and the scales written once, the scales of each group a core meets
// read once by that core.
#include "kernel_operator.h"
#include "../common/float_convert.h"
#include "../common/gm_copy.h"
#include "../common/int8_quant.h"
#include "../common/scale_batch.h"
#include "../common/tiling.h"
#include "dequant_swiglu_quant_tiling.h"

using namespace AscendC;

namespace ascend_glm5 {

template <typename T>
class DequantSwigluQuantKernel {
 public:
  __aicore__ inline void Init(GM_ADDR x, GM_ADDR weightScale, GM_ADDR activationScale, GM_ADDR quantScale,
                              GM_ADDR groupIndex, GM_ADDR y, GM_ADDR scale, GM_ADDR workspace,
                              const DequantSwigluQuantTiling& t) {
    t_ = t;
    rows_ = (uint64_t(t.rowsHi) << 32) | t.rowsLo;
    if (t.split > 1) {  // columns [colBegin_, colBegin_ + cols_) of one row per core; rows * split = blockDim
      rowBegin_ = GetBlockIdx() / t.split;
      rowEnd_ = rowBegin_ + 1;
      part_ = GetBlockIdx() % t.split;
      colBegin_ = part_ * t.partCols;
      cols_ = t.half - colBegin_ < t.partCols ? t.half - colBegin_ : t.partCols;
      maxima_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace), uint64_t(t.blockDim) * kSlotFloats);
      pipe_.InitBuffer(gatherBuf_, t.split * kDequantSwigluQuantSplitSlotBytes);
    } else {
      SplitEvenly(rows_, t.blockDim, GetBlockIdx(), rowBegin_, rowEnd_);
      cols_ = t.half;
    }
    chunks_ = CeilDiv(cols_, t.chunk);
    span_ = chunks_ * t.chunk;
    const uint64_t width = 2ull * t.half;
    activeOff_ = t.activateLeft ? 0 : t.half;
    linearOff_ = t.activateLeft ? t.half : 0;
    x_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x), rows_ * width);
    y_.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(y), rows_ * t.half);
    if (t.weightScaleRows) {
      weightScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(weightScale), t.weightScaleRows * width);
      activationScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(activationScale), rows_);
    }
    if (t.quantScaleRows)
      quantScale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(quantScale), uint64_t(t.quantScaleRows) * t.half);
    if (t.groupCount) groupIndex_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(groupIndex), t.groupCount);

    // The buffers in DsqFrontBytes' order, then the pad, e and the group scales (DsqPadBytes).
    pipe_.InitBuffer(inQue_, 2, 2 * t.chunk * sizeof(T));  // activated half, then linear half
    pipe_.InitBuffer(outQue_, 2, t.chunk * sizeof(int8_t));
    pipe_.InitBuffer(rowBuf_, span_ * sizeof(float));
    // The fp32 tiles a and b, then a half tile for the int8 narrowing.
    pipe_.InitBuffer(workBuf_, 2 * t.chunk * sizeof(float) + t.chunk * sizeof(half));
    // 8 floats for ReduceMax, a batch of output scales, a batch of activation scales.
    pipe_.InitBuffer(smallBuf_, (8 + 2 * kBatch) * sizeof(float));
    GlobalTensor<float> scaleGm;
    scaleGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scale), rows_);
    scales_.Init(scaleGm, Small(8, kBatch), kBatch);
    if (t.groupCount) {
      // The int64 counts as copied, then narrowed to int32 (read two per scalar access).
      pipe_.InitBuffer(groupBuf_, AlignUp(GroupWindowLen(0), 4) * sizeof(int64_t));
      pipe_.InitBuffer(countBuf_, AlignUp(GroupWindowLen(0), 8) * sizeof(int32_t));
      windowCopied_ = pipe_.AllocEventID<HardEvent::MTE2_V>();
    }
    const uint32_t pad = DsqPadBytes(t, span_, t.paramSlots);
    if (pad > 0) pipe_.InitBuffer(padBuf_, pad);
    pipe_.InitBuffer(expBuf_, t.chunk * sizeof(float));
    // Scales of a group: weight scale (activated half, linear half), then quant_scale; one slot per
    // group, two slots where UB allows (the next group's load overlaps the current group's rows).
    quantScaleOffset_ = t.weightScaleRows ? 2 * span_ : 0;
    paramFloats_ = quantScaleOffset_ + (t.quantScaleRows ? span_ : 0);
    if (paramFloats_) {
      pipe_.InitBuffer(paramBuf_, t.paramSlots * paramFloats_ * sizeof(float));
      for (uint32_t s = 0; s < t.paramSlots; ++s) paramLoaded_[s] = pipe_.AllocEventID<HardEvent::MTE2_V>();
    }
    if (paramFloats_ && chunks_ > 1) firstTileScales_ = pipe_.AllocEventID<HardEvent::MTE2_V>();
  }

  __aicore__ inline void Process() {
    // The first loads do not depend on the groups: group_index, the first activation scales and
    // the first x tile are all in flight before the scan waits for group_index.
    const bool hasRows = rowBegin_ < rowEnd_;
    const bool activationScales = t_.weightScaleRows && hasRows;
    if (t_.groupCount) IssueGroupWindow(0);
    if (activationScales) {
      IssueActivationBatch(rowBegin_);
      SetFlag<HardEvent::MTE2_S>(0);
    }
    if (hasRows) CopyIn(0);
    if (t_.groupCount) NarrowGroupWindow();
    ScanGroups();
    if (activationScales) WaitFlag<HardEvent::MTE2_S>(0);
    if (rowBegin_ < validEnd_) {
      const uint64_t tiles = (validEnd_ - rowBegin_) * chunks_;
      for (uint64_t i = 0; i < tiles; ++i) {
        if (i + 1 < tiles) CopyIn(i + 1);  // prefetch, possibly the next row's first tile
        const uint32_t c = static_cast<uint32_t>(i % chunks_);
        const uint64_t row = rowBegin_ + i / chunks_;
        if (c == 0) StartRow(row);
        ComputeTile(c);
        if (c + 1 == chunks_) FinishRow(row);
      }
    } else if (hasRows) {
      LocalTensor<T> unused = inQue_.DeQue<T>();  // the first tile was loaded for nothing: no valid rows here
      inQue_.FreeTensor(unused);
    }
    // Rows past sum(group_index) get q = 0 and scale = 0 (torch_npu leaves them unwritten).
    for (uint64_t row = rowBegin_ > validEnd_ ? rowBegin_ : validEnd_; row < rowEnd_; ++row) {
      Duplicate(rowBuf_.Get<float>(), 0.0f, static_cast<int32_t>(span_));
      rowMax_ = 0.0f;
      FinishRow(row);
    }
    scales_.Flush();
  }

 private:
  static constexpr uint32_t kBatch = 64;  // output / activation scales per DataCopyPad
  static constexpr uint32_t kNoRow = 0xFFFFFFFFu;
  static constexpr uint32_t kSlotFloats = kDequantSwigluQuantSplitSlotBytes / sizeof(float);

  __aicore__ inline uint32_t TileLen(uint32_t c) const { return ChunkLen(cols_, t_.chunk, c); }
  __aicore__ inline LocalTensor<float> Work(uint32_t slot) {  // a (0) or b (1); TBuf::GetWithOffset is non-const in CANN
    return workBuf_.GetWithOffset<float>(t_.chunk, slot * t_.chunk * sizeof(float));
  }
  __aicore__ inline LocalTensor<float> Small(uint32_t offset, uint32_t len) {
    return smallBuf_.GetWithOffset<float>(len, offset * sizeof(float));
  }

  // group_index[g] clamped to [0, 2^31 - 1], from the UB window of counts (loaded again where g
  // falls outside it). The op validates counts; the kernel stays in bounds anyway.
  __aicore__ inline uint32_t GroupRows(uint32_t g) {
    if (g - windowBegin_ >= windowLen_) LoadGroupWindow(g);
    return NonNegative(countBuf_.Get<int32_t>().GetValue(g - windowBegin_));
  }
  // Counts g and g + 1 (g even) in one scalar read; the second is meaningless past groupCount.
  __aicore__ inline void GroupRowsPair(uint32_t g, uint32_t& first, uint32_t& second) {
    if (g - windowBegin_ >= windowLen_) LoadGroupWindow(g);
    const uint64_t pair = static_cast<uint64_t>(
        countBuf_.Get<int32_t>().ReinterpretCast<int64_t>().GetValue((g - windowBegin_) / 2));
    first = NonNegative(static_cast<int32_t>(pair & 0xFFFFFFFFu));  // little-endian: count g in the low word
    second = NonNegative(static_cast<int32_t>(pair >> 32));
  }
  __aicore__ static inline uint32_t NonNegative(int32_t count) { return count > 0 ? static_cast<uint32_t>(count) : 0; }
  __aicore__ inline void LoadGroupWindow(uint32_t g) {
    SetFlag<HardEvent::S_MTE2>(0);  // the scalar reads of the old window are done
    WaitFlag<HardEvent::S_MTE2>(0);
    IssueGroupWindow(g);
    NarrowGroupWindow();
  }
  // group_index is read through UB, up to kDequantSwigluQuantGroupWindow counts at a time: scalar
  // GM reads would miss the DataCache at every new 64-byte line. A window starts at an even group,
  // so that count pairs are 8-byte aligned.
  __aicore__ inline void IssueGroupWindow(uint32_t g) {
    windowBegin_ = g & ~1u;
    windowLen_ = GroupWindowLen(windowBegin_);
    CopyGmToUb(groupBuf_.Get<int64_t>(), groupIndex_[windowBegin_], windowLen_);
    SetFlag<HardEvent::MTE2_V>(windowCopied_);
  }
  // The window's counts as int32 (the cast saturates), in one vector instruction: the scan then
  // reads two counts per scalar access.
  __aicore__ inline void NarrowGroupWindow() {
    WaitFlag<HardEvent::MTE2_V>(windowCopied_);
    Cast(countBuf_.Get<int32_t>(), groupBuf_.Get<int64_t>(), RoundMode::CAST_NONE, windowLen_);
    const TEventID narrowed = pipe_.FetchEventID(HardEvent::V_S);
    SetFlag<HardEvent::V_S>(narrowed);
    WaitFlag<HardEvent::V_S>(narrowed);
  }
  __aicore__ inline uint32_t GroupWindowLen(uint32_t g) const {
    const uint32_t rest = t_.groupCount - g;
    return rest < kDequantSwigluQuantGroupWindow ? rest : kDequantSwigluQuantGroupWindow;
  }

  // Rows [rowBegin_, validEnd_) of this core lie inside sum(group_index); group_ / groupEnd_ is
  // the group of rowBegin_ (groups of 0 rows are skipped). Its scales are requested as soon as it
  // is found (its first row is valid then), so their load overlaps the rest of the scan.
  __aicore__ inline void ScanGroups() {
    validEnd_ = rowEnd_;
    if (!t_.groupCount) return;
    uint64_t end = 0;
    bool found = false;
    for (uint32_t g = 0; g < t_.groupCount; g += 2) {
      uint32_t counts[2];
      GroupRowsPair(g, counts[0], counts[1]);
      for (uint32_t i = 0; i < 2 && g + i < t_.groupCount; ++i) {
        end += counts[i];
        if (!found && end > rowBegin_) {
          group_ = g + i;
          groupEnd_ = end;
          found = true;
          if (rowBegin_ < rowEnd_ && paramFloats_) LoadGroupScales(FreeSlot(), group_, rowEnd_ - rowBegin_ == 1);
        }
        if (end >= rowEnd_) return;  // all of this core's rows are valid: the rest does not matter
      }
    }
    if (end < validEnd_) validEnd_ = end;
  }

  // Loads tile i (row-major over this core's rows): both halves into one input buffer.
  __aicore__ inline void CopyIn(uint64_t i) {
    const uint32_t c = static_cast<uint32_t>(i % chunks_);
    const uint64_t offset = (rowBegin_ + i / chunks_) * 2 * t_.half + colBegin_ + uint64_t(c) * t_.chunk;
    LocalTensor<T> tile = inQue_.AllocTensor<T>();
    CopyGmToUb(tile, x_[offset + activeOff_], TileLen(c));
    CopyGmToUb(tile[t_.chunk], x_[offset + linearOff_], TileLen(c));
    inQue_.EnQue(tile);
  }

  // Group bookkeeping, the group's scales and the row's activation scale.
  __aicore__ inline void StartRow(uint64_t row) {
    if (t_.groupCount) {
      while (row >= groupEnd_) groupEnd_ += GroupRows(++group_);
    }
    if (paramFloats_) UseGroupScales();
    if (t_.weightScaleRows) rowActivationScale_ = ActivationScale(row);
  }

  // slot_ gets the scales of group_ (resident, being loaded, or loaded now); with two slots the
  // next group this core meets is then requested into the other slot.
  __aicore__ inline void UseGroupScales() {
    uint32_t s = SlotOf(group_);
    if (s == t_.paramSlots) {
      s = FreeSlot();
      LoadGroupScales(s, group_);
    }
    // A one-row core's tile waits for them after its casts (WaitTileScales), which need no scales.
    // A core of several rows waits here: its loads bound it, and casting first measured slower
    // there (B = 16: 6,744 -> 6,776 cycles).
    if (firstTilePending_) {
      tileScales_ = firstTileScales_;  // the rest: WaitRestOfFirstScales
      tileScalesPending_ = true;
    } else if (loadPending_[s]) {
      tileScales_ = paramLoaded_[s];
      tileScalesPending_ = true;
      loadPending_[s] = false;
    }
    if (rowEnd_ - rowBegin_ > 1) WaitTileScales(0);
    slot_ = s;
    if (t_.paramSlots == 2 && t_.groupCount && groupEnd_ < validEnd_) {
      uint32_t next = group_ + 1;
      while (GroupRows(next) == 0) ++next;  // a group with rows exists: row groupEnd_ is valid
      if (SlotOf(next) == t_.paramSlots) LoadGroupScales(FreeSlot(), next);
    }
  }
  __aicore__ inline uint32_t WeightScaleRow(uint32_t g) const { return t_.weightScaleRows == 1 ? 0 : g; }
  __aicore__ inline uint32_t QuantScaleRow(uint32_t g) const { return t_.quantScaleRows == 1 ? 0 : g; }
  __aicore__ inline uint32_t SlotOf(uint32_t g) const {  // the slot holding g's scales, paramSlots if none
    for (uint32_t s = 0; s < t_.paramSlots; ++s) {
      if ((!t_.weightScaleRows || weightScaleRow_[s] == WeightScaleRow(g)) &&
          (!t_.quantScaleRows || quantScaleRow_[s] == QuantScaleRow(g)))
        return s;
    }
    return t_.paramSlots;
  }
  __aicore__ inline uint32_t FreeSlot() const { return t_.paramSlots == 2 ? 1 - slot_ : 0; }
  __aicore__ inline LocalTensor<float> Params(uint32_t s) {
    return paramBuf_.GetWithOffset<float>(paramFloats_, s * paramFloats_ * sizeof(float));
  }

  // Requests the scales of group g into slot s (after the vector unit is done with its old ones);
  // UseGroupScales waits for them. `firstTile` (the group of a core's only row, of several tiles):
  // the first tile's columns load first under their own flag, so that the first tile waits only
  // for them and the rest load while it is computed. (A core with more rows is bound by its
  // loads, where the extra copies cost more than the wait: B = 16 3.755 -> 3.774 us.)
  __aicore__ inline void LoadGroupScales(uint32_t s, uint32_t g, bool firstTile = false) {
    const TEventID vectorDone = pipe_.FetchEventID(HardEvent::V_MTE2);
    SetFlag<HardEvent::V_MTE2>(vectorDone);
    WaitFlag<HardEvent::V_MTE2>(vectorDone);
    const bool weights = t_.weightScaleRows && weightScaleRow_[s] != WeightScaleRow(g);
    const bool smooth = t_.quantScaleRows && quantScaleRow_[s] != QuantScaleRow(g);
    if (firstTile && chunks_ > 1) {
      CopyGroupScales(s, g, weights, smooth, 0, t_.chunk);
      SetFlag<HardEvent::MTE2_V>(firstTileScales_);
      firstTilePending_ = true;
      CopyGroupScales(s, g, weights, smooth, t_.chunk, cols_ - t_.chunk);
    } else {
      CopyGroupScales(s, g, weights, smooth, 0, cols_);
    }
    if (weights) weightScaleRow_[s] = WeightScaleRow(g);
    if (smooth) quantScaleRow_[s] = QuantScaleRow(g);
    SetFlag<HardEvent::MTE2_V>(paramLoaded_[s]);
    loadPending_[s] = true;
  }
  // Columns [from, from + len) of this core's columns of group g's weight scales (both halves) and
  // smooth scale -> slot s.
  __aicore__ inline void CopyGroupScales(uint32_t s, uint32_t g, bool weights, bool smooth, uint32_t from, uint32_t len) {
    LocalTensor<float> p = Params(s);
    const uint64_t col = colBegin_ + from;
    if (weights) {
      const uint64_t base = uint64_t(WeightScaleRow(g)) * 2 * t_.half + col;
      CopyGmToUb(p[from], weightScale_[base + activeOff_], len);
      CopyGmToUb(p[span_ + from], weightScale_[base + linearOff_], len);
    }
    if (smooth) CopyGmToUb(p[quantScaleOffset_ + from], quantScale_[uint64_t(QuantScaleRow(g)) * t_.half + col], len);
  }
  // Tile c's scales: on a row's first tile those UseGroupScales left unwaited, on the second the
  // rest of the core's first group's.
  __aicore__ inline void WaitTileScales(uint32_t c) {
    if (c == 0 && tileScalesPending_) {
      WaitFlag<HardEvent::MTE2_V>(tileScales_);
      tileScalesPending_ = false;
    }
    if (c == 1) WaitRestOfFirstScales();
  }
  // Before the second tile of the core's first row: the rest of its group's scales.
  __aicore__ inline void WaitRestOfFirstScales() {
    if (!firstTilePending_) return;
    WaitFlag<HardEvent::MTE2_V>(paramLoaded_[slot_]);
    loadPending_[slot_] = false;
    firstTilePending_ = false;
  }

  // activation_scale[row], loaded kBatch rows at a time (Process issues the first batch).
  __aicore__ inline float ActivationScale(uint64_t row) {
    const uint32_t idx = static_cast<uint32_t>((row - rowBegin_) % kBatch);
    if (idx == 0 && row != rowBegin_) {
      SetFlag<HardEvent::S_MTE2>(0);  // earlier scalar reads of the batch are done
      WaitFlag<HardEvent::S_MTE2>(0);
      IssueActivationBatch(row);
      SetFlag<HardEvent::MTE2_S>(0);
      WaitFlag<HardEvent::MTE2_S>(0);
    }
    return Small(8 + kBatch, kBatch).GetValue(idx);
  }
  __aicore__ inline void IssueActivationBatch(uint64_t row) {  // rows up to rowEnd_: in bounds, maybe unused
    const uint64_t rest = rowEnd_ - row;
    CopyGmToUb(Small(8 + kBatch, kBatch), activationScale_[row], rest < kBatch ? static_cast<uint32_t>(rest) : kBatch);
  }

  // s = silu(a) * b (* quant_scale) into the row buffer; running max |s| of the row.
  __aicore__ inline void ComputeTile(uint32_t c) {
    const uint32_t len = TileLen(c);
    const uint32_t at = c * t_.chunk;
    LocalTensor<float> a = Work(0), b = Work(1), e = expBuf_.Get<float>();
    LocalTensor<T> tile = inQue_.DeQue<T>();
    ToFloat(a, tile, len);
    ToFloat(b, tile[t_.chunk], len);
    inQue_.FreeTensor(tile);
    if (paramFloats_) WaitTileScales(c);
    LocalTensor<float> minusA = e;
    if (t_.weightScaleRows) {  // (x * weight_scale) * -activation_scale: both halves negated, exactly
      LocalTensor<float> p = Params(slot_);
      Mul(a, a, p[at], len);
      Mul(b, b, p[span_ + at], len);
      Muls(a, a, -rowActivationScale_, len);
      Muls(b, b, -rowActivationScale_, len);
      minusA = a;
    } else {
      Muls(e, a, -1.0f, len);
    }
    Exp(e, minusA, len);
    Adds(e, e, 1.0f, len);
    // silu(a) = a / (1 + exp(-a)). int32 x: a and b hold -a and -b, so this is -silu(a) and the
    // product below silu(a) * b bit for bit (IEEE rounding is symmetric in sign); one Muls saved.
    Div(e, a, e, len);
    LocalTensor<float> s = rowBuf_.Get<float>()[at];
    Mul(s, e, b, len);
    if (t_.quantScaleRows) Mul(s, s, Params(slot_)[quantScaleOffset_ + at], len);
    const float m = TileAbsMax(s, a, Small(0, 8), len);
    rowMax_ = RowAbsMaxUpdate(rowMax_, m, c == 0);
  }

  __aicore__ inline void FinishRow(uint64_t row) {
    if (t_.split > 1) ExchangeRowMax(row);
    QuantizeRow(row);
  }

  // Split row: this core's max goes to its workspace slot; after SyncAll it reads the slots of its
  // row's cores (one copy) and folds them as the tiles of a row are folded. Every core of the
  // launch gets here once (a row past sum(group_index) with max 0): SyncAll needs them all.
  __aicore__ inline void ExchangeRowMax(uint64_t row) {
    const LocalTensor<float> mine = Small(0, 8);
    mine.SetValue(0, rowMax_);
    SetFlag<HardEvent::S_MTE3>(0);
    WaitFlag<HardEvent::S_MTE3>(0);
    rowMax_ = ExchangeSplitRowMax(maxima_, mine, gatherBuf_.Get<float>(), kSlotFloats, t_.split, row, pipe_);
  }

  // q = rint(s * 127 / max) as int8; the scale max / 127 joins the batch (a split row's first core
  // writes it, before its part is quantized so that the copy overlaps).
  __aicore__ inline void QuantizeRow(uint64_t row) {
    if (part_ == 0) scales_.Push(row, Int8RowScale(rowMax_));
    if (t_.split > 1) scales_.Flush();
    LocalTensor<half> h = workBuf_.GetWithOffset<half>(t_.chunk, 2 * t_.chunk * sizeof(float));
    QuantizeRowInt8(outQue_, y_[row * t_.half + colBegin_], rowBuf_.Get<float>(), h, cols_, t_.chunk, rowMax_);
  }

  DequantSwigluQuantTiling t_;
  uint64_t rows_ = 0, rowBegin_ = 0, rowEnd_ = 0, validEnd_ = 0;
  uint32_t part_ = 0, colBegin_ = 0, cols_ = 0;  // this core's columns of a row: all, or a split row's part
  uint32_t chunks_ = 0, span_ = 0, activeOff_ = 0, linearOff_ = 0, quantScaleOffset_ = 0, paramFloats_ = 0;
  uint32_t group_ = 0;
  uint64_t groupEnd_ = 0;
  uint32_t windowBegin_ = 0, windowLen_ = 0;  // group_index counts resident in groupBuf_
  // Per slot of paramBuf_: the scale rows it holds, its load's event, whether that is still unwaited.
  uint32_t weightScaleRow_[2] = {kNoRow, kNoRow}, quantScaleRow_[2] = {kNoRow, kNoRow};
  TEventID paramLoaded_[2] = {};
  bool loadPending_[2] = {false, false};
  TEventID firstTileScales_ = 0, windowCopied_ = 0;
  bool firstTilePending_ = false;  // the first group's scales past its first tile are still unwaited
  TEventID tileScales_ = 0;         // the flag a row's first tile waits for after its casts
  bool tileScalesPending_ = false;
  uint32_t slot_ = 0;  // the slot the current row's tiles use
  float rowActivationScale_ = 0.0f;
  float rowMax_ = 0.0f;
  ScaleBatchWriter scales_;
  TPipe pipe_;
  TQue<TPosition::VECIN, 2> inQue_;
  TQue<TPosition::VECOUT, 2> outQue_;
  TBuf<TPosition::VECCALC> rowBuf_, paramBuf_, workBuf_, smallBuf_, groupBuf_, countBuf_, gatherBuf_, padBuf_, expBuf_;
  GlobalTensor<T> x_;
  GlobalTensor<float> weightScale_, activationScale_, quantScale_;
  GlobalTensor<float> maxima_;  // split rows: one 32-byte slot per core (workspace)
  GlobalTensor<int64_t> groupIndex_;
  GlobalTensor<int8_t> y_;
};

}  // namespace ascend_glm5

extern "C" __global__ __aicore__ void dequant_swiglu_quant(GM_ADDR x, GM_ADDR weightScale, GM_ADDR activationScale,
                                                           GM_ADDR quantScale, GM_ADDR groupIndex, GM_ADDR y,
                                                           GM_ADDR scale, GM_ADDR workspace, GM_ADDR tiling) {
  // MIX_AIV_1_0: vector cores only, as AIV_ONLY, with the inter-core sync hardware (SyncAll) on.
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);
  ascend_glm5::DequantSwigluQuantTiling t;
  ascend_glm5::LoadTiling(t, tiling);
  if (t.dtype == ascend_glm5::kInt32) {
    ascend_glm5::DequantSwigluQuantKernel<int32_t> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, workspace, t);
    op.Process();
  } else if (t.dtype == ascend_glm5::kBFloat16) {
    ascend_glm5::DequantSwigluQuantKernel<bfloat16_t> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, workspace, t);
    op.Process();
  } else {
    ascend_glm5::DequantSwigluQuantKernel<half> op;
    op.Init(x, weightScale, activationScale, quantScale, groupIndex, y, scale, workspace, t);
    op.Process();
  }
}
