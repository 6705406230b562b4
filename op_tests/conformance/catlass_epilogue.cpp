// Conformance kernels: catlass's Atlas A2 epilogue tile operators (catlass/epilogue/tile/*, the non-tla
// structs) on AIV cores in AIV mode.
//
// One kernel, `catlass_epilogue`, picks an instantiation by GemmArgs.variant (see Variant). Every
// variant walks the [m, n] matrix in tiles dealt round-robin to the AIV cores (GetBlockIdx /
// GetBlockNum), in the order of catlass's EpilogueIdentityTileSwizzle (or EpilogueHorizontalTileSwizzle),
// and per tile: GM -> UB with catlass's copies (TileCopy / CopyGm2Ub / CopyPerTokenScale2Ub),
// catlass's tile operator on PIPE_V, UB -> GM with CopyUb2Gm. GM images: a = X [m, ld], b = Y (a
// matrix [m, ld], a row vector [n], a column vector [m] or a scalar, per variant), c = D [m, ld];
// ld = GemmArgs.k >= n, so the ld - n columns between rows must stay untouched.
#include "catlass_conf.h"

#include "catlass/epilogue/tile/tile_broadcast_add.hpp"
#include "catlass/epilogue/tile/tile_broadcast_inplace_by_column.hpp"
#include "catlass/epilogue/tile/tile_broadcast_inplace_by_row.hpp"
#include "catlass/epilogue/tile/tile_broadcast_mul.hpp"
#include "catlass/epilogue/tile/tile_broadcast_one_blk.hpp"
#include "catlass/epilogue/tile/tile_cast.hpp"
#include "catlass/epilogue/tile/tile_copy.hpp"
#include "catlass/epilogue/tile/tile_elemwise_add.hpp"
#include "catlass/epilogue/tile/tile_elemwise_gelu.hpp"
#include "catlass/epilogue/tile/tile_elemwise_mul.hpp"
#include "catlass/epilogue/tile/tile_elemwise_muls.hpp"
#include "catlass/epilogue/tile/tile_elemwise_silu.hpp"
#include "catlass/epilogue/tile/tile_swizzle.hpp"

