// Conformance kernels (AIV only): catlass's tla epilogue tiles and its epilogue fusion visitors (EVG),
// Huawei's AscendC code from the ascend-catlass-dsl wheel, on the emulator for Arch::AtlasA2.
//
// catlass's: every copy (Epilogue::Tile::CopyGm2UbTla / CopyUb2GmTla), every tile computation
// (TileRowBroadcastMulTla, TileBroadcastOneBlkTla, TileOneBlkColumnBroadcastMulTla) and the whole
// fusion tree (Epilogue::Fusion::TreeVisitor / TopologicalVisitor over VisitorAccLoad, VisitorAuxLoad,
// VisitorRowBroadcast, VisitorCompute, VisitorCast, VisitorAuxStore). Ours: the loops and flags around
// them. The wheel ships no epilogue/block, so EvgEpilogue below drives the visitors as upstream
// catlass's BlockEpilogue<EpilogueVisitor> does: per tile LOAD (MTE2), COMPUTE (V), STORE (MTE3),
// two callback sets in turn, each with its own event ids.
#include "catlass_conf.h"
#include "catlass/epilogue/fusion/fusion.hpp"
#include "catlass/epilogue/tile/copy_gm_to_ub_tla.hpp"
#include "catlass/epilogue/tile/copy_ub_to_gm_tla.hpp"
#include "catlass/epilogue/tile/tile_copy.hpp"
#include "catlass/epilogue/tile/tile_broadcast_mul.hpp"
#include "catlass/epilogue/tile/tile_broadcast_one_blk.hpp"
#include "tla/layout.hpp"
#include "tla/tensor.hpp"

namespace {
using ArchTag = Arch::AtlasA2;
using AscendC::HardEvent;

template <class T>
__gm__ T* Gm(GM_ADDR p, uint64_t byteOffset = 0) {
  return reinterpret_cast<__gm__ T*>(p + byteOffset);
}

// A row-major [rows, cols] tensor in GM with row stride ld.
template <class T>
auto GmMatrix(GM_ADDR p, uint32_t rows, uint32_t cols, int64_t ld, uint64_t byteOffset = 0) {
  AscendC::GlobalTensor<T> g;
  g.SetGlobalBuffer(Gm<T>(p, byteOffset));
  return tla::MakeTensor(g, tla::MakeLayout(tla::MakeShape(rows, cols), tla::MakeStride(ld, tla::Int<1>{})),
                         Arch::PositionGM{});
}

// A row-major [rows, cols] tensor in UB at byte offset `ubByte`, row stride ld (whole 32-byte blocks).
template <class T>
auto UbMatrix(Arch::Resource<ArchTag>& res, uint32_t ubByte, uint32_t rows, uint32_t cols, int64_t ld) {
  return tla::MakeTensor(res.ubBuf.template GetBufferByByte<T>(ubByte),
                         tla::MakeLayout(tla::MakeShape(rows, cols), tla::MakeStride(ld, tla::Int<1>{})),
                         Arch::PositionUB{});
}

template <class Dst, class Src>
void CopyIn(Dst const& dst, Src const& src) {
  Epilogue::Tile::CopyGm2UbTla<ArchTag, Src, Dst>{}(dst, src);
}
template <class Dst, class Src>
void CopyOut(Dst const& dst, Src const& src) {
  Epilogue::Tile::CopyUb2GmTla<ArchTag, Src, Dst>{}(dst, src);
}

// ---- tla copies: D[m, n] = A[m, n], both with row stride n + k --------------------------------------
// Tiles of TM x TN (tails clipped by tla::GetTile), GM -> UB -> GM through two UB buffers in turn. The copy
// types are catlass's TileCopyDequantTla aliases (CopyGmToUbC, CopyUbToGmD), ub has its TensorUbC type.
template <class T, uint32_t TM, uint32_t TN>
void TlaCopy(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR c, const GemmArgs& p) {
  using Tiles = Epilogue::Tile::TileCopyDequantTla<ArchTag, T, layout::RowMajor, T, layout::RowMajor, T,
                                                   layout::RowMajor, T, layout::RowMajor>;
  constexpr uint32_t kLd = RoundUp<BYTE_PER_BLK / sizeof(T)>(TN);  // UB row stride: whole 32-byte blocks
  const int64_t ld = int64_t(p.n) + p.k;
  auto tA = GmMatrix<T>(a, p.m, p.n, ld);
  auto tD = GmMatrix<T>(c, p.m, p.n, ld);
  const uint32_t mTiles = CeilDiv(p.m, TM), nTiles = CeilDiv(p.n, TN);
  AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
  AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID1);
  uint32_t ping = 0;
  for (uint32_t t = AscendC::GetBlockIdx(); t < mTiles * nTiles; t += AscendC::GetBlockNum(), ping ^= 1) {
    const auto coord = tla::MakeCoord((t / nTiles) * TM, (t % nTiles) * TN);
    const typename Tiles::TensorUbC ub = UbMatrix<T>(res, ping * TM * kLd * sizeof(T), TM, TN, kLd);
    auto tileA = tla::GetTile(tA, coord, tla::MakeShape(TM, TN));
    auto tileD = tla::GetTile(tD, coord, tla::MakeShape(TM, TN));
    AscendC::WaitFlag<HardEvent::MTE3_MTE2>(ping);  // the store out of this buffer is done
    typename Tiles::template CopyGmToUbC<decltype(tileA)>{}(ub, tileA);
    Sync<AscendC::HardEvent::MTE2_MTE3>(ping);
    typename Tiles::template CopyUbToGmD<decltype(tileD)>{}(tileD, ub);
    AscendC::SetFlag<HardEvent::MTE3_MTE2>(ping);
  }
  AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
  AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID1);
}

