// Conformance kernels for catlass's GEMV tile operators (catlass/gemv/tile/*, Arch::AtlasA2).
//
// What is catlass here: every copy and every vector instruction goes through
// Catlass::Gemv::Tile::{VecCopyGmToUB, VecCopyUBToGm (plain and atomic), MatrixCopyGmToUB (RowMajor,
// ColumnMajor), TileCopyGemvAiv, TileVmad (the four A2 specialisations), TileVmuls} on AIV cores, and
// every copy and Mmad of the cube GEMV through TileCopyGemvAic and Gemm::Tile::TileMmad on AIC cores.
// What is written here: the block loops (the wheel ships no gemv/block or gemv/kernel headers), in
// the style of catlass's BlockGemv for GemvAtlasA2: y = alpha * A x + beta * y_in, UB tiles of A
// double-buffered, x scaled by alpha per tile, y accumulated in UB in the element type by TileVmad;
// ColumnMajor A splits the reduction across cores and adds its partial y to GM atomically.
#include "catlass_conf.h"

#include "catlass/gemv/helper.hpp"
#include "catlass/gemv/tile/tile_copy.hpp"
#include "catlass/gemv/tile/tile_vmad.hpp"
#include "catlass/gemv/tile/tile_vmuls.hpp"

namespace {

using AscendC::HardEvent;

// ---- GEMV --------------------------------------------------------------------------------------------
// GM: a = A [m, n] (row-major, or column-major: n columns of m), b = x [n], c = y [m] (column-major:
// holds y_in before the launch, the cores add to it), ws = {float alpha, float beta} then y_in at byte
// 64. GemmArgs: m, n (the reduction length, catlass's GemvCoord::n), k = splits of n (column-major).
// Every GM image is padded past its end: catlass's copies read whole 32-byte blocks.
enum GemvVariant : uint32_t { kHalfRow = 0, kFloatRow = 1, kHalfCol = 2, kFloatCol = 3 };

constexpr uint32_t kStages = 2;
constexpr uint32_t kYReadOffset = 64;  // bytes of the ws header

template <class Element, class LayoutA, uint32_t TILE_M, uint32_t TILE_N>
struct BlockGemv {
  using ArchTag = Arch::AtlasA2;
  using AType = Gemm::GemmType<Element, LayoutA>;
  using VType = Gemm::GemmType<Element, layout::VectorLayout>;
  using TileCopy = Gemv::Tile::TileCopyGemvAiv<ArchTag, AType, VType, VType>;
  using TileVmad = Gemv::Tile::TileVmad<ArchTag, AType, VType, VType>;
  using TileVmuls = Gemv::Tile::TileVmuls<ArchTag, VType>;
  using ElementAcc = typename TileCopy::ElementAccumulator;
  static constexpr bool kColumnMajor = std::is_same_v<LayoutA, layout::ColumnMajor>;
  static_assert(TileCopy::is_atoadd == kColumnMajor, "catlass adds column-major partial sums atomically");
  static constexpr uint32_t ALIGN = Gemv::helper::UBAlignHelper<Element>::ALIGN;
  static constexpr uint32_t M_ROUND = RoundUp(TILE_M, ALIGN), N_ROUND = RoundUp(TILE_N, ALIGN);
  // TileVmad's last Add runs whole 256-byte repeats over y; the half row-major one keeps 64 float
  // lanes per row in temp.
  static constexpr uint32_t Y_LEN = RoundUp(M_ROUND, 256 / sizeof(Element));
  static constexpr uint32_t TEMP_LEN = M_ROUND * 64;
  // Event ids: A stages 0-1, x stages 2-3 (MTE2 <-> V); y 4 (MTE2 -> V), 0 (V -> MTE3, MTE3 -> MTE2).
  static constexpr event_t kEvA[kStages] = {EVENT_ID0, EVENT_ID1}, kEvX[kStages] = {EVENT_ID2, EVENT_ID3};

