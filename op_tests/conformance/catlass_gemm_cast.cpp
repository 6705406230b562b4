// Conformance kernels for catlass's GEMM-side vector tiles (catlass/gemm/tile/atlasa2/, Arch::AtlasA2):
// the weight dequantising casts that feed a GEMM, TileMuls and the gemm-tile GM <-> UB copies.
//
// What is catlass here: Gemm::Tile::TileCastInt8ToFp16Dequant, TileCastFp8ToFp16Dequant (its operator()
// and EpCastFp32ToFp16), TileMuls, CopyGm2Ub (VectorLayout), CopyUb2Gm (RowMajor), TileCopyTla GM -> UB
// and UB -> GM (RowMajor tla tensors), TileCopyTlaExt UB -> GM (PaddingRowMajor), and on the AIC the
// GEMM tiles (TileCopy, TileMmad) on Arch::Resource buffers, with Arch::CrossCoreFlagWithReverse
// between the cores. What is written here: the loops and the flags around catlass's calls (the wheel
// ships no block or kernel headers).
#include "catlass_conf.h"

#include "catlass/gemm/tile/tile_muls.hpp"
#include "tla/layout.hpp"
#include "tla/tensor.hpp"

namespace {

using ArchTag = Arch::AtlasA2;
using AscendC::HardEvent;

// The ws header both kernels read (shared with test_catlass_gemm_cast.py): leading dimensions of
// the source and destination, the dequant scalar and zero point (half bits), the TileMuls scalar (its
// element's bits, from byte 16), the PaddingRowMajor block shape (uint32 words 6, 7). Data, where a
// kernel has any in ws, starts at byte 64.
constexpr uint32_t kHeaderBytes = 64;
struct Header {
  uint32_t ldSrc, ldDst;
  half scalar, zeroPoint;
};

Header ReadHeader(GM_ADDR ws) {
  AscendC::GlobalTensor<uint32_t> u32;
  AscendC::GlobalTensor<half> f16;
  u32.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(ws));
  f16.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws));
  return Header{u32.GetValue(0), u32.GetValue(1), f16.GetValue(4), f16.GetValue(5)};
}

// This core's share [begin, end) of `count` units, the first cores taking one more.
struct Share {
  uint32_t begin, end;
};
Share MyShare(uint32_t count) {
  const uint32_t cores = AscendC::GetBlockNum(), me = AscendC::GetBlockIdx();
  return {uint32_t(uint64_t(count) * me / cores), uint32_t(uint64_t(count) * (me + 1) / cores)};
}

// ---- the dequantising casts alone (AIV) ----------------------------------------------------------------
// a = source [m, n] (int8 / fp8 bytes, or float for EpCastFp32ToFp16) with leading dimension ldSrc,
// c = half [m, n] with ldDst; row-major: a row is a tile, column-major: a column is. Each AIV takes a band
// of tiles and hands it to catlass's operator, which splits it over the sub-blocks (1 in AIV mode).
constexpr uint32_t kCastLen = 2048;  // UB elements per round: several rounds per band

template <class Layout>
Layout BandLayout(uint32_t m, uint32_t n, Share s, uint32_t ld) {
  if constexpr (std::is_same_v<Layout, layout::RowMajor>) return Layout(s.end - s.begin, n, ld);
  else return Layout(m, s.end - s.begin, ld);
}

template <class Layout>
void Int8Dequant(GM_ADDR a, GM_ADDR c, const Header& h, const GemmArgs& p) {
  using Cast = Gemm::Tile::TileCastInt8ToFp16Dequant<ArchTag, Gemm::GemmType<int8_t, Layout>,
                                                     Gemm::GemmType<half, Layout>, kCastLen>;
  Arch::Resource<ArchTag> resource;
  Cast cast(resource, typename Cast::Params(h.scalar, h.zeroPoint));  // its ctor / dtor balance its flags
  const Share s = MyShare(std::is_same_v<Layout, layout::RowMajor> ? p.m : p.n);
  cast(Gm<half>(c)[uint64_t(s.begin) * h.ldDst], BandLayout<Layout>(p.m, p.n, s, h.ldDst),
       Gm<int8_t>(a)[uint64_t(s.begin) * h.ldSrc], BandLayout<Layout>(p.m, p.n, s, h.ldSrc));
}

