// The vector side of CANN's matmul + GELU fusion example (asc-devkit
// examples/01_simd_cpp_api/05_best_practices/03_fusion_compute/matmul_gelu_high_performance, the A2/A3
// "MemBase" GELU), written for the emulator so that the model's costs of Mul, Muls, Add, Exp, Adds and
// Div can be set against the vector time Huawei measured for it (calibration_gelu.py).
//
// Each AIV takes `tiles` half tiles of 64 x 256 floats of y [rows, 256] in turn (the example's AIV
// gets the upper or lower half of each 128 x 256 output tile of its AIC): GM -> UB (x at UB 0), the
// example's 8 instructions, each behind a PipeBarrier<PIPE_V>, into the buffer right after x (64 KiB on),
// UB -> GM. GELU(x) = x / (1 + exp(-1.595769 (x + 0.044715 x^3))).
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

constexpr uint32_t kRows = 64, kCols = 256, kLen = kRows * kCols;
constexpr float kCoeffA = 0.044715f, kCoeffB = -1.595769f;

void GeluMemBase(const LocalTensor<float>& x, const LocalTensor<float>& y) {
  Mul(y, x, x, kLen);
  PipeBarrier<PIPE_V>();
  Mul(y, y, x, kLen);
  PipeBarrier<PIPE_V>();
  Muls(y, y, kCoeffA, kLen);
  PipeBarrier<PIPE_V>();
  Add(y, x, y, kLen);
  PipeBarrier<PIPE_V>();
  Muls(y, y, kCoeffB, kLen);
  PipeBarrier<PIPE_V>();
  Exp(y, y, kLen);
  PipeBarrier<PIPE_V>();
  Adds(y, y, 1.0f, kLen);
  PipeBarrier<PIPE_V>();
  Div(y, x, y, kLen);
}

void GeluTiles(GM_ADDR x, GM_ADDR y, uint32_t tiles) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const uint64_t first = uint64_t(GetBlockIdx()) * tiles * kLen;
  GlobalTensor<float> xg, yg;
  xg.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x) + first, uint64_t(tiles) * kLen);
  yg.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y) + first, uint64_t(tiles) * kLen);
  const LocalTensor<float> xl(TPosition::VECCALC, 0, kLen), yl(TPosition::VECCALC, kLen * sizeof(float), kLen);
  const DataCopyExtParams rows(kRows, kCols * sizeof(float), 0, 0, 0);
  SetFlag<HardEvent::MTE3_V>(0);
  SetFlag<HardEvent::V_MTE2>(0);
  for (uint32_t t = 0; t < tiles; ++t) {
    WaitFlag<HardEvent::V_MTE2>(0);  // x's previous tile is read (Div reads it last)
    DataCopyPad(xl, xg[uint64_t(t) * kLen], rows, DataCopyPadExtParams<float>(false, 0, 0, 0.0f));
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE3_V>(0);  // y's previous tile is out
    GeluMemBase(xl, yl);
    SetFlag<HardEvent::V_MTE2>(0);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(yg[uint64_t(t) * kLen], yl, rows);
    SetFlag<HardEvent::MTE3_V>(0);
  }
  WaitFlag<HardEvent::MTE3_V>(0);
  WaitFlag<HardEvent::V_MTE2>(0);
}

}  // namespace

extern "C" {

// x, y: float [cores * tiles * 64, 256]. Returns 0, or 1 with `err` set.
int calib_gelu(void* x, void* y, uint32_t cores, uint32_t tiles, char* err, int errLen) {
  try {
    const uint64_t bytes = uint64_t(cores) * tiles * kLen * sizeof(float);
    emu::Launch("calib_gelu", KernelMode::AIV_MODE, cores,
                [&] { GeluTiles(reinterpret_cast<GM_ADDR>(x), reinterpret_cast<GM_ADDR>(y), tiles); },
                {{x, bytes}, {y, bytes}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // extern "C"