  static void Run(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, const GemmArgs& p) {
    const uint32_t m = p.m, n = p.n, splits = kColumnMajor ? p.k : 1;
    AscendC::GlobalTensor<Element> gmA, gmX, gmY, gmYIn;
    AscendC::GlobalTensor<float> gmHeader;
    gmA.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(a));
    gmX.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(b));
    gmY.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(c));
    gmHeader.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws));
    gmYIn.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(ws + kYReadOffset));
    const float alpha = gmHeader.GetValue(0), beta = gmHeader.GetValue(1);
    const LayoutA layoutA(m, n);

    AscendC::TPipe pipe;
    AscendC::TBuf<AscendC::TPosition::VECCALC> bufA, bufX, bufY, bufTemp;
    pipe.InitBuffer(bufA, kStages * M_ROUND * N_ROUND * sizeof(Element));
    pipe.InitBuffer(bufX, kStages * N_ROUND * sizeof(Element));
    pipe.InitBuffer(bufY, Y_LEN * sizeof(Element));
    pipe.InitBuffer(bufTemp, TEMP_LEN * sizeof(ElementAcc));
    AscendC::LocalTensor<Element> ubA[kStages], ubX[kStages];
    for (uint32_t s = 0; s < kStages; ++s) {
      ubA[s] = bufA.Get<Element>()[s * M_ROUND * N_ROUND];
      ubX[s] = bufX.Get<Element>()[s * N_ROUND];
    }
    const auto ubY = bufY.Get<Element>();
    const auto ubTemp = bufTemp.Get<ElementAcc>();

    typename TileCopy::VecCopyGmToUb vecCopyGmToUb;
    typename TileCopy::VecCopyUbToGm vecCopyUbToGm;
    typename TileCopy::MatrixCopyGmToUb matrixCopyGmToUb;
    TileVmad tileVmad;
    TileVmuls tileVmuls;

    // As catlass's block does: every buffer starts free, so each load waits for its release.
    for (uint32_t s = 0; s < kStages; ++s) {
      AscendC::SetFlag<HardEvent::V_MTE2>(kEvA[s]);
      AscendC::SetFlag<HardEvent::V_MTE2>(kEvX[s]);
    }
    AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);

    uint32_t stage = 0;
    const uint32_t mBlocks = CeilDivU(m, M_ROUND);
    for (uint32_t unit = AscendC::GetBlockIdx(); unit < mBlocks * splits; unit += AscendC::GetBlockNum()) {
      const uint32_t mIdx = unit / splits, sIdx = unit % splits;
      const uint32_t mActual = mIdx + 1 < mBlocks ? M_ROUND : m - mIdx * M_ROUND;
      const uint32_t nBegin = uint64_t(sIdx) * n / splits, nLen = uint64_t(sIdx + 1) * n / splits - nBegin;
      // y in UB starts as beta * y_in. Column-major adds to GM, which holds y_in: its first split adds
      // (beta - 1) * y_in, the others 0 * y_in (catlass's KernelGemvAiv).
      const float yScale = kColumnMajor ? (sIdx == 0 ? beta - 1.0f : 0.0f) : beta;
      AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
      vecCopyGmToUb(ubY, gmYIn[mIdx * M_ROUND], mActual);
      Sync<AscendC::HardEvent::MTE2_V>(EVENT_ID4);
      tileVmuls(ubY, ubY, static_cast<Element>(yScale), mActual);
      AscendC::PipeBarrier<PIPE_V>();

      const uint32_t nTiles = CeilDivU(nLen, N_ROUND);
      auto load = [&](uint32_t t, uint32_t s) {
        const uint32_t nActual = t + 1 < nTiles ? N_ROUND : nLen - t * N_ROUND;
        const MatrixCoord origin{mIdx * M_ROUND, nBegin + t * N_ROUND};
        AscendC::WaitFlag<HardEvent::V_MTE2>(kEvX[s]);
        vecCopyGmToUb(ubX[s], gmX[origin.column()], nActual);
        AscendC::SetFlag<HardEvent::MTE2_V>(kEvX[s]);
        AscendC::WaitFlag<HardEvent::V_MTE2>(kEvA[s]);
        matrixCopyGmToUb(ubA[s], gmA[layoutA.GetOffset(origin)], LayoutA(M_ROUND, N_ROUND),
                         layoutA.GetTileLayout(MatrixCoord{mActual, nActual}));
        AscendC::SetFlag<HardEvent::MTE2_V>(kEvA[s]);
      };
      load(0, stage);
      for (uint32_t t = 0; t < nTiles; ++t) {
        const uint32_t nActual = t + 1 < nTiles ? N_ROUND : nLen - t * N_ROUND;
        const uint32_t next = (stage + 1) % kStages;
        if (t + 1 < nTiles) load(t + 1, next);  // the next tile's copies overlap this tile's compute
        AscendC::WaitFlag<HardEvent::MTE2_V>(kEvX[stage]);
        tileVmuls(ubX[stage], ubX[stage], static_cast<Element>(alpha), nActual);
        AscendC::PipeBarrier<PIPE_V>();
        AscendC::WaitFlag<HardEvent::MTE2_V>(kEvA[stage]);
        tileVmad(ubY, ubX[stage], ubA[stage], ubTemp, LayoutA(M_ROUND, N_ROUND), LayoutA(mActual, nActual));
        AscendC::PipeBarrier<PIPE_V>();
        AscendC::SetFlag<HardEvent::V_MTE2>(kEvA[stage]);
        AscendC::SetFlag<HardEvent::V_MTE2>(kEvX[stage]);
        stage = next;
      }
      Sync<AscendC::HardEvent::V_MTE3>(EVENT_ID0);
      const layout::VectorLayout layoutY(mActual);
      vecCopyUbToGm(gmY[mIdx * M_ROUND], ubY, layoutY, layoutY);
      AscendC::SetFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
    }
    for (uint32_t s = 0; s < kStages; ++s) {
      AscendC::WaitFlag<HardEvent::V_MTE2>(kEvA[s]);
      AscendC::WaitFlag<HardEvent::V_MTE2>(kEvX[s]);
    }
    AscendC::WaitFlag<HardEvent::MTE3_MTE2>(EVENT_ID0);
  }

  static constexpr uint32_t CeilDivU(uint32_t x, uint32_t y) { return (x + y - 1) / y; }
};