namespace {
namespace Tile = Epilogue::Tile;
using A2 = Arch::AtlasA2;
template <class T>
using RowGm = Gemm::GemmType<T, layout::RowMajor>;
template <class T>
using VecGm = Gemm::GemmType<T, layout::VectorLayout>;
template <class T>
using ColGm = Gemm::GemmType<T, layout::ColumnMajor>;

// The usual tile; rows not a multiple of 8 (the tail masks of the column broadcasts), columns a whole
// vector repeat for every dtype (TileBroadcastInplaceByRow copies whole repeats).
using Shape = MatrixShape<12, 128>;
using TallShape = MatrixShape<264, 32>;  // more than 255 rows: the row broadcasts split their repeats
// 255 blocks a row: TileOneBlkColumnBroadcastMul's block stride (uint8_t) at its limit, 255 repeats.
using WideShape = MatrixShape<9, 2040>;

// What Y is and how it reaches UB.
enum class Y { kNone, kMatrix, kTwoMatrices, kRow, kRowTile, kColumn, kPerToken, kScalar };

// catlass's assembled copies for the operand set: CopyGmToUbC (X), CopyGmToUbX (Y), CopyGmToUbY (Z),
// CopyUbToGmD. By default Y is a vector (kRow, kRowTile, kColumn).
template <class TX, class TD, Y kY>
struct Copies : Tile::TileCopy<A2, RowGm<TX>, VecGm<TX>, RowGm<TD>> {};
template <class TX, class TD>
struct Copies<TX, TD, Y::kNone> : Tile::TileCopy<A2, RowGm<TX>, RowGm<TD>> {};
template <class TX, class TD>
struct Copies<TX, TD, Y::kScalar> : Tile::TileCopy<A2, RowGm<TX>, RowGm<TD>> {};
template <class TX, class TD>
struct Copies<TX, TD, Y::kMatrix> : Tile::TileCopy<A2, RowGm<TX>, RowGm<TX>, RowGm<TD>> {};
template <class TX, class TD>
struct Copies<TX, TD, Y::kTwoMatrices> : Tile::TileCopy<A2, RowGm<TX>, RowGm<TX>, RowGm<TX>, RowGm<TD>> {};
template <class TX, class TD>
struct Copies<TX, TD, Y::kPerToken> : Tile::TileCopyPerTokenDequant<A2, RowGm<TX>, VecGm<TX>, ColGm<TX>, RowGm<TD>> {
  using Base = Tile::TileCopyPerTokenDequant<A2, RowGm<TX>, VecGm<TX>, ColGm<TX>, RowGm<TD>>;
  using CopyGmToUbX = typename Base::CopyGmToUbPerTokenScale;  // Y: the per-token scale [m, 1]
};

constexpr uint32_t RoundBytes(uint32_t bytes) { return (bytes + 31) / 32 * 32; }

// The tile loop. compute(ubD, ubX, ubY, ubT, actual, loopIdx) runs on PIPE_V; kCopyOnly: D is X's
// UB tile, straight from MTE2 to MTE3. kTwoMatrices: the second matrix Z (GM z) goes to ubT.
template <class TX, class TD, class TileShape, Y kY, class Swizzle = Tile::EpilogueIdentityTileSwizzle,
          bool kCopyOnly = false, class Compute>
void TileLoop(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p, Compute&& compute, GM_ADDR z = nullptr) {
  using C = Copies<TX, TD, kY>;
  constexpr uint32_t R = TileShape::ROW, N = TileShape::COLUMN;
  constexpr uint32_t yElems = kY == Y::kRow ? N : kY == Y::kColumn ? RoundUp<64>(R) : R * N;
  AscendC::TPipe pipe;
  AscendC::TBuf<AscendC::TPosition::VECCALC> bufX, bufY, bufD, bufT;
  pipe.InitBuffer(bufX, RoundBytes(R * N * sizeof(TX)));
  pipe.InitBuffer(bufD, RoundBytes(R * N * sizeof(TD)));
  if constexpr (kY != Y::kNone && kY != Y::kScalar) pipe.InitBuffer(bufY, RoundBytes(yElems * sizeof(TX)));
  if constexpr (kY == Y::kColumn) pipe.InitBuffer(bufT, RoundUp<8>(R) * BYTE_PER_BLK);  // Brcb: whole repeats
  if constexpr (kY == Y::kTwoMatrices) pipe.InitBuffer(bufT, RoundBytes(R * N * sizeof(TX)));
  const auto ubX = bufX.Get<TX>();
  const auto ubD = kCopyOnly ? bufX.Get<TD>() : bufD.Get<TD>();
  AscendC::LocalTensor<TX> ubY, ubT;
  if constexpr (kY != Y::kNone && kY != Y::kScalar) ubY = bufY.Get<TX>();
  if constexpr (kY == Y::kColumn || kY == Y::kTwoMatrices) ubT = bufT.Get<TX>();

  AscendC::GlobalTensor<TX> gmX, gmY, gmZ;
  AscendC::GlobalTensor<TD> gmD;
  gmX.SetGlobalBuffer(reinterpret_cast<__gm__ TX*>(x));
  gmY.SetGlobalBuffer(reinterpret_cast<__gm__ TX*>(y));
  gmZ.SetGlobalBuffer(reinterpret_cast<__gm__ TX*>(z));
  gmD.SetGlobalBuffer(reinterpret_cast<__gm__ TD*>(d));
  const layout::RowMajor layoutX(p.m, p.n, p.k), layoutD(p.m, p.n, p.k);
  typename C::CopyGmToUbC copyX;
  typename C::CopyUbToGmD copyD;

  const MatrixCoord tileShape{R, N};
  const Swizzle swizzle(MatrixCoord{p.m, p.n}, tileShape);
  for (uint32_t loop = AscendC::GetBlockIdx(); loop < swizzle.GetLoops(); loop += AscendC::GetBlockNum()) {
    const MatrixCoord tileCoord = swizzle.GetTileCoord(loop);
    const MatrixCoord actual = swizzle.GetActualTileShape(tileCoord);
    const MatrixCoord origin = tileCoord * tileShape;
    const layout::RowMajor layoutUb(actual.row(), actual.column(), N);
    copyX(ubX, gmX[layoutX.GetOffset(origin)], layoutUb, layoutX.GetTileLayout(actual));
    if constexpr (kY == Y::kMatrix || kY == Y::kTwoMatrices) {
      typename C::CopyGmToUbX copyY;
      copyY(ubY, gmY[layoutX.GetOffset(origin)], layoutUb, layoutX.GetTileLayout(actual));
    }
    if constexpr (kY == Y::kTwoMatrices) {
      typename C::CopyGmToUbY copyZ;
      copyZ(ubT, gmZ[layoutX.GetOffset(origin)], layoutUb, layoutX.GetTileLayout(actual));
    } else if constexpr (kY == Y::kRow || kY == Y::kRowTile) {  // the tile's n-range of a [n] vector
      typename C::CopyGmToUbX copyY;
      copyY(ubY, gmY[origin.column()], layout::VectorLayout(actual.column()), layout::VectorLayout(actual.column()));
    } else if constexpr (kY == Y::kColumn) {  // the tile's m-range of a [m] vector
      typename C::CopyGmToUbX copyY;
      copyY(ubY, gmY[origin.row()], layout::VectorLayout(actual.row()), layout::VectorLayout(actual.row()));
    } else if constexpr (kY == Y::kPerToken) {  // [m, 1] into column 0 of the UB tile, a block per row
      typename C::CopyGmToUbX copyY;
      copyY(ubY, gmY[origin.row()], layout::RowMajor(actual.row(), 1, N), layout::ColumnMajor(actual.row(), 1));
    }
    if constexpr (kCopyOnly) {
      Sync<AscendC::HardEvent::MTE2_MTE3>();
    } else {
      Sync<AscendC::HardEvent::MTE2_V>();
      compute(ubD, ubX, ubY, ubT, actual, loop);
      Sync<AscendC::HardEvent::V_MTE3>();
    }
    copyD(gmD[layoutD.GetOffset(origin)], ubD, layoutD.GetTileLayout(actual), layoutUb);
    // The next tile's loads and vector writes reuse these buffers.
    Sync<AscendC::HardEvent::MTE3_MTE2>();
    if constexpr (!kCopyOnly) Sync<AscendC::HardEvent::MTE3_V>();
  }
}

// D = X through CopyGm2UbAligned / CopyUb2GmAligned (n and ld whole 32-byte blocks).
template <class T>
void AlignedCopy(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  using TileShape = Shape;
  AscendC::TPipe pipe;
  AscendC::TBuf<AscendC::TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, TileShape::COUNT * sizeof(T));
  const auto ub = buf.Get<T>();
  AscendC::GlobalTensor<T> gmX, gmD;
  gmX.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x));
  gmD.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(d));
  Tile::CopyGm2UbAligned<A2, RowGm<T>> copyIn;
  Tile::CopyUb2GmAligned<A2, RowGm<T>> copyOut;
  const layout::RowMajor layoutGm(p.m, p.n, p.k);
  const MatrixCoord tileShape{TileShape::ROW, TileShape::COLUMN};
  const Tile::EpilogueIdentityTileSwizzle swizzle(MatrixCoord{p.m, p.n}, tileShape);
  for (uint32_t loop = AscendC::GetBlockIdx(); loop < swizzle.GetLoops(); loop += AscendC::GetBlockNum()) {
    const MatrixCoord coord = swizzle.GetTileCoord(loop);
    const MatrixCoord actual = swizzle.GetActualTileShape(coord);
    const MatrixCoord origin = coord * tileShape;
    // The UB row stride is the tile's width when the tile fills the tile columns: contiguous case.
    const layout::RowMajor layoutUb(actual.row(), actual.column(), TileShape::COLUMN);
    copyIn(ub, gmX[layoutGm.GetOffset(origin)], layoutUb, layoutGm.GetTileLayout(actual));
    Sync<AscendC::HardEvent::MTE2_MTE3>();
    copyOut(gmD[layoutGm.GetOffset(origin)], ub, layoutGm.GetTileLayout(actual), layoutUb);
    Sync<AscendC::HardEvent::MTE3_MTE2>();
  }
}