// ---- tla broadcast tiles: D1 = X * v[None, :], D2 = X * u[:, None] -----------------------------------
// X [R, C] in a; b = v [C] then u [R]; c = D1 then D2. One core; shapes are the tiles' template shapes.
template <class T, uint32_t R, uint32_t C>
void TlaBroadcast(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
  constexpr uint32_t kPerBlk = BYTE_PER_BLK / sizeof(T);
  static_assert(C % kPerBlk == 0, "the tiles need whole 32-byte blocks per row");
  // Brcb takes u 8 elements a repeat; one 32-byte block (8 or 16 elements) covers that and keeps alignment.
  static_assert(kPerBlk % BLK_NUM_PER_VECTOR_FRACTAL == 0, "16- or 32-bit elements");
  constexpr uint32_t kRowsUp = RoundUp<kPerBlk>(R);
  if (p.m != R || p.n != C) AscendC::emu::Fail("catlass_tla_bcast", "test", "shape does not match the variant");
  // UB: X, v, u, Brcb(u), D1, D2, each at a 32-byte boundary.
  constexpr uint32_t kX = 0, kV = kX + R * C * sizeof(T), kU = kV + RoundUp<BYTE_PER_BLK>(C * sizeof(T));
  constexpr uint32_t kUb = kU + kRowsUp * sizeof(T), kD1 = kUb + kRowsUp * kPerBlk * sizeof(T);
  constexpr uint32_t kD2 = kD1 + R * C * sizeof(T);
  static_assert(kD2 + R * C * sizeof(T) <= ArchTag::UB_SIZE, "fits in UB");
  auto x = UbMatrix<T>(res, kX, R, C, C);
  auto v = UbMatrix<T>(res, kV, 1, C, C);
  auto u = UbMatrix<T>(res, kU, 1, R, kRowsUp);
  auto ub = UbMatrix<T>(res, kUb, kRowsUp, kPerBlk, kPerBlk);
  auto d1 = UbMatrix<T>(res, kD1, R, C, C);
  auto d2 = UbMatrix<T>(res, kD2, R, C, C);
  CopyIn(x, GmMatrix<T>(a, R, C, C));
  CopyIn(v, GmMatrix<T>(b, 1, C, C));
  CopyIn(u, GmMatrix<T>(b, 1, R, R, C * sizeof(T)));
  Sync<AscendC::HardEvent::MTE2_V>(EVENT_ID0);
  using Shape = MatrixShape<R, C>;
  Epilogue::Tile::TileRowBroadcastMulTla<ArchTag, T, Shape>{}(d1, x, v);
  Epilogue::Tile::TileBroadcastOneBlkTla<ArchTag, T, R>{}(ub, u);
  AscendC::PipeBarrier<PIPE_V>();
  Epilogue::Tile::TileOneBlkColumnBroadcastMulTla<ArchTag, T, Shape>{}(d2, x, ub);
  Sync<AscendC::HardEvent::V_MTE3>(EVENT_ID0);
  CopyOut(GmMatrix<T>(c, R, C, C), d1);
  CopyOut(GmMatrix<T>(c, R, C, C, R * C * sizeof(T)), d2);
}

