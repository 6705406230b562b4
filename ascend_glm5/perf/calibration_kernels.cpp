// The copy patterns of CANN's DataCopy best-practice example (asc-devkit,
// examples/01_simd_cpp_api/05_best_practices/04_memory_access/data_copy), the element-wise add of
// its Add example (.../00_vector_compute/add_high_performance) and the Adds of its UB bank example
// (.../04_memory_access/bank_conflict_ub), written for the emulator, so that the
// timing model can be set against the times Huawei measured for them (calibration.py).
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

// z = x + y over half [m, n] matrices (the Add example). The rows are split evenly over the AIVs (the
// first m % cores take one more); a core adds its contiguous elements in chunks of `len`: x and y
// GM -> UB, the add, z UB -> GM. kScalar adds element by element with GetValue / SetValue, kSerial
// with one Add into one buffer set (the next chunk's copies wait for the Add, its Add for z's copy
// out), kDoubleBuffer alternates two buffer sets.
enum AddMode : uint32_t { kScalar = 0, kSerial = 1, kDoubleBuffer = 2 };

struct AddJob {
  uint32_t m, n, cores, len, mode;
};

void AddChunks(GM_ADDR x, GM_ADDR y, GM_ADDR z, const AddJob& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const uint32_t b = GetBlockIdx(), base = a.m / a.cores, extra = a.m % a.cores;
  const uint64_t first = (uint64_t(b) * base + std::min(b, extra)) * a.n, count = uint64_t(base + (b < extra)) * a.n;
  GlobalTensor<half> xg, yg, zg;
  xg.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(x) + first, count);
  yg.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(y) + first, count);
  zg.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(z) + first, count);
  const uint32_t sets = a.mode == kDoubleBuffer ? 2 : 1;
  TPipe pipe;
  TBuf<TPosition::VECCALC> ub;
  pipe.InitBuffer(ub, sets * 3 * a.len * sizeof(half));
  const LocalTensor<half> all = ub.Get<half>();
  // Each set's inputs and output start free: the reverse events are set once up front.
  for (uint32_t e = 0; e < sets; ++e) {
    SetFlag<HardEvent::V_MTE2>(e);
    SetFlag<HardEvent::MTE3_V>(e);
  }
  for (uint64_t at = 0, i = 0; at < count; at += a.len, ++i) {
    const uint32_t e = uint32_t(i % sets), len = uint32_t(std::min<uint64_t>(a.len, count - at));
    const LocalTensor<half> xl = all[3 * e * a.len], yl = all[(3 * e + 1) * a.len], zl = all[(3 * e + 2) * a.len];
    WaitFlag<HardEvent::V_MTE2>(e);
    DataCopy(xl, xg[at], len);
    DataCopy(yl, yg[at], len);
    SetFlag<HardEvent::MTE2_V>(e);
    WaitFlag<HardEvent::MTE2_V>(e);
    WaitFlag<HardEvent::MTE3_V>(e);
    if (a.mode == kScalar) {  // the scalar unit's own waits: the inputs are in, z's last copy out is done
      SetFlag<HardEvent::MTE2_S>(e);
      WaitFlag<HardEvent::MTE2_S>(e);
      SetFlag<HardEvent::MTE3_S>(e);
      WaitFlag<HardEvent::MTE3_S>(e);
      for (uint32_t k = 0; k < len; ++k) zl.SetValue(k, half(float(xl.GetValue(k)) + float(yl.GetValue(k))));
      SetFlag<HardEvent::S_MTE2>(e);  // the next loads and this copy out wait for the scalar's work
      WaitFlag<HardEvent::S_MTE2>(e);
      SetFlag<HardEvent::S_MTE3>(e);
      WaitFlag<HardEvent::S_MTE3>(e);
    } else {
      Add(zl, xl, yl, len);
    }
    SetFlag<HardEvent::V_MTE2>(e);
    SetFlag<HardEvent::V_MTE3>(e);
    WaitFlag<HardEvent::V_MTE3>(e);
    DataCopy(zg[at], zl, len);
    SetFlag<HardEvent::MTE3_V>(e);
  }
  for (uint32_t e = 0; e < sets; ++e) {
    WaitFlag<HardEvent::V_MTE2>(e);
    WaitFlag<HardEvent::MTE3_V>(e);
  }
}

