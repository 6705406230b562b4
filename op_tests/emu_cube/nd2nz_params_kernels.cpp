// DataCopy GM -> L1 (ND2NZ) with dstNzNStride 0 (随路转换ND2NZ搬运.md: [1, 16384]). With one row the
// stride is never used, and catlass's Atlas A2 CopyGmToL1 passes 0 there (one copy a row for leading
// dimensions of 65536 or more); with two rows the emulator refuses it under the field's name.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

struct Nd2NzArgs {
  uint16_t rows, nStride;
};

// out [rows * 16] half = the first `rows` 16-element rows of the L1 fractal, copied from src [rows, 16]
// with dstNzNStride `nStride` (the L1 fractal holds row r at r * 16 when nStride is 1).
extern "C" __global__ __aicore__ void nd2nz_rows(GM_ADDR src, GM_ADDR out, GM_ADDR arg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const Nd2NzArgs a = *reinterpret_cast<const Nd2NzArgs*>(arg);
  GlobalTensor<half> gs, go;
  gs.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(src));
  go.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(out));
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  pipe.InitBuffer(l1, 2048);
  // ndNum 1, nValue rows, dValue 16, srcNdMatrixStride 0, srcDValue 16, dstNzC0Stride 16, dstNzNStride, matrix 0
  DataCopy(l1.Get<half>(), gs, Nd2NzParams(1, a.rows, 16, 0, 16, 16, a.nStride, 0));
  SetFlag<HardEvent::MTE2_MTE3>(EVENT_ID0);
  WaitFlag<HardEvent::MTE2_MTE3>(EVENT_ID0);
  DataCopy(go, l1.Get<half>(), a.rows * 16u);
}

extern "C" __attribute__((visibility("default"))) int nd2nz_launch(void* src, void* out, uint16_t rows, uint16_t nStride,
                                                                     char* err, int errLen) {
  try {
    Nd2NzArgs arg{rows, nStride};
    emu::Launch("nd2nz_rows", KernelMode::AIC_MODE, 1,
                [&] { nd2nz_rows(static_cast<GM_ADDR>(src), static_cast<GM_ADDR>(out), reinterpret_cast<GM_ADDR>(&arg)); },
                {{src, rows * 32u}, {out, rows * 32u}, {&arg, sizeof(arg)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
