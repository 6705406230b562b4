// Conformance kernel: a 2D convolution assembled from catlass's Atlas A2 conv tile operators
// (catlass/conv/tile/atlasa2, through Catlass::Conv::Tile::TileCopy) and Gemm::Tile::TileMmad, run
// on the emulator. What is catlass: CopyGmToL1 (NC1HWC0 fmap, CI1KHKWCOCI0 filter), CopyL1ToL0A
// (LoadData 3Dv2 im2col with Conv2dFilterParams), CopyL1ToL0B (LoadData 2D), TileMmad and
// CopyL0CToGm (NZ fixpipe into NC1HWC0). What is written here: the block loop (the wheel ships no
// conv/block or conv/kernel headers), in the style of catlass's BlockConv2d: per output block
// (batch, Ho tile, Wo tile, Cout tile) the input window with its block padding, Cin1 in L1 tiles,
// K in L0 slices of whole Cin1 x Kh x Kw x C0.
#include "catlass_conf.h"
#include "catlass/conv/tile/tile_copy.hpp"
#include "catlass/conv_coord.hpp"

namespace {

// The problem, passed in the ws GM image (conftest's GemmArgs has only m, n, k, variant).
struct ConvShape {
  uint32_t batch, cin1, hi, wi, cout, kh, kw, padL, padR, padT, padB, strideH, strideW, dilH, dilW, ho, wo;
};

enum ConvVariant : uint32_t { kHalf = 0, kBf16 = 1, kHalfTla = 2, kBf16Tla = 3 };

// One output block of the loop (batch b; Ho, Wo and Cout tile) and its input window: what falls outside
// the map becomes the block's padding (left, right, top, bottom), as catlass's BlockConv2d computes it.
template <uint32_t HO_T, uint32_t WO_T, uint32_t COUT_T>
struct ConvBlock {
  static uint32_t Count(const ConvShape& s) {
    return s.batch * CeilDivU(s.ho, HO_T) * CeilDivU(s.wo, WO_T) * CeilDivU(s.cout, COUT_T);
  }
  ConvBlock(const ConvShape& s, uint32_t t) {
    const uint32_t hoTiles = CeilDivU(s.ho, HO_T), woTiles = CeilDivU(s.wo, WO_T), coTiles = CeilDivU(s.cout, COUT_T);
    coIdx = t % coTiles;
    const uint32_t woIdx = t / coTiles % woTiles, hoIdx = t / coTiles / woTiles % hoTiles;
    b = t / coTiles / woTiles / hoTiles;
    hoStart = hoIdx * HO_T;
    woStart = woIdx * WO_T;
    hoActual = hoIdx + 1 < hoTiles ? HO_T : s.ho - hoStart;
    woActual = woIdx + 1 < woTiles ? WO_T : s.wo - woStart;
    coutActual = coIdx + 1 < coTiles ? COUT_T : s.cout - coIdx * COUT_T;
    int32_t hi0 = int32_t(hoStart * s.strideH) - int32_t(s.padT);
    int32_t hi1 = int32_t((hoStart + hoActual - 1) * s.strideH + (s.kh - 1) * s.dilH) - int32_t(s.padT);
    int32_t wi0 = int32_t(woStart * s.strideW) - int32_t(s.padL);
    int32_t wi1 = int32_t((woStart + woActual - 1) * s.strideW + (s.kw - 1) * s.dilW) - int32_t(s.padL);
    if (wi0 < 0) { pads[0] = uint8_t(-wi0); wi0 = 0; }
    if (wi1 > int32_t(s.wi) - 1) { pads[1] = uint8_t(wi1 - int32_t(s.wi) + 1); wi1 = int32_t(s.wi) - 1; }
    if (hi0 < 0) { pads[2] = uint8_t(-hi0); hi0 = 0; }
    if (hi1 > int32_t(s.hi) - 1) { pads[3] = uint8_t(hi1 - int32_t(s.hi) + 1); hi1 = int32_t(s.hi) - 1; }
    hiStart = uint32_t(hi0);
    wiStart = uint32_t(wi0);
    hiActual = uint32_t(hi1 - hi0 + 1);
    wiActual = uint32_t(wi1 - wi0 + 1);
  }
  uint32_t b, coIdx, hoStart, woStart, hoActual, woActual, coutActual, hiStart, wiStart, hiActual, wiActual;
  uint8_t pads[4] = {0, 0, 0, 0};
};

// The loop's buffers: L1 for the widest input window of CIN1_L1 channel blocks and their filter planes,
// L0A / L0B for a K slice of whole Cin1 x Kh x Kw x C0 (kPerCin1 a block, cin1L0 blocks), L0C for a block.
template <class Element, class ElementAcc, uint32_t HO_T, uint32_t WO_T, uint32_t COUT_T, uint32_t CIN1_L1,
          uint32_t N_L0, uint32_t L0K_MAX>
struct ConvBuffers {
  static constexpr uint32_t C0 = BYTE_PER_C0 / sizeof(Element), HOWO_MAX = CeilDivU(HO_T * WO_T, 16) * 16;
  explicit ConvBuffers(const ConvShape& s)
      : kPerCin1(s.kh * s.kw * C0), cin1L0(L0K_MAX / kPerCin1 > 0 ? L0K_MAX / kPerCin1 : 1) {
    const uint32_t hiMax = (HO_T - 1) * s.strideH + (s.kh - 1) * s.dilH + 1;
    const uint32_t wiMax = (WO_T - 1) * s.strideW + (s.kw - 1) * s.dilW + 1;
    pipe.InitBuffer(l1A, CIN1_L1 * hiMax * wiMax * C0 * sizeof(Element));
    pipe.InitBuffer(l1B, CIN1_L1 * kPerCin1 * COUT_T * sizeof(Element));
    pipe.InitBuffer(l0A, HOWO_MAX * cin1L0 * kPerCin1 * sizeof(Element));
    pipe.InitBuffer(l0B, cin1L0 * kPerCin1 * N_L0 * sizeof(Element));
    pipe.InitBuffer(l0C, HOWO_MAX * COUT_T * sizeof(ElementAcc));
  }
  const uint32_t kPerCin1, cin1L0;
  AscendC::TPipe pipe;
  AscendC::TBuf<AscendC::TPosition::A1> l1A;
  AscendC::TBuf<AscendC::TPosition::B1> l1B;
  AscendC::TBuf<AscendC::TPosition::A2> l0A;
  AscendC::TBuf<AscendC::TPosition::B2> l0B;
  AscendC::TBuf<AscendC::TPosition::CO1> l0C;
};

// Output block: HO_T x WO_T positions x COUT_T channels; Cin1 in L1 tiles of CIN1_L1, L0 K of L0K_MAX.
template <class Element, uint32_t HO_T, uint32_t WO_T, uint32_t COUT_T, uint32_t CIN1_L1, uint32_t N_L0,
          uint32_t L0K_MAX>
struct BlockConv2d {
  using ArchTag = Arch::AtlasA2;
  using FmapType = Gemm::GemmType<Element, layout::NC1HWC0>;
  using FilterType = Gemm::GemmType<Element, layout::CI1KHKWCOCI0>;
  using OutType = Gemm::GemmType<Element, layout::NC1HWC0>;
  using TileCopy = Conv::Tile::TileCopy<ArchTag, FmapType, FilterType, OutType>;
  using TileMmad = Gemm::Tile::TileMmad<ArchTag, FmapType, FilterType, void>;
  using ElementAcc = typename TileCopy::ElementAccumulator;
  static constexpr uint32_t C0 = BYTE_PER_C0 / sizeof(Element);

