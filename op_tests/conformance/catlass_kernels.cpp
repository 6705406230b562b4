// Conformance kernels: small GEMM kernels assembled from catlass's Atlas A2 tile operators
// (Huawei's own AscendC code, headers from the ascend-catlass-dsl wheel), run on the emulator.
//
// The file is compiled twice, as bisheng compiles a MIX kernel: with -DSPLIT_CORE_CUBE (the AIC
// build) and with -DSPLIT_CORE_VEC (the AIV build); catlass needs g_coreType as a constant. The
// host entry points (in both builds) take the two builds' kernel addresses and run the AIC build
// on AIC cores and the AIV build on AIV cores.
//
// What is catlass here: every data movement and every cube instruction goes through
// Catlass::Gemm::Tile::{CopyGmToL1, CopyL1ToL0A, CopyL1ToL0B, TileMmad, CopyL0CToGm,
// TileCastInt4ToInt8}, Catlass::layout and Catlass::Arch's cross-core flags. What is written here:
// the block loop (the wheel ships no gemm/block or gemm/kernel headers), in the style of catlass's
// own BlockMmad.
#include "catlass_conf.h"

enum Variant : uint32_t {
  kBf16RowB = 0,    // bf16 A [M, K] x B [K, N] -> bf16, B through LoadData 2D with ifTranspose
  kHalfColB = 1,    // half A x B given as [N, K] (ColumnMajor) -> float
  kInt8RowB = 2,    // int8 x int8 [K, N] -> int32, B through LoadDataWithTranspose
  kInt8ColB = 3,    // int8 x int8 [N, K] -> int32
  kInt4RowB = 4,    // int4 x int4 [K, N] -> int32, B through LoadDataWithTranspose (b4)
  kInt4ColB = 5,    // int4 x int4 [N, K] -> int32
  kBf16ColBf32 = 6,  // bf16 x bf16 [N, K] -> float
  kInt8PerChannel = 7  // int8 x int8 [K, N] -> half, column n times scale[n] (VDEQF16)
};

namespace {

// One output tile per loop of this core: L1 tiles of L1M x L1N x L1K, the K loop in L0K slices.
template <class ElementA, class LayoutB, class ElementC, uint32_t L1M, uint32_t L1N, uint32_t L1K, uint32_t L0K,
          bool kPerChannel = false>
struct BlockGemm {
  using ArchTag = Arch::AtlasA2;
  using ElementB = ElementA;
  using AType = Gemm::GemmType<ElementA, layout::RowMajor>;
  using BType = Gemm::GemmType<ElementB, LayoutB>;
  using CType = Gemm::GemmType<ElementC, layout::RowMajor>;
  using TileCopy = Gemm::Tile::TileCopy<ArchTag, AType, BType, CType>;
  using TileMmad = Gemm::Tile::TileMmad<ArchTag, AType, BType, void>;
  using ElementAcc = typename TileCopy::ElementAccumulator;
  // Per-channel dequantisation: the scales (uint64 words) go GM -> L1 -> fixpipe buffer.
  using ScaleGm = Gemm::GemmType<uint64_t, layout::VectorLayout, AscendC::TPosition::GM>;
  using ScaleL1 = Gemm::GemmType<uint64_t, layout::VectorLayout, AscendC::TPosition::A1>;
  using ScaleFb = Gemm::GemmType<uint64_t, layout::VectorLayout, AscendC::TPosition::C2PIPE2GM>;
  using CopyL0CToGm = std::conditional_t<
      kPerChannel, Gemm::Tile::CopyL0CToGm<ArchTag, ElementAcc, CType, Gemm::Tile::ScaleGranularity::PER_CHANNEL>,
      typename TileCopy::CopyL0CToGm>;
  using LayoutAInL1 = typename Gemm::helper::L1ATypeSelector<AType>::L1AType::Layout;
  using LayoutBInL1 = typename Gemm::helper::L1BTypeSelector<BType>::L1BType::Layout;
  using LayoutAInL0 = layout::zZ;
  using LayoutBInL0 = layout::nZ;

