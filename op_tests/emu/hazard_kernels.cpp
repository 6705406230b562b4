// Kernels for the in-core happens-before check (emu/hazard.h, docs/emulator.md "pipe-hazard"):
// each case is a short instruction sequence either missing the flag its data dependency needs
// (the emulator must refuse it) or ordered correctly (it must run and give the right result).
#include <cstdint>

#include "kernel_operator.h"
#include "selftest_host.h"

using namespace AscendC;

namespace {

enum Case : int32_t {
  // refused
  kLoadThenVectorNoFlag = 0,  // MTE2 writes, V reads
  kVectorThenLoadNoFlag,      // V reads, MTE2 overwrites (write after read)
  kVectorThenScalarNoFlag,    // V writes, S reads (GetValue)
  kScalarThenVectorNoFlag,    // S reads (GetValue), V overwrites
  kWrongEvent,                // MTE2 writes, a flag to MTE3 only, V reads
  kMmadThenFixpipeNoFlag,     // M writes L0C, FIX reads it
  kLoadThenStoreNoFlag,       // MTE2 writes, MTE3 reads (GM round trip through UB)
  // allowed
  kFlagged = 100,     // MTE2 -> V -> MTE3, each by its flag
  kChain,             // MTE3 reads what MTE2 wrote, ordered only through V (MTE2 -> V -> MTE3)
  kBarrierAll,        // PipeBarrier<PIPE_ALL> orders everything before it
  kSamePipe,          // V reads what V wrote: one pipe runs in order
  kQueues,            // TQue EnQue / DeQue / FreeTensor / AllocTensor carry the events
  kOtherBlock,        // MTE2 writes one 32-byte block while V reads the next, unordered
  kMmadFixpipe,       // Mmad -> Fixpipe -> Mmad on one L0C with M_FIX and FIX_M
  kScalarWaitOrders,  // MTE2 writes, the scalar waits for it (MTE2_S), V reads: issued after the wait
};

constexpr int32_t kFloats = 64;  // 256 bytes

void Out(GM_ADDR out, const LocalTensor<float>& t) {
  GlobalTensor<float> o;
  o.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), kFloats);
  DataCopy(o, t, kFloats);
}

void VectorCase(int32_t c, GM_ADDR in, GM_ADDR out) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0, b1;
  pipe.InitBuffer(b0, kFloats * 4);
  pipe.InitBuffer(b1, kFloats * 4);
  const LocalTensor<float> x = b0.Get<float>(), y = b1.Get<float>();
  GlobalTensor<float> g;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in), kFloats);
  switch (c) {
    case kLoadThenVectorNoFlag:
      DataCopy(x, g, kFloats);
      Adds(y, x, 1.0f, kFloats);
      break;
    case kVectorThenLoadNoFlag:
      DataCopy(x, g, kFloats);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      Adds(y, x, 1.0f, kFloats);
      DataCopy(x, g, kFloats);  // the next tile into x, while Adds may still read it
      break;
    case kVectorThenScalarNoFlag:
      Duplicate(x, 2.0f, kFloats);
      x.GetValue(3);
      break;
    case kScalarThenVectorNoFlag:
      Duplicate(x, 2.0f, kFloats);
      SetFlag<HardEvent::V_S>(0);
      WaitFlag<HardEvent::V_S>(0);
      x.GetValue(3);
      Duplicate(x, 5.0f, kFloats);
      break;
    case kWrongEvent:
      DataCopy(x, g, kFloats);
      SetFlag<HardEvent::MTE2_MTE3>(0);
      WaitFlag<HardEvent::MTE2_MTE3>(0);
      Adds(y, x, 1.0f, kFloats);
      break;
    case kLoadThenStoreNoFlag:
      DataCopy(x, g, kFloats);
      Out(out, x);
      break;
    case kFlagged:  // out = in + 1
    case kChain:    // out = in: MTE3 reads x with no MTE2 -> MTE3 flag, ordered through V
      DataCopy(x, g, kFloats);
      SetFlag<HardEvent::MTE2_V>(0);
      WaitFlag<HardEvent::MTE2_V>(0);
      Adds(y, x, 1.0f, kFloats);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      Out(out, c == kChain ? x : y);
      break;
    case kScalarWaitOrders:
      DataCopy(x, g, kFloats);
      SetFlag<HardEvent::MTE2_S>(0);
      WaitFlag<HardEvent::MTE2_S>(0);
      Adds(y, x, 1.0f, kFloats);
      PipeBarrier<PIPE_ALL>();
      Out(out, y);
      break;
    case kBarrierAll:
      DataCopy(x, g, kFloats);
      PipeBarrier<PIPE_ALL>();
      Adds(y, x, 1.0f, kFloats);
      PipeBarrier<PIPE_ALL>();
      Out(out, y);
      break;
    case kSamePipe:  // out = 2 * 3 + 1
      Duplicate(x, 2.0f, kFloats);
      Muls(y, x, 3.0f, kFloats);
      Adds(y, y, 1.0f, kFloats);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      Out(out, y);
      break;
    case kOtherBlock:  // out[0:8] = in[0:8]; out[8:16] = 7
      Duplicate(y, 7.0f, kFloats);
      DataCopy(x, g, 8);              // block 0 of x on MTE2 ...
      Adds(x[8], y, 0.0f, 8);         // ... while V writes block 1: disjoint, no flag needed
      PipeBarrier<PIPE_ALL>();
      Out(out, x);
      break;
    default: break;
  }
}