// ---- the fusion visitors ---------------------------------------------------------------------------
// Drives an EVG over the blocks of C [m, n] (kBlockM x n.k, round robin over the cores) in tiles of at
// most COMPUTE_LENGTH elements, as catlass's BlockEpilogue<EpilogueVisitor<USE_UB>> does: rows of
// 32-element-aligned width while a row fits, else one row in COMPUTE_LENGTH-wide pieces.
constexpr uint32_t kBlockM = 24;
constexpr uint32_t kUbAccBytes = ArchTag::L0C_SIZE / 2;  // EpilogueVisitor<true>: C lives below this in UB

template <class EVG, uint32_t COMPUTE_LENGTH>
class EvgEpilogue {
 public:
  EvgEpilogue(Arch::Resource<ArchTag>& res, typename EVG::Params const& params) : res_(res), evg_(params) {
    for (int32_t i = 0; i < 2; ++i) {
      AscendC::SetFlag<HardEvent::V_MTE2>(i);
      AscendC::SetFlag<HardEvent::MTE3_V>(i);
    }
  }
  // Waits the pending events (upstream does it in the destructor; an emulator error thrown while a
  // destructor waits would end the process, so it is a call here).
  void Finish() {
    for (int32_t i = 0; i < 2; ++i) {
      AscendC::WaitFlag<HardEvent::V_MTE2>(i);
      AscendC::WaitFlag<HardEvent::MTE3_V>(i);
    }
  }

  // tensorBlockC: the block of C in GM, or in UB (USE_UB: at (0, 0) of the UB copy).
  template <class TensorC>
  void operator()(MatrixCoord const& blockOffset, uint32_t rows, uint32_t cols, TensorC const& tensorBlockC,
                  uint32_t ubStart) {
    uint32_t off0 = ubStart;
    auto cbs0 = evg_.get_callbacks(res_, off0, COMPUTE_LENGTH);
    uint32_t off1 = off0;
    auto cbs1 = evg_.get_callbacks(res_, off1, COMPUTE_LENGTH);
    uint32_t id = 0;
    for (uint32_t r = 0; r < rows; id ^= 1) {
      if (cols <= COMPUTE_LENGTH) {
        const uint32_t aligned = RoundUp<BYTE_PER_C0>(cols);
        const uint32_t tileRows = std::min(rows - r, std::max(COMPUTE_LENGTH / aligned, 1u));
        Tile(id ? cbs1 : cbs0, tensorBlockC, MatrixCoord{r, 0}, MatrixCoord{tileRows, cols},
             MatrixCoord{tileRows, aligned}, blockOffset, id);
        r += tileRows;
      } else {
        for (uint32_t c = 0; c < cols; c += COMPUTE_LENGTH) {
          const uint32_t tileCols = std::min(cols - c, COMPUTE_LENGTH);
          Tile(id ? cbs1 : cbs0, tensorBlockC, MatrixCoord{r, c}, MatrixCoord{1, tileCols},
               MatrixCoord{1, RoundUp<BYTE_PER_C0>(tileCols)}, blockOffset, id);
        }
        r += 1;
      }
    }
  }

