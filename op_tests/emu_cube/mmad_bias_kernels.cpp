// Mmad with a bias table operand (Mmad.md, 传入bias的原型), DataCopy L1 -> BT (also half -> float,
// 基础数据搬运.md table 7) and Fixpipe's isChannelSplit NZ output (Fixpipe.md): the paths catlass's
// CopyGmToL1 (VectorLayout) + CopyL1ToBT + TileMmad(bias) and CopyL0CToGm<zN> take on Atlas A2.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

struct BiasArgs {
  uint32_t dtype;      // 0 half (bias half, converted into BT), 1 bf16 (bias float), 2 int8 (bias int32), 3 half + float bias
  uint32_t m, n, k;
  uint32_t initVal;    // MmadParams::cmatrixInitVal of the bias Mmad
  uint32_t splitK;     // the bias Mmad over the first K half, then a plain accumulating Mmad
  uint32_t biasInCo1;  // rule test: a bias tensor in CO1 (2: the plain form with cmatrixSource = true)
  uint32_t nzSplit;    // 1: float out as NZ with isChannelSplit (dstStride 32 B units between 8-column blocks); 2, 3: rule tests
  uint32_t dstStride;
};

namespace {
template <typename TIn, typename TBiasGm, typename TAcc>
void BiasMatmul(const BiasArgs& p, GM_ADDR a, GM_ADDR b, GM_ADDR bias, GM_ADDR c) {
  constexpr uint32_t k0 = 32 / sizeof(TIn), fractal = 512 / sizeof(TIn);
  const uint32_t m1 = (p.m + 15) / 16, n1 = (p.n + 15) / 16, k1 = (p.k + k0 - 1) / k0;
  const uint32_t parts = p.splitK ? 2 : 1, kb = k1 / parts;
  TPipe pipe;
  TBuf<TPosition::A1> l1a, l1b, l1bias;
  TBuf<TPosition::A2> l0a;
  TBuf<TPosition::B2> l0b;
  TBuf<TPosition::CO1> l0c;
  TBuf<TPosition::C2> bt;
  pipe.InitBuffer(l1a, m1 * k1 * 512);
  pipe.InitBuffer(l1b, n1 * k1 * 512);
  pipe.InitBuffer(l1bias, 256);
  pipe.InitBuffer(l0a, m1 * kb * 512);
  pipe.InitBuffer(l0b, n1 * kb * 512);
  pipe.InitBuffer(l0c, m1 * n1 * 1024 * 2);
  pipe.InitBuffer(bt, 1024);
  GlobalTensor<TIn> ga, gb;
  GlobalTensor<TBiasGm> gbias;
  ga.SetGlobalBuffer(reinterpret_cast<__gm__ TIn*>(a));
  gb.SetGlobalBuffer(reinterpret_cast<__gm__ TIn*>(b));
  gbias.SetGlobalBuffer(reinterpret_cast<__gm__ TBiasGm*>(bias));
  const auto lA = l1a.Get<TIn>(), lB = l1b.Get<TIn>(), zA = l0a.Get<TIn>(), zB = l0b.Get<TIn>();
  const auto lBias = l1bias.Get<TBiasGm>();
  const auto cc = l0c.Get<TAcc>();
  DataCopy(lA, ga, Nd2NzParams(1, p.m, p.k, 0, p.k, m1 * 16, 1, 0));
  DataCopy(lB, gb, Nd2NzParams(1, p.n, p.k, 0, p.k, n1 * 16, 1, 0));
  DataCopy(lBias, gbias, 256 / sizeof(TBiasGm));  // the padded bias row (64 floats / 128 halves)
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  // 64 B of the source per block: n1 * 16 columns of the bias (whole 64 B of it).
  const uint16_t biasBlocks = static_cast<uint16_t>((n1 * 16 * sizeof(TBiasGm) + 63) / 64);
  DataCopy(bt.Get<TAcc>(), lBias, DataCopyParams(1, biasBlocks, 0, 0));
  for (uint32_t part = 0; part < parts; ++part) {
    for (uint32_t mb = 0; mb < m1; ++mb)
      LoadData(zA[mb * kb * fractal], lA, LoadData2DParams(part * kb * m1 + mb, kb, m1, 0, 0, false, 0));
    LoadData(zB, lB, LoadData2DParams(part * kb * n1, kb * n1, 1, 0, 0, false, 0));
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    MmadParams mp;
    mp.m = p.m;
    mp.n = p.n;
    mp.k = parts == 1 ? p.k : kb * k0;
    if (part == 0) {
      mp.cmatrixInitVal = p.initVal;
      mp.cmatrixSource = p.biasInCo1 == 2;
      if (p.biasInCo1 == 2) Mmad(cc, zA, zB, mp);
      else if (p.biasInCo1) Mmad(cc, zA, zB, cc[m1 * n1 * 256], mp);
      else Mmad(cc, zA, zB, bt.Get<TAcc>(), mp);
    } else {
      mp.cmatrixInitVal = false;
      Mmad(cc, zA, zB, mp);
    }
    SetFlag<HardEvent::M_MTE1>(0);
    WaitFlag<HardEvent::M_MTE1>(0);
  }
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  GlobalTensor<TAcc> gc;
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ TAcc*>(c));
  FixpipeParamsV220 fp(p.n, p.m, m1 * 16, p.n, false);
  if (p.nzSplit == 2) {  // rule test: channel split with NZ2ND
    fp.isChannelSplit = true;
    Fixpipe(gc, cc, fp);
  } else if (p.nzSplit == 3) {  // rule test: NZ without channel split, nSize not whole 16-column blocks
    fp.dstStride = p.dstStride;
    Fixpipe<TAcc, TAcc, CFG_NZ>(gc, cc, fp);
  } else if (p.nzSplit) {
    fp.nSize = n1 * 16;
    fp.dstStride = p.dstStride;
    fp.isChannelSplit = true;
    Fixpipe<TAcc, TAcc, CFG_NZ>(gc, cc, fp);
  } else {
    Fixpipe(gc, cc, fp);
  }
}
}  // namespace

extern "C" __global__ __aicore__ void mmad_bias(GM_ADDR a, GM_ADDR b, GM_ADDR bias, GM_ADDR c, GM_ADDR arg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const BiasArgs& p = *reinterpret_cast<const BiasArgs*>(arg);
  if (p.dtype == 0) BiasMatmul<half, half, float>(p, a, b, bias, c);
  else if (p.dtype == 1) BiasMatmul<bfloat16_t, float, float>(p, a, b, bias, c);
  else if (p.dtype == 2) BiasMatmul<int8_t, int32_t, int32_t>(p, a, b, bias, c);
  else BiasMatmul<half, float, float>(p, a, b, bias, c);
}

extern "C" __attribute__((visibility("default"))) int mmad_bias_launch(const BiasArgs* args, void* a, uint64_t aBytes,
                                                                         void* b, uint64_t bBytes, void* bias, void* c,
                                                                         uint64_t cBytes, char* err, int errLen) {
  try {
    BiasArgs arg = *args;
    emu::Launch("mmad_bias", KernelMode::AIC_MODE, 1,
                [&] {
                  mmad_bias(static_cast<GM_ADDR>(a), static_cast<GM_ADDR>(b), static_cast<GM_ADDR>(bias),
                            static_cast<GM_ADDR>(c), reinterpret_cast<GM_ADDR>(&arg));
                },
                {{a, aBytes}, {b, bBytes}, {bias, 256}, {c, cBytes}, {&arg, sizeof(arg)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
