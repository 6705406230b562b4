// Kernels for the GM happens-before check ("gm-hazard", docs/emulator.md): every GM access (DataCopy /
// DataCopyPad on MTE2 / MTE3, Fixpipe on FIX, GlobalTensor GetValue / SetValue on the scalar) must be
// ordered after an earlier access to the same bytes from another pipe or core when one of them
// writes: within a core by SetFlag / WaitFlag or PipeBarrier<PIPE_ALL>, across cores by a cross-core
// flag set on the pipe of the access, SyncAll or GmFlagAdd -> GmFlagWaitAtLeast. Each case is a short
// kernel either missing exactly that order (the emulator must refuse it, naming both accesses) or
// ordered correctly (it must run and give the right result). Every local (UB) access is flagged as
// the pipe-hazard rule wants, so the only defect of a refused case is the GM one.
//
// GM buffers of every launch: in (64 floats, host data, never written), ws (64 floats, poisoned by
// GmAlloc: the shared workspace), out (32 floats, initialised by the host), counter (8 int32, 0).
// The cube <-> vector launch (gm_hazard_cube_kernel) has its own: in (A and B, 16 x 16 halves each,
// then a base of 256 floats), ws (256 floats, poisoned), out (256 floats, initialised by the host).
#include <cstdint>
#include <cstring>

#include "../emu/selftest_host.h"
#include "common/gm_flag.h"
#include "kernel_operator.h"

using namespace AscendC;

namespace {

enum Case : int32_t {
  // refused
  kInCoreStoreThenLoadNoFlag = 0,  // MTE3 writes ws, MTE2 reads it back: no MTE3_MTE2
  kInCoreLoadThenStoreNoFlag,      // MTE2 reads ws, MTE3 overwrites it: no MTE2_MTE3 (write after read)
  kInCoreStoreThenScalarNoFlag,    // MTE3 writes ws, the scalar reads a word of it: no MTE3_S
  kCrossCoreWrongPipe,             // AIV 0 writes ws, sets the flag on PIPE_S; AIV 1 reads ws after its wait
  kCrossCoreWarNoOrder,            // AIV 1 reads ws, sets the flag back on PIPE_S; AIV 0 overwrites ws
  kCrossCoreAddThenReadWrongPipe,  // AIV 0 atomically adds into out, sets the flag on PIPE_S; AIV 1 reads out
  kCubeFixpipeThenVectorWrongPipe,    // the AIC Fixpipes C into ws, sets the flag on PIPE_M; AIV 0 reads ws
  kVectorThenCubeOverwriteWrongPipe,  // AIV 0 reads C from ws, sets the flag back on PIPE_S; the AIC rewrites ws
  kCubeAtomicAddThenVectorWrongPipe,  // the AIC adds C into ws (a base), sets the flag on PIPE_M; AIV 0 reads ws
  kGmCounterWriteAfterAdd,            // AIV 1 writes ws[8:16] again after its GmFlagAdd; AIV 0 waits, reads ws[0:16]
  // allowed
  kInCoreFlagged = 100,      // store, MTE3_MTE2, load back, MTE2_MTE3, overwrite, MTE3_MTE2, load back
  kCrossCoreRightPipe,       // as kCrossCoreWrongPipe, the flag set on PIPE_MTE3
  kCrossCoreWarOrdered,      // as kCrossCoreWarNoOrder, the flag back set on PIPE_MTE2
  kSyncAllOrders,            // AIV 0 writes ws, SyncAll, AIV 1 reads it
  kGmCounterOrders,          // AIVs 1-3 write rows of ws and GmFlagAdd; AIV 0 GmFlagWaitAtLeast, reads them
  kDisjointBytesOneBlock,    // AIVs 0-7 each write their own 4 bytes of one 32-byte block, unordered
  kAtomicAddsUnordered,      // AIVs 0-3 atomically add 8 floats into the same 32 bytes, unordered
  kScalarAfterFlagAndDcci,   // store, MTE3_S, DataCacheCleanAndInvalid, GetValue
  kCubeFixpipeThenVectorRightPipe,    // as kCubeFixpipeThenVectorWrongPipe, the flag set on PIPE_FIX
  kVectorThenCubeOverwriteRightPipe,  // as kVectorThenCubeOverwriteWrongPipe, the flag back set on PIPE_MTE2
  kCubeAtomicAddRightPipe,            // as kCubeAtomicAddThenVectorWrongPipe, the flag set on PIPE_FIX
};

constexpr int32_t kN = 8;  // floats in one 32-byte block
constexpr uint16_t kData = 1, kFree = 2;  // cross-core flag ids: data written / data read
constexpr uint16_t kBase = 3;             // cube cases: the base written into ws
constexpr int32_t kC = 256;               // floats of C, 16 x 16

struct Args {
  GlobalTensor<float> in, ws, out;
  GlobalTensor<int32_t> counter;
};

Args Bind(GM_ADDR in, GM_ADDR ws, GM_ADDR out, GM_ADDR counter) {
  Args g;
  g.in.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in), 64);
  g.ws.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws), 64);
  g.out.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), 32);
  g.counter.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(counter), 1);
  return g;
}