// ---- the copy operators alone ---------------------------------------------------------------------------
// variant = dtype * 8 + op; dtype 0 half, 1 bf16, 2 float, 3 int8, 4 int16, 5 int32.
// op 0: each core copies x[i*m, (i+1)*m) GM -> UB -> GM (VecCopyGmToUB, VecCopyUBToGm).
// op 1: each core adds its segment x[i*m, (i+1)*m) to y[0, m) (VecCopyUBToGm<..., true>).
// op 4: as op 0 with TileVmuls (y = x * scalar) between; the scalar's bits are GemmArgs::k.
// op 2 / 3: MatrixCopyGmToUB, RowMajor / ColumnMajor: core i copies an m x n tile with leading
// dimension k starting at element i * (m or n) * k; the UB tile (rows padded to a block plus one
// block, or columns padded likewise) goes to y[i * tile] whole, as it lies in UB.
enum CopyOp : uint32_t { kVec = 0, kVecAtomic = 1, kMatRow = 2, kMatCol = 3, kVmuls = 4 };

template <class Element>
struct CopyKernels {
  using ArchTag = Arch::AtlasA2;
  using VType = Gemm::GemmType<Element, layout::VectorLayout>;
  static constexpr uint32_t C0 = BYTE_PER_C0 / sizeof(Element);
  static constexpr uint32_t kUbBytes = 96 * 1024;
  // Muls on A2: half, float, int16, int32 (Muls.md); TileVmuls of another type does not compile.
  static constexpr bool kHasMuls = std::is_same_v<Element, half> || std::is_same_v<Element, float> ||
                                   std::is_same_v<Element, int16_t> || std::is_same_v<Element, int32_t>;

