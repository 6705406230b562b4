// Self-test kernels for the emulated adv_api Silu (emu/adv_activation.h) and kernel `assert`
// (emu/kernel_assert.h), driven by test_emu_silu.py through ctypes.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {
struct SiluArgs {
  int32_t dtype;    // 0 half, 1 float
  uint32_t count;   // elements copied in and out (whole 32-byte blocks)
  uint32_t dataSize;
  uint32_t dstOff;  // dst's element offset in UB buffer 1 (0: its own buffer); srcOff likewise in buffer 0
  uint32_t srcOff;
  int32_t sameBuffer;  // dst in the src buffer (the overlap rule)
  int32_t mode;        // 0: Silu; 1: Silu, then Adds(1) under the mask registers; 2: assert(dataSize < 8) first
};

template <typename T>
void SiluKernel(GM_ADDR in, GM_ADDR out, const SiluArgs& a) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0, b1;
  pipe.InitBuffer(b0, 16384);
  pipe.InitBuffer(b1, 16384);
  GlobalTensor<T> gIn, gOut;
  gIn.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(in));
  gOut.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(out));
  LocalTensor<T> src = b0.Get<T>()[a.srcOff];
  LocalTensor<T> dst = (a.sameBuffer ? b0.Get<T>() : b1.Get<T>())[a.dstOff];
  DataCopy(src, gIn, a.count);
  if (!a.sameBuffer) DataCopy(dst, gIn, a.count);  // dst starts as the input: lanes beyond dataSize keep it
  SetFlag<HardEvent::MTE2_V>(EVENT_ID0);
  WaitFlag<HardEvent::MTE2_V>(EVENT_ID0);
  if (a.mode == 2) assert(a.dataSize < 8);
  Silu<T>(dst, src, a.dataSize);
  if (a.mode == 1) {
    // Silu leaves normal mode with a full mask: a mask-register form adds 1 to one whole repeat.
    PipeBarrier<PIPE_V>();
    Adds<T, false>(dst, dst, T(1.0f), MASK_PLACEHOLDER, 1, UnaryRepeatParams());
  }
  SetFlag<HardEvent::V_MTE3>(EVENT_ID0);
  WaitFlag<HardEvent::V_MTE3>(EVENT_ID0);
  DataCopy(gOut, dst, a.count);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int silu_run(const SiluArgs* args, void* in, void* out, uint64_t bytes,
                                                               char* err, int errLen) {
  try {
    SiluArgs a = *args;
    emu::Launch("silu_selftest", KernelMode::AIV_MODE, 1, [&] {
      KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
      if (a.dtype == 0) SiluKernel<half>(static_cast<GM_ADDR>(in), static_cast<GM_ADDR>(out), a);
      else SiluKernel<float>(static_cast<GM_ADDR>(in), static_cast<GM_ADDR>(out), a);
    }, {{in, bytes}, {out, bytes}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