template <HardEvent e>
void Order() {
  SetFlag<e>(0);
  WaitFlag<e>(0);
}

// One AIV core (AIV_ONLY), or several for the multi-core cases that need no cross-core flag.
void VectorCase(int32_t c, Args g) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0, b1, b2, b3;
  pipe.InitBuffer(b0, 4 * kN * sizeof(float));
  pipe.InitBuffer(b1, kN * sizeof(float));
  pipe.InitBuffer(b2, kN * sizeof(float));
  pipe.InitBuffer(b3, 32);
  const LocalTensor<float> x = b0.Get<float>(), y = b1.Get<float>(), z = b2.Get<float>();
  const LocalTensor<int32_t> scratch = b3.Get<int32_t>();
  const int64_t b = GetBlockIdx();
  switch (c) {
    case kInCoreStoreThenLoadNoFlag:
      DataCopy(x, g.in, kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, x, kN);
      DataCopy(y, g.ws, kN);  // reads ws while MTE3 may still be writing it
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.out, y, kN);
      break;
    case kInCoreLoadThenStoreNoFlag:
      DataCopy(x, g.in, kN);
      DataCopy(z, g.in[kN], kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, x, kN);
      Order<HardEvent::MTE3_MTE2>();
      DataCopy(y, g.ws, kN);
      DataCopy(g.ws, z, kN);  // overwrites ws while MTE2 may still be reading it
      break;
    case kInCoreFlagged:  // out[0:8] = in[0:8] (first read back), out[8:16] = in[8:16] (second)
      DataCopy(x, g.in, kN);
      DataCopy(z, g.in[kN], kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, x, kN);
      Order<HardEvent::MTE3_MTE2>();
      DataCopy(y, g.ws, kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, z, kN);
      Order<HardEvent::MTE3_MTE2>();  // also orders MTE3's read of x before MTE2 overwrites it
      DataCopy(x, g.ws, kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.out, y, kN);
      DataCopy(g.out[kN], x, kN);
      break;
    case kInCoreStoreThenScalarNoFlag:
    case kScalarAfterFlagAndDcci: {  // out[0] = in[3], out[1] = in[6]
      constexpr auto kLine = CacheLine::SINGLE_CACHE_LINE;
      DataCopy(x, g.in, kN);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, x, kN);
      if (c == kScalarAfterFlagAndDcci) {
        Order<HardEvent::MTE3_S>();
        DataCacheCleanAndInvalid<float, kLine, DcciDst::CACHELINE_OUT>(g.ws);
      }
      const float v3 = g.ws.GetValue(3), v6 = g.ws.GetValue(6);
      g.out.SetValue(0, v3);
      g.out.SetValue(1, v6);
      DataCacheCleanAndInvalid<float, kLine, DcciDst::CACHELINE_OUT>(g.out);
      break;
    }
    case kGmCounterOrders:  // 4 blocks: out[0:24] = in[0:24]
      if (b == 0) {
        ascend_glm5::GmFlagWaitAtLeast(g.counter, int32_t(GetBlockNum() - 1));
        DataCopy(x, g.ws, 3 * kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.out, x, 3 * kN);
      } else {
        DataCopy(y, g.in[(b - 1) * kN], kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.ws[(b - 1) * kN], y, kN);
        ascend_glm5::GmFlagAdd(g.counter, 1, scratch);
      }
      break;
    case kGmCounterWriteAfterAdd:  // 2 blocks
      if (b == 0) {
        ascend_glm5::GmFlagWaitAtLeast(g.counter, 1);
        DataCopy(x, g.ws, 2 * kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.out, x, 2 * kN);
      } else {
        // Both rows before the add, then row 1 again after it: the add does not cover that write.
        // (Written before too, so the shadow holds row 1 whichever core's thread gets there first.)
        DataCopy(y, g.in, kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.ws, y, kN);
        DataCopy(g.ws[kN], y, kN);
        ascend_glm5::GmFlagAdd(g.counter, 1, scratch);
        DataCopy(g.ws[kN], y, kN);
      }
      break;
    case kDisjointBytesOneBlock:  // 8 blocks: out[b] = in[b] * (b + 1)
      DataCopyPad(y, g.in[b], DataCopyExtParams(1, sizeof(float), 0, 0, 0), DataCopyPadExtParams<float>());
      Order<HardEvent::MTE2_V>();
      Muls(z, y, float(b + 1), 1);
      Order<HardEvent::V_MTE3>();
      DataCopyPad(g.out[b], z, DataCopyExtParams(1, sizeof(float), 0, 0, 0));
      break;
    case kAtomicAddsUnordered:  // 4 blocks: out[0:8] += sum over b of in[8b : 8b + 8]
      DataCopy(y, g.in[b * kN], kN);
      Order<HardEvent::MTE2_MTE3>();
      SetAtomicAdd<float>();
      DataCopy(g.out, y, kN);
      SetAtomicNone();
      break;
    default: break;
  }
}