// TileCastFp8ToFp16Dequant leaves its flags to the caller (event ids 0-1; 2-3 for EpCastFp32ToFp16), as
// upstream's block with prologue sets them at construction and waits them at destruction.
template <class F>
void WithCastFlags(event_t e0, event_t e1, F&& f) {
  AscendC::SetFlag<HardEvent::V_MTE2>(e0);
  AscendC::SetFlag<HardEvent::V_MTE2>(e1);
  AscendC::SetFlag<HardEvent::MTE3_V>(e0);
  AscendC::SetFlag<HardEvent::MTE3_V>(e1);
  f();
  AscendC::WaitFlag<HardEvent::V_MTE2>(e0);
  AscendC::WaitFlag<HardEvent::V_MTE2>(e1);
  AscendC::WaitFlag<HardEvent::MTE3_V>(e0);
  AscendC::WaitFlag<HardEvent::MTE3_V>(e1);
}

template <class Layout>
using Fp8Cast = Gemm::Tile::TileCastFp8ToFp16Dequant<ArchTag, Gemm::GemmType<int8_t, Layout>,
                                                     Gemm::GemmType<half, Layout>, kCastLen>;

template <class Layout>
void Fp8Dequant(GM_ADDR a, GM_ADDR c, const Header& h, const GemmArgs& p) {
  Arch::Resource<ArchTag> resource;
  Fp8Cast<Layout> cast(resource, typename Fp8Cast<Layout>::Params(h.scalar, h.zeroPoint));
  const Share s = MyShare(std::is_same_v<Layout, layout::RowMajor> ? p.m : p.n);
  uint32_t bufferIndex = 0;
  WithCastFlags(EVENT_ID0, EVENT_ID1, [&] {
    cast(Gm<half>(c)[uint64_t(s.begin) * h.ldDst], BandLayout<Layout>(p.m, p.n, s, h.ldDst),
         Gm<int8_t>(a)[uint64_t(s.begin) * h.ldSrc], BandLayout<Layout>(p.m, p.n, s, h.ldSrc), bufferIndex);
  });
}

void EpCast(GM_ADDR a, GM_ADDR c, const Header& h, const GemmArgs& p) {
  Fp8Cast<layout::RowMajor> cast;  // EpCastFp32ToFp16 takes its UB from a Resource of its own
  const Share s = MyShare(p.m);
  WithCastFlags(EVENT_ID2, EVENT_ID3, [&] {
    cast.EpCastFp32ToFp16(Gm<half>(c)[uint64_t(s.begin) * h.ldDst], layout::RowMajor(s.end - s.begin, p.n, h.ldDst),
                          Gm<float>(a)[uint64_t(s.begin) * h.ldSrc], layout::RowMajor(s.end - s.begin, p.n, h.ldSrc));
  });
}

// ---- TileMuls with the gemm-tile copies (AIV) -----------------------------------------------------------
// c[r, :] = a[r, :] * scalar for a [m, n] (ldSrc) -> c [m, n] (ldDst): each row comes in through
// CopyGm2Ub (VectorLayout) to a 32-byte aligned UB row, TileMuls scales it (counter mode, n elements),
// CopyUb2Gm (RowMajor) stores the band of rows at once. Bands of kMulsRows rows per round.
constexpr uint32_t kMulsRows = 6;

