// Self-test kernels for InitConstValue, driven from op_tests/emu_cube/test_emu_init_const.py.
//
// C = A @ B^T (A [m, k], B [n, k] half, row-major in GM) through L1 / L0A / L0B / L0C, with one
// InitConstValue applied on the way: to B's Nz image in L1 (32-byte blocks) or to A's Zz image in
// L0A (512-byte fractals). The test applies the same fill to numpy images of A and B.
#include <cstdint>

#include "kernel_operator.h"
#include "tikicpulib.h"
#include "../emu/selftest_host.h"

using namespace AscendC;

struct InitArgs {
  int32_t m, n, k;
  int32_t target;       // 0: B in L1, 1: A in L0A
  int32_t repeatTimes, blockNum, dstGap;
  int32_t startBlock;   // first block of the fill (32 B in L1, 512 B in L0A)
  float value;
};

// Each case breaks one rule.
enum InitRule : int32_t { kInUb = 0, kMisalignedL0, kNoBlocks, kPastEnd };

namespace {
constexpr uint32_t Blocks(uint32_t x, uint32_t a) { return (x + a - 1) / a; }
}  // namespace

extern "C" __global__ __aicore__ void init_const_kernel(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const InitArgs& p = *reinterpret_cast<const InitArgs*>(args);
  const uint32_t m1 = Blocks(p.m, 16), n1 = Blocks(p.n, 16), k1 = Blocks(p.k, 16);
  TPipe pipe;
  TBuf<TPosition::A1> a1;
  TBuf<TPosition::B1> b1;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  pipe.InitBuffer(a1, m1 * k1 * 512);
  pipe.InitBuffer(b1, n1 * k1 * 512);
  pipe.InitBuffer(a2, m1 * k1 * 512);
  pipe.InitBuffer(b2, n1 * k1 * 512);
  pipe.InitBuffer(co1, m1 * n1 * 1024);
  GlobalTensor<half> ga, gb;
  GlobalTensor<float> gc;
  ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), uint64_t(p.m) * p.k);
  gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), uint64_t(p.n) * p.k);
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), uint64_t(p.m) * p.n);
  const LocalTensor<half> l1a = a1.Get<half>(), l1b = b1.Get<half>(), l0a = a2.Get<half>(), l0b = b2.Get<half>();
  const InitConstValueParams<half> fill(p.repeatTimes, p.blockNum, p.dstGap, half(p.value));
  DataCopy(l1a, ga, Nd2NzParams(1, p.m, p.k, 0, p.k, m1 * 16, 1, 0));
  DataCopy(l1b, gb, Nd2NzParams(1, p.n, p.k, 0, p.k, n1 * 16, 1, 0));
  if (p.target == 0) InitConstValue(l1b[p.startBlock * 16], fill);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  for (uint32_t mb = 0; mb < m1; ++mb) LoadData(l0a[mb * k1 * 256], l1a, LoadData2DParams(mb, k1, m1, 0, 0, false, 0));
  LoadData(l0b, l1b, LoadData2DParams(0, k1 * n1, 1, 0, 0, false, 0));
  if (p.target == 1) InitConstValue(l0a[p.startBlock * 256], fill);
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  Mmad(co1.Get<float>(), l0a, l0b, MmadParams(p.m, p.n, p.k, 0, false, true));
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  Fixpipe(gc, co1.Get<float>(), FixpipeParamsV220(p.n, p.m, m1 * 16, p.n, false));
}

extern "C" __global__ __aicore__ void init_const_rule_kernel(GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  TBuf<TPosition::A2> l0a;
  pipe.InitBuffer(l1, 1024);
  pipe.InitBuffer(l0a, 1024);
  if (c == kInUb) InitConstValue(LocalTensor<half>(TPosition::VECCALC, 0, 256), InitConstValueParams<half>(1, 1, 0, half(0.0f)));
  if (c == kMisalignedL0) InitConstValue(l0a.Get<half>()[128], InitConstValueParams<half>(1, 1, 0, half(0.0f)));
  if (c == kNoBlocks) InitConstValue(l1.Get<half>(), InitConstValueParams<half>(4, half(0.0f)));
  if (c == kPastEnd) InitConstValue(l1.Get<half>(), InitConstValueParams<half>(2, 16, 1, half(0.0f)));  // 33 blocks of 32
}

extern "C" {

int emu_init_const(const InitArgs* args, const void* a, const void* b, void* c, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    const uint64_t aBytes = uint64_t(args->m) * args->k * 2, bBytes = uint64_t(args->n) * args->k * 2;
    const uint64_t cBytes = uint64_t(args->m) * args->n * 4;
    selftest::Gm ga(aBytes, a), gb(bBytes, b), gc(cBytes), gp(sizeof(InitArgs), args);
    SetKernelMode(KernelMode::AIC_MODE);
    ICPU_RUN_KF(init_const_kernel, 1, ga.get(), gb.get(), gc.get(), gp.get());
    std::memcpy(c, gc.get(), cBytes);
  });
}

int emu_init_const_rule(int which, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    selftest::Gm g(4, &which);
    SetKernelMode(KernelMode::AIC_MODE);
    ICPU_RUN_KF(init_const_rule_kernel, 1, g.get());
  });
}

}  // extern "C"