  static void Run(GM_ADDR a, GM_ADDR b, GM_ADDR c, const GemmArgs& p, GM_ADDR scales = nullptr) {
    const uint32_t m = p.m, n = p.n, k = p.k;
    AscendC::GlobalTensor<ElementA> gmA;
    AscendC::GlobalTensor<ElementB> gmB;
    AscendC::GlobalTensor<ElementC> gmC;
    gmA.SetGlobalBuffer(reinterpret_cast<__gm__ ElementA*>(a));
    gmB.SetGlobalBuffer(reinterpret_cast<__gm__ ElementB*>(b));
    gmC.SetGlobalBuffer(reinterpret_cast<__gm__ ElementC*>(c));
    const layout::RowMajor layoutA(m, k);
    const LayoutB layoutB(k, n);
    const layout::RowMajor layoutC(m, n);

    AscendC::TPipe pipe;
    AscendC::TBuf<AscendC::TPosition::A1> bufL1A;
    AscendC::TBuf<AscendC::TPosition::B1> bufL1B;
    AscendC::TBuf<AscendC::TPosition::A2> bufL0A;
    AscendC::TBuf<AscendC::TPosition::B2> bufL0B;
    AscendC::TBuf<AscendC::TPosition::CO1> bufL0C;
    AscendC::TBuf<AscendC::TPosition::A1> bufL1S;
    AscendC::TBuf<AscendC::TPosition::C2PIPE2GM> bufFb;
    const auto layoutAInL1 = LayoutAInL1::template MakeLayout<ElementA>(L1M, L1K);
    const auto layoutBInL1 = LayoutBInL1::template MakeLayout<ElementB>(L1K, L1N);
    pipe.InitBuffer(bufL1A, ElemBytes<ElementA>(L1M * L1K));
    pipe.InitBuffer(bufL1B, ElemBytes<ElementB>(L1K * L1N));
    pipe.InitBuffer(bufL0A, ElemBytes<ElementA>(L1M * L0K));
    pipe.InitBuffer(bufL0B, ElemBytes<ElementB>(L0K * L1N));
    pipe.InitBuffer(bufL0C, L1M * L1N * sizeof(ElementAcc));
    AscendC::GlobalTensor<uint64_t> gmScale;
    if constexpr (kPerChannel) {
      pipe.InitBuffer(bufL1S, L1N * sizeof(uint64_t));
      pipe.InitBuffer(bufFb, L1N * sizeof(uint64_t));
      gmScale.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(scales));
    }
    const auto l1A = bufL1A.Get<ElementA>();
    const auto l1B = bufL1B.Get<ElementB>();
    const auto l0A = bufL0A.Get<ElementA>();
    const auto l0B = bufL0B.Get<ElementB>();
    const auto l0C = bufL0C.Get<ElementAcc>();

    typename TileCopy::CopyGmToL1A copyGmToL1A;
    typename TileCopy::CopyGmToL1B copyGmToL1B;
    typename TileCopy::CopyL1ToL0A copyL1ToL0A;
    typename TileCopy::CopyL1ToL0B copyL1ToL0B;
    CopyL0CToGm copyL0CToGm;
    TileMmad tileMmad;