template <class T>
void Muls(GM_ADDR a, GM_ADDR c, GM_ADDR ws, const Header& h, const GemmArgs& p) {
  constexpr uint32_t kPerBlk = BYTE_PER_BLK / sizeof(T);
  const uint32_t ldUb = RoundUp(p.n, kPerBlk);
  const T scalar = Gm<T>(ws, 16).GetValue(0);
  Arch::Resource<ArchTag> resource;
  const auto ub = resource.ubBuf.template GetBufferByByte<T>(0);
  if (uint64_t(kMulsRows) * ldUb * sizeof(T) > ArchTag::UB_SIZE) {
    AscendC::emu::Fail("gemm_cast_muls", "test", "n too big");
  }
  const auto gmA = Gm<T>(a), gmC = Gm<T>(c);
  Gemm::Tile::CopyGm2Ub<ArchTag, Gemm::GemmType<T, layout::VectorLayout>> copyIn;
  Gemm::Tile::CopyUb2Gm<ArchTag, Gemm::GemmType<T, layout::RowMajor>> copyOut;
  Gemm::Tile::TileMuls<ArchTag, Gemm::GemmType<T, layout::RowMajor>, kMulsRows * 1024> tileMuls;
  const Share s = MyShare(p.m);
  AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
  for (uint32_t r0 = s.begin; r0 < s.end; r0 += kMulsRows) {
    const uint32_t rows = std::min(kMulsRows, s.end - r0);
    AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);  // the previous band is out of UB
    for (uint32_t r = 0; r < rows; ++r) {
      const layout::VectorLayout row(p.n);
      copyIn(ub[r * ldUb], gmA[uint64_t(r0 + r) * h.ldSrc], row, row);
    }
    Sync<AscendC::HardEvent::MTE2_V>(EVENT_ID0);
    for (uint32_t r = 0; r < rows; ++r) tileMuls(ub[r * ldUb], ub[r * ldUb], scalar, p.n);
    Sync<AscendC::HardEvent::V_MTE3>(EVENT_ID0);
    copyOut(gmC[uint64_t(r0) * h.ldDst], ub, layout::RowMajor(rows, p.n, h.ldDst), layout::RowMajor(rows, p.n, ldUb));
    AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
  }
  AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
}

// A row-major tla layout [rows, cols] with row stride ld, and such a tensor in GM.
inline auto RowMajorTla(uint32_t rows, uint32_t cols, int64_t ld) {
  return tla::MakeLayout(tla::MakeShape(rows, cols), tla::MakeStride(ld, tla::Int<1>{}));
}
template <class T>
auto GmRowMajor(GM_ADDR p, uint32_t rows, uint32_t cols, int64_t ld) {
  return tla::MakeTensor(Gm<T>(p), RowMajorTla(rows, cols, ld), Arch::PositionGM{});
}

// ---- TileCopyTla GM -> UB -> GM (AIV) -----------------------------------------------------------------
// c = a, [m, n] with ldSrc / ldDst, in tiles of TM x TN (tails clipped by tla::GetTile) through a UB tile
// of row stride ldUb (whole 32-byte blocks), the two catlass copies of copy_gm_to_ub / copy_ub_to_gm.hpp.
template <class T, uint32_t TM, uint32_t TN>
void TlaCopy(GM_ADDR a, GM_ADDR c, const Header& h, const GemmArgs& p) {
  constexpr uint32_t kLdUb = RoundUp<BYTE_PER_BLK / sizeof(T)>(TN) + BYTE_PER_BLK / sizeof(T);  // one spare block
  Arch::Resource<ArchTag> resource;
  const auto tA = GmRowMajor<T>(a, p.m, p.n, h.ldSrc);
  const auto tC = GmRowMajor<T>(c, p.m, p.n, h.ldDst);
  const auto ub = tla::MakeTensor(resource.ubBuf.template GetBufferByByte<T>(0), RowMajorTla(TM, TN, kLdUb),
                                  Arch::PositionUB{});
  const uint32_t mTiles = CeilDivU(p.m, TM), nTiles = CeilDivU(p.n, TN);
  for (uint32_t t = AscendC::GetBlockIdx(); t < mTiles * nTiles; t += AscendC::GetBlockNum()) {
    const auto coord = tla::MakeCoord((t / nTiles) * TM, (t % nTiles) * TN);
    auto tileA = tla::GetTile(tA, coord, tla::MakeShape(TM, TN));
    auto tileC = tla::GetTile(tC, coord, tla::MakeShape(TM, TN));
    Gemm::Tile::TileCopyTla<ArchTag, decltype(tileA), std::remove_const_t<decltype(ub)>>{}(ub, tileA);
    Sync<AscendC::HardEvent::MTE2_MTE3>(EVENT_ID0);
    Gemm::Tile::TileCopyTla<ArchTag, std::remove_const_t<decltype(ub)>, decltype(tileC)>{}(tileC, ub);
    Sync<AscendC::HardEvent::MTE3_MTE2>(EVENT_ID0);
  }
}

