// Cube operand moves for int8 / int4 (and, for LoadAToL0, 16-bit) GEMM tiles (A2/A3 fractal formats, Mmad.md):
//   GM row-major -> L1 Nz    (ND2NZ; c0 = 32 B of elements per fractal row, 16-row fractals)
//   L1 Nz  -> L0A Zz         (LoadData: A stays [m, k])
//   L1 Nz  -> L0B Zn         ([N, K] tiles: LoadData; [K, N] tiles: LoadDataWithTranspose)
// Element offsets into int4 tensors count nibbles; every offset used here is a whole 32 B row.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

template <typename T> struct CubeElem;  // elements per 32 B fractal row (c0) and per 512 B fractal
template <> struct CubeElem<int8_t> {
  static constexpr uint32_t bits = 8;
  static constexpr uint32_t c0 = 32;
  static constexpr uint32_t fractal = 512;
};
template <> struct CubeElem<AscendC::int4b_t> {
  static constexpr uint32_t bits = 4;
  static constexpr uint32_t c0 = 64;
  static constexpr uint32_t fractal = 1024;
};
template <> struct CubeElem<half> {
  static constexpr uint32_t bits = 16;
  static constexpr uint32_t c0 = 16;
  static constexpr uint32_t fractal = 256;
};
template <> struct CubeElem<bfloat16_t> {
  static constexpr uint32_t bits = 16;
  static constexpr uint32_t c0 = 16;
  static constexpr uint32_t fractal = 256;
};

// GM [rows, bytes] (row pitch srcPitch bytes) -> L1 Nz with `dstRows` rows per 32 B column block,
// in bytes: int4 tiles use the b8 copy with byte counts, as CANN's ND2NZ does for int4b_t
// (dav_c220 DataCopyGM2L1ND2NZImpl). srcDValue is 16 bits (Nd2NzParams, 随路转换ND2NZ搬运.md):
// longer pitches go row by row. Bytes past `bytes` inside the last 32 B block are zero-filled.
__aicore__ inline void CopyGmToNz(const AscendC::LocalTensor<int8_t>& dst, const AscendC::GlobalTensor<int8_t>& src,
                                  uint32_t rows, uint32_t bytes, uint64_t srcPitch, uint32_t dstRows) {
  using AscendC::Nd2NzParams;
  if (rows == 0 || bytes == 0) return;
  if (srcPitch <= 65535) {
    AscendC::DataCopy(dst, src, Nd2NzParams(1, uint16_t(rows), uint16_t(bytes), 0, uint16_t(srcPitch), uint16_t(dstRows), 1, 0));
    return;
  }
  for (uint32_t r = 0; r < rows; ++r)
    AscendC::DataCopy(dst[r * 32], src[r * srcPitch], Nd2NzParams(1, 1, uint16_t(bytes), 0, uint16_t(bytes), uint16_t(dstRows), 1, 0));
}

// GM [rows, bytes] (row pitch srcPitch <= 65535 bytes) -> rows [row0, row0 + rows) of an L1 A tile of
// mPad rows in L0A's order (Zz), cut into K steps of stepBytes: step s starts s x mPad x stepBytes
// in, and holds the tile's row blocks one after another, each its stepBytes / 32 fractals in order
// (as L0A holds them), so that a step goes to L0A in one LoadData (LoadAZzToL0). A step shorter
// than stepBytes (the last, when bytes is not a multiple) holds its row blocks ceil(its bytes / 32)
// fractals apart. One ND2NZ per piece of a row block the rows cover (16-row matrices cannot be
// ndNum of one copy: their srcNdMatrixStride, 16 x the pitch, is 16 bits), its full steps as its
// ND matrices (source stepBytes apart, L1 mPad x stepBytes apart), a short step in one more. As
// CopyGmToNz: int4 rows go as bytes, bytes past `bytes` in the last 32 B block are zero-filled.
__aicore__ inline void CopyGmToZz(const AscendC::LocalTensor<int8_t>& dst, const AscendC::GlobalTensor<int8_t>& src,
                                  uint32_t rows, uint32_t bytes, uint32_t srcPitch, uint32_t row0, uint32_t mPad,
                                  uint32_t stepBytes) {
  using AscendC::Nd2NzParams;
  const uint32_t full = bytes / stepBytes, rest = bytes % stepBytes, restBlocks = (rest + 31) / 32;
  for (uint32_t r = 0; r < rows;) {
    const uint32_t d = row0 + r, block = d / 16, in = d % 16, n = 16 - in < rows - r ? 16 - in : rows - r;
    const AscendC::GlobalTensor<int8_t> from = src[uint64_t(r) * srcPitch];
    if (full > 0)
      AscendC::DataCopy(dst[(block * 16 * stepBytes) + in * 32], from,
                        Nd2NzParams(uint16_t(full), uint16_t(n), uint16_t(stepBytes), uint16_t(stepBytes), uint16_t(srcPitch),
                                    16, 1, uint16_t(mPad * stepBytes)));
    if (rest > 0)
      AscendC::DataCopy(dst[full * mPad * stepBytes + (block * restBlocks * 16 + in) * 32], from[uint64_t(full) * stepBytes],
                        Nd2NzParams(1, uint16_t(n), uint16_t(rest), 0, uint16_t(srcPitch), 16, 1, 0));
    r += n;
  }
}