  static void Run(GM_ADDR b, GM_ADDR c, uint32_t op, const GemmArgs& p) {
    AscendC::GlobalTensor<Element> gmIn, gmOut;
    gmIn.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(b));
    gmOut.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(c));
    AscendC::TPipe pipe;
    AscendC::TBuf<AscendC::TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, kUbBytes);
    const auto ub = buf.Get<Element>();
    const uint32_t core = AscendC::GetBlockIdx();
    const layout::VectorLayout layoutV(p.m);
    if (op == kVec || op == kVecAtomic || op == kVmuls) {
      Gemv::Tile::VecCopyGmToUB<ArchTag, VType>{}(ub, gmIn[core * p.m], p.m);
      if constexpr (kHasMuls) if (op == kVmuls) {
        Element scalar;
        std::memcpy(&scalar, &p.k, sizeof(Element));  // the low bytes of k (little-endian)
        Sync<AscendC::HardEvent::MTE2_V>(EVENT_ID0);
        Gemv::Tile::TileVmuls<ArchTag, VType>{}(ub, ub, scalar, p.m);
        Sync<AscendC::HardEvent::V_MTE3>(EVENT_ID0);
        Gemv::Tile::VecCopyUBToGm<ArchTag, VType>{}(gmOut[core * p.m], ub, layoutV, layoutV);
        return;
      }
      Sync<AscendC::HardEvent::MTE2_MTE3>(EVENT_ID0);
      if (op == kVec) {
        Gemv::Tile::VecCopyUBToGm<ArchTag, VType>{}(gmOut[core * p.m], ub, layoutV, layoutV);
      } else {
        Gemv::Tile::VecCopyUBToGm<ArchTag, VType, true>{}(gmOut, ub, layoutV, layoutV);
      }
      return;
    }
    uint32_t tileElems = 0;
    if (op == kMatRow) {
      const layout::RowMajor dst(p.m, RoundUp(p.n, C0) + C0);
      tileElems = dst.shape(0) * dst.shape(1);
      using Copy = Gemv::Tile::MatrixCopyGmToUB<ArchTag, Gemm::GemmType<Element, layout::RowMajor>>;
      Copy{}(ub, gmIn[uint64_t(core) * p.m * p.k], dst, layout::RowMajor(p.m, p.n, p.k));
    } else {
      const layout::ColumnMajor dst(RoundUp(p.m, C0) + C0, p.n);
      tileElems = dst.shape(0) * dst.shape(1);
      using Copy = Gemv::Tile::MatrixCopyGmToUB<ArchTag, Gemm::GemmType<Element, layout::ColumnMajor>>;
      Copy{}(ub, gmIn[uint64_t(core) * p.n * p.k], dst, layout::ColumnMajor(p.m, p.n, p.k));
    }
    Sync<AscendC::HardEvent::MTE2_MTE3>(EVENT_ID0);
    AscendC::DataCopy(gmOut[uint64_t(core) * tileElems], ub, tileElems);  // the UB tile as it lies
  }
};

// ---- GEMV on the cube: TileCopyGemvAic -------------------------------------------------------------------
// y [m] = A [m, n] x [n] on AIC cores: x is the one real row of a 16-row L0A operand, A's tile the L0B
// operand (catlass's Gemv::helper::L1AndL0TypeSelectorGemv picks the layouts: RowMajor A -> zN,
// ColumnMajor A -> nN, int8 ColumnMajor A -> nZ), TileMmad with m = 16 (one fractal row), y the first
// row of L0C. GM: a = A, b = x, c = y; GemmArgs m, n. Every GM image is padded past its end.
enum GemvAicVariant : uint32_t {
  kAicHalfRow = 0, kAicHalfCol = 1, kAicBf16Row = 2, kAicBf16Col = 3, kAicInt8Row = 4, kAicInt8Col = 5,
  kAicFloatRow = 6, kAicFloatCol = 7
};

template <class Element, class LayoutA, class ElementY, uint32_t TILE_M, uint32_t TILE_K, uint32_t L0K>
struct BlockGemvAic {
  using ArchTag = Arch::AtlasA2;
  using AType = Gemm::GemmType<Element, LayoutA>;
  using XType = Gemm::GemmType<Element, layout::VectorLayout>;
  using YType = Gemm::GemmType<ElementY, layout::RowMajor>;  // y as one row: A2 has no VectorLayout L0C copy
  using TileCopy = Gemv::Tile::TileCopyGemvAic<ArchTag, AType, XType, YType>;
  using TileMmad = Gemm::Tile::TileMmad<ArchTag, XType, AType, void>;
  using ElementAcc = typename TileCopy::ElementAccumulator;
  using LayoutXInL1 = typename TileCopy::L1XType::Layout;
  using LayoutAInL1 = typename TileCopy::L1AType::Layout;
  using LayoutXInL0 = typename TileCopy::L0AType::Layout;
  using LayoutAInL0 = typename TileCopy::L0BType::Layout;
  static constexpr uint32_t X_ROWS = Gemv::helper::L1AlignHelper<Element, layout::VectorLayout>::M_ALIGNED;
  static constexpr uint32_t BLK = 32;  // buffer sizes in 32-element multiples: room for every rounding

