// Conformance kernels (AIC): GEMMs built from catlass's tla tile copies for Arch::AtlasA2 (Huawei's
// AscendC code from the ascend-catlass-dsl wheel), the bias-table path, and the L0C -> GM modes
// catlass_kernels.cpp does not reach.
//
// catlass's: Gemm::Tile::PackedTileCopyTla (its CopyGmToL1A / CopyGmToL1B / CopyL1ToL0A / CopyL1ToL0B
// are the TileCopyTla specializations of gemm/tile/atlasa2/copy_gm_to_l1.hpp, copy_l1_to_l0a.hpp,
// copy_l1_to_l0b.hpp), CopyL0CToGmTla (RowMajor and zN), TileMmadTla (with and without bias), the bias
// copies CopyGmToL1<VectorLayout> + CopyL1ToBT, and the non-tla CopyL0CToGm (PER_TENSOR, zN, relu).
// Ours: the block loop, in the style of upstream catlass's BlockMmadTla (block_mmad_pingpong_tla.hpp,
// one stage): L1 tiles of L1M x L1N x L1K, the K loop in L0K slices, the bias loaded into the bias
// table for the first K slice only, m == 1 padded to 16 rows (no GEMV).
// The wheel's PackedTileCopyTla bias aliases (CopyGmToL1Bias, CopyL1ToBT as TileCopyTla) have no
// Atlas A2 specialization, so the bias goes through the non-tla copies as TileCopy's aliases do.
#include "catlass_conf.h"
#include "catlass/gemm/tile/copy_l1_to_bt.hpp"
#include "tla/layout.hpp"
#include "tla/tensor.hpp"

namespace {
using ArchTag = Arch::AtlasA2;
using Gemm::Tile::ScaleGranularity;
using AscendC::HardEvent;

// Where an output tile lies: offsets in C, its actual rows / columns, and the rows Mmad ran on.
struct TileAt {
  uint32_t m, n, mOff, nOff, mAct, nAct, mMmad;
};

// L0C -> GM through catlass's tla copy: NO_QUANT, RowMajor or zN destination (by TagC), optional relu.
template <bool kRelu = false>
struct OutTla {
  template <class EC, class TagC, class EAcc>
  static void Store(GM_ADDR c, const TileAt& t, const AscendC::LocalTensor<EAcc>& l0c, float) {
    auto tC = tla::MakeTensor(Gm<EC>(c), tla::MakeLayout<EC, TagC>(t.m, t.n), Arch::PositionGM{});
    auto tileC = tla::GetTile(tC, tla::MakeCoord(t.mOff, t.nOff), tla::MakeShape(t.mAct, t.nAct));
    auto tL0C = tla::MakeTensor(l0c, tla::MakeLayoutL0C(t.mMmad, t.nAct), Arch::PositionL0C{});
    Gemm::Tile::CopyL0CToGmTla<ArchTag, decltype(tL0C), decltype(tileC), ScaleGranularity::NO_QUANT, kRelu>{}(tileC,
                                                                                                              tL0C);
  }
};

// L0C -> GM through the non-tla CopyL0CToGm<..., G, relu> (RowMajor or zN by TagC); PER_TENSOR takes
// the scale (catlass's Params(float)).
template <ScaleGranularity G, bool kRelu = false>
struct OutLegacy {
  template <class EC, class TagC, class EAcc>
  static void Store(GM_ADDR c, const TileAt& t, const AscendC::LocalTensor<EAcc>& l0c, float scale) {
    using Copy = Gemm::Tile::CopyL0CToGm<ArchTag, EAcc, Gemm::GemmType<EC, TagC>, G, kRelu>;
    const auto layoutC = [&] {
      if constexpr (std::is_same_v<TagC, layout::zN>) return layout::zN::template MakeLayout<EC>(t.m, t.n);
      else return layout::RowMajor(t.m, t.n);
    }();
    const auto layoutL0C = layout::zN::MakeLayoutInL0C(MatrixCoord{t.mMmad, t.nAct});
    const auto gmTile = Gm<EC>(c)[layoutC.GetOffset(MatrixCoord{t.mOff, t.nOff})];
    const auto layoutTile = layoutC.GetTileLayout(MatrixCoord{t.mAct, t.nAct});
    if constexpr (G == ScaleGranularity::PER_TENSOR) Copy{typename Copy::Params(scale)}(gmTile, l0c, layoutTile, layoutL0C);
    else Copy{}(gmTile, l0c, layoutTile, layoutL0C);
  }
};

// C [m, n] = A [m, k] B [k, n] (+ bias [n]) on this core's output tiles. A / B / C layouts by tag
// (ColumnMajor A is [k, m] in GM, ColumnMajor B is [n, k]). ws: the bias (EBias [n], padded) or the
// PER_TENSOR scale (float at ws[0]).
template <class EA, class TagA, class EB, class TagB, class EC, class TagC, class Out, uint32_t L1M, uint32_t L1N,
          uint32_t L1K, uint32_t L0K, class EBias = void>
struct TlaGemm {
  using TileCopy = Gemm::Tile::PackedTileCopyTla<ArchTag, EA, TagA, EB, TagB, EC, TagC>;
  using EAcc = typename TileCopy::ElementAccumulator;
  using TileMmad = Gemm::Tile::TileMmadTla<ArchTag, EA, typename TileCopy::LayoutTagL1A>;
  static constexpr bool kBias = !std::is_void_v<EBias>;
  // Upstream BlockMmadTla's A2 checks: L1 tile sides of whole 32 B.
  static_assert(L1M * sizeof(EA) % 32 == 0 && L1K * sizeof(EA) % 32 == 0 && L1N * sizeof(EB) % 32 == 0 &&
                L0K * sizeof(EB) % 32 == 0 && L1K % L0K == 0);
  static constexpr uint32_t kL1A = L1M * L1K * sizeof(EA), kL1B = L1K * L1N * sizeof(EB);
  static_assert(L1M * L0K * sizeof(EA) <= ArchTag::L0A_SIZE && L0K * L1N * sizeof(EB) <= ArchTag::L0B_SIZE &&
                L1M * L1N * sizeof(EAcc) <= ArchTag::L0C_SIZE && L1N * sizeof(EAcc) <= ArchTag::BIAS_SIZE);