// MIX_AIC_1_2, one block: the AIC idles, AIV 0 and AIV 1 meet through mode-1 flags (both set, both wait).
void MixCase(int32_t c, Args g) {
  if ASCEND_IS_AIC {
    return;
  }
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0, b1;
  pipe.InitBuffer(b0, kN * sizeof(float));
  pipe.InitBuffer(b1, kN * sizeof(float));
  const LocalTensor<float> x = b0.Get<float>(), y = b1.Get<float>();
  const bool first = GetSubBlockIdx() == 0;
  switch (c) {
    case kCrossCoreWrongPipe:
    case kCrossCoreRightPipe:  // out[0:8] = in[0:8], through ws
      if (first) {
        DataCopy(x, g.in, kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.ws, x, kN);
        if (c == kCrossCoreRightPipe) CrossCoreSetFlag<1, PIPE_MTE3>(kData);
        else CrossCoreSetFlag<1, PIPE_S>(kData);  // the scalar does not wait for the copy
        CrossCoreWaitFlag<1>(kData);
      } else {
        CrossCoreSetFlag<1, PIPE_MTE3>(kData);
        CrossCoreWaitFlag<1>(kData);
        DataCopy(x, g.ws, kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.out, x, kN);
      }
      break;
    case kCrossCoreWarNoOrder:
    case kCrossCoreWarOrdered:  // out[0:8] = in[0:8]: AIV 1 reads ws before AIV 0 overwrites it
      if (first) {
        DataCopy(x, g.in, kN);
        DataCopy(y, g.in[kN], kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.ws, x, kN);
        CrossCoreSetFlag<1, PIPE_MTE3>(kData);
        CrossCoreWaitFlag<1>(kData);
        CrossCoreSetFlag<1, PIPE_MTE3>(kFree);
        CrossCoreWaitFlag<1>(kFree);
        DataCopy(g.ws, y, kN);  // the next value into ws
      } else {
        CrossCoreSetFlag<1, PIPE_MTE3>(kData);
        CrossCoreWaitFlag<1>(kData);
        DataCopy(x, g.ws, kN);
        if (c == kCrossCoreWarOrdered) CrossCoreSetFlag<1, PIPE_MTE2>(kFree);
        else CrossCoreSetFlag<1, PIPE_S>(kFree);  // the scalar does not wait for the load
        CrossCoreWaitFlag<1>(kFree);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.out, x, kN);
      }
      break;
    case kCrossCoreAddThenReadWrongPipe:
      if (first) {
        DataCopy(x, g.in, kN);
        Order<HardEvent::MTE2_MTE3>();
        SetAtomicAdd<float>();
        DataCopy(g.out, x, kN);
        SetAtomicNone();
        CrossCoreSetFlag<1, PIPE_S>(kData);  // the scalar does not wait for the add
        CrossCoreWaitFlag<1>(kData);
      } else {
        CrossCoreSetFlag<1, PIPE_MTE3>(kData);
        CrossCoreWaitFlag<1>(kData);
        DataCopy(x, g.out, kN);
        Order<HardEvent::MTE2_MTE3>();
        DataCopy(g.out[kN], x, kN);
      }
      break;
    default: break;
  }
}