  static void Run(GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p) {
    const uint32_t m = p.m, n = p.n;
    AscendC::GlobalTensor<Element> gmA, gmX;
    AscendC::GlobalTensor<ElementY> gmY;
    gmA.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(a));
    gmX.SetGlobalBuffer(reinterpret_cast<__gm__ Element*>(b));
    gmY.SetGlobalBuffer(reinterpret_cast<__gm__ ElementY*>(c));
    const LayoutA layoutA(m, n);
    const layout::RowMajor layoutY(1, m);

    AscendC::TPipe pipe;
    AscendC::TBuf<AscendC::TPosition::A1> bufL1X, bufL1A;
    AscendC::TBuf<AscendC::TPosition::A2> bufL0A;
    AscendC::TBuf<AscendC::TPosition::B2> bufL0B;
    AscendC::TBuf<AscendC::TPosition::CO1> bufL0C;
    pipe.InitBuffer(bufL1X, X_ROWS * RoundUp(TILE_K, BLK) * sizeof(Element));
    pipe.InitBuffer(bufL1A, RoundUp(TILE_M, BLK) * RoundUp(TILE_K, BLK) * sizeof(Element));
    pipe.InitBuffer(bufL0A, X_ROWS * RoundUp(L0K, BLK) * sizeof(Element));
    pipe.InitBuffer(bufL0B, RoundUp(TILE_M, BLK) * RoundUp(L0K, BLK) * sizeof(Element));
    pipe.InitBuffer(bufL0C, X_ROWS * RoundUp(TILE_M, BLK) * sizeof(ElementAcc));
    const auto l1X = bufL1X.Get<Element>();
    const auto l1A = bufL1A.Get<Element>();
    const auto l0A = bufL0A.Get<Element>();
    const auto l0B = bufL0B.Get<Element>();
    const auto l0C = bufL0C.Get<ElementAcc>();
    const auto layoutXInL1 = LayoutXInL1::template MakeLayout<Element>(X_ROWS, TILE_K);
    const auto layoutAInL1 = LayoutAInL1::template MakeLayout<Element>(TILE_M, TILE_K);

    typename TileCopy::CopyGmToL1A copyGmToL1X;
    typename TileCopy::CopyGmToL1B copyGmToL1A;
    typename TileCopy::CopyL1ToL0A copyL1ToL0X;
    typename TileCopy::CopyL1ToL0B copyL1ToL0A;
    typename TileCopy::CopyL0CToGm copyL0CToGm;
    TileMmad tileMmad;