// D[0:m] = X[0:m] through the VectorLayout CopyGm2Ub / CopyUb2Gm, in chunks of 200 elements per core.
template <class T>
void VectorCopy(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  constexpr uint32_t kChunk = 200;
  AscendC::TPipe pipe;
  AscendC::TBuf<AscendC::TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, RoundBytes(kChunk * sizeof(T)));
  const auto ub = buf.Get<T>();
  AscendC::GlobalTensor<T> gmX, gmD;
  gmX.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(x));
  gmD.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(d));
  Tile::CopyGm2Ub<A2, VecGm<T>> copyIn;
  Tile::CopyUb2Gm<A2, VecGm<T>> copyOut;
  for (uint32_t i = AscendC::GetBlockIdx(); i * kChunk < p.m; i += AscendC::GetBlockNum()) {
    const uint32_t len = p.m - i * kChunk < kChunk ? p.m - i * kChunk : kChunk;
    copyIn(ub, gmX[i * kChunk], layout::VectorLayout(len), layout::VectorLayout(len));
    Sync<AscendC::HardEvent::MTE2_MTE3>();
    copyOut(gmD[i * kChunk], ub, layout::VectorLayout(len), layout::VectorLayout(len));
    Sync<AscendC::HardEvent::MTE3_MTE2>();
  }
}