// MIX_AIV_1_0 (SyncAll needs a MIX type), two AIV cores: out[0:8] = in[0:8], through ws.
void SyncCase(Args g) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0;
  pipe.InitBuffer(b0, kN * sizeof(float));
  const LocalTensor<float> x = b0.Get<float>();
  if (GetBlockIdx() == 0) {
    DataCopy(x, g.in, kN);
    Order<HardEvent::MTE2_MTE3>();
    DataCopy(g.ws, x, kN);
    SyncAll();
  } else {
    SyncAll();
    DataCopy(x, g.ws, kN);
    Order<HardEvent::MTE2_MTE3>();
    DataCopy(g.out, x, kN);
  }
}

// MIX_AIC_1_2, one block: the AIC computes C = A B^T (16 x 16 x 16 halves, as CubeCase of
// op_tests/emu/hazard_kernels.cpp) and Fixpipes it into ws; AIV 0 copies ws to out. Mode-2 flags: the
// AIC's set reaches both AIVs (each waits for it), the AIC's wait takes a set from each AIV.
struct CubeArgs {
  GlobalTensor<half> ab;
  GlobalTensor<float> base, ws, out;
};

bool IsWar(int32_t c) { return c == kVectorThenCubeOverwriteWrongPipe || c == kVectorThenCubeOverwriteRightPipe; }
bool IsAtomic(int32_t c) { return c == kCubeAtomicAddThenVectorWrongPipe || c == kCubeAtomicAddRightPipe; }

void CubeMixAic(int32_t c, const CubeArgs& g) {
  TPipe pipe;
  TBuf<TPosition::A1> a1, b1;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  for (auto* b : {&a1, &b1}) pipe.InitBuffer(*b, 512);
  pipe.InitBuffer(a2, 512);
  pipe.InitBuffer(b2, 512);
  pipe.InitBuffer(co1, 1024);
  const LocalTensor<half> l1a = a1.Get<half>(), l1b = b1.Get<half>(), l0a = a2.Get<half>(), l0b = b2.Get<half>();
  const LocalTensor<float> acc = co1.Get<float>();
  const Nd2NzParams nd2nz(1, 16, 16, 0, 16, 16, 1, 0);
  DataCopy(l1a, g.ab, nd2nz);
  DataCopy(l1b, g.ab[256], nd2nz);
  Order<HardEvent::MTE2_MTE1>();
  LoadData(l0a, l1a, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
  LoadData(l0b, l1b, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
  Order<HardEvent::MTE1_M>();
  const FixpipeParamsV220 fp(16, 16, 16, 16, false);
  Mmad(acc, l0a, l0b, MmadParams(16, 16, 16, 0, false, true));
  Order<HardEvent::M_FIX>();
  if (IsAtomic(c)) {
    CrossCoreWaitFlag<2>(kBase);  // AIV 0 has written the base into ws
    SetAtomicAdd<float>();
  }
  Fixpipe(g.ws, acc, fp);
  if (IsAtomic(c)) SetAtomicNone();
  if (c == kCubeFixpipeThenVectorWrongPipe || c == kCubeAtomicAddThenVectorWrongPipe) {
    CrossCoreSetFlag<2, PIPE_M>(kData);  // PIPE_M does not wait for the fixpipe
  } else {
    CrossCoreSetFlag<2, PIPE_FIX>(kData);
  }
  if (IsWar(c)) {  // the next value into ws: 2 C
    Order<HardEvent::FIX_M>();
    Mmad(acc, l0a, l0b, MmadParams(16, 16, 16, 0, false, false));
    Order<HardEvent::M_FIX>();
    CrossCoreWaitFlag<2>(kFree);  // both AIVs are done with the first C
    Fixpipe(g.ws, acc, fp);
  }
}

void CubeMixAiv(int32_t c, const CubeArgs& g) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0;
  pipe.InitBuffer(b0, kC * sizeof(float));
  const LocalTensor<float> x = b0.Get<float>();
  const bool first = GetSubBlockIdx() == 0;  // only AIV 0 touches GM; AIV 1 takes and gives the flags
  if (IsAtomic(c)) {
    if (first) {
      DataCopy(x, g.base, kC);
      Order<HardEvent::MTE2_MTE3>();
      DataCopy(g.ws, x, kC);
    }
    CrossCoreSetFlag<2, PIPE_MTE3>(kBase);
  }
  CrossCoreWaitFlag<2>(kData);
  if (first) {
    if (IsAtomic(c)) Order<HardEvent::MTE3_MTE2>();  // MTE3 read x for the base
    DataCopy(x, g.ws, kC);
    if (c == kVectorThenCubeOverwriteRightPipe) CrossCoreSetFlag<2, PIPE_MTE2>(kFree);
    else if (c == kVectorThenCubeOverwriteWrongPipe) CrossCoreSetFlag<2, PIPE_S>(kFree);  // does not wait for the load
    Order<HardEvent::MTE2_MTE3>();
    DataCopy(g.out, x, kC);
  } else if (IsWar(c)) {
    CrossCoreSetFlag<2, PIPE_S>(kFree);  // no GM access on this core: any pipe orders nothing
  }
}

}  // namespace