  static void Run(Arch::Resource<ArchTag>& res, GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, const GemmArgs& p) {
    const uint32_t m = p.m, n = p.n, k = p.k;
    auto tA = tla::MakeTensor(Gm<EA>(a), tla::MakeLayout<EA, TagA>(m, k), Arch::PositionGM{});
    auto tB = tla::MakeTensor(Gm<EB>(b), tla::MakeLayout<EB, TagB>(k, n), Arch::PositionGM{});
    auto l1A = tla::MakeTensor(res.l1Buf.template GetBufferByByte<EA>(0),
                               tla::MakeLayout<EA, typename TileCopy::LayoutTagL1A>(L1M, L1K), Arch::PositionL1{});
    auto l1B = tla::MakeTensor(res.l1Buf.template GetBufferByByte<EB>(kL1A),
                               tla::MakeLayout<EB, typename TileCopy::LayoutTagL1B>(L1K, L1N), Arch::PositionL1{});
    const auto l0a = res.l0ABuf.template GetBufferByByte<EA>(0);
    const auto l0b = res.l0BBuf.template GetBufferByByte<EB>(0);
    const auto l0c = res.l0CBuf.template GetBufferByByte<EAcc>(0);
    const float scale = std::is_void_v<EBias> && ws ? *reinterpret_cast<__gm__ float*>(ws) : 1.0f;
    typename TileCopy::CopyL1ToL0A copyL1ToL0A;
    typename TileCopy::CopyL1ToL0B copyL1ToL0B;
    TileMmad tileMmad;

    const uint32_t mTiles = CeilDiv(m, L1M), nTiles = CeilDiv(n, L1N), kTiles = CeilDiv(k, L1K);
    for (uint32_t t = AscendC::GetBlockIdx(); t < mTiles * nTiles; t += AscendC::GetBlockNum()) {
      const uint32_t mOff = t / nTiles * L1M, nOff = t % nTiles * L1N;
      const uint32_t mAct = std::min(L1M, m - mOff), nAct = std::min(L1N, n - nOff);
      const uint32_t mMmad = mAct == 1 ? 16 : mAct;  // A2: m == 1 would run Mmad as a GEMV (as upstream)
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
        const uint32_t kOff = kIdx * L1K, kAct = std::min(L1K, k - kOff);
        auto tileA = tla::GetTile(tA, tla::MakeCoord(mOff, kOff), tla::MakeShape(mAct, kAct));
        auto tileB = tla::GetTile(tB, tla::MakeCoord(kOff, nOff), tla::MakeShape(kAct, nAct));
        typename TileCopy::template CopyGmToL1A<decltype(tileA)>{}(l1A, tileA);
        typename TileCopy::template CopyGmToL1B<decltype(tileB)>{}(l1B, tileB);
        if constexpr (kBias) {
          if (kIdx == 0) LoadBias(res, ws, nOff, nAct);
        }
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        const uint32_t kParts = CeilDiv(kAct, L0K);
        for (uint32_t kp = 0; kp < kParts; ++kp) {
          const uint32_t kPart = std::min(L0K, kAct - kp * L0K);
          auto l0A = tla::MakeTensor(l0a, tla::MakeLayout<EA, typename TileCopy::LayoutTagL0A>(mMmad, kPart),
                                     Arch::PositionL0A{});
          auto l0B = tla::MakeTensor(l0b, tla::MakeLayout<EB, typename TileCopy::LayoutTagL0B>(kPart, nAct),
                                     Arch::PositionL0B{});
          copyL1ToL0A(l0A, tla::GetTile(l1A, tla::MakeCoord(0u, kp * L0K), tla::MakeShape(mMmad, kPart)));
          copyL1ToL0B(l0B, tla::GetTile(l1B, tla::MakeCoord(kp * L0K, 0u), tla::MakeShape(kPart, nAct)));
          const bool first = kIdx == 0 && kp == 0;
          if constexpr (kBias) {
            if (first) StoreBiasTable(res, nAct);
          }
          Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
          auto tL0C = tla::MakeTensor(l0c, tla::MakeLayoutL0C(mMmad, nAct), Arch::PositionL0C{});
          if constexpr (kBias) {
            if (first) {  // C starts from the bias row (TileMmadTla's bias overload: cmatrixInitVal false)
              auto l0Bias = tla::MakeTensor(res.btBuf.template GetBufferByByte<EAcc>(0), tla::MakeLayout(L1N),
                                            Arch::PositionBias{});
              tileMmad(tL0C, l0A, l0B, l0Bias, mMmad, nAct, kPart);
            } else {
              tileMmad(tL0C, l0A, l0B, mMmad, nAct, kPart, false);
            }
          } else {
            tileMmad(tL0C, l0A, l0B, mMmad, nAct, kPart, first);
          }
          Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
        }
        Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
      }
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      Out::template Store<EC, TagC>(c, TileAt{m, n, mOff, nOff, mAct, nAct, mMmad}, l0c, scale);
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }

  // The bias tile in whole 64 B (one bias-table block of the source type), so the table covers every
  // column Mmad computes; the GM vector is padded to them.
  static constexpr uint32_t BiasLen(uint32_t nAct) {
    constexpr uint32_t kPerC2 = BYTE_PER_C2 / sizeof(std::conditional_t<kBias, EBias, float>);
    return CeilDiv(nAct, kPerC2) * kPerC2;
  }
  using EBiasT = std::conditional_t<kBias, EBias, float>;
  static void LoadBias(Arch::Resource<ArchTag>& res, GM_ADDR ws, uint32_t nOff, uint32_t nAct) {
    using GmT = Gemm::GemmType<EBiasT, layout::VectorLayout, AscendC::TPosition::GM>;
    using L1T = Gemm::GemmType<EBiasT, layout::VectorLayout, AscendC::TPosition::A1>;
    const layout::VectorLayout len(BiasLen(nAct));
    Gemm::Tile::CopyGmToL1<ArchTag, GmT, L1T>{}(res.l1Buf.template GetBufferByByte<EBiasT>(kL1A + kL1B),
                                                Gm<EBiasT>(ws)[nOff], len, len);
  }
  static void StoreBiasTable(Arch::Resource<ArchTag>& res, uint32_t nAct) {
    using L1T = Gemm::GemmType<EBiasT, layout::VectorLayout, AscendC::TPosition::A1>;
    using BtT = Gemm::GemmType<EAcc, layout::VectorLayout, AscendC::TPosition::C2>;
    const layout::VectorLayout len(BiasLen(nAct));
    Gemm::Tile::CopyL1ToBT<ArchTag, L1T, BtT>{}(res.btBuf.template GetBufferByByte<EAcc>(0),
                                                res.l1Buf.template GetBufferByByte<EBiasT>(kL1A + kL1B), len, len);
  }
};

using RM = layout::RowMajor;
using CM = layout::ColumnMajor;
using ZN = layout::zN;
using Deq = OutLegacy<ScaleGranularity::PER_TENSOR>;
using DeqRelu = OutLegacy<ScaleGranularity::PER_TENSOR, true>;
using PlainRelu = OutLegacy<ScaleGranularity::NO_QUANT, true>;
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_gemm_tla)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  if constexpr (g_coreType == AscendC::AIC) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    Arch::Resource<ArchTag> res;
    switch (p.variant) {
      // tla tiles, CopyL0CToGmTla RowMajor
      case 0: TlaGemm<half, RM, half, RM, float, RM, OutTla<>, 48, 64, 96, 48>::Run(res, a, b, c, ws, p); break;
      case 1: TlaGemm<half, CM, half, CM, half, RM, OutTla<>, 64, 48, 64, 32>::Run(res, a, b, c, ws, p); break;
      case 2: TlaGemm<bfloat16_t, RM, bfloat16_t, CM, bfloat16_t, RM, OutTla<>, 32, 80, 128, 64>::Run(res, a, b, c, ws, p); break;
      case 3: TlaGemm<bfloat16_t, CM, bfloat16_t, RM, float, RM, OutTla<>, 48, 32, 64, 64>::Run(res, a, b, c, ws, p); break;
      case 4: TlaGemm<int8_t, RM, int8_t, RM, int32_t, RM, OutTla<>, 64, 64, 128, 64>::Run(res, a, b, c, ws, p); break;
      case 5: TlaGemm<int8_t, CM, int8_t, CM, int32_t, RM, OutTla<>, 32, 64, 256, 128>::Run(res, a, b, c, ws, p); break;
      case 6: TlaGemm<int8_t, CM, int8_t, RM, int32_t, RM, OutTla<>, 64, 32, 96, 32>::Run(res, a, b, c, ws, p); break;
      case 7: TlaGemm<half, RM, half, CM, half, RM, OutTla<true>, 48, 64, 96, 48>::Run(res, a, b, c, ws, p); break;
      // CopyL0CToGmTla zN (F322F16; float -> float with isChannelSplit)
      case 8: TlaGemm<half, RM, half, RM, half, ZN, OutTla<>, 48, 64, 96, 48>::Run(res, a, b, c, ws, p); break;
      case 9: TlaGemm<bfloat16_t, RM, bfloat16_t, CM, float, ZN, OutTla<>, 32, 48, 64, 32>::Run(res, a, b, c, ws, p); break;
      // bias: GM -> L1 -> bias table, TileMmadTla with bias
      case 10: TlaGemm<half, RM, half, CM, float, RM, OutTla<>, 48, 64, 96, 48, half>::Run(res, a, b, c, ws, p); break;
      case 11: TlaGemm<bfloat16_t, CM, bfloat16_t, RM, bfloat16_t, RM, OutTla<>, 32, 80, 64, 32, float>::Run(res, a, b, c, ws, p); break;
      case 12: TlaGemm<int8_t, RM, int8_t, RM, int32_t, RM, OutTla<>, 64, 64, 128, 64, int32_t>::Run(res, a, b, c, ws, p); break;
      // non-tla CopyL0CToGm: PER_TENSOR (DEQF16; F322F16), NO_QUANT zN with relu
      case 13: TlaGemm<int8_t, RM, int8_t, CM, half, RM, Deq, 64, 64, 128, 64>::Run(res, a, b, c, ws, p); break;
      case 14: TlaGemm<int8_t, RM, int8_t, CM, half, RM, DeqRelu, 64, 64, 128, 64>::Run(res, a, b, c, ws, p); break;
      case 15: TlaGemm<half, RM, half, CM, half, RM, Deq, 48, 64, 96, 48>::Run(res, a, b, c, ws, p); break;
      case 16: TlaGemm<half, RM, half, CM, float, ZN, PlainRelu, 48, 64, 96, 48>::Run(res, a, b, c, ws, p); break;
      // float: A zN -> zZ by Load3D (a 1 x 1 filter), B ColumnMajor nZ -> nZ by LoadData 2D
      case 17: TlaGemm<float, RM, float, CM, float, RM, OutTla<>, 32, 32, 64, 32>::Run(res, a, b, c, ws, p); break;
      default: AscendC::emu::Fail("catlass_gemm_tla", "test", "unknown variant");
    }
  }
}