// ---- the operator families ----------------------------------------------------------------------
template <class T>
void Copy(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kNone, Tile::EpilogueIdentityTileSwizzle, true>(x, nullptr, d, p, [](auto&&...) {});
}

template <class T>
void Add(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kMatrix>(x, y, d, p, [](auto& ubD, auto& ubX, auto& ubY, auto&, auto&, uint32_t) {
    Tile::TileElemWiseAdd<A2, RowGm<T>, Shape::COUNT>{}(ubD, ubX, ubY);
  });
}

template <class T>
void Mul(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kMatrix>(x, y, d, p, [](auto& ubD, auto& ubX, auto& ubY, auto&, auto&, uint32_t) {
    Tile::TileElemwiseMul<A2, RowGm<T>, Shape>{}(ubD, ubX, ubY);
  });
}

// D = (X + Y) * Z, the three matrices through TileCopy<AtlasA2, C, X, Y, D>.
template <class T>
void AddMul(GM_ADDR x, GM_ADDR y, GM_ADDR z, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kTwoMatrices>(
      x, y, d, p,
      [](auto& ubD, auto& ubX, auto& ubY, auto& ubZ, auto&, uint32_t) {
        Tile::TileElemWiseAdd<A2, RowGm<T>, Shape::COUNT>{}(ubD, ubX, ubY);
        AscendC::PipeBarrier<PIPE_V>();  // the sum is the Mul's source
        Tile::TileElemwiseMul<A2, RowGm<T>, Shape>{}(ubD, ubD, ubZ);
      },
      z);
}

template <class T>
void Muls(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  AscendC::GlobalTensor<T> gmS;
  gmS.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(y));
  const T scalar = gmS.GetValue(0);  // Y[0]: read by the scalar unit before the loop
  TileLoop<T, T, Shape, Y::kScalar>(x, y, d, p, [scalar](auto& ubD, auto& ubX, auto&, auto&, auto&, uint32_t) {
    Tile::TileElemWiseMuls<A2, RowGm<T>, Shape::COUNT>{}(ubD, ubX, scalar);
  });
}

template <class TSrc, class TDst>
void Cast(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  TileLoop<TSrc, TDst, Shape, Y::kNone>(x, nullptr, d, p, [](auto& ubD, auto& ubX, auto&, auto&, auto&, uint32_t) {
    Tile::TileCast<A2, RowGm<TDst>, RowGm<TSrc>, Shape>{}(ubD, ubX);
  });
}

// D = X + r[None, :] (TileRowBroadcastAdd) or X * r[None, :] (TileRowBroadcastMul).
template <class T, class TileShape, bool kMul>
void RowBroadcast(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, TileShape, Y::kRow>(x, y, d, p, [](auto& ubD, auto& ubX, auto& ubY, auto&, auto& actual, uint32_t) {
    if constexpr (kMul) Tile::TileRowBroadcastMul<A2, RowGm<T>, TileShape>{}(ubD, ubX, ubY);
    else Tile::TileRowBroadcastAdd<A2, RowGm<T>, TileShape>{}(ubD, ubX, ubY, actual);
  });
}