 private:
  template <class Cbs, class TensorC>
  void Tile(Cbs& cbs, TensorC const& tensorBlockC, MatrixCoord const& local, MatrixCoord const& shape,
            MatrixCoord const& aligned, MatrixCoord const& blockOffset, uint32_t id) {
    using Epilogue::Fusion::VisitStage;
    auto tile = tla::GetTile(tensorBlockC, tla::MakeCoord(local.row(), local.column()),
                             tla::MakeShape(shape.row(), shape.column()));
    const MatrixCoord global = blockOffset + local;
    AscendC::WaitFlag<HardEvent::V_MTE2>(id);  // COMPUTE two tiles ago has read this set's inputs
    cbs.template visit<VisitStage::LOAD, ArchTag>(tile, aligned, global);
    Sync<AscendC::HardEvent::MTE2_V>(id);
    AscendC::WaitFlag<HardEvent::MTE3_V>(id);  // STORE two tiles ago has read this set's outputs
    cbs.template visit<VisitStage::COMPUTE, ArchTag>(tile, aligned, global);
    AscendC::SetFlag<HardEvent::V_MTE2>(id);
    Sync<AscendC::HardEvent::V_MTE3>(id);
    cbs.template visit<VisitStage::STORE, ArchTag>(tile, aligned, global);
    AscendC::SetFlag<HardEvent::MTE3_V>(id);
  }

  Arch::Resource<ArchTag>& res_;
  EVG evg_;
};

// GM images: a = C (float [m, n]); b = bias (float [n]) then, 32-byte aligned, aux [m, n]; c = D [m, n];
// ws = Z (float [m, n], the DAG's second output). n.k = block width.
constexpr float kAlpha = 1.25f;

template <class T>
using GmLayout = decltype(tla::MakeLayout<T, layout::RowMajor>(0u, 0u));

template <class EVG, bool kUbAcc = false, uint32_t COMPUTE_LENGTH = 1024>
void RunEvg(Arch::Resource<ArchTag>& res, GM_ADDR a, const GemmArgs& p, typename EVG::Arguments const& args) {
  const uint32_t m = p.m, n = p.n, bn = p.k;
  const typename EVG::Params params = EVG::to_underlying_arguments(GemmCoord{m, n, 1}, args, nullptr);
  EvgEpilogue<EVG, COMPUTE_LENGTH> epilogue(res, params);
  auto tC = GmMatrix<float>(a, m, n, n);
  const uint32_t mBlocks = CeilDiv(m, kBlockM), nBlocks = CeilDiv(n, bn);
  for (uint32_t t = AscendC::GetBlockIdx(); t < mBlocks * nBlocks; t += AscendC::GetBlockNum()) {
    const MatrixCoord offset{(t / nBlocks) * kBlockM, (t % nBlocks) * bn};
    const uint32_t rows = std::min(kBlockM, m - offset.row()), cols = std::min(bn, n - offset.column());
    auto block = tla::GetTile(tC, tla::MakeCoord(offset.row(), offset.column()), tla::MakeShape(rows, cols));
    if constexpr (kUbAcc) {
      // The accumulator in UB, as a fixpipe into UB would leave it (row stride 32-element aligned); the
      // last tile's COMPUTE_LENGTH window must stay inside the region.
      const uint32_t ld = RoundUp<BYTE_PER_C0>(cols);
      if ((rows * ld + COMPUTE_LENGTH) * sizeof(float) > kUbAccBytes)
        AscendC::emu::Fail("catlass_evg", "test", "block too large for the UB accumulator");
      auto ubC = UbMatrix<float>(res, 0, rows, cols, ld);
      CopyIn(ubC, block);
      Sync<AscendC::HardEvent::MTE2_V>(EVENT_ID2);
      epilogue(offset, rows, cols, ubC, kUbAccBytes);
      AscendC::SetFlag<HardEvent::V_MTE2>(EVENT_ID2);  // the next block's copy overwrites what V read
      AscendC::WaitFlag<HardEvent::V_MTE2>(EVENT_ID2);
    } else {
      epilogue(offset, rows, cols, block, 0);
    }
  }
  epilogue.Finish();
}

