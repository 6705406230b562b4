// Kernels for test_emu_hazard_unwind.py: a refused access (gm-hazard across cores, pipe-hazard in UB)
// inside the scope of an object whose destructor issues more AscendC calls, as catlass's tiles do
// (TileCastInt8ToFp16Dequant waits its V_MTE2 / MTE3_V flags in its destructor). The refusal must
// reach the launch as that error; the destructor's calls on the way out must not turn it into a
// second one (a throw from a destructor during unwinding is std::terminate).
#include <cstdint>
#include <cstring>

#include "../emu/selftest_host.h"
#include "kernel_operator.h"

using namespace AscendC;

namespace {

constexpr int32_t kN = 8;  // floats in one 32-byte block
constexpr uint16_t kData = 1;

// Sets a flag on construction and waits for it on destruction, as catlass's casts do with theirs; in
// between the kernel waits for it and sets it again around its work (Step), as their operator() does.
struct FlagGuard {
  FlagGuard() { SetFlag<HardEvent::V_MTE2>(EVENT_ID0); }
  ~FlagGuard() { WaitFlag<HardEvent::V_MTE2>(EVENT_ID0); }
  template <class F>
  void Step(F&& f) {
    WaitFlag<HardEvent::V_MTE2>(EVENT_ID0);
    f();  // a refusal here leaves the flag waited for: the destructor's WaitFlag has no SetFlag
    SetFlag<HardEvent::V_MTE2>(EVENT_ID0);
  }
};

enum Case : int32_t { kGmRace = 0, kUbRace = 1 };

}  // namespace

// One MIX block (two AIVs): kGmRace: AIV 0 writes ws and sets the mode-1 flag on PIPE_S (not after the
// copy); AIV 1 waits and loads ws: gm-hazard. kUbRace: AIV 0 loads into UB and adds on it with no
// MTE2_V flag: pipe-hazard.
extern "C" __global__ __aicore__ void hazard_unwind_kernel(GM_ADDR in, GM_ADDR ws, GM_ADDR caseArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  if ASCEND_IS_AIC return;
  GlobalTensor<float> gIn, gWs;
  gIn.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in), kN);
  gWs.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws), kN);
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, kN * sizeof(float));
  LocalTensor<float> x = buf.Get<float>();
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  const bool first = GetSubBlockIdx() == 0;
  FlagGuard guard;
  if (c == kUbRace) {
    if (first) {
      guard.Step([&] {
        DataCopy(x, gIn, kN);
        Adds(x, x, 1.0f, kN);  // no MTE2_V: refused
      });
    }
    return;
  }
  if (first) {
    DataCopy(x, gIn, kN);
    SetFlag<HardEvent::MTE2_MTE3>(EVENT_ID0);
    WaitFlag<HardEvent::MTE2_MTE3>(EVENT_ID0);
    DataCopy(gWs, x, kN);
    CrossCoreSetFlag<1, PIPE_S>(kData);  // the scalar does not wait for the copy
    CrossCoreWaitFlag<1>(kData);
  } else {
    CrossCoreSetFlag<1, PIPE_MTE3>(kData);
    CrossCoreWaitFlag<1>(kData);
    guard.Step([&] { DataCopy(x, gWs, kN); });  // refused
  }
}

extern "C" __attribute__((visibility("default"))) int emu_hazard_unwind(int which, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    const float in[kN] = {1, 2, 3, 4, 5, 6, 7, 8};
    selftest::Gm gi(sizeof(in), in), gw(sizeof(in)), gc(4, &which);
    SetKernelMode(KernelMode::MIX_MODE);
    ICPU_RUN_KF(hazard_unwind_kernel, 1, gi.get(), gw.get(), gc.get());
  });
}