// A step of an L1 A tile in L0A's order (CopyGmToZz: m1 row blocks of k1 fractals) -> L0A: one load.
template <typename T>
__aicore__ inline void LoadAZzToL0(const AscendC::LocalTensor<T>& l0a, const AscendC::LocalTensor<T>& l1, uint32_t m1,
                                   uint32_t k1) {
  AscendC::LoadData(l0a, l1, AscendC::LoadData2DParams(0, uint8_t(m1 * k1), 1, 0, 0, false, 0));
}

// L1 Nz A tile (m1 fractal rows per column block) -> L0A Zz, k1 column blocks. Whichever is fewer
// (each load costs MTE1 ~22 cycles besides its bytes): one LoadData per column block, each fractal
// of it landing k1 fractals apart, or one per row block, its fractals m1 apart in L1.
template <typename T>
__aicore__ inline void LoadAToL0(const AscendC::LocalTensor<T>& l0a, const AscendC::LocalTensor<T>& l1, uint32_t m1,
                                 uint32_t k1) {
  if (m1 < k1) {
    for (uint32_t mb = 0; mb < m1; ++mb)
      AscendC::LoadData(l0a[mb * k1 * CubeElem<T>::fractal], l1,
                        AscendC::LoadData2DParams(uint16_t(mb), uint8_t(k1), uint16_t(m1), 0, 0, false, 0));
    return;
  }
  for (uint32_t kb = 0; kb < k1; ++kb)
    AscendC::LoadData(l0a[kb * CubeElem<T>::fractal], l1,
                      AscendC::LoadData2DParams(uint16_t(kb * m1), uint8_t(m1), 1, 0, uint16_t(k1 - 1), false, 0));
}

// L1 Nz tile of B^T ([N rows, K cols], n1Tot fractal rows per column block) -> L0B Zn (k1, n1):
// the fractal orders coincide, one LoadData.
template <typename T>
__aicore__ inline void LoadBtToL0(const AscendC::LocalTensor<T>& l0b, const AscendC::LocalTensor<T>& l1, uint32_t n1Tot,
                                  uint32_t k1) {
  AscendC::LoadData(l0b, l1, AscendC::LoadData2DParams(0, uint8_t(k1 * n1Tot), 1, 0, 0, false, 0));
}

// Columns [16 f0, 16 (f0 + n1)) of that tile -> L0B Zn (k1, n1): one LoadData per column block.
template <typename T>
__aicore__ inline void LoadBtColumnsToL0(const AscendC::LocalTensor<T>& l0b, const AscendC::LocalTensor<T>& l1,
                                         uint32_t n1Tot, uint32_t f0, uint32_t n1, uint32_t k1) {
  for (uint32_t kb = 0; kb < k1; ++kb)
    AscendC::LoadData(l0b[kb * n1 * CubeElem<T>::fractal], l1,
                      AscendC::LoadData2DParams(uint16_t(kb * n1Tot + f0), uint8_t(n1), 1, 0, 0, false, 0));
}

// L1 Nz tile of B ([K rows, N cols], kRows rows per column block) -> L0B Zn (k1, n1) with a
// transpose: per column block, k1 square blocks of c0 x c0 (int8: two fractals, int4: four;
// LoadDataWithTranspose.md) become the fractals (k1, n1 = block's first .. last).
template <typename T>
__aicore__ inline void LoadBToL0Transposed(const AscendC::LocalTensor<T>& l0b, const AscendC::LocalTensor<T>& l1,
                                           uint32_t kRows, uint32_t nBlocks, uint32_t k1) {
  constexpr uint32_t c0 = CubeElem<T>::c0, perSquare = c0 / 16;
  const uint32_t n1Tot = nBlocks * perSquare;
  for (uint32_t nb = 0; nb < nBlocks; ++nb)
    AscendC::LoadDataWithTranspose(
        l0b[nb * perSquare * CubeElem<T>::fractal], l1[nb * kRows * c0],
        AscendC::LoadData2dTransposeParams(0, uint8_t(k1), 1, uint16_t(n1Tot - 1), 0));
}

}  // namespace ascend_glm5