    const uint32_t mTiles = CeilDivU(m, TILE_M), kTiles = CeilDivU(n, TILE_K);
    for (uint32_t mIdx = AscendC::GetBlockIdx(); mIdx < mTiles; mIdx += AscendC::GetBlockNum()) {
      const uint32_t mActual = mIdx + 1 < mTiles ? TILE_M : m - mIdx * TILE_M;
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
        const uint32_t kActual = kIdx + 1 < kTiles ? TILE_K : n - kIdx * TILE_K;
        copyGmToL1X(l1X, gmX[kIdx * TILE_K], layoutXInL1, layout::VectorLayout(kActual));
        copyGmToL1A(l1A, gmA[layoutA.GetOffset(MatrixCoord{mIdx * TILE_M, kIdx * TILE_K})], layoutAInL1,
                    layoutA.GetTileLayout(MatrixCoord{mActual, kActual}));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        const uint32_t kParts = CeilDivU(kActual, L0K);
        for (uint32_t kp = 0; kp < kParts; ++kp) {
          const uint32_t kPart = kp + 1 < kParts ? L0K : kActual - kp * L0K;
          copyL1ToL0X(l0A, l1X[layoutXInL1.GetOffset(MatrixCoord{0, kp * L0K})],
                      LayoutXInL0::template MakeLayout<Element>(X_ROWS, kPart), layoutXInL1);
          copyL1ToL0A(l0B, l1A[layoutAInL1.GetOffset(MatrixCoord{0, kp * L0K})],
                      LayoutAInL0::template MakeLayout<Element>(TILE_M, kPart), layoutAInL1);
          Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
          tileMmad(l0C, l0A, l0B, X_ROWS, TILE_M, kPart, kIdx == 0 && kp == 0);
          Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
        }
        Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
      }
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      copyL0CToGm(gmY[mIdx * TILE_M], l0C, layoutY.GetTileLayout(MatrixCoord{1, mActual}),
                  layout::zN::MakeLayoutInL0C(MatrixCoord{X_ROWS, mActual}));
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }

  static constexpr uint32_t CeilDivU(uint32_t x, uint32_t y) { return (x + y - 1) / y; }
};

}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_gemv_aic)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)ws;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  if constexpr (g_coreType == AscendC::AIC) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    switch (p.variant) {
      case kAicHalfRow: BlockGemvAic<half, layout::RowMajor, half, 48, 256, 128>::Run(a, b, c, p); break;
      case kAicHalfCol: BlockGemvAic<half, layout::ColumnMajor, float, 48, 256, 128>::Run(a, b, c, p); break;
      case kAicBf16Row: BlockGemvAic<bfloat16_t, layout::RowMajor, float, 32, 128, 64>::Run(a, b, c, p); break;
      case kAicBf16Col: BlockGemvAic<bfloat16_t, layout::ColumnMajor, bfloat16_t, 64, 192, 64>::Run(a, b, c, p); break;
      case kAicInt8Row: BlockGemvAic<int8_t, layout::RowMajor, int32_t, 64, 256, 128>::Run(a, b, c, p); break;
      case kAicInt8Col: BlockGemvAic<int8_t, layout::ColumnMajor, int32_t, 64, 256, 128>::Run(a, b, c, p); break;
      case kAicFloatRow: BlockGemvAic<float, layout::RowMajor, float, 48, 128, 64>::Run(a, b, c, p); break;
      case kAicFloatCol: BlockGemvAic<float, layout::ColumnMajor, float, 48, 128, 64>::Run(a, b, c, p); break;
      default: AscendC::emu::Fail("catlass_gemv_aic", "test", "unknown variant");
    }
  }
}

CONF_EXPORT void CONF_BUILD(catlass_gemv)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    switch (p.variant) {
      // Tile shapes: row-major n tiles must be whole 256-byte repeats (TileVmad strides rows by
      // RoundUp(n_round, repeat)); column-major n tiles at most 32 (TileVmad's pix[32]).
      case kHalfRow: BlockGemv<half, layout::RowMajor, 48, 128>::Run(a, b, c, ws, p); break;
      case kFloatRow: BlockGemv<float, layout::RowMajor, 40, 128>::Run(a, b, c, ws, p); break;
      case kHalfCol: BlockGemv<half, layout::ColumnMajor, 80, 32>::Run(a, b, c, ws, p); break;
      case kFloatCol: BlockGemv<float, layout::ColumnMajor, 72, 24>::Run(a, b, c, ws, p); break;
      default: AscendC::emu::Fail("catlass_gemv", "test", "unknown variant");
    }
  }
}

CONF_EXPORT void CONF_BUILD(catlass_gemv_copy)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)a, (void)ws;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if constexpr (g_coreType == AscendC::AIV) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    const uint32_t op = p.variant % 8;
    switch (p.variant / 8) {
      case 0: CopyKernels<half>::Run(b, c, op, p); break;
      case 1: CopyKernels<bfloat16_t>::Run(b, c, op, p); break;
      case 2: CopyKernels<float>::Run(b, c, op, p); break;
      case 3: CopyKernels<int8_t>::Run(b, c, op, p); break;
      case 4: CopyKernels<int16_t>::Run(b, c, op, p); break;
      case 5: CopyKernels<int32_t>::Run(b, c, op, p); break;
      default: AscendC::emu::Fail("catlass_gemv_copy", "test", "unknown variant");
    }
  }
}