// D = X * s[:, None]: each s to a block (TileBroadcastOneBlk, Brcb), then TileOneBlkColumnBroadcastMul.
template <class T, class TileShape>
void ColumnBroadcastMul(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, TileShape, Y::kColumn>(x, y, d, p, [](auto& ubD, auto& ubX, auto& ubY, auto& ubT, auto&, uint32_t) {
    Tile::TileBroadcastOneBlk<A2, RowGm<T>, TileShape::ROW>{}(ubT, ubY);
    AscendC::PipeBarrier<PIPE_V>();  // Brcb's blocks are the Mul's source
    Tile::TileOneBlkColumnBroadcastMul<A2, RowGm<T>, TileShape>{}(ubD, ubX, ubT);
  });
}

// D[i, j] = r[j]: r into row 0 of a tile, TileBroadcastInplaceByRow; X only sets the tile shape.
template <class T>
void InplaceByRow(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kRowTile>(x, y, d, p, [](auto& ubD, auto&, auto& ubY, auto&, auto&, uint32_t) {
    Tile::TileBroadcastInplaceByRow<A2, RowGm<T>, Shape>{}(ubY);
    AscendC::PipeBarrier<PIPE_V>();
    AscendC::DataCopy(ubD, ubY, Shape::COUNT);  // UB -> UB on PIPE_V: the tile to the output buffer
  });
}

// D[i, j] = s[i]: CopyPerTokenScale2Ub fills each row's first block, TileBroadcastInplaceByColumn the rest.
template <class T>
void InplaceByColumn(GM_ADDR x, GM_ADDR y, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kPerToken>(x, y, d, p, [](auto& ubD, auto&, auto& ubY, auto&, auto&, uint32_t) {
    Tile::TileBroadcastInplaceByColumn<A2, RowGm<T>, Shape>{}(ubY);
    AscendC::PipeBarrier<PIPE_V>();
    AscendC::DataCopy(ubD, ubY, Shape::COUNT);
  });
}

template <class T, bool kGelu>
void Activation(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  TileLoop<T, T, Shape, Y::kNone>(x, nullptr, d, p, [](auto& ubD, auto& ubX, auto&, auto&, auto&, uint32_t) {
    if constexpr (kGelu) Tile::TileElemWiseGelu<A2, RowGm<T>, Shape::COUNT>{}(ubD, ubX);
    else Tile::TileElemWiseSilu<A2, RowGm<T>, Shape::COUNT>{}(ubD, ubX);
  });
}

// D = X + the loop index that the swizzle gave the tile (int32, exact): the visiting order.
template <class Swizzle>
void SwizzleOrder(GM_ADDR x, GM_ADDR d, const GemmArgs& p) {
  TileLoop<int32_t, int32_t, Shape, Y::kNone, Swizzle>(
      x, nullptr, d, p, [](auto& ubD, auto& ubX, auto&, auto&, auto&, uint32_t loop) {
        AscendC::Adds(ubD, ubX, static_cast<int32_t>(loop), Shape::COUNT);
      });
}

enum Variant : uint32_t {
  kCopyHalf = 0, kCopyBf16, kCopyFloat, kCopyInt8,        // TileCopy: CopyGm2Ub / CopyUb2Gm RowMajor
  kAlignedHalf = 10, kAlignedFloat,                       // CopyGm2UbAligned / CopyUb2GmAligned
  kVectorHalf = 20, kVectorFloat, kVectorInt8,            // VectorLayout copies
  kAddHalf = 30, kAddFloat, kAddInt32,                    // TileElemWiseAdd
  kMulHalf = 40, kMulFloat, kMulInt32,                    // TileElemwiseMul
  kMulsHalf = 50, kMulsFloat,                             // TileElemWiseMuls
  kAddMulHalf = 55, kAddMulFloat,                         // TileCopy<C, X, Y, D>, Add then Mul
  kCastF2H = 60, kCastF2Bf, kCastH2F, kCastBf2F,          // TileCast
  kRowAddHalf = 70, kRowAddFloat, kRowAddTallFloat,       // TileRowBroadcastAdd
  kRowMulHalf = 80, kRowMulFloat, kRowMulTallHalf,        // TileRowBroadcastMul
  kColMulHalf = 90, kColMulFloat, kColMulWideFloat,       // TileBroadcastOneBlk + TileOneBlkColumnBroadcastMul
  kByRowHalf = 100, kByRowBf16, kByRowFloat,              // TileBroadcastInplaceByRow
  kByColHalf = 110, kByColBf16, kByColFloat,              // CopyPerTokenScale2Ub + TileBroadcastInplaceByColumn
  kGeluFloat = 120, kSiluHalf, kSiluFloat,                // TileElemWiseGelu / TileElemWiseSilu
  kSwizzleIdentity = 130, kSwizzleHorizontal              // EpilogueIdentityTileSwizzle / Horizontal
};