// ---- TileCopyTlaExt UB -> GM into a PaddingRowMajor matrix (AIV) ----------------------------------------
// c = a laid out as catlass's layout::PaddingRowMajor(m, n, blockRows, blockCols) (header words 6, 7):
// row-major blocks of blockRows x blockCols, each row-major. As upstream's PaddingMatrixBlockND: each
// row comes into UB with TileCopyTla, and TileCopyTlaExt<..., RowMajor, PaddingRowMajor> stores it
// as ceil(n / blockCols) whole blocks' rows (the last one's tail is whatever UB holds there).
template <class T>
void PadCopy(GM_ADDR a, GM_ADDR c, GM_ADDR ws, const Header& h, const GemmArgs& p) {
  const auto words = Gm<uint32_t>(ws);
  const uint32_t bR = words.GetValue(6), bC = words.GetValue(7);
  Arch::Resource<ArchTag> resource;
  const auto ub = resource.ubBuf.template GetBufferByByte<T>(0);
  const auto tA = GmRowMajor<T>(a, p.m, p.n, h.ldSrc);
  const auto padded = tla::MakeLayout(
      tla::MakeShape(tla::MakeShape(bR, CeilDivU(p.m, bR)), tla::MakeShape(bC, CeilDivU(p.n, bC))),
      tla::MakeStride(tla::MakeStride(int64_t(bC), int64_t(bR) * RoundUp(p.n, bC)),
                      tla::MakeStride(tla::Int<1>{}, int64_t(bR) * bC)),
      tla::MakeShape(p.m, p.n));
  const auto tC = tla::MakeTensor(Gm<T>(c), padded, Arch::PositionGM{});
  const uint32_t chunks = CeilDivU(p.n, bC);
  const auto ubIn = tla::MakeTensor(ub, RowMajorTla(1u, p.n, int64_t(chunks) * bC), Arch::PositionUB{});
  const auto ubOut = tla::MakeTensor(ub, RowMajorTla(chunks, bC, bC), Arch::PositionUB{});
  const Share s = MyShare(p.m);
  for (uint32_t r = s.begin; r < s.end; ++r) {
    auto rowA = tla::GetTile(tA, tla::MakeCoord(r, 0u), tla::MakeShape(1u, p.n));
    auto rowC = tla::GetTile(tC, tla::MakeCoord(r, 0u), tla::MakeShape(1u, p.n));
    Gemm::Tile::TileCopyTla<ArchTag, decltype(rowA), std::remove_const_t<decltype(ubIn)>>{}(ubIn, rowA);
    Sync<AscendC::HardEvent::MTE2_MTE3>(EVENT_ID0);
    Gemm::Tile::TileCopyTlaExt<ArchTag, std::remove_const_t<decltype(ubOut)>, decltype(rowC), layout::RowMajor,
                               layout::PaddingRowMajor>{}(rowC, ubOut);
    Sync<AscendC::HardEvent::MTE3_MTE2>(EVENT_ID0);
  }
}