  static void Run(GM_ADDR fmap, GM_ADDR filter, GM_ADDR out, const ConvShape& s) {
    AscendC::GlobalTensor<Element> gmFmap, gmFilter, gmOut;
    gmFmap.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(fmap));
    gmFilter.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(filter));
    gmOut.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(out));
    const uint32_t cout1 = CeilDivU(s.cout, C0);
    const layout::NC1HWC0 layoutFmap(s.batch, s.cin1, s.hi, s.wi, C0);
    const layout::CI1KHKWCOCI0 layoutFilter(s.cin1, s.kh, s.kw, s.cout, C0);
    const layout::NC1HWC0 layoutOut(s.batch, cout1, s.ho, s.wo, C0);
    const Conv2dFilterParams params(s.kh, s.kw, s.padL, s.padR, s.padT, s.padB, s.strideH, s.strideW, s.dilH, s.dilW);

    ConvBuffers<Element, ElementAcc, HO_T, WO_T, COUT_T, CIN1_L1, N_L0, L0K_MAX> buf(s);
    const uint32_t kPerCin1 = buf.kPerCin1, cin1L0 = buf.cin1L0;
    const auto l1A = buf.l1A.template Get<Element>();
    const auto l1B = buf.l1B.template Get<Element>();
    const auto l0A = buf.l0A.template Get<Element>();
    const auto l0B = buf.l0B.template Get<Element>();
    const auto l0C = buf.l0C.template Get<ElementAcc>();

    typename TileCopy::CopyGmToL1A copyGmToL1A;
    typename TileCopy::CopyGmToL1B copyGmToL1B;
    typename TileCopy::CopyL1ToL0A copyL1ToL0A(params);
    typename TileCopy::CopyL1ToL0B copyL1ToL0B;
    typename TileCopy::CopyL0CToGm copyL0CToGm;
    TileMmad tileMmad;

    for (uint32_t t = AscendC::GetBlockIdx(); t < ConvBlock<HO_T, WO_T, COUT_T>::Count(s); t += AscendC::GetBlockNum()) {
      ConvBlock<HO_T, WO_T, COUT_T> k(s, t);
      const uint32_t b = k.b, coIdx = k.coIdx, hoStart = k.hoStart, woStart = k.woStart, hoActual = k.hoActual;
      const uint32_t woActual = k.woActual, coutActual = k.coutActual, hiStart = k.hiStart, wiStart = k.wiStart;
      const uint32_t hiActual = k.hiActual, wiActual = k.wiActual;
      uint8_t* pads = k.pads;  // catlass takes the list non-const
      const uint32_t coutRound = CeilDivU(coutActual, 16) * 16;
      const uint32_t howoRound = CeilDivU(hoActual * woActual, 16) * 16;
      const uint32_t nParts = CeilDivU(coutRound, N_L0);

      const uint32_t cin1Tiles = CeilDivU(s.cin1, CIN1_L1);
      for (uint32_t ci = 0; ci < cin1Tiles; ++ci) {
        const uint32_t cin1Actual = ci + 1 < cin1Tiles ? CIN1_L1 : s.cin1 - ci * CIN1_L1;
        // GM -> L1: the fmap window and the filter's (cin1 tile, Kh, Kw, Cout tile).
        const auto layoutFmapInL1 = layout::NC1HWC0(1, cin1Actual, hiActual, wiActual, C0);
        const auto layoutFilterInL1 = layout::CI1KHKWCOCI0(cin1Actual, s.kh, s.kw, coutRound, C0);
        const Conv2dFmapCoord offFmap{b, ci * CIN1_L1, hiStart, wiStart, 0};
        const Conv2dFilterCoord offFilter{ci * CIN1_L1, 0, 0, coIdx * COUT_T, 0};
        copyGmToL1A(l1A, gmFmap[layoutFmap.GetOffset(offFmap)], layoutFmapInL1,
                    layoutFmap.GetTileLayout(Conv2dFmapCoord{1, cin1Actual, hiActual, wiActual, C0}));
        copyGmToL1B(l1B, gmFilter[layoutFilter.GetOffset(offFilter)], layoutFilterInL1,
                    layoutFilter.GetTileLayout(Conv2dFilterCoord{cin1Actual, s.kh, s.kw, coutActual, C0}));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        const uint32_t kParts = CeilDivU(cin1Actual, cin1L0);
        for (uint32_t kp = 0; kp < kParts; ++kp) {
          const uint32_t cin1Part = kp + 1 < kParts ? cin1L0 : cin1Actual - kp * cin1L0;
          const uint32_t kPart = cin1Part * kPerCin1;
          // L1 -> L0A: the im2col of this K slice (howo rounded up to 16 rows, as catlass loads it).
          const auto layoutFmapInL0 = layout::zZ::template MakeLayout<Element>(howoRound, kPart);
          const auto l1ATile = l1A[layoutFmapInL1.GetOffset(Conv2dFmapCoord{0, kp * cin1L0, 0, 0, 0})];
          copyL1ToL0A(l0A, l1ATile, layoutFmapInL0, layoutFmapInL1, pads);
          for (uint32_t np = 0; np < nParts; ++np) {
            const uint32_t nPart = np + 1 < nParts ? N_L0 : coutRound - np * N_L0;
            const auto layoutFilterInL0 = layout::nZ::template MakeLayout<Element>(kPart, nPart);
            const auto l1BTile = l1B[layoutFilterInL1.GetOffset(Conv2dFilterCoord{kp * cin1L0, 0, 0, np * N_L0, 0})];
            copyL1ToL0B(l0B, l1BTile, layoutFilterInL0, layoutFilterInL1);
            Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
            const auto layoutInL0C = layout::zN::MakeLayoutInL0C(MatrixCoord{howoRound, coutRound});
            tileMmad(l0C[layoutInL0C.GetOffset(MatrixCoord{0, np * N_L0})], l0A, l0B, howoRound, nPart, kPart,
                     ci == 0 && kp == 0);
            Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
          }
        }
        Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
      }
      // L0C -> GM: the block's Ho x Wo rows of every Cout1 plane (NZ fixpipe, one call a row of Ho).
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      const Conv2dFmapCoord offOut{b, coIdx * COUT_T / C0, hoStart, woStart, 0};
      copyL0CToGm(gmOut[layoutOut.GetOffset(offOut)], l0C,
                  layoutOut.GetTileLayout(Conv2dFmapCoord{1, coutRound / C0, hoActual, woActual, C0}));
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }
};