    const uint32_t mTiles = CeilDivU(m, L1M), nTiles = CeilDivU(n, L1N), kTiles = CeilDivU(k, L1K);
    for (uint32_t t = AscendC::GetBlockIdx(); t < mTiles * nTiles; t += AscendC::GetBlockNum()) {
      const uint32_t mIdx = t / nTiles, nIdx = t % nTiles;
      const uint32_t mActual = mIdx + 1 < mTiles ? L1M : m - mIdx * L1M;
      const uint32_t nActual = nIdx + 1 < nTiles ? L1N : n - nIdx * L1N;
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
        const uint32_t kActual = kIdx + 1 < kTiles ? L1K : k - kIdx * L1K;
        // GM -> L1 (ND -> NZ), the tile's rows and columns only.
        const MatrixCoord offA{mIdx * L1M, kIdx * L1K}, offB{kIdx * L1K, nIdx * L1N};
        copyGmToL1A(l1A, gmA[layoutA.GetOffset(offA)], layoutAInL1, layoutA.GetTileLayout(MatrixCoord{mActual, kActual}));
        copyGmToL1B(l1B, gmB[layoutB.GetOffset(offB)], layoutBInL1, layoutB.GetTileLayout(MatrixCoord{kActual, nActual}));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        const uint32_t kParts = CeilDivU(kActual, L0K);
        for (uint32_t kp = 0; kp < kParts; ++kp) {
          const uint32_t kPart = kp + 1 < kParts ? L0K : kActual - kp * L0K;
          // L1 -> L0A / L0B (fractal reorders and transposes), then one Mmad.
          const auto layoutAInL0 = LayoutAInL0::template MakeLayout<ElementA>(mActual, kPart);
          const auto layoutBInL0 = LayoutBInL0::template MakeLayout<ElementB>(kPart, nActual);
          copyL1ToL0A(l0A, l1A[layoutAInL1.GetOffset(MatrixCoord{0, kp * L0K})], layoutAInL0, layoutAInL1);
          copyL1ToL0B(l0B, l1B[layoutBInL1.GetOffset(MatrixCoord{kp * L0K, 0})], layoutBInL0, layoutBInL1);
          Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
          // Mmad with m == 1 runs as a GEMV on A2 (Mmad.md): pad it to 16, as catlass's TileMmadTla does.
          const uint32_t mMmad = mActual == 1 ? 16 : mActual;
          tileMmad(l0C, l0A, l0B, mMmad, nActual, kPart, kIdx == 0 && kp == 0);
          Sync<AscendC::HardEvent::M_MTE1>(EVENT_ID0);
        }
        Sync<AscendC::HardEvent::MTE1_MTE2>(EVENT_ID0);
      }
      // L0C -> GM (NZ -> ND, with the output conversion).
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      const auto layoutCTile = layoutC.GetTileLayout(MatrixCoord{mActual, nActual});
      const auto gmCTile = gmC[layoutC.GetOffset(MatrixCoord{mIdx * L1M, nIdx * L1N})];
      const auto layoutL0C = layout::zN::MakeLayoutInL0C(MatrixCoord{mActual, nActual});
      if constexpr (kPerChannel) {
        // The tile's scales, whole 16-word (128 B) blocks; the GM vector is padded to them.
        const layout::VectorLayout layoutS(CeilDivU(nActual, 16) * 16);
        Gemm::Tile::CopyGmToL1<ArchTag, ScaleGm, ScaleL1>{}(bufL1S.Get<uint64_t>(), gmScale[nIdx * L1N], layoutS, layoutS);
        Sync<AscendC::HardEvent::MTE2_FIX>(EVENT_ID0);
        Gemm::Tile::CopyL1ToFP<ArchTag, ScaleL1, ScaleFb>{}(bufFb.Get<uint64_t>(), bufL1S.Get<uint64_t>(), layoutS, layoutS);
        copyL0CToGm(gmCTile, l0C, bufFb.Get<uint64_t>(), layoutCTile, layoutL0C);
      } else {
        copyL0CToGm(gmCTile, l0C, layoutCTile, layoutL0C);
      }
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }

  template <class E>
  static constexpr uint32_t ElemBytes(uint32_t count) {
    return static_cast<uint32_t>(uint64_t(count) * SizeOfBits<E>::value / 8);
  }
};

}  // namespace

// The AIC side of every GEMM variant.
CONF_EXPORT void CONF_BUILD(catlass_gemm)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  if constexpr (g_coreType == AscendC::AIC) {
    const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
    switch (p.variant) {
      case kBf16RowB: BlockGemm<bfloat16_t, layout::RowMajor, bfloat16_t, 64, 48, 128, 64>::Run(a, b, c, p); break;
      case kHalfColB: BlockGemm<half, layout::ColumnMajor, float, 48, 64, 96, 48>::Run(a, b, c, p); break;
      case kInt8RowB: BlockGemm<int8_t, layout::RowMajor, int32_t, 64, 64, 128, 64>::Run(a, b, c, p); break;
      case kInt8ColB: BlockGemm<int8_t, layout::ColumnMajor, int32_t, 32, 64, 256, 128>::Run(a, b, c, p); break;
      case kInt4RowB: BlockGemm<AscendC::int4b_t, layout::RowMajor, int32_t, 64, 64, 256, 128>::Run(a, b, c, p); break;
      case kInt4ColB: BlockGemm<AscendC::int4b_t, layout::ColumnMajor, int32_t, 48, 32, 256, 128>::Run(a, b, c, p); break;
      case kBf16ColBf32: BlockGemm<bfloat16_t, layout::ColumnMajor, float, 32, 64, 64, 32>::Run(a, b, c, p); break;
      case kInt8PerChannel:
        BlockGemm<int8_t, layout::RowMajor, half, 48, 64, 128, 64, true>::Run(a, b, c, p, ws);
        break;
      default: AscendC::emu::Fail("catlass_gemm", "test", "unknown variant");
    }
  }
}