extern "C" __global__ __aicore__ void gm_hazard_vector_kernel(GM_ADDR in, GM_ADDR ws, GM_ADDR out, GM_ADDR counter,
                                                              GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  VectorCase(*reinterpret_cast<const int32_t*>(caseArg), Bind(in, ws, out, counter));
}

extern "C" __global__ __aicore__ void gm_hazard_mix_kernel(GM_ADDR in, GM_ADDR ws, GM_ADDR out, GM_ADDR counter,
                                                           GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  MixCase(*reinterpret_cast<const int32_t*>(caseArg), Bind(in, ws, out, counter));
}

extern "C" __global__ __aicore__ void gm_hazard_sync_kernel(GM_ADDR in, GM_ADDR ws, GM_ADDR out, GM_ADDR counter,
                                                            GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);
  (void)caseArg;
  SyncCase(Bind(in, ws, out, counter));
}

extern "C" __global__ __aicore__ void gm_hazard_cube_kernel(GM_ADDR in, GM_ADDR ws, GM_ADDR out, GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  CubeArgs g;
  g.ab.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(in), 512);
  g.base.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in + 512 * sizeof(half)), kC);
  g.ws.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws), kC);
  g.out.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), kC);
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  if ASCEND_IS_AIC {
    CubeMixAic(c, g);
  } else {
    CubeMixAiv(c, g);
  }
}

extern "C" {

// in: 64 floats; out: 32 floats, its initial contents from the host, written back after the launch.
__attribute__((visibility("default"))) int emu_gm_hazard(int which, const float* in, float* out, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    const int32_t zeros[8] = {};
    selftest::Gm gi(64 * 4, in), gw(64 * 4), go(32 * 4, out), gn(sizeof(zeros), zeros), gc(4, &which);
    switch (which) {
      case kCrossCoreWrongPipe:
      case kCrossCoreWarNoOrder:
      case kCrossCoreAddThenReadWrongPipe:
      case kCrossCoreRightPipe:
      case kCrossCoreWarOrdered:
        SetKernelMode(KernelMode::MIX_MODE);
        ICPU_RUN_KF(gm_hazard_mix_kernel, 1, gi.get(), gw.get(), go.get(), gn.get(), gc.get());
        break;
      case kSyncAllOrders:
        SetKernelMode(KernelMode::AIV_MODE);
        ICPU_RUN_KF(gm_hazard_sync_kernel, 2, gi.get(), gw.get(), go.get(), gn.get(), gc.get());
        break;
      default: {
        int blocks = 1;
        if (which == kGmCounterOrders || which == kAtomicAddsUnordered) blocks = 4;
        if (which == kDisjointBytesOneBlock) blocks = 8;
        if (which == kGmCounterWriteAfterAdd) blocks = 2;
        SetKernelMode(KernelMode::AIV_MODE);
        ICPU_RUN_KF(gm_hazard_vector_kernel, blocks, gi.get(), gw.get(), go.get(), gn.get(), gc.get());
      }
    }
    std::memcpy(out, go.get(), 32 * 4);
  });
}

// in: 512 halves (A then B, 16 x 16 each) then 256 floats (the base), 2048 bytes; out: 256 floats,
// its initial contents from the host, written back after the launch.
__attribute__((visibility("default"))) int emu_gm_hazard_cube(int which, const void* in, float* out, char* err,
                                                              int errLen) {
  return selftest::Guard(err, errLen, [&] {
    selftest::Gm gi(512 * 2 + kC * 4, in), gw(kC * 4), go(kC * 4, out), gc(4, &which);
    SetKernelMode(KernelMode::MIX_MODE);
    ICPU_RUN_KF(gm_hazard_cube_kernel, 1, gi.get(), gw.get(), go.get(), gc.get());
    std::memcpy(out, go.get(), kC * 4);
  });
}

}  // extern "C"
