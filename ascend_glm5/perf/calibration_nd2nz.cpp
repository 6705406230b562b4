// The ND -> NZ rearrangement of CANN's bank_conflict_nd2nz example (asc-devkit
// examples/01_simd_cpp_api/05_best_practices/04_memory_access/bank_conflict_nd2nz, the dav-2201 path),
// written for the emulator so that the model's UB bank rules for a vector instruction's writes can be
// set against the times Huawei measured (calibration_nd2nz.py).
//
// z (half [m, n] in the compact Nz layout: 16-column blocks of m rows, one after the other) from x
// (half [m, n], row-major). 48 AIV form 6 row splits x 8 column splits of 144 x 128 tiles (the last tile
// row holds m % 144 rows; the row tiles spread over the splits, the first splits take one more). Per
// tile, ping-pong: GM -> UB (one burst of 128 halves a row), one `Copy` of a repeat a row that scatters
// the row's 8 blocks to the 8 column blocks of the tile's Nz image, `c0Stride` blocks apart, UB -> GM
// (8 bursts of the tile's rows). `c0Stride` 144 puts the 8 writes of a repeat in one UB bank group;
// 145 spreads them over 8 (the example's two cases).
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

constexpr uint32_t kTileH = 144, kTileW = 128, kC0 = 16, kRowSplits = 6, kColSplits = 8;

struct Nd2NzJob {
  uint32_t m, n, c0Stride;
};

void Nd2Nz(GM_ADDR x, GM_ADDR z, const Nd2NzJob& j) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const uint32_t block = GetBlockIdx();
  if (block >= kRowSplits * kColSplits) return;
  GlobalTensor<half> xg, zg;
  xg.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(x), uint64_t(j.m) * j.n);
  zg.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(z), uint64_t(j.m) * j.n);
  const uint32_t ndBytes = kTileH * kTileW * sizeof(half);
  const uint32_t nzBlocks = (kTileH - 1) + (kTileW / kC0 - 1) * j.c0Stride + 1 + (j.c0Stride > kTileH ? 1 : 0);
  const uint32_t nzBytes = nzBlocks * 32;
  const LocalTensor<half> nd[2] = {LocalTensor<half>(TPosition::VECIN, 0, ndBytes / 2),
                                   LocalTensor<half>(TPosition::VECIN, ndBytes, ndBytes / 2)};
  const LocalTensor<half> nz[2] = {LocalTensor<half>(TPosition::VECOUT, 2 * ndBytes, nzBytes / 2),
                                   LocalTensor<half>(TPosition::VECOUT, 2 * ndBytes + nzBytes, nzBytes / 2)};
  const uint32_t rowTiles = (j.m + kTileH - 1) / kTileH, colTiles = j.n / kTileW / kColSplits;
  const uint32_t split = block / kColSplits, base = rowTiles / kRowSplits, extra = rowTiles % kRowSplits;
  const uint32_t firstRowTile = split * base + std::min(split, extra), rowTileCount = base + (split < extra);
  const uint32_t firstColTile = (block % kColSplits) * colTiles;
  for (uint32_t e = 0; e < 2; ++e) {
    SetFlag<HardEvent::V_MTE2>(e);
    SetFlag<HardEvent::MTE3_V>(e);
  }
  for (uint32_t i = 0; i < rowTileCount * colTiles; ++i) {
    const uint32_t e = i & 1, row0 = (firstRowTile + i / colTiles) * kTileH, col0 = (firstColTile + i % colTiles) * kTileW;
    const uint32_t rows = std::min(kTileH, j.m - row0);
    WaitFlag<HardEvent::V_MTE2>(e);
    DataCopy(nd[e], xg[uint64_t(row0) * j.n + col0],
             DataCopyParams(uint16_t(rows), kTileW / kC0, uint16_t((j.n - kTileW) / kC0), 0));
    SetFlag<HardEvent::MTE2_V>(e);
    WaitFlag<HardEvent::MTE2_V>(e);
    WaitFlag<HardEvent::MTE3_V>(e);
    Copy(nz[e], nd[e], uint64_t(kTileW), uint8_t(rows), CopyRepeatParams(uint16_t(j.c0Stride), 1, 1, kTileW / kC0));
    SetFlag<HardEvent::V_MTE2>(e);
    SetFlag<HardEvent::V_MTE3>(e);
    WaitFlag<HardEvent::V_MTE3>(e);
    DataCopy(zg[(uint64_t(row0) + uint64_t(col0 / kC0) * j.m) * kC0], nz[e],
             DataCopyParams(kTileW / kC0, uint16_t(rows), uint16_t(j.c0Stride - rows), uint16_t(j.m - rows)));
    SetFlag<HardEvent::MTE3_V>(e);
  }
  for (uint32_t e = 0; e < 2; ++e) {
    WaitFlag<HardEvent::V_MTE2>(e);
    WaitFlag<HardEvent::MTE3_V>(e);
  }
}

}  // namespace

extern "C" {

// x, z: half [m, n] (z in the compact Nz layout). Returns 0, or 1 with `err` set.
int calib_nd2nz(void* x, void* z, uint32_t m, uint32_t n, uint32_t c0Stride, char* err, int errLen) {
  try {
    const Nd2NzJob j{m, n, c0Stride};
    const uint64_t bytes = uint64_t(m) * n * sizeof(half);
    emu::Launch("calib_nd2nz", KernelMode::AIV_MODE, kRowSplits * kColSplits,
                [&] { Nd2Nz(reinterpret_cast<GM_ADDR>(x), reinterpret_cast<GM_ADDR>(z), j); }, {{x, bytes}, {z, bytes}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // extern "C"