void Dispatch(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, const GemmArgs& p) {
  switch (p.variant) {
    case kCopyHalf: return Copy<half>(a, c, p);
    case kCopyBf16: return Copy<bfloat16_t>(a, c, p);
    case kCopyFloat: return Copy<float>(a, c, p);
    case kCopyInt8: return Copy<int8_t>(a, c, p);
    case kAlignedHalf: return AlignedCopy<half>(a, c, p);
    case kAlignedFloat: return AlignedCopy<float>(a, c, p);
    case kVectorHalf: return VectorCopy<half>(a, c, p);
    case kVectorFloat: return VectorCopy<float>(a, c, p);
    case kVectorInt8: return VectorCopy<int8_t>(a, c, p);
    case kAddHalf: return Add<half>(a, b, c, p);
    case kAddFloat: return Add<float>(a, b, c, p);
    case kAddInt32: return Add<int32_t>(a, b, c, p);
    case kMulHalf: return Mul<half>(a, b, c, p);
    case kMulFloat: return Mul<float>(a, b, c, p);
    case kMulInt32: return Mul<int32_t>(a, b, c, p);
    case kMulsHalf: return Muls<half>(a, b, c, p);
    case kMulsFloat: return Muls<float>(a, b, c, p);
    case kAddMulHalf: return AddMul<half>(a, b, ws, c, p);
    case kAddMulFloat: return AddMul<float>(a, b, ws, c, p);
    case kCastF2H: return Cast<float, half>(a, c, p);
    case kCastF2Bf: return Cast<float, bfloat16_t>(a, c, p);
    case kCastH2F: return Cast<half, float>(a, c, p);
    case kCastBf2F: return Cast<bfloat16_t, float>(a, c, p);
    case kRowAddHalf: return RowBroadcast<half, Shape, false>(a, b, c, p);
    case kRowAddFloat: return RowBroadcast<float, Shape, false>(a, b, c, p);
    case kRowAddTallFloat: return RowBroadcast<float, TallShape, false>(a, b, c, p);
    case kRowMulHalf: return RowBroadcast<half, Shape, true>(a, b, c, p);
    case kRowMulFloat: return RowBroadcast<float, Shape, true>(a, b, c, p);
    case kRowMulTallHalf: return RowBroadcast<half, TallShape, true>(a, b, c, p);
    case kColMulHalf: return ColumnBroadcastMul<half, Shape>(a, b, c, p);
    case kColMulFloat: return ColumnBroadcastMul<float, Shape>(a, b, c, p);
    case kColMulWideFloat: return ColumnBroadcastMul<float, WideShape>(a, b, c, p);
    case kByRowHalf: return InplaceByRow<half>(a, b, c, p);
    case kByRowBf16: return InplaceByRow<bfloat16_t>(a, b, c, p);
    case kByRowFloat: return InplaceByRow<float>(a, b, c, p);
    case kByColHalf: return InplaceByColumn<half>(a, b, c, p);
    case kByColBf16: return InplaceByColumn<bfloat16_t>(a, b, c, p);
    case kByColFloat: return InplaceByColumn<float>(a, b, c, p);
    case kGeluFloat: return Activation<float, true>(a, c, p);
    case kSiluHalf: return Activation<half, false>(a, c, p);
    case kSiluFloat: return Activation<float, false>(a, c, p);
    case kSwizzleIdentity: return SwizzleOrder<Tile::EpilogueIdentityTileSwizzle>(a, c, p);
    case kSwizzleHorizontal: return SwizzleOrder<Tile::EpilogueHorizontalTileSwizzle>(a, c, p);
    default: AscendC::emu::Fail("catlass_epilogue", "test", "unknown variant");
  }
}
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_epilogue)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) Dispatch(a, b, c, ws, *reinterpret_cast<const GemmArgs*>(args));
}
