// Quantized GEMM engine, vector side (AIV): int32 tiles from the cube -> the output rows.
//
// Per pass, vector core s of the block takes half of the pass's rows (s = 0 the first half):
//   MSD      acc = 16 hi + lo + 8 ones  (int32, exact: x = 16 hi + lo + 8, ones = sum_k w)
//   int bias acc += bias[n]             (int32)
//   int32 output: acc as is. Otherwise, in fp32:
//   y = fp32(acc) * scale[g, n] * pertoken[m] (+ float bias[n]), rounded once to the output type.
// Split-K: after their cube's flags (one a piece) and a vector-only SyncAll (every cube has then
// written its pieces' partials), the vector cores of the blocks holding pieces of a column tile share
// its rows; each adds the pieces' int32 partials of its rows (exact) and dequantises the sum as
// above, so the scales are applied once.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"
#include "qgemm_handoff.h"
#include "qgemm_schedule.h"
#include "qgemm_tiling.h"

namespace ascend_glm5 {

template <typename OutT, bool kMsd>
class QGemmVector {
 public:
  __aicore__ inline void Init(AscendC::TPipe& pipe, GM_ADDR scale, GM_ADDR pertoken, GM_ADDR bias, GM_ADDR out,
                              GM_ADDR groupList, GM_ADDR workspace, const QGemmTiling& t) {
    t_ = &t;
    const uint32_t block = uint32_t(AscendC::GetBlockIdx()) / 2;
    block_ = block;
    sched_.Init(t, groupList, block);
    handoff_.Init(workspace, t, block);
    scale_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(scale));
    if (t.hasPertoken) pertoken_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(pertoken));
    if (t.biasKind == kBiasInt32) biasInt_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(bias));
    if (t.biasKind == kBiasFloat) biasFloat_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(bias));
    out_.SetGlobalBuffer(reinterpret_cast<__gm__ OutT*>(out));
    maxRows_ = CeilDiv(t.tokensPerPass, 2);
    const uint32_t tileElems = maxRows_ * t.nTile;
    // MSD: acc_ holds the hi rows, then the lo rows, then the ones row (views set by TileViews).
    pipe.InitBuffer(acc_, (kMsd ? 2 * tileElems + t.nTile : tileElems) * sizeof(int32_t));
    pipe.InitBuffer(outBuf_, sizeof(OutT) < 4 ? tileElems * sizeof(OutT) : 32);
    pipe.InitBuffer(rowInt_, t.nTile * sizeof(int32_t));  // the int32 bias (never with MSD)
    pipe.InitBuffer(scaleRow_, t.nTile * sizeof(float));
    pipe.InitBuffer(biasRow_, t.nTile * sizeof(float));
    pipe.InitBuffer(pts_, AlignUp(maxRows_, 8) * sizeof(float));
    pipe.InitBuffer(ptsBlocks_, AlignUp(maxRows_, 8) * 32);
    if (t.splitK) {
      pipe.InitBuffer(part_, (kMsd ? 2 * tileElems + t.nTile : tileElems) * sizeof(int32_t));
      if (UsesFactor()) pipe.InitBuffer(factor_, tileElems * sizeof(float));
    }
  }

  __aicore__ inline void Process() {
    QGemmItem it;
    if (t_->splitK) {
      // The first piece's row parameters do not depend on the cubes: read them before the SyncAll.
      // The cube flags each piece's partial. In a block of several pieces, this block's partial of
      // the first one (its part of the tile it combines first) is read while the cube runs the
      // others (with one piece, that read would only delay the SyncAll).
      // The row parameters read early are those of the first piece this core has rows of: with
      // fewer rows than shares, that may be a later piece (a block's second tile).
      QGemmSchedule rest = sched_;
      QGemmItem later, paramsItem{};
      uint32_t pieces = 0, paramsPiece = ~0u, paramsRows = 0;
      while (rest.Next(later)) {
        uint32_t laterMy0 = 0, laterRows = 0;
        Share(later, laterMy0, laterRows);
        if (laterRows > 0 && paramsPiece == ~0u) {
          paramsPiece = pieces;
          paramsItem = later;
          paramsRows = laterRows;
          LoadRowParams(later, uint64_t(later.row0) + laterMy0, laterRows);
        }
        ++pieces;
      }
      bool more = sched_.Next(it);
      uint32_t my0 = 0, rows = 0;
      if (more) Share(it, my0, rows);
      const bool ownFirst = pieces > 1 && rows > 0;
      // That piece's dequantisation factors too, if it combines in chunks: the vector cores wait anyway.
      if (paramsPiece != ~0u && UsesFactor() && Chunked(paramsItem, paramsRows, paramsPiece == 0 && ownFirst)) {
        AscendC::SetFlag<Ev::MTE2_V>(kEvRowParams);
        AscendC::WaitFlag<Ev::MTE2_V>(kEvRowParams);
        BuildFactor(paramsRows, CombinePitch(paramsItem));
      }
      for (uint32_t i = 0; i < pieces; ++i) {
        AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(kQGemmFlagPartials);
        if (i == 0 && ownFirst) CopyTile(acc_, handoff_.BlockSlot(block_, it.slot), it.rows, my0, rows);
      }
      AscendC::SyncAll<true>();  // every cube's partials are in GM
      for (uint32_t i = 0; more; more = sched_.Next(it), ++i) RunPiece(it, i == paramsPiece, i == 0 && ownFirst);
      return;
    }
    while (sched_.Next(it)) {
      for (uint32_t tok0 = 0; tok0 < it.rows; tok0 += t_->tokensPerPass) {
        const uint32_t tokens = it.rows - tok0 < t_->tokensPerPass ? it.rows - tok0 : t_->tokensPerPass;
        RunPass(it, tok0, tokens);
      }
    }
  }

 private:
  using Ev = AscendC::HardEvent;
  static constexpr uint32_t kCombineChunkRows = 8;  // split-K combine: chunks of whole 8-row groups
  static constexpr int32_t kEvRowParams = 2;         // MTE2 -> V: the row parameters (chunks take 0 and 1)

  // Split-K combine in chunks: int8 operands, a share of 16 or more rows, none of its partials read yet.
  __aicore__ inline bool Chunked(const QGemmItem& it, uint32_t rows, bool ownLoaded) const {
    return !kMsd && !ownLoaded && it.parts >= 2 && rows >= 2 * kCombineChunkRows;
  }
  // Its UB rows are the tile's columns rounded to 16 wide (32 B of bf16 / fp16 output), not nTile: the
  // vector work runs on the columns the fixpipe wrote (q_a_proj B = 64: 208 / 192 of 256).
  __aicore__ inline uint32_t CombinePitch(const QGemmItem& it) const { return AlignUp(it.nValid, 16); }
  // With per-token scales and a float output, the chunked combine dequantises with one Mul by
  // factor_[r, n] = scale[n] * pertoken[r], built for the share's rows before its partials are added.
  __aicore__ inline bool UsesFactor() const { return !kMsd && t_->hasPertoken && !SameType<OutT, int32_t>::value; }

  __aicore__ inline void RunPass(const QGemmItem& it, uint32_t tok0, uint32_t tokens) {
    using namespace AscendC;
    const uint32_t half = CeilDiv(tokens, 2);
    const uint32_t my0 = AscendC::GetSubBlockIdx() == 0 ? 0 : half;
    const uint32_t rows = AscendC::GetSubBlockIdx() == 0 ? half : tokens - half;
    const GlobalTensor<int32_t> slot = handoff_.Get();
    if (rows > 0) CopyTile(acc_, slot, tokens, my0, rows);
    handoff_.Release();  // on MTE2, after the copies
    if (rows == 0) return;
    Dequantise(it, uint64_t(it.row0) + tok0 + my0, rows);
  }

  // Split-K: this vector core's share of the piece's column tile (the tile's rows cut into two shares
  // per block holding a piece of it): the sum of every piece's partial, dequantised. The shares turn
  // by one vector core on odd tiles: with fewer rows than shares, the last share holds them all, so
  // a block ending two tiles combines them on its two vector cores, not twice on the same one.
  // rowParamsLoaded: the launch's first piece, whose row parameters were read before the SyncAll;
  // ownLoaded: and this block's partial of it too (the other blocks' partials are added to it).
  __aicore__ inline void RunPiece(const QGemmItem& it, bool rowParamsLoaded, bool ownLoaded) {
    const uint32_t tokens = it.rows;
    uint32_t my0 = 0, rows = 0;
    Share(it, my0, rows);
    if (rows == 0) return;
    const uint32_t first = block_ - it.part;
    if (Chunked(it, rows, ownLoaded)) {
      RunPieceInChunks(it, my0, rows, rowParamsLoaded);
      return;
    }
    bool loaded = ownLoaded;
    for (uint32_t q = 0; q < it.parts; ++q) {
      if (ownLoaded && q == it.part) continue;
      const AscendC::GlobalTensor<int32_t> src = handoff_.BlockSlot(first + q, QGemmSplitSlot(*t_, first + q, it.tile));
      if (!loaded) CopyTile(acc_, src, tokens, my0, rows);
      else AddPart(src, tokens, my0, rows);
      loaded = true;
    }
    Dequantise(it, uint64_t(it.row0) + my0, rows, !rowParamsLoaded);
  }
  // RunPiece with 16 or more rows (int8 operands, none of the partials read yet): the rows in two
  // chunks (the first a multiple of 8 rows, so every UB view stays 32-byte aligned). Both chunks'
  // first two partials are issued on MTE2 before the first chunk is added, dequantised and written:
  // the second chunk's reads run under the first chunk's vector work, its vector work under the
  // first chunk's output write.
  // UB rows are CombinePitch wide.
  __aicore__ inline void RunPieceInChunks(const QGemmItem& it, uint32_t my0, uint32_t rows, bool rowParamsLoaded) {
    using namespace AscendC;
    const uint32_t pitch = CombinePitch(it), first = block_ - it.part;
    const uint32_t split = rows / 2 / kCombineChunkRows * kCombineChunkRows;
    const uint32_t c0[2] = {0, split}, cRows[2] = {split, rows - split};
    const bool factor = UsesFactor();
    if (!rowParamsLoaded) {
      LoadRowParams(it, uint64_t(it.row0) + my0, rows);
      if (factor) SetFlag<Ev::MTE2_V>(kEvRowParams);
    }
    for (uint32_t c = 0; c < 2; ++c) {
      const uint32_t at = my0 + c0[c];
      CopyRows(acc_, c0[c], PartSlot(it, first, 0), at, cRows[c], it.nValid, pitch);
      CopyRows(part_, c0[c], PartSlot(it, first, 1), at, cRows[c], it.nValid, pitch);
      SetFlag<Ev::MTE2_V>(int32_t(c));  // also covers the row parameters, issued before
    }
    if (!rowParamsLoaded && factor) {  // built while the partials are read
      WaitFlag<Ev::MTE2_V>(kEvRowParams);
      BuildFactor(rows, pitch);
    }
    for (uint32_t c = 0; c < 2; ++c) {
      const LocalTensor<int32_t> acc = acc_.Get<int32_t>()[c0[c] * pitch], part = part_.Get<int32_t>()[c0[c] * pitch];
      const int32_t elems = int32_t(cRows[c] * pitch);
      WaitFlag<Ev::MTE2_V>(int32_t(c));
      Add(acc, acc, part, elems);
      for (uint32_t q = 2; q < it.parts; ++q) {  // three or more pieces: the rest in turn
        SetFlag<Ev::V_MTE2>(0);
        WaitFlag<Ev::V_MTE2>(0);
        CopyRows(part_, c0[c], PartSlot(it, first, q), my0 + c0[c], cRows[c], it.nValid, pitch);
        SetFlag<Ev::MTE2_V>(0);
        WaitFlag<Ev::MTE2_V>(0);
        Add(acc, acc, part, elems);
      }
      DequantRows(it, uint64_t(it.row0) + my0 + c0[c], c0[c], cRows[c], c == 1, pitch, factor);
    }
  }
  // factor_[r, :pitch] = scale[:pitch] * pertoken[r] for r < rows: Brcb makes one 32 B block of
  // pertoken[r] per row, read with block stride 0; the scale row is read again for every row.
  __aicore__ inline void BuildFactor(uint32_t rows, uint32_t pitch) {
    using namespace AscendC;
    const LocalTensor<float> blocks = ptsBlocks_.Get<float>(), factor = factor_.Get<float>(), scale = scaleRow_.Get<float>();
    Brcb(blocks, pts_.Get<float>(), uint8_t(CeilDiv(rows, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const uint32_t lanes = 64;
    const uint8_t rowBlocks = uint8_t(pitch * 4 / 32);
    for (uint32_t c = 0; c < pitch; c += lanes) {
      const uint64_t mask = pitch - c < lanes ? pitch - c : lanes;
      Mul(factor[c], scale[c], blocks, mask, uint8_t(rows), BinaryRepeatParams(1, 1, 0, rowBlocks, 0, 1));
    }
  }
  __aicore__ inline AscendC::GlobalTensor<int32_t> PartSlot(const QGemmItem& it, uint32_t first, uint32_t q) const {
    return handoff_.BlockSlot(first + q, QGemmSplitSlot(*t_, first + q, it.tile));
  }
  // Rows [my0, my0 + rows) of a slot -> buf from row r0 on, in rows of `pitch` int32 (int8 operands),
  // only the tile's first nValid columns (rounded up to 32 B) of each: the fixpipe wrote no others.
  __aicore__ inline void CopyRows(AscendC::TBuf<AscendC::TPosition::VECCALC>& buf, uint32_t r0,
                                  const AscendC::GlobalTensor<int32_t>& slot, uint32_t my0, uint32_t rows, uint32_t nValid,
                                  uint32_t pitch) {
    const uint32_t nt = t_->nTile, blocks = CeilDiv(nValid, 8);  // 32 B blocks of int32
    const uint32_t srcGap = nt / 8 - blocks, dstGap = pitch / 8 - blocks;
    AscendC::DataCopy(buf.Get<int32_t>()[r0 * pitch], slot[uint64_t(my0) * nt],
                      AscendC::DataCopyParams(uint16_t(rows), uint16_t(blocks), uint16_t(srcGap), uint16_t(dstGap)));
  }

  __aicore__ inline void Share(const QGemmItem& it, uint32_t& my0, uint32_t& rows) const {
    const uint32_t tokens = it.rows, shares = 2 * it.parts;
    const uint32_t share = (2 * it.part + AscendC::GetSubBlockIdx() + (it.tile & 1)) % shares;
    my0 = tokens * share / shares;
    rows = tokens * (share + 1) / shares - my0;
  }

  // MSD: the views of acc_ (or part_) for `rows` rows: hi at 0, lo after the hi rows, the ones row after.
  __aicore__ inline void TileViews(AscendC::TBuf<AscendC::TPosition::VECCALC>& buf, uint32_t rows,
                                   AscendC::LocalTensor<int32_t>& lo, AscendC::LocalTensor<int32_t>& ones) {
    const AscendC::LocalTensor<int32_t> all = buf.Get<int32_t>();
    lo = all[rows * t_->nTile];
    ones = all[2 * rows * t_->nTile];
  }

  // The slot's rows [my0, my0 + rows) (MSD: their hi rows, lo rows and the ones row) -> buf, laid out
  // as TileViews says: one copy when this core has all the rows (they are contiguous in the slot),
  // else one copy each for its hi rows, its lo rows and the ones row.
  __aicore__ inline void CopyTile(AscendC::TBuf<AscendC::TPosition::VECCALC>& buf, const AscendC::GlobalTensor<int32_t>& slot,
                                  uint32_t tokens, uint32_t my0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t nt = t_->nTile, elems = rows * nt;
    const LocalTensor<int32_t> all = buf.Get<int32_t>();
    if constexpr (!kMsd) {
      DataCopy(all, slot[uint64_t(my0) * nt], elems);
    } else if (rows == tokens) {
      DataCopy(all, slot, 2 * elems + nt);
    } else {
      DataCopy(all, slot[uint64_t(my0) * nt], elems);
      DataCopy(all[elems], slot[uint64_t(tokens + my0) * nt], elems);
      DataCopy(all[2 * elems], slot[uint64_t(2 * tokens) * nt], nt);
    }
  }

  // Split-K: adds another piece's partial of the same rows (int32, exact).
  __aicore__ inline void AddPart(const AscendC::GlobalTensor<int32_t>& slot, uint32_t tokens, uint32_t my0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t nt = t_->nTile, elems = rows * nt;
    SetFlag<Ev::V_MTE2>(0);  // the previous part's adds have read the part buffers
    WaitFlag<Ev::V_MTE2>(0);
    CopyTile(part_, slot, tokens, my0, rows);
    SetFlag<Ev::MTE2_V>(0);
    WaitFlag<Ev::MTE2_V>(0);
    // MSD: hi, lo and ones rows are contiguous in both buffers (TileViews): one add
    Add(acc_.Get<int32_t>(), acc_.Get<int32_t>(), part_.Get<int32_t>(), int32_t(kMsd ? 2 * elems + nt : elems));
  }

  // acc (and MSD's lo / ones rows) in UB -> rows row0.. of the output.
  __aicore__ inline void Dequantise(const QGemmItem& it, uint64_t row0, uint32_t rows, bool loadRowParams = true) {
    if (loadRowParams) LoadRowParams(it, row0, rows);
    AscendC::SetFlag<Ev::MTE2_V>(0);
    AscendC::WaitFlag<Ev::MTE2_V>(0);
    DequantRows(it, row0, 0, rows, true, t_->nTile, false);
  }
  // Rows r0.. of acc (and of the row scales, the output tile) -> output rows row0..; r0 is 0 or a
  // multiple of 8 (kCombineChunkRows), and only without MSD. last: the write is waited for before
  // the buffers are reused (a first chunk's write runs under the second chunk's vector work).
  // pitch: UB row length in elements (nTile, or the chunked combine's CombinePitch; MSD: nTile).
  // factor: scale and per-token scale in one Mul by factor_ (BuildFactor).
  __aicore__ inline void DequantRows(const QGemmItem& it, uint64_t row0, uint32_t r0, uint32_t rows, bool last,
                                     uint32_t pitch, bool factor) {
    using namespace AscendC;
    const uint32_t nt = t_->nTile, elems = rows * pitch;
    LocalTensor<int32_t> acc = acc_.Get<int32_t>()[r0 * pitch];
    if constexpr (kMsd) {  // acc = 16 hi + lo + 8 ones
      LocalTensor<int32_t> lo, ones;
      TileViews(acc_, rows, lo, ones);
      Muls(acc, acc, int32_t(16), int32_t(elems));
      Add(acc, acc, lo, int32_t(elems));
      Muls(ones, ones, int32_t(8), int32_t(nt));
      RowBroadcast<int32_t, true>(acc, ones, rows, nt);
    }
    if (t_->biasKind == kBiasInt32) RowBroadcast<int32_t, true>(acc, rowInt_.Get<int32_t>(), rows, pitch);
    if constexpr (SameType<OutT, int32_t>::value) {
      WriteRows(acc, it, row0, rows, last, pitch);
      return;
    }
    const LocalTensor<float> y = acc.ReinterpretCast<float>();
    Cast(y, acc, RoundMode::CAST_RINT, elems);  // exact below 2^24
    if (factor) {
      Mul(y, y, factor_.Get<float>()[r0 * pitch], int32_t(elems));
    } else {
      RowBroadcast<float, false>(y, scaleRow_.Get<float>(), rows, pitch);
      if (t_->hasPertoken) ScaleRows(y, r0, rows, pitch);
    }
    if (t_->biasKind == kBiasFloat) RowBroadcast<float, true>(y, biasRow_.Get<float>(), rows, pitch);
    if constexpr (SameType<OutT, float>::value) {
      WriteRows(y, it, row0, rows, last, pitch);
    } else {
      const LocalTensor<OutT> o = outBuf_.Get<OutT>()[r0 * pitch];
      Cast(o, y, RoundMode::CAST_RINT, elems);
      WriteRows(o, it, row0, rows, last, pitch);
    }
  }

  // Per-column operands of the pass: scale of the group (and bias), and the rows' scales.
  __aicore__ inline void LoadRowParams(const QGemmItem& it, uint64_t row0, uint32_t rows) {
    using namespace AscendC;
    const uint32_t nv = it.nValid;
    const DataCopyExtParams row(1, nv * 4, 0, 0, 0);
    if constexpr (!SameType<OutT, int32_t>::value)
      DataCopyPad(scaleRow_.Get<float>(), scale_[uint64_t(it.group) * t_->n + it.n0], row, DataCopyPadExtParams<float>());
    if (t_->biasKind == kBiasInt32)  // MSD never has a bias: rowInt_ is free
      DataCopyPad(rowInt_.Get<int32_t>(), biasInt_[it.n0], row, DataCopyPadExtParams<int32_t>());
    if (t_->biasKind == kBiasFloat)
      DataCopyPad(biasRow_.Get<float>(), biasFloat_[it.n0], row, DataCopyPadExtParams<float>());
    if (t_->hasPertoken && !SameType<OutT, int32_t>::value)
      DataCopyPad(pts_.Get<float>(), pertoken_[row0], DataCopyExtParams(1, rows * 4, 0, 0, 0), DataCopyPadExtParams<float>());
  }

  // tile[r, :pitch] (op)= row[:pitch] for r < rows: one repeat per row, the row operand re-read (stride 0).
  template <typename T, bool kAdd>
  __aicore__ inline void RowBroadcast(const AscendC::LocalTensor<T>& tile, const AscendC::LocalTensor<T>& row, uint32_t rows,
                                      uint32_t pitch) {
    using namespace AscendC;
    const uint32_t lanes = 64;  // 32-bit lanes per repeat
    const uint8_t rowBlocks = uint8_t(pitch * sizeof(T) / 32);
    for (uint32_t c = 0; c < pitch; c += lanes) {
      const uint64_t mask = pitch - c < lanes ? pitch - c : lanes;
      const BinaryRepeatParams rp(1, 1, 1, rowBlocks, rowBlocks, 0);
      if constexpr (kAdd) Add(tile[c], tile[c], row[c], mask, uint8_t(rows), rp);
      else Mul(tile[c], tile[c], row[c], mask, uint8_t(rows), rp);
    }
  }

  // y[r, :] *= pertoken[r]: Brcb makes one 32 B block of pertoken[r] per row, read with block stride 0.
  // r0: the first row's index in the row scales (0 or a multiple of 8).
  __aicore__ inline void ScaleRows(const AscendC::LocalTensor<float>& y, uint32_t r0, uint32_t rows, uint32_t pitch) {
    using namespace AscendC;
    const LocalTensor<float> blocks = ptsBlocks_.Get<float>()[r0 * 8];
    Brcb(blocks, pts_.Get<float>()[r0], uint8_t(CeilDiv(rows, 8)), BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    const uint32_t lanes = 64;
    const uint8_t rowBlocks = uint8_t(pitch * 4 / 32);
    for (uint32_t c = 0; c < pitch; c += lanes) {
      const uint64_t mask = pitch - c < lanes ? pitch - c : lanes;
      Mul(y[c], y[c], blocks, mask, uint8_t(rows), BinaryRepeatParams(1, 1, 0, rowBlocks, rowBlocks, 1));
    }
  }

  template <typename T>
  __aicore__ inline void WriteRows(const AscendC::LocalTensor<T>& tile, const QGemmItem& it, uint64_t row0, uint32_t rows,
                                   bool last, uint32_t pitch) {
    using namespace AscendC;
    SetFlag<Ev::V_MTE3>(0);
    WaitFlag<Ev::V_MTE3>(0);
    const uint32_t rowBytes = it.nValid * sizeof(T), ubRow = pitch * sizeof(T);
    const DataCopyExtParams p(uint16_t(rows), rowBytes, (ubRow - AlignUp(rowBytes, 32)) / 32,
                              (t_->n - it.nValid) * uint32_t(sizeof(T)), 0);
    DataCopyPad(out_[row0 * t_->n + it.n0], tile, p);
    if (!last) return;  // a first chunk: the second writes other rows of the buffers
    SetFlag<Ev::MTE3_MTE2>(0);  // the tiles are refilled next pass
    WaitFlag<Ev::MTE3_MTE2>(0);
    SetFlag<Ev::MTE3_V>(0);
    WaitFlag<Ev::MTE3_V>(0);
  }

  const QGemmTiling* t_ = nullptr;
  QGemmSchedule sched_;
  QGemmHandoff handoff_;
  uint32_t maxRows_ = 0, block_ = 0;
  AscendC::TBuf<AscendC::TPosition::VECCALC> acc_, outBuf_, rowInt_, scaleRow_, biasRow_, pts_, ptsBlocks_;
  AscendC::TBuf<AscendC::TPosition::VECCALC> part_;    // split-K: another piece's partial
  AscendC::TBuf<AscendC::TPosition::VECCALC> factor_;  // split-K chunked combine: scale x per-token scale
  AscendC::GlobalTensor<float> scale_, pertoken_, biasFloat_;
  AscendC::GlobalTensor<int32_t> biasInt_;
  AscendC::GlobalTensor<OutT> out_;
};

}  // namespace ascend_glm5