// ---- W4A8, mixed cube / vector ---------------------------------------------------------------------
// C [M, N] int32 = A [M, K] int8 x B [K, N] int4 (row-major, two per byte). The two AIVs of a block
// unpack B tile by tile into an int8 GM workspace of the same shape with catlass's
// TileCastInt4ToInt8 (each AIV takes half the rows); the block's AIC multiplies a tile as soon as
// both halves are in. Hand-over: catlass's CrossCoreFlagWithReverse (AIV -> AIC mode-2 flags, the
// AIC answers every REVERSE tiles so at most that many are in flight).
namespace {
constexpr uint32_t kW4L1M = 48, kW4L1N = 64, kW4L1K = 128, kW4Reverse = 2;
constexpr Arch::FlagID kFlagTileReady = 0, kFlagTileFree = 1;

void W4A8Vector(Arch::Resource<Arch::AtlasA2>& resource, GM_ADDR b, GM_ADDR ws, const GemmArgs& p) {
  using Cast = Gemm::Tile::TileCastInt4ToInt8<Arch::AtlasA2, Gemm::GemmType<AscendC::int4b_t, layout::RowMajor>,
                                               Gemm::GemmType<int8_t, layout::RowMajor>, 32 * kW4L1N>;
  Cast cast(resource, typename Cast::Params{});
  AscendC::GlobalTensor<AscendC::int4b_t> gmB;
  AscendC::GlobalTensor<int8_t> gmW;
  gmB.SetGlobalBuffer(reinterpret_cast<__gm__ AscendC::int4b_t*>(b));
  gmW.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(ws));
  const layout::RowMajor layoutB(p.k, p.n);
  Arch::CrossCoreFlagWithReverse<kW4Reverse> ready(kFlagTileReady, kFlagTileFree);
  const uint32_t nTiles = CeilDivU(p.n, kW4L1N), kTiles = CeilDivU(p.k, kW4L1K);
  for (uint32_t nIdx = AscendC::GetBlockIdx() / 2; nIdx < nTiles; nIdx += AscendC::GetBlockNum()) {
    const uint32_t nActual = nIdx + 1 < nTiles ? kW4L1N : p.n - nIdx * kW4L1N;
    for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
      const uint32_t kActual = kIdx + 1 < kTiles ? kW4L1K : p.k - kIdx * kW4L1K;
      const int64_t off = layoutB.GetOffset(MatrixCoord{kIdx * kW4L1K, nIdx * kW4L1N});
      const auto tile = layoutB.GetTileLayout(MatrixCoord{kActual, nActual});
      cast(gmW[off], tile, gmB[off], tile);
      Arch::CrossCoreSetFlagWithReverse<0x2, PIPE_MTE3>(ready);
    }
  }
}