enum TileVariant : uint32_t {
  kInt8Row = 0, kInt8Col, kFp8Row, kFp8Col, kEpCast,
  kMulsHalf = 10, kMulsFloat, kMulsInt16, kMulsInt32,
  kCopyHalf = 20, kCopyInt8, kCopyFloat, kCopyBf16,
  kPadHalf = 30, kPadFloat
};

}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_gemm_cast_tile)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)b;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    const Header h = ReadHeader(ws);
    switch (p.variant) {
      case kInt8Row: Int8Dequant<layout::RowMajor>(a, c, h, p); break;
      case kInt8Col: Int8Dequant<layout::ColumnMajor>(a, c, h, p); break;
      case kFp8Row: Fp8Dequant<layout::RowMajor>(a, c, h, p); break;
      case kFp8Col: Fp8Dequant<layout::ColumnMajor>(a, c, h, p); break;
      case kEpCast: EpCast(a, c, h, p); break;
      case kMulsHalf: Muls<half>(a, c, ws, h, p); break;
      case kMulsFloat: Muls<float>(a, c, ws, h, p); break;
      case kMulsInt16: Muls<int16_t>(a, c, ws, h, p); break;
      case kMulsInt32: Muls<int32_t>(a, c, ws, h, p); break;
      case kCopyHalf: TlaCopy<half, 24, 80>(a, c, h, p); break;
      case kCopyInt8: TlaCopy<int8_t, 16, 100>(a, c, h, p); break;
      case kCopyFloat: TlaCopy<float, 40, 36>(a, c, h, p); break;
      case kCopyBf16: TlaCopy<bfloat16_t, 8, 200>(a, c, h, p); break;
      case kPadHalf: PadCopy<half>(a, c, ws, h, p); break;
      case kPadFloat: PadCopy<float>(a, c, ws, h, p); break;
      default: AscendC::emu::Fail("catlass_gemm_cast_tile", "test", "unknown variant");
    }
  }
}

// ---- W8A16 / FP8 weights: AIVs dequantise B, the AIC multiplies (MIX) ----------------------------------------
// C [M, N] float = A [M, K] half x dequant(B) with B int8 or fp8 bytes, [K, N] row-major or [N, K]
// (column-major). Per n-tile of a block, the two AIVs dequantise B tile by tile (k-tiles of L1K) into a
// ring of kSlots half tiles in the block's part of the workspace (catlass's operator gives each AIV
// half the tile); the AIC copies each tile into L1 (B of the whole K stays there), then runs the M
// loop. Hand-over: CrossCoreFlagWithReverse, AIV -> AIC mode 2; the AIC answers every kReverse tiles.
// The AIC answers on the kReverse-th wait, before it copies that tile, so an AIV may run kReverse tiles
// past the last one known copied: kSlots = kReverse + 1 keeps it off tiles the AIC still reads.
constexpr uint32_t kL1M = 64, kL1N = 64, kL1K = 128, kMaxK = 1024;
constexpr uint32_t kReverse = 2, kSlots = kReverse + 1;
constexpr uint32_t kSlotElems = kL1K * kL1N;
constexpr Arch::FlagID kFlagReady = 0, kFlagFree = 1;
constexpr uint32_t kMixCastLen = 4096;
enum MixVariant : uint32_t { kW8Row = 0, kW8Col, kF8Row, kF8Col };