namespace F = Epilogue::Fusion;

// D = cast(alpha * C + bias[None, :]) (no cast for float D).
template <class D, AscendC::RoundMode kRound, uint32_t COMPUTE_LENGTH = 1024>
void BiasEpilogue(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
  using Sum = F::TreeVisitor<F::VisitorCompute<F::Add, float>,
                             F::TreeVisitor<F::VisitorCompute<F::Muls, float, float>, F::VisitorAccLoad<float>>,
                             F::VisitorRowBroadcast<float, GmLayout<float>>>;
  const auto layoutBias = tla::MakeLayout<float, layout::RowMajor>(1u, p.n);
  const auto layoutD = tla::MakeLayout<D, layout::RowMajor>(p.m, p.n);
  const typename Sum::Arguments sum{{{}, {{kAlpha}}}, {b, layoutBias}, {}};
  if constexpr (std::is_same_v<D, float>) {
    using EVG = F::TreeVisitor<F::VisitorAuxStore<D, GmLayout<D>>, Sum>;
    RunEvg<EVG, false, COMPUTE_LENGTH>(res, a, p, typename EVG::Arguments{sum, {c, layoutD}});
  } else {
    using EVG = F::TreeVisitor<F::VisitorAuxStore<D, GmLayout<D>>, F::TreeVisitor<F::VisitorCast<D, float, kRound>, Sum>>;
    RunEvg<EVG>(res, a, p, typename EVG::Arguments{{sum, {}}, {c, layoutD}});
  }
}

uint64_t AuxByteOffset(uint32_t n) { return RoundUp<BYTE_PER_BLK>(uint64_t(n) * sizeof(float)); }

// D = silu(C) * aux, all float.
void SiluMulFloat(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
  using EVG = F::TreeVisitor<
      F::VisitorAuxStore<float, GmLayout<float>>,
      F::TreeVisitor<F::VisitorCompute<F::Mul, float>, F::TreeVisitor<F::VisitorCompute<F::Silu, float>, F::VisitorAccLoad<float>>,
                     F::VisitorAuxLoad<float, GmLayout<float>>>>;
  const auto layout = tla::MakeLayout<float, layout::RowMajor>(p.m, p.n);
  RunEvg<EVG>(res, a, p, typename EVG::Arguments{{{{}, {}}, {b + AuxByteOffset(p.n), layout}, {}}, {c, layout}});
}

// D = silu(half(C)) * aux, in half (aux half).
void SiluMulHalf(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
  using CastC = F::TreeVisitor<F::VisitorCast<half, float>, F::VisitorAccLoad<float>>;
  using EVG = F::TreeVisitor<
      F::VisitorAuxStore<half, GmLayout<half>>,
      F::TreeVisitor<F::VisitorCompute<F::Mul, half>, F::TreeVisitor<F::VisitorCompute<F::Silu, half>, CastC>,
                     F::VisitorAuxLoad<half, GmLayout<half>>>>;
  const auto layout = tla::MakeLayout<half, layout::RowMajor>(p.m, p.n);
  RunEvg<EVG>(res, a, p,
              typename EVG::Arguments{{{{{}, {}}, {}}, {b + AuxByteOffset(p.n), layout}, {}}, {c, layout}});
}