void W4A8Cube(Arch::Resource<Arch::AtlasA2>& resource, GM_ADDR a, GM_ADDR ws, GM_ADDR c, const GemmArgs& p) {
  using AType = Gemm::GemmType<int8_t, layout::RowMajor>;
  using CType = Gemm::GemmType<int32_t, layout::RowMajor>;
  using TileCopy = Gemm::Tile::TileCopy<Arch::AtlasA2, AType, AType, CType>;
  using TileMmad = Gemm::Tile::TileMmad<Arch::AtlasA2, AType, AType, void>;
  AscendC::GlobalTensor<int8_t> gmA, gmW;
  AscendC::GlobalTensor<int32_t> gmC;
  gmA.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(a));
  gmW.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(ws));
  gmC.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(c));
  const layout::RowMajor layoutA(p.m, p.k), layoutB(p.k, p.n), layoutC(p.m, p.n);
  // Tiles carved out of the whole-memory buffers of catlass's Resource.
  const auto layoutAInL1 = layout::zN::template MakeLayout<int8_t>(kW4L1M, kW4L1K);
  const auto layoutBInL1 = layout::zN::template MakeLayout<int8_t>(kW4L1K, kW4L1N);
  const auto l1A = resource.l1Buf.template GetBufferByByte<int8_t>(0);
  const auto l1B = resource.l1Buf.template GetBufferByByte<int8_t>(kW4L1M * kW4L1K);
  const auto l0A = resource.l0ABuf.template GetBufferByByte<int8_t>(0);
  const auto l0B = resource.l0BBuf.template GetBufferByByte<int8_t>(0);
  const auto l0C = resource.l0CBuf.template GetBufferByByte<int32_t>(0);
  typename TileCopy::CopyGmToL1A copyGmToL1A;
  typename TileCopy::CopyGmToL1B copyGmToL1B;
  typename TileCopy::CopyL1ToL0A copyL1ToL0A;
  typename TileCopy::CopyL1ToL0B copyL1ToL0B;
  typename TileCopy::CopyL0CToGm copyL0CToGm;
  TileMmad tileMmad;
  Arch::CrossCoreFlagWithReverse<kW4Reverse> ready(kFlagTileReady, kFlagTileFree);
  const uint32_t mTiles = CeilDivU(p.m, kW4L1M), nTiles = CeilDivU(p.n, kW4L1N), kTiles = CeilDivU(p.k, kW4L1K);
  for (uint32_t nIdx = AscendC::GetBlockIdx(); nIdx < nTiles; nIdx += AscendC::GetBlockNum()) {
    const uint32_t nActual = nIdx + 1 < nTiles ? kW4L1N : p.n - nIdx * kW4L1N;
    for (uint32_t mIdx = 0; mIdx < mTiles; ++mIdx) {
      const uint32_t mActual = mIdx + 1 < mTiles ? kW4L1M : p.m - mIdx * kW4L1M;
      for (uint32_t kIdx = 0; kIdx < kTiles; ++kIdx) {
        const uint32_t kActual = kIdx + 1 < kTiles ? kW4L1K : p.k - kIdx * kW4L1K;
        if (mIdx == 0) Arch::CrossCoreWaitFlagWithReverse<0x2, PIPE_MTE2>(ready);  // the tile's int8 B is in GM
        copyGmToL1A(l1A, gmA[layoutA.GetOffset(MatrixCoord{mIdx * kW4L1M, kIdx * kW4L1K})], layoutAInL1,
                    layoutA.GetTileLayout(MatrixCoord{mActual, kActual}));
        copyGmToL1B(l1B, gmW[layoutB.GetOffset(MatrixCoord{kIdx * kW4L1K, nIdx * kW4L1N})], layoutBInL1,
                    layoutB.GetTileLayout(MatrixCoord{kActual, nActual}));
        Sync<AscendC::HardEvent::MTE2_MTE1>(EVENT_ID0);
        copyL1ToL0A(l0A, l1A, layout::zZ::template MakeLayout<int8_t>(mActual, kActual), layoutAInL1);
        copyL1ToL0B(l0B, l1B, layout::nZ::template MakeLayout<int8_t>(kActual, nActual), layoutBInL1);
        Sync<AscendC::HardEvent::MTE1_M>(EVENT_ID0);
        tileMmad(l0C, l0A, l0B, mActual == 1 ? 16 : mActual, nActual, kActual, kIdx == 0);
        Sync<AscendC::HardEvent::M_MTE2>(EVENT_ID0);
      }
      Sync<AscendC::HardEvent::M_FIX>(EVENT_ID0);
      copyL0CToGm(gmC[layoutC.GetOffset(MatrixCoord{mIdx * kW4L1M, nIdx * kW4L1N})], l0C,
                  layoutC.GetTileLayout(MatrixCoord{mActual, nActual}),
                  layout::zN::MakeLayoutInL0C(MatrixCoord{mActual, nActual}));
      Sync<AscendC::HardEvent::FIX_M>(EVENT_ID0);
    }
  }
}
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_w4a8)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  const GemmArgs& p = *reinterpret_cast<const GemmArgs*>(args);
  Arch::Resource<Arch::AtlasA2> resource;  // every memory, on every core, as catlass kernels start
  if constexpr (g_coreType == AscendC::AIV) W4A8Vector(resource, b, ws, p);
  else W4A8Cube(resource, a, ws, c, p);
}