namespace {

// The slot a tile of B lands in: [kActual, nActual] at row stride kL1N (row-major) or column stride kL1K.
template <class LayoutB>
LayoutB SlotLayout(uint32_t kActual, uint32_t nActual) {
  if constexpr (std::is_same_v<LayoutB, layout::RowMajor>) return LayoutB(kActual, nActual, kL1N);
  else return LayoutB(kActual, nActual, kL1K);
}

template <class LayoutB, bool kFp8>
void DequantVector(GM_ADDR b, GM_ADDR ws, const GemmArgs& p) {
  using SrcType = Gemm::GemmType<int8_t, LayoutB>;
  using DstType = Gemm::GemmType<half, LayoutB>;
  using Cast = std::conditional_t<kFp8, Gemm::Tile::TileCastFp8ToFp16Dequant<ArchTag, SrcType, DstType, kMixCastLen>,
                                  Gemm::Tile::TileCastInt8ToFp16Dequant<ArchTag, SrcType, DstType, kMixCastLen>>;
  const Header h = ReadHeader(ws);
  Arch::Resource<ArchTag> resource;
  Cast cast(resource, typename Cast::Params(h.scalar, h.zeroPoint));
  auto gmB = Gm<int8_t>(b);
  auto gmW = Gm<half>(ws, kHeaderBytes)[uint64_t(AscendC::GetBlockIdx() / 2) * kSlots * kSlotElems];
  const LayoutB layoutB(p.k, p.n);
  Arch::CrossCoreFlagWithReverse<kReverse> ready(kFlagReady, kFlagFree);
  uint32_t bufferIndex = 0, tile = 0;
  auto run = [&] {
    const uint32_t nTiles = CeilDivU(p.n, kL1N), kTiles = CeilDivU(p.k, kL1K);
    for (uint32_t nIdx = AscendC::GetBlockIdx() / 2; nIdx < nTiles; nIdx += AscendC::GetBlockNum()) {
      const uint32_t nActual = std::min(kL1N, p.n - nIdx * kL1N);
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx, ++tile) {
        const uint32_t kActual = std::min(kL1K, p.k - kIdx * kL1K);
        const auto src = gmB[layoutB.GetOffset(MatrixCoord{kIdx * kL1K, nIdx * kL1N})];
        const auto dst = gmW[(tile % kSlots) * kSlotElems];
        if constexpr (kFp8) {
          cast(dst, SlotLayout<LayoutB>(kActual, nActual), src, layoutB.GetTileLayout(MatrixCoord{kActual, nActual}),
               bufferIndex);
        } else {
          cast(dst, SlotLayout<LayoutB>(kActual, nActual), src, layoutB.GetTileLayout(MatrixCoord{kActual, nActual}));
        }
        Arch::CrossCoreSetFlagWithReverse<0x2, PIPE_MTE3>(ready);
      }
    }
  };
  if constexpr (kFp8) WithCastFlags(EVENT_ID0, EVENT_ID1, run);
  else run();
}