// The same loop through the tla forms: Conv::Tile::PackedTileCopyTla (CopyGmToL1ATla, CopyGmToL1BTla,
// CopyL1ToL0ATla, CopyL1ToL0BTla, CopyL0CToGmTla) and Gemm::Tile::TileMmadTla on tla tensors, as
// catlass's BlockConv2dTla drives them: L0A / L0C shaped by the unrounded Ho x Wo, L0B and the Mmad
// by the unrounded Cout part.
template <class Element, uint32_t HO_T, uint32_t WO_T, uint32_t COUT_T, uint32_t CIN1_L1, uint32_t N_L0,
          uint32_t L0K_MAX>
struct BlockConv2dTla {
  using ArchTag = Arch::AtlasA2;
  using TileCopy = Conv::Tile::PackedTileCopyTla<ArchTag, Element, layout::NC1HWC0, Element, layout::CI1KHKWCOCI0,
                                                  Element, layout::NC1HWC0>;
  using TileMmad = Gemm::Tile::TileMmadTla<ArchTag, Element, layout::NC1HWC0>;
  using ElementAcc = typename TileCopy::ElementAccumulator;
  static constexpr uint32_t C0 = BYTE_PER_C0 / sizeof(Element);

  static void Run(GM_ADDR fmap, GM_ADDR filter, GM_ADDR out, const ConvShape& s) {
    AscendC::GlobalTensor<Element> gmFmap, gmFilter, gmOut;
    gmFmap.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(fmap));
    gmFilter.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(filter));
    gmOut.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(out));
    const uint32_t cout1 = CeilDivU(s.cout, C0);
    auto tensorFmap =
        tla::MakeTensor(gmFmap, tla::MakeLayoutFmap<Element>(s.batch, s.cin1, s.hi, s.wi), Arch::PositionGM{});
    auto tensorFilter = tla::MakeTensor(
        gmFilter, tla::MakeLayoutFilter<Element, Arch::PositionGM>(s.cin1, s.kh, s.kw, s.cout), Arch::PositionGM{});
    auto tensorOut =
        tla::MakeTensor(gmOut, tla::MakeLayoutFmap<Element>(s.batch, cout1, s.ho, s.wo), Arch::PositionGM{});
    const Conv2dFilterParams params(s.kh, s.kw, s.padL, s.padR, s.padT, s.padB, s.strideH, s.strideW, s.dilH, s.dilW);

    ConvBuffers<Element, ElementAcc, HO_T, WO_T, COUT_T, CIN1_L1, N_L0, L0K_MAX> buf(s);
    const uint32_t kPerCin1 = buf.kPerCin1, cin1L0 = buf.cin1L0;

    typename TileCopy::CopyGmToL1A copyGmToL1A;
    typename TileCopy::CopyGmToL1B copyGmToL1B;
    typename TileCopy::CopyL1ToL0A copyL1ToL0A(params);
    typename TileCopy::CopyL1ToL0B copyL1ToL0B;
    TileMmad tileMmad;

    for (uint32_t t = AscendC::GetBlockIdx(); t < ConvBlock<HO_T, WO_T, COUT_T>::Count(s); t += AscendC::GetBlockNum()) {
      ConvBlock<HO_T, WO_T, COUT_T> k(s, t);
      const uint32_t b = k.b, coIdx = k.coIdx, hoStart = k.hoStart, woStart = k.woStart, hoActual = k.hoActual;
      const uint32_t woActual = k.woActual, coutActual = k.coutActual, hiStart = k.hiStart, wiStart = k.wiStart;
      const uint32_t hiActual = k.hiActual, wiActual = k.wiActual;
      uint8_t* pads = k.pads;  // catlass takes the list non-const
      const uint32_t howo = hoActual * woActual;
      const uint32_t nParts = CeilDivU(coutActual, N_L0);

      auto tensorL1A = tla::MakeTensor(buf.l1A.template Get<Element>(),
                                       tla::MakeLayoutFmap<Element>(1u, CIN1_L1, hiActual, wiActual),
                                       Arch::PositionL1{});
      auto tensorL1B = tla::MakeTensor(
          buf.l1B.template Get<Element>(), tla::MakeLayoutFilter<Element, Arch::PositionL1>(CIN1_L1, s.kh, s.kw, coutActual),
          Arch::PositionL1{});
      auto tensorL0C =
          tla::MakeTensor(buf.l0C.template Get<ElementAcc>(), tla::MakeLayoutL0C(howo, coutActual), Arch::PositionL0C{});
      const uint32_t cin1Tiles = CeilDivU(s.cin1, CIN1_L1);
      for (uint32_t ci = 0; ci < cin1Tiles; ++ci) {
        const uint32_t cin1Actual = ci + 1 < cin1Tiles ? CIN1_L1 : s.cin1 - ci * CIN1_L1;
        // The whole L1 tensors as dst, as BlockConv2dTla passes them (CopyGmToL1BTla takes coutRound from it).
        copyGmToL1A(tensorL1A,
                    tla::GetTile(tensorFmap, tla::MakeCoord(b, ci * CIN1_L1, hiStart, wiStart, 0u),
                                 tla::MakeShape(1u, cin1Actual, hiActual, wiActual, C0)));
        copyGmToL1B(tensorL1B,
                    tla::GetTile(tensorFilter, tla::MakeCoord(ci * CIN1_L1, 0u, 0u, coIdx * COUT_T, 0u),
                                 tla::MakeShape(cin1Actual, uint32_t(s.kh), uint32_t(s.kw), coutActual, C0)));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        const uint32_t kParts = CeilDivU(cin1Actual, cin1L0);
        for (uint32_t kp = 0; kp < kParts; ++kp) {
          const uint32_t cin1Part = kp + 1 < kParts ? cin1L0 : cin1Actual - kp * cin1L0;
          const uint32_t kPart = cin1Part * kPerCin1;
          auto tensorL0A = tla::MakeTensor(buf.l0A.template Get<Element>(), tla::MakeLayout<Element, layout::zZ>(howo, kPart),
                                           Arch::PositionL0A{});
          copyL1ToL0A(tensorL0A,
                      tla::GetTile(tensorL1A, tla::MakeCoord(0u, kp * cin1L0, 0u, 0u, 0u),
                                   tla::MakeShape(1u, cin1Part, hiActual, wiActual, C0)),
                      pads);
          for (uint32_t np = 0; np < nParts; ++np) {
            const uint32_t nPart = np + 1 < nParts ? N_L0 : coutActual - np * N_L0;
            auto tensorL0B = tla::MakeTensor(buf.l0B.template Get<Element>(), tla::MakeLayout<Element, layout::nZ>(kPart, nPart),
                                             Arch::PositionL0B{});
            copyL1ToL0B(tensorL0B, tla::GetTile(tensorL1B, tla::MakeCoord(kp * cin1L0, 0u, 0u, np * N_L0, 0u),
                                                tla::MakeShape(cin1Part, uint32_t(s.kh), uint32_t(s.kw), nPart, C0)));
            Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
            // TileMmadTla passes l0CTensor.data() to Mmad and ignores the tensor's coordinate, so an
            // N part goes in as a tensor starting at its own columns (a GetTile of tensorL0C would land
            // every part on column 0).
            auto tensorTileL0C = tla::MakeTensor(buf.l0C.template Get<ElementAcc>()[np * N_L0 * CeilDivU(howo, 16) * 16],
                                                 tla::MakeLayoutL0C(howo, nPart), Arch::PositionL0C{});
            tileMmad(tensorTileL0C, tensorL0A, tensorL0B, howo, nPart, kPart, ci == 0 && kp == 0);
            Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
          }
        }
        Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
      }
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      auto tileOut = tla::GetTile(tensorOut, tla::MakeCoord(b, coIdx * COUT_T / C0, hoStart, woStart, 0u),
                                  tla::MakeShape(1u, CeilDivU(coutActual, C0), hoActual, woActual, C0));
      typename TileCopy::template CopyL0CToGm<decltype(tileOut)> copyL0CToGm;
      copyL0CToGm(tileOut, tensorL0C);
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }
};

}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_conv2d)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  if constexpr (g_coreType == AscendC::AIC) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    const ConvShape& s = *reinterpret_cast<const ConvShape*>(ws);
    // Output block 4 x 8 positions x 48 channels (three N parts of 16 at most), 2 Cin1 per L1 tile,
    // L0 K up to 288 (two Cin1 of a 3 x 3 filter).
    switch (p.variant) {
      case kHalf: BlockConv2d<half, 4, 8, 48, 2, 16, 288>::Run(a, b, c, s); break;
      case kBf16: BlockConv2d<bfloat16_t, 4, 8, 48, 2, 16, 288>::Run(a, b, c, s); break;
      case kHalfTla: BlockConv2dTla<half, 4, 8, 48, 2, 16, 288>::Run(a, b, c, s); break;
      default: BlockConv2dTla<bfloat16_t, 4, 8, 48, 2, 16, 288>::Run(a, b, c, s); break;
    }
  }
}