// The bank_conflict_ub example (asc-devkit .../04_memory_access/bank_conflict_ub): one AIV places
// float x, y and z (xLen, len and zLen elements) at the given UB byte addresses (y and z may be one
// buffer), then runs `times` Adds of len / 64 repeats back to back, dst's block stride and src0's
// strides as given (x and z span what those strides reach).
struct BankAddJob {
  uint32_t len, xLen, zLen, src0Addr, src1Addr, dstAddr, dstBlkStride, src0BlkStride, src0RepStride, times;
};

void BankAdd(GM_ADDR x, GM_ADDR y, GM_ADDR z, const BankAddJob& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  GlobalTensor<float> xg, yg, zg;
  xg.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), a.xLen);
  yg.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), a.len);
  zg.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(z), a.zLen);
  const LocalTensor<float> xl(TPosition::VECCALC, a.src0Addr, a.xLen), yl(TPosition::VECCALC, a.src1Addr, a.len),
      zl(TPosition::VECCALC, a.dstAddr, a.zLen);
  DataCopy(xl, xg, a.xLen);
  DataCopy(yl, yg, a.len);
  SetFlag<HardEvent::MTE2_V>(0);
  WaitFlag<HardEvent::MTE2_V>(0);
  const BinaryRepeatParams params(static_cast<uint8_t>(a.dstBlkStride), static_cast<uint8_t>(a.src0BlkStride), 1, 8,
                                  static_cast<uint8_t>(a.src0RepStride), 8);
  for (uint32_t i = 0; i < a.times; ++i) Add(zl, xl, yl, 64, static_cast<uint8_t>(a.len / 64), params);
  SetFlag<HardEvent::V_MTE3>(0);
  WaitFlag<HardEvent::V_MTE3>(0);
  DataCopy(zg, zl, a.zLen);
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

// x, y, z: half [m, n] matrices; mode: AddMode. Returns 0, or 1 with `err` set.
int calib_add(void* x, void* y, void* z, uint32_t m, uint32_t n, uint32_t cores, uint32_t len, uint32_t mode, char* err,
              int errLen) {
  try {
    const AddJob a{m, n, cores, len, mode};
    const uint64_t bytes = uint64_t(m) * n * sizeof(half);
    emu::Launch("calib_add", KernelMode::AIV_MODE, cores,
                [&] { AddChunks(reinterpret_cast<GM_ADDR>(x), reinterpret_cast<GM_ADDR>(y), reinterpret_cast<GM_ADDR>(z), a); },
                {{x, bytes}, {y, bytes}, {z, bytes}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

// x, y, z: float [len]; addresses in UB bytes. Returns 0, or 1 with `err` set.
int calib_bank_add(void* x, void* y, void* z, uint32_t len, uint32_t xLen, uint32_t zLen, uint32_t src0Addr,
                   uint32_t src1Addr, uint32_t dstAddr, uint32_t dstBlkStride, uint32_t src0BlkStride,
                   uint32_t src0RepStride, uint32_t times, char* err, int errLen) {
  try {
    const BankAddJob a{len, xLen, zLen, src0Addr, src1Addr, dstAddr, dstBlkStride, src0BlkStride, src0RepStride, times};
    emu::Launch("calib_bank_add", KernelMode::AIV_MODE, 1,
                [&] { BankAdd(reinterpret_cast<GM_ADDR>(x), reinterpret_cast<GM_ADDR>(y), reinterpret_cast<GM_ADDR>(z), a); },
                {{x, xLen * sizeof(float)}, {y, len * sizeof(float)}, {z, zLen * sizeof(float)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // extern "C"