template <class LayoutB>
void GemmCube(GM_ADDR a, GM_ADDR c, GM_ADDR ws, const GemmArgs& p) {
  using AType = Gemm::GemmType<half, layout::RowMajor>;
  using BType = Gemm::GemmType<half, LayoutB>;
  using CType = Gemm::GemmType<float, layout::RowMajor>;
  using TileCopy = Gemm::Tile::TileCopy<ArchTag, AType, BType, CType>;
  using TileMmad = Gemm::Tile::TileMmad<ArchTag, AType, BType, void>;
  using LayoutAInL1 = typename Gemm::helper::L1ATypeSelector<AType>::L1AType::Layout;
  using LayoutBInL1 = typename Gemm::helper::L1BTypeSelector<BType>::L1BType::Layout;
  if (p.k > kMaxK) AscendC::emu::Fail("catlass_gemm_cast_mix", "test", "K too big for B in L1");
  Arch::Resource<ArchTag> resource;
  const auto gmA = Gm<half>(a);
  const auto gmC = Gm<float>(c);
  const auto gmW = Gm<half>(ws, kHeaderBytes)[uint64_t(AscendC::GetBlockIdx()) * kSlots * kSlotElems];
  const layout::RowMajor layoutA(p.m, p.k), layoutC(p.m, p.n);
  const auto layoutAInL1 = LayoutAInL1::template MakeLayout<half>(kL1M, kL1K);
  const auto layoutBInL1 = LayoutBInL1::template MakeLayout<half>(kL1K, kL1N);
  constexpr uint32_t kL1ABytes = kL1M * kL1K * sizeof(half), kL1BBytes = kL1K * kL1N * sizeof(half);
  const auto l1A = resource.l1Buf.template GetBufferByByte<half>(0);
  const auto l0A = resource.l0ABuf.template GetBufferByByte<half>(0);
  const auto l0B = resource.l0BBuf.template GetBufferByByte<half>(0);
  const auto l0C = resource.l0CBuf.template GetBufferByByte<float>(0);
  typename TileCopy::CopyGmToL1A copyGmToL1A;
  typename TileCopy::CopyGmToL1B copyGmToL1B;
  typename TileCopy::CopyL1ToL0A copyL1ToL0A;
  typename TileCopy::CopyL1ToL0B copyL1ToL0B;
  typename TileCopy::CopyL0CToGm copyL0CToGm;
  TileMmad tileMmad;
  Arch::CrossCoreFlagWithReverse<kReverse> ready(kFlagReady, kFlagFree);
  const uint32_t mTiles = CeilDivU(p.m, kL1M), nTiles = CeilDivU(p.n, kL1N), kTiles = CeilDivU(p.k, kL1K);
  uint32_t tile = 0;
  for (uint32_t nIdx = AscendC::GetBlockIdx(); nIdx < nTiles; nIdx += AscendC::GetBlockNum()) {
    const uint32_t nActual = std::min(kL1N, p.n - nIdx * kL1N);
    // B of this n-tile, all of K, from the ring into L1 (one L1 tile per k-tile, after A's).
    for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx, ++tile) {
      const uint32_t kActual = std::min(kL1K, p.k - kIdx * kL1K);
      Arch::CrossCoreWaitFlagWithReverse<0x2, PIPE_MTE2>(ready);
      copyGmToL1B(resource.l1Buf.template GetBufferByByte<half>(kL1ABytes + kIdx * kL1BBytes),
                  gmW[(tile % kSlots) * kSlotElems], layoutBInL1, SlotLayout<LayoutB>(kActual, nActual));
    }
    for (uint32_t mIdx = 0; mIdx < mTiles; ++mIdx) {
      const uint32_t mActual = std::min(kL1M, p.m - mIdx * kL1M);
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
        const uint32_t kActual = std::min(kL1K, p.k - kIdx * kL1K);
        copyGmToL1A(l1A, gmA[layoutA.GetOffset(MatrixCoord{mIdx * kL1M, kIdx * kL1K})], layoutAInL1,
                    layoutA.GetTileLayout(MatrixCoord{mActual, kActual}));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        copyL1ToL0A(l0A, l1A, layout::zZ::template MakeLayout<half>(mActual, kActual), layoutAInL1);
        copyL1ToL0B(l0B, resource.l1Buf.template GetBufferByByte<half>(kL1ABytes + kIdx * kL1BBytes),
                    layout::nZ::template MakeLayout<half>(kActual, nActual), layoutBInL1);
        Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
        // m == 1 would run as a GEMV (Mmad.md): pad it to 16, as catlass's TileMmadTla does.
        tileMmad(l0C, l0A, l0B, mActual == 1 ? 16 : mActual, nActual, kActual, kIdx == 0);
        AscendC::SetFlag<HardEvent::M_MTE2>(EVENT_ID0);  // L0A / L0B / L1A free for the next k-tile
        AscendC::WaitFlag<HardEvent::M_MTE2>(EVENT_ID0);
        Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
      }
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      copyL0CToGm(gmC[layoutC.GetOffset(MatrixCoord{mIdx * kL1M, nIdx * kL1N})], l0C,
                  layoutC.GetTileLayout(MatrixCoord{mActual, nActual}),
                  layout::zN::MakeLayoutInL0C(MatrixCoord{mActual, nActual}));
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
    // The next n-tile's B overwrites L1: the M loop's L1 reads (MTE1) are done first.
    Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
  }
}
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_gemm_cast_mix)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
  if constexpr (g_coreType == AscendC::AIV) {
    switch (p.variant) {
      case kW8Row: DequantVector<layout::RowMajor, false>(b, ws, p); break;
      case kW8Col: DequantVector<layout::ColumnMajor, false>(b, ws, p); break;
      case kF8Row: DequantVector<layout::RowMajor, true>(b, ws, p); break;
      case kF8Col: DequantVector<layout::ColumnMajor, true>(b, ws, p); break;
      default: AscendC::emu::Fail("catlass_gemm_cast_mix", "test", "unknown variant");
    }
  } else {
    if (p.variant == kW8Row || p.variant == kF8Row) GemmCube<layout::RowMajor>(a, c, ws, p);
    else GemmCube<layout::ColumnMajor>(a, c, ws, p);
  }
}