// A DAG through TopologicalVisitor: Z = C + bias (stored to ws as float), D = half(silu(Z) * Z); Z is
// read by three nodes and visited once per stage (the visitor's cache).
void SiluGateDag(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, const GemmArgs& p) {
  using Edges = tla::tuple<tla::seq<>, tla::seq<>, tla::seq<0, 1>, tla::seq<2>, tla::seq<3>, tla::seq<4, 2>,
                           tla::seq<5>, tla::seq<6>>;
  using EVG = F::TopologicalVisitor<Edges,
                                    F::VisitorAccLoad<float>,                        // 0: C
                                    F::VisitorRowBroadcast<float, GmLayout<float>>,  // 1: bias
                                    F::VisitorCompute<F::Add, float>,                // 2: Z = C + bias
                                    F::VisitorAuxStore<float, GmLayout<float>>,      // 3: Z -> ws
                                    F::VisitorCompute<F::Silu, float>,               // 4: silu(Z)
                                    F::VisitorCompute<F::Mul, float>,                // 5: silu(Z) * Z
                                    F::VisitorCast<half, float>,                     // 6
                                    F::VisitorAuxStore<half, GmLayout<half>>>;       // 7: D
  const auto layoutZ = tla::MakeLayout<float, layout::RowMajor>(p.m, p.n);
  const auto layoutD = tla::MakeLayout<half, layout::RowMajor>(p.m, p.n);
  const auto layoutBias = tla::MakeLayout<float, layout::RowMajor>(1u, p.n);
  RunEvg<EVG>(res, a, p,
              typename EVG::Arguments{{}, {b, layoutBias}, {}, {ws, layoutZ}, {}, {}, {}, {c, layoutD}});
}

// D = relu(C + bias) with C already in UB (VisitorAccLoad<float, true>).
void UbAddRelu(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
  using EVG = F::TreeVisitor<F::VisitorAuxStore<float, GmLayout<float>>,
                             F::TreeVisitor<F::VisitorCompute<F::AddRelu, float>, F::VisitorAccLoad<float, true>,
                                            F::VisitorRowBroadcast<float, GmLayout<float>>>>;
  const auto layoutBias = tla::MakeLayout<float, layout::RowMajor>(1u, p.n);
  const auto layoutD = tla::MakeLayout<float, layout::RowMajor>(p.m, p.n);
  RunEvg<EVG, true>(res, a, p, typename EVG::Arguments{{{}, {b, layoutBias}, {}}, {c, layoutD}});
}
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_tla_copy)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)b, (void)ws;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    Arch::Resource<ArchTag> res;
    switch (p.variant) {
      case 0: TlaCopy<half, 7, 40>(res, a, c, p); break;
      case 1: TlaCopy<bfloat16_t, 5, 24>(res, a, c, p); break;
      case 2: TlaCopy<float, 9, 13>(res, a, c, p); break;
      case 3: TlaCopy<int8_t, 6, 70>(res, a, c, p); break;
      default: AscendC::emu::Fail("catlass_tla_copy", "test", "unknown variant");
    }
  }
}

CONF_EXPORT void CONF_BUILD(catlass_tla_bcast)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)ws;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    Arch::Resource<ArchTag> res;
    switch (p.variant) {
      case 0: TlaBroadcast<float, 21, 72>(res, a, b, c, p); break;
      case 1: TlaBroadcast<half, 19, 144>(res, a, b, c, p); break;
      case 2: TlaBroadcast<float, 260, 16>(res, a, b, c, p); break;  // > 255 rows: two repeat groups
      default: AscendC::emu::Fail("catlass_tla_bcast", "test", "unknown variant");
    }
  }
}

CONF_EXPORT void CONF_BUILD(catlass_evg)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    Arch::Resource<ArchTag> res;
    switch (p.variant) {
      case 0: BiasEpilogue<half, AscendC::RoundMode::CAST_NONE>(res, a, b, c, p); break;
      case 1: BiasEpilogue<bfloat16_t, AscendC::RoundMode::CAST_RINT>(res, a, b, c, p); break;
      case 2: BiasEpilogue<float, AscendC::RoundMode::CAST_NONE>(res, a, b, c, p); break;
      case 3: SiluMulFloat(res, a, b, c, p); break;
      case 4: SiluMulHalf(res, a, b, c, p); break;
      case 5: SiluGateDag(res, a, b, c, ws, p); break;
      case 6: UbAddRelu(res, a, b, c, p); break;
      // Four float nodes of 13312 elements need 208 KiB: catlass's own assert in get_callbacks refuses it.
      case 7: BiasEpilogue<float, AscendC::RoundMode::CAST_NONE, 13312>(res, a, b, c, p); break;
      default: AscendC::emu::Fail("catlass_evg", "test", "unknown variant");
    }
  }
}