// ---- catlass's cross-core barriers ------------------------------------------------------------------
// Each AIV writes its id to GM, meets the others at Arch::CrossCoreBarrier (mode 0: every AIV of the
// launch; mode 1: the two AIVs of a block), then reads its neighbour's slot: without the barrier
// the neighbour's write could still be missing. Scalar GM accesses go through each core's DataCache
// (docs/emulator.md): every slot, and every AIV's row of `out`, has a 64-byte line of its own; a
// write is cleaned out to GM before the barrier, and the neighbour's line is dropped before it is
// read. out[16 * i] is the launch-wide, out[16 * i + 1] the in-block neighbour.
namespace {
constexpr int64_t kLineInts = 16;  // one 64-byte DataCache line

void Publish(AscendC::GlobalTensor<int32_t>& slots, int64_t slot, int32_t value) {
  slots.SetValue(slot * kLineInts, value);
  AscendC::DataCacheCleanAndInvalid<int32_t, AscendC::CacheLine::SINGLE_CACHE_LINE, AscendC::DcciDst::CACHELINE_OUT>(
      slots[slot * kLineInts]);
}

int32_t ReadFresh(const AscendC::GlobalTensor<int32_t>& slots, int64_t slot) {
  AscendC::DataCacheCleanAndInvalid<int32_t, AscendC::CacheLine::SINGLE_CACHE_LINE, AscendC::DcciDst::CACHELINE_OUT>(
      slots[slot * kLineInts]);
  return slots.GetValue(slot * kLineInts);
}
}  // namespace

CONF_EXPORT void CONF_BUILD(catlass_barrier)(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR ws, GM_ADDR args) {
  (void)a, (void)b, (void)args;
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  if constexpr (g_coreType == AscendC::AIV) {
    AscendC::GlobalTensor<int32_t> slots, out;
    slots.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws));
    out.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(c));
    const int64_t me = AscendC::GetBlockIdx(), aivs = AscendC::GetBlockNum() * 2;
    Publish(slots, me, static_cast<int32_t>(100 + me));
    Arch::CrossCoreBarrier<0x0, PIPE_MTE3>();
    out.SetValue(kLineInts * me, ReadFresh(slots, (me + 1) % aivs));
    Publish(slots, aivs + me, static_cast<int32_t>(200 + me));
    Arch::CrossCoreBarrier<0x1, PIPE_MTE3>();
    out.SetValue(kLineInts * me + 1, ReadFresh(slots, aivs + (me ^ 1)));
  }
}

// ---- host side -------------------------------------------------------------------------------------
using KernelFn = void (*)(GM_ADDR, GM_ADDR, GM_ADDR, GM_ADDR, GM_ADDR);

namespace {
template <typename F>
int Guard(char* err, int errLen, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  } catch (...) {
    std::snprintf(err, static_cast<size_t>(errLen), "unknown C++ exception");
  }
  return 1;
}
}  // namespace

// Runs a kernel from its two builds: aic on AIC cores, aiv on AIV cores (mode: 0 MIX, 1 AIC, 2 AIV).
// Every GM buffer is caller memory listed with its size; ws may be null.
CONF_EXPORT int CONF_BUILD(conf_launch)(const char* name, void* aic, void* aiv, int mode, uint32_t blockDim, void* a,
                                        uint64_t aBytes, void* b, uint64_t bBytes, void* c, uint64_t cBytes, void* ws,
                                        uint64_t wsBytes, const GemmArgs* args, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    GemmArgs copy = *args;  // GM the kernel reads: registered below
    const auto fa = reinterpret_cast<KernelFn>(aic), fv = reinterpret_cast<KernelFn>(aiv);
    auto* pa = static_cast<GM_ADDR>(a);
    auto* pb = static_cast<GM_ADDR>(b);
    auto* pc = static_cast<GM_ADDR>(c);
    auto* pw = static_cast<GM_ADDR>(ws);
    auto* pp = reinterpret_cast<GM_ADDR>(&copy);
    const auto km = mode == 0 ? AscendC::KernelMode::MIX_MODE : mode == 1 ? AscendC::KernelMode::AIC_MODE
                                                                          : AscendC::KernelMode::AIV_MODE;
    AscendC::emu::Launch(name, km, blockDim, [&] {
      (AscendC::emu::Core().coreType == AscendC::AIC ? fa : fv)(pa, pb, pc, pw, pp);
    }, {{a, aBytes}, {b, bBytes}, {c, cBytes}, {ws, wsBytes}, {&copy, sizeof(copy)}});
  });
}
