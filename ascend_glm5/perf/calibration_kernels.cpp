// The copy patterns of CANN's DataCopy best-practice example (asc-devkit,
// examples/01_simd_cpp_api/05_best_practices/04_memory_access/data_copy), written for the emulator, so
// that the timing model can be set against the times Huawei measured for them (calibration.py).
//
// A half matrix [m, n] in GM; core b owns rows [b * rowsPerCore, (b + 1) * rowsPerCore) and reads them in
// tileM x tileN tiles, back to back into one local buffer that nothing reads (the example has no compute
// and no synchronisation: what it times is MTE2 alone). `slices` x `repeats`: the columns are cut into
// `slices` equal slices and each slice is read `repeats` times before the next (the L2 reuse scenarios).
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

struct TileCopy {
  uint32_t m, n, rowsPerCore, tileM, tileN, slices, repeats;
};

// Calls copy(GM element offset, columns) for each of this core's tiles, in the example's order.
template <typename F>
__aicore__ inline void ForEachTile(const TileCopy& a, F&& copy) {
  const uint32_t sliceCols = a.n / a.slices, row0 = GetBlockIdx() * a.rowsPerCore;
  for (uint32_t s = 0; s < a.slices; ++s)
    for (uint32_t r = 0; r < a.repeats; ++r)
      for (uint32_t row = row0; row < row0 + a.rowsPerCore; row += a.tileM)
        for (uint32_t col = s * sliceCols; col < (s + 1) * sliceCols; col += a.tileN)
          copy(uint64_t(row) * a.n + col, std::min(a.tileN, (s + 1) * sliceCols - col));  // an odd n's last tile is narrower
}

__aicore__ inline GlobalTensor<half> Matrix(GM_ADDR src, const TileCopy& a) {
  GlobalTensor<half> gm;
  gm.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(src), uint64_t(a.m) * a.n);
  return gm;
}

// GM -> UB with DataCopyPad: one burst of a tile's row width per row.
void TilesToUb(GM_ADDR src, const TileCopy& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  TPipe pipe;
  TBuf<TPosition::VECIN> ub;
  pipe.InitBuffer(ub, a.tileM * a.tileN * sizeof(half));
  const LocalTensor<half> dst = ub.Get<half>();
  const GlobalTensor<half> gm = Matrix(src, a);
  ForEachTile(a, [&](uint64_t at, uint32_t cols) {
    const DataCopyParams p(uint16_t(a.tileM), uint16_t(cols * sizeof(half)), uint16_t((a.n - cols) * sizeof(half)), 0);
    DataCopyPad(dst, gm[at], p, DataCopyPadParams(false, 0, 0, 0));
  });
}

// GM -> L1 with DataCopy ND -> NZ: tileM rows of a tile's width into the Nz layout a matmul reads.
void TilesToL1(GM_ADDR src, const TileCopy& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  pipe.InitBuffer(l1, a.tileM * a.tileN * sizeof(half));
  const LocalTensor<half> dst = l1.Get<half>();
  const GlobalTensor<half> gm = Matrix(src, a);
  const uint16_t c0Stride = uint16_t((a.tileM + 15) / 16 * 16);
  ForEachTile(a, [&](uint64_t at, uint32_t cols) {
    DataCopy(dst, gm[at], Nd2NzParams(1, uint16_t(a.tileM), uint16_t(cols), 0, uint16_t(a.n), c0Stride, 1, 0));
  });
}

}  // namespace

extern "C" {

// src: the [m, n] half matrix; cores: AIVs (toL1 = 0) or AICs (toL1 = 1). Returns 0, or 1 with `err` set.
int calib_tile_copy(void* src, uint32_t m, uint32_t n, uint32_t cores, uint32_t tileM, uint32_t tileN, uint32_t slices,
                    uint32_t repeats, uint32_t toL1, char* err, int errLen) {
  try {
    const TileCopy a{m, n, m / cores, tileM, tileN, slices, repeats};
    auto s = reinterpret_cast<GM_ADDR>(src);
    const uint64_t bytes = uint64_t(m) * n * sizeof(half);
    if (toL1)
      emu::Launch("calib_gm_to_l1", KernelMode::AIC_MODE, cores, [&] { TilesToL1(s, a); }, {{src, bytes}});
    else
      emu::Launch("calib_gm_to_ub", KernelMode::AIV_MODE, cores, [&] { TilesToUb(s, a); }, {{src, bytes}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // extern "C"