// out = in + 1, tile by tile, the events all implied by the queues.
void QueueCase(GM_ADDR in, GM_ADDR out) {
  TPipe pipe;
  TQue<TPosition::VECIN, 2> qin;
  TQue<TPosition::VECOUT, 2> qout;
  constexpr int32_t kTile = 16;
  pipe.InitBuffer(qin, 2, kTile * 4);
  pipe.InitBuffer(qout, 2, kTile * 4);
  GlobalTensor<float> g, o;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in), kFloats);
  o.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), kFloats);
  for (int32_t t = 0; t < kFloats / kTile; ++t) {
    LocalTensor<float> x = qin.AllocTensor<float>();
    DataCopy(x, g[t * kTile], kTile);
    qin.EnQue(x);
    x = qin.DeQue<float>();
    LocalTensor<float> y = qout.AllocTensor<float>();
    Adds(y, x, 1.0f, kTile);
    qout.EnQue(y);
    qin.FreeTensor(x);
    y = qout.DeQue<float>();
    DataCopy(o[t * kTile], y, kTile);
    qout.FreeTensor(y);
  }
}

// C (16 x 16 float) = A B^T from `in` (A then B, 16 x 16 halves each, row-major) through L1, L0A /
// L0B and L0C; kMmadFixpipe computes it twice into one L0C, the second Mmad after the first Fixpipe.
void CubeCase(int32_t c, GM_ADDR in, GM_ADDR out) {
  TPipe pipe;
  TBuf<TPosition::A1> a1, b1;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  for (auto* b : {&a1, &b1}) pipe.InitBuffer(*b, 512);
  pipe.InitBuffer(a2, 512);
  pipe.InitBuffer(b2, 512);
  pipe.InitBuffer(co1, 1024);
  GlobalTensor<half> g;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(in), 512);
  GlobalTensor<float> o;
  o.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), 256);
  const LocalTensor<half> l1a = a1.Get<half>(), l1b = b1.Get<half>(), l0a = a2.Get<half>(), l0b = b2.Get<half>();
  const LocalTensor<float> acc = co1.Get<float>();
  const Nd2NzParams nd2nz(1, 16, 16, 0, 16, 16, 1, 0);
  DataCopy(l1a, g, nd2nz);
  DataCopy(l1b, g[256], nd2nz);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  LoadData(l0a, l1a, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
  LoadData(l0b, l1b, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  const MmadParams mm(16, 16, 16, 0, false, true);
  const FixpipeParamsV220 fp(16, 16, 16, 16, false);
  Mmad(acc, l0a, l0b, mm);
  if (c == kMmadFixpipe) {
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    Fixpipe(o, acc, fp);
    SetFlag<HardEvent::FIX_M>(0);
    WaitFlag<HardEvent::FIX_M>(0);
    Mmad(acc, l0a, l0b, mm);
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
  }
  Fixpipe(o, acc, fp);
}

}  // namespace

extern "C" __global__ __aicore__ void hazard_vector_kernel(GM_ADDR in, GM_ADDR out, GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  if (c == kQueues) return QueueCase(in, out);
  VectorCase(c, in, out);
}

extern "C" __global__ __aicore__ void hazard_cube_kernel(GM_ADDR in, GM_ADDR out, GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  CubeCase(*reinterpret_cast<const int32_t*>(caseArg), in, out);
}

extern "C" {

int emu_hazard_vector(int which, const float* in, float* out, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    selftest::Gm gi(kFloats * 4, in), go(kFloats * 4), gc(4, &which);
    AscendC::SetKernelMode(AscendC::KernelMode::AIV_MODE);
    ICPU_RUN_KF(hazard_vector_kernel, 1, gi.get(), go.get(), gc.get());
    std::memcpy(out, go.get(), kFloats * 4);
  });
}

// in: 512 halves (A then B); out: 256 floats.
int emu_hazard_cube(int which, const void* in, float* out, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    selftest::Gm gi(1024, in), go(1024), gc(4, &which);
    AscendC::SetKernelMode(AscendC::KernelMode::AIC_MODE);
    ICPU_RUN_KF(hazard_cube_kernel, 1, gi.get(), go.get(), gc.get());
    std::memcpy(out, go.get(), 1024);
  });
}

}  // extern "C"
