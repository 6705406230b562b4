// Cube unit (AIC): GM -> L1 with ND2NZ, LoadData L1 -> L0A/L0B, Mmad into L0C, Fixpipe L0C -> GM.
//
// Fractal formats on A2/A3 (one fractal = 512 B; c0 = 32 B / element size, 64 for int4):
//   L1 (ND2NZ output) and L0B are Nz/Zn: column blocks of c0 columns, 16-row fractals inside;
//   L0A is Zz: fractals row-major over (m1, k1), each 16 x k0 row-major;
//   L0B is Zn: fractals ordered (k1, n1), each holding 16 columns of B as rows (16 x k0);
//   L0C is Nz: 16 x 16 fractals ordered (n1, m1), row-major inside, fp32/int32.
// Mmad accumulates in fp32 (half/bf16/float inputs, one fused multiply-add per k in k order) or
// exactly in int32 (int8, int4). The NPU's accumulation order is not published; references that
// must match bit for bit use the same order.
#pragma once

#include <cmath>
#include <type_traits>
#include <vector>

#include "fp_types.h"
#include "atomic.h"
#include "data_copy.h"
#include "tensor.h"

namespace AscendC {

struct Nd2NzParams {
  uint16_t ndNum = 0;
  uint16_t nValue = 0;             // rows of each ND matrix
  uint16_t dValue = 0;             // columns of each ND matrix
  uint16_t srcNdMatrixStride = 0;  // elements between ND matrices in GM
  uint16_t srcDValue = 0;          // elements per source row
  uint16_t dstNzC0Stride = 0;      // 32 B units between column blocks in L1
  uint16_t dstNzNStride = 0;       // 32 B units between rows of a column block
  uint16_t dstNzMatrixStride = 0;  // elements between NZ matrices in L1
  Nd2NzParams() = default;
  Nd2NzParams(uint16_t ndNumIn, uint16_t nValueIn, uint16_t dValueIn, uint16_t srcNdMatrixStrideIn, uint16_t srcDValueIn,
              uint16_t dstNzC0StrideIn, uint16_t dstNzNStrideIn, uint16_t dstNzMatrixStrideIn)
      : ndNum(ndNumIn), nValue(nValueIn), dValue(dValueIn), srcNdMatrixStride(srcNdMatrixStrideIn), srcDValue(srcDValueIn),
        dstNzC0Stride(dstNzC0StrideIn), dstNzNStride(dstNzNStrideIn), dstNzMatrixStride(dstNzMatrixStrideIn) {}
};

struct LoadData2DParams;
using LoadData2dParams = struct LoadData2DParams;
struct LoadData2DParams {
  uint16_t startIndex = 0;  // first source fractal
  uint16_t dstGap = 0;      // fractals skipped in dst between repeats
  uint16_t srcStride = 0;   // fractals between source fractals of consecutive repeats
  bool ifTranspose = false; // transpose each 16 x 16 fractal (b16 only)
  uint8_t repeatTimes = 0;
  uint8_t sid = 0;
  uint8_t addrMode = 0;
  LoadData2DParams() = default;
  LoadData2DParams(uint16_t startIndexIn, uint8_t repeatTimesIn, uint16_t srcStrideIn, uint8_t sidIn, uint16_t dstGapIn,
                   bool ifTransposeIn, uint8_t addrModeIn)
      : startIndex(startIndexIn), dstGap(dstGapIn), srcStride(srcStrideIn), ifTranspose(ifTransposeIn),
        repeatTimes(repeatTimesIn), sid(sidIn), addrMode(addrModeIn) {}
};

struct MmadParams {
  uint16_t m = 0, n = 0, k = 0;
  bool isBias = false;
  int32_t fmOffset = 0;
  bool enSsparse = false, enWinogradA = false, enWinogradB = false;
  uint8_t unitFlag = 0;
  bool kDirectionAlign = false;
  bool cmatrixSource = false;
  bool cmatrixInitVal = true;  // true: C = A.B; false: C += A.B
  MmadParams() = default;
  MmadParams(uint16_t mIn, uint16_t nIn, uint16_t kIn, bool isBiasIn, int32_t fmOffsetIn, bool enSsparseIn,
             bool enWinogradAIn, bool enWinogradBIn)
      : m(mIn), n(nIn), k(kIn), isBias(isBiasIn), fmOffset(fmOffsetIn), enSsparse(enSsparseIn),
        enWinogradA(enWinogradAIn), enWinogradB(enWinogradBIn) {}
  MmadParams(uint16_t mIn, uint16_t nIn, uint16_t kIn, uint8_t unitFlagIn, bool cmatrixSourceIn, bool cmatrixInitValIn)
      : m(mIn), n(nIn), k(kIn), unitFlag(unitFlagIn), cmatrixSource(cmatrixSourceIn), cmatrixInitVal(cmatrixInitValIn) {}
};

}  // namespace AscendC

// The fixpipe quantization modes are a compiler builtin on the NPU (global namespace); these are
// the values CANN's CPU stubs give them (the A2/A3 subset).
typedef enum {
  NoQuant = 0,
  F322F16 = 1,
  VREQ8 = 8,
  REQ8 = 9,
  VDEQF16 = 10,
  DEQF16 = 11,
  F322BF16 = 16,
  VQF322B8_PRE = 23,
  QF322B8_PRE = 24,
} QuantMode_t;

namespace AscendC {

// include/basic_api/kernel_struct_fixpipe.h
struct FixpipeParamsV220 {
  FixpipeParamsV220() {}
  FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn, const uint32_t dstStrideIn,
                    const bool reluEnIn)
      : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), reluEn(reluEnIn) {}
  FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn, const uint32_t dstStrideIn,
                    const bool reluEnIn, const QuantMode_t quantPreIn, const int64_t deqScalarIn, const uint16_t ndNumIn,
                    const uint16_t srcNdStrideIn, const uint16_t dstNdStrideIn, const uint8_t unitFlagIn)
      : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), quantPre(quantPreIn),
        deqScalar(deqScalarIn), ndNum(ndNumIn), srcNdStride(srcNdStrideIn), dstNdStride(dstNdStrideIn), reluEn(reluEnIn),
        unitFlag(unitFlagIn) {}
  FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn, const uint32_t dstStrideIn,
                    const bool reluEnIn, const QuantMode_t quantPreIn, const int64_t deqScalarIn, const uint16_t ndNumIn,
                    const uint16_t srcNdStrideIn, const uint16_t dstNdStrideIn, const uint8_t unitFlagIn,
                    const bool isChannelSplitIn)
      : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), quantPre(quantPreIn),
        deqScalar(deqScalarIn), ndNum(ndNumIn), srcNdStride(srcNdStrideIn), dstNdStride(dstNdStrideIn), reluEn(reluEnIn),
        unitFlag(unitFlagIn), isChannelSplit(isChannelSplitIn) {}
  uint16_t nSize = 0;      // columns written
  uint16_t mSize = 0;      // rows written
  uint16_t srcStride = 0;  // rows of the L0C matrix (m rounded up to 16)
  uint32_t dstStride = 0;  // elements between GM rows (row-major output)
  QuantMode_t quantPre = QuantMode_t::NoQuant;
  uint64_t deqScalar = 0;  // not initialised in CANN
  uint16_t ndNum = 1;
  uint16_t srcNdStride = 0;
  uint16_t dstNdStride = 0;
  bool reluEn = false;
  uint8_t unitFlag = 0;
  bool isChannelSplit = false;
};

enum class CO2Layout : uint8_t { NZ = 0, ROW_MAJOR, COLUMN_MAJOR };
struct FixpipeConfig {
  CO2Layout format;
};
constexpr FixpipeConfig CFG_NZ = {CO2Layout::NZ};
constexpr FixpipeConfig CFG_ROW_MAJOR = {CO2Layout::ROW_MAJOR};
constexpr FixpipeConfig CFG_COLUMN_MAJOR = {CO2Layout::COLUMN_MAJOR};

namespace emu {

void RequireCubeCore(const char* api);
void Poison(uint8_t* p, uint32_t bytes);
// runtime/cube_math.cpp: acc[m][n] += sum_k a[m][k] * bt[k][n], in k order (float: one fma per k).
void GemmFloat(const float* a, const float* bt, float* acc, uint32_t m, uint32_t n, uint32_t k);
void GemmInt32(const int32_t* a, const int32_t* bt, int32_t* acc, uint32_t m, uint32_t n, uint32_t k);

template <typename T> inline constexpr uint32_t kC0 = 256 / kBits<T>;  // elements per 32 B row of a fractal

template <typename T>
inline void RequirePosition(const char* api, const char* operand, const LocalTensor<T>& t, Mem m) {
  EMU_REQUIRE(t.EmuMem() == m, api, "position", "%s must be in %s, it is in %s", operand, Spec(m).name, Spec(t.EmuMem()).name);
}

// Reads element i (in elements) of a local tensor, sign-extending int4.
template <typename T>
inline auto LoadElem(const uint8_t* base, uint64_t i) {
  if constexpr (kBits<T> == 4) {
    const uint8_t byte = base[i / 2];
    return static_cast<int32_t>(int4b_t((i & 1) ? (byte >> 4) : (byte & 0xF)));
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<int32_t>(Load<T>(base + i * sizeof(T)));
  } else {
    return static_cast<float>(Load<T>(base + i * sizeof(T)));
  }
}

// Quantization scale word (arch 2201): fp32 in bits 0-31, of which the fixpipe keeps 1 sign,
// 8 exponent and the top 10 mantissa bits.
inline float FixpipeScale(uint64_t word) { return BitsFloat(static_cast<uint32_t>(word) & 0xFFFFE000u); }

}  // namespace emu

// ---- GM -> L1, ND to NZ -------------------------------------------------------------------------
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const Nd2NzParams& p) {
  if constexpr (emu::kBits<T> == 4) {
    // int4b_t runs the b8 instruction on unchanged parameters (dav_c220 DataCopyGM2L1ND2NZImpl), so
    // dValue, srcDValue and both matrix strides count bytes, i.e. pairs of int4 values.
    return DataCopy(dst.template ReinterpretCast<int8_t>(), emu::GmAs<int8_t>(src), p);
  }
  const char* api = "DataCopy(ND2NZ)";
  emu::RequireCubeCore(api);
  emu::RequirePosition(api, "dst", dst, emu::Mem::L1);
  dst.CheckAlign(api, "dst", 32);
  EMU_REQUIRE(p.nValue <= 16384, api, "param-range", "nValue %u exceeds 16384", p.nValue);
  EMU_REQUIRE(p.dValue <= p.srcDValue || p.nValue <= 1, api, "param-range", "dValue %u exceeds srcDValue %u", p.dValue, p.srcDValue);
  // 随路转换ND2NZ搬运.md: dstNzNStride ∈ [1, 16384]. Like srcDValue above it is a step between rows, so a
  // single row never uses it: catlass's Atlas A2 CopyGmToL1 copies a matrix whose leading dimension
  // is 65536 or more one row at a time with srcDValue = dstNzNStride = 0 (gemm/tile/atlasa2/copy_gm_to_l1.hpp).
  EMU_REQUIRE(p.dstNzNStride >= 1 || p.nValue <= 1, api, "param-range", "dstNzNStride %u is outside [1, 16384]",
              p.dstNzNStride);
  EMU_REQUIRE(uint32_t(p.dstNzC0Stride) >= uint32_t(p.nValue) * p.dstNzNStride || p.nValue == 0, api,
              "param-range", "dstNzC0Stride %u is smaller than nValue %u x dstNzNStride %u: column blocks would overlap",
              p.dstNzC0Stride, p.nValue, p.dstNzNStride);
  const uint32_t c0 = emu::kC0<T>;
  const uint32_t blocks = (p.dValue + c0 - 1) / c0;
  if (p.ndNum == 0 || p.nValue == 0 || p.dValue == 0) return;
  for (uint32_t nd = 0; nd < p.ndNum; ++nd) {
    const uint64_t srcBase = uint64_t(nd) * p.srcNdMatrixStride, dstBase = uint64_t(nd) * p.dstNzMatrixStride;
    src.Check(api, srcBase, uint64_t(p.nValue - 1) * p.srcDValue + p.dValue);
    const uint64_t lastRow = dstBase + (uint64_t(blocks - 1) * p.dstNzC0Stride + uint64_t(p.nValue - 1) * p.dstNzNStride) * c0;
    dst.CheckBytes(api, "dst", emu::ElemBytes<T>(dstBase), emu::ElemBytes<T>(lastRow + c0));
    for (uint32_t b = 0; b < blocks; ++b) {  // each column block's rows, where they lie (emu/hazard.h)
      const uint64_t at = dst.EmuAddr() + emu::ElemBytes<T>(dstBase) + uint64_t(b) * p.dstNzC0Stride * 32;
      for (uint32_t r = 0; r < p.nValue; ++r)
        emu::NoteAccess(dst.EmuMem(), at + uint64_t(r) * p.dstNzNStride * 32, at + (uint64_t(r) * p.dstNzNStride + 1) * 32,
                        true);
    }
    const uint8_t* s = reinterpret_cast<const uint8_t*>(src.EmuPtr()) + emu::ElemBytes<T>(srcBase);
    for (uint32_t r = 0; r < p.nValue; ++r)  // the GM rows read
      emu::NoteGm(s + emu::ElemBytes<T>(uint64_t(r) * p.srcDValue), emu::ElemBytes<T>(p.dValue), false);
    uint8_t* d = dst.Data() + emu::ElemBytes<T>(dstBase);
    for (uint32_t r = 0; r < p.nValue; ++r)
      for (uint32_t b = 0; b < blocks; ++b) {
        // One 32 B row of a fractal; columns past dValue are zero-filled.
        uint8_t* row = d + (uint64_t(b) * p.dstNzC0Stride + uint64_t(r) * p.dstNzNStride) * 32;
        const uint64_t bytes = emu::ElemBytes<T>(std::min(c0, p.dValue - b * c0));
        std::memcpy(row, s + emu::ElemBytes<T>(uint64_t(r) * p.srcDValue + b * c0), bytes);
        std::memset(row + bytes, 0, 32 - bytes);
      }
  }
  emu::CountCopy(emu::Mem::kCount, emu::Mem::L1, emu::ElemBytes<T>(uint64_t(p.ndNum) * p.nValue * p.dValue), api,
                 src.EmuPtr(), uint32_t(p.ndNum) * p.nValue, emu::ElemBytes<T>(p.srcDValue), false);
}

// ---- L1 -> L0A / L0B, whole fractals ---------------------------------------------------------------
template <typename T>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2DParams& p) {
  const char* api = "LoadData(2D)";
  emu::RequireCubeCore(api);
  emu::RequirePosition(api, "src", src, emu::Mem::L1);
  EMU_REQUIRE(dst.EmuMem() == emu::Mem::L0A || dst.EmuMem() == emu::Mem::L0B, api, "position",
              "dst must be in L0A or L0B, it is in %s", emu::Spec(dst.EmuMem()).name);
  EMU_REQUIRE(!p.ifTranspose || emu::kBits<T> == 16, api, "param-range", "ifTranspose needs 16-bit elements");
  dst.CheckAlign(api, "dst", 512);
  src.CheckAlign(api, "src", 32);
  if (p.repeatTimes == 0) return;
  constexpr uint64_t kFractal = 512;
  const uint64_t srcLast = (uint64_t(p.startIndex) + uint64_t(p.repeatTimes - 1) * p.srcStride + 1) * kFractal;
  const uint64_t dstLast = (uint64_t(p.repeatTimes - 1) * (1 + p.dstGap) + 1) * kFractal;
  src.CheckBytes(api, "src", uint64_t(p.startIndex) * kFractal, srcLast);
  dst.CheckBytes(api, "dst", 0, dstLast);
  for (uint32_t i = 0; i < p.repeatTimes; ++i) {  // each repeat's fractal, where it lies (emu/hazard.h)
    const uint64_t s = src.EmuAddr() + (uint64_t(p.startIndex) + uint64_t(i) * p.srcStride) * kFractal;
    const uint64_t d = dst.EmuAddr() + uint64_t(i) * (1 + p.dstGap) * kFractal;
    emu::NoteAccess(src.EmuMem(), s, s + kFractal, false);
    emu::NoteAccess(dst.EmuMem(), d, d + kFractal, true);
  }
  for (uint32_t i = 0; i < p.repeatTimes; ++i) {
    const uint8_t* s = src.Data() + (uint64_t(p.startIndex) + uint64_t(i) * p.srcStride) * kFractal;
    uint8_t* d = dst.Data() + uint64_t(i) * (1 + p.dstGap) * kFractal;
    if (!p.ifTranspose) {
      std::memmove(d, s, kFractal);
      continue;
    }
    uint16_t tmp[256];
    std::memcpy(tmp, s, kFractal);
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) std::memcpy(d + (c * 16 + r) * 2, &tmp[r * 16 + c], 2);
  }
  emu::CountCopy(emu::Mem::L1, dst.EmuMem(), uint64_t(p.repeatTimes) * kFractal, api);
}

// ---- Mmad: C (L0C, Nz) = / += A (L0A, Zz) x B (L0B, Zn) ---------------------------------------
namespace emu {
// The one Mmad; biasRow (the bias table's words, one per column, of the L0C type) is the initial C
// of every row when the C matrix does not start at zero (Mmad with bias, below).
template <typename TC, typename TA, typename TB>
void MmadRun(const char* api, const LocalTensor<TC>& dst, const LocalTensor<TA>& fm, const LocalTensor<TB>& filter,
             const MmadParams& p, const uint8_t* biasRow) {
  emu::RequireCubeCore(api);
  emu::RequirePosition(api, "dst", dst, emu::Mem::L0C);
  emu::RequirePosition(api, "fm", fm, emu::Mem::L0A);
  emu::RequirePosition(api, "filter", filter, emu::Mem::L0B);
  EMU_REQUIRE(p.m <= 4095 && p.n <= 4095 && p.k <= 4095, api, "param-range", "m/n/k %u/%u/%u exceed 4095", p.m, p.n, p.k);
  fm.CheckAlign(api, "fm", 512);
  filter.CheckAlign(api, "filter", 512);
  dst.CheckAlign(api, "dst", 64);
  if (p.m == 0 || p.n == 0 || p.k == 0) return;
  constexpr uint32_t k0 = emu::kC0<TA>;
  const uint32_t m1 = (p.m + 15) / 16, n1 = (p.n + 15) / 16, k1 = (p.k + k0 - 1) / k0;
  const uint32_t kPad = k1 * k0;
  // m == 1 runs as a GEMV on A2/A3 and reads L0A as ND: element k of the one row at k, not in the
  // Zz fractal layout (Mmad.md). Rows 1-15 of the L0C fractal are then not defined: poisoned.
  const bool gemv = p.m == 1;
  // Operands occupy whole fractals (padded rows and columns are computed too), but only the first
  // k elements of the reduction take part: Mmad.md allows any k while the storage is padded, and
  // SetShape.md's dirty K-tail data does not participate (catlass leaves stale L1 rows there).
  fm.Reads(api, "fm", 0, gemv ? emu::ElemBytes<TA>(kPad) : uint64_t(m1) * k1 * 512);
  filter.Reads(api, "filter", 0, uint64_t(k1) * n1 * 512);
  dst.Writes(api, "dst", 0, uint64_t(m1) * n1 * 256 * sizeof(TC));
  const uint8_t* a = fm.Data();
  const uint8_t* b = filter.Data();
  uint8_t* c = dst.Data();
  // Unpack the fractals into row-major A [rows x k] and B^T [k x cols], run the k-ordered
  // multiply-adds on them (runtime/cube_math.cpp), and pack the result back into L0C's Nz layout.
  using Acc = std::conditional_t<std::is_same_v<TC, int32_t>, int32_t, float>;
  const uint32_t rows = gemv ? 1 : m1 * 16, cols = n1 * 16, k = p.k;
  auto& [av, bv, cv] = [&]() -> emu::CoreState::MmadOperands<Acc>& {
    if constexpr (std::is_same_v<Acc, int32_t>) return emu::Core().mmadInt32;
    else return emu::Core().mmadFloat;
  }();
  av.resize(size_t(rows) * k);
  bv.resize(size_t(k) * cols);
  cv.resize(size_t(rows) * cols);
  for (uint32_t mi = 0; mi < rows; ++mi)
    for (uint32_t ki = 0; ki < k; ++ki)
      av[size_t(mi) * k + ki] = static_cast<Acc>(emu::LoadElem<TA>(
          a, gemv ? ki : (uint64_t(mi / 16) * k1 + ki / k0) * (16 * k0) + (mi % 16) * k0 + ki % k0));
  for (uint32_t ki = 0; ki < k; ++ki)
    for (uint32_t ni = 0; ni < cols; ++ni)
      bv[size_t(ki) * cols + ni] =
          static_cast<Acc>(emu::LoadElem<TB>(b, (uint64_t(ki / k0) * n1 + ni / 16) * (16 * k0) + (ni % 16) * k0 + ki % k0));
  const auto cAt = [&](uint32_t mi, uint32_t ni) {
    return c + ((uint64_t(ni / 16) * m1 + mi / 16) * 256 + (mi % 16) * 16 + ni % 16) * sizeof(TC);
  };
  for (uint32_t mi = 0; mi < rows; ++mi)
    for (uint32_t ni = 0; ni < cols; ++ni)
      cv[size_t(mi) * cols + ni] = p.cmatrixInitVal ? Acc(0)
                                   : biasRow ? static_cast<Acc>(emu::Load<TC>(biasRow + uint64_t(ni) * sizeof(TC)))
                                             : static_cast<Acc>(emu::Load<TC>(cAt(mi, ni)));
  if constexpr (std::is_same_v<Acc, int32_t>) emu::GemmInt32(av.data(), bv.data(), cv.data(), rows, cols, k);
  else emu::GemmFloat(av.data(), bv.data(), cv.data(), rows, cols, k);
  for (uint32_t mi = 0; mi < m1 * 16; ++mi)
    for (uint32_t ni = 0; ni < cols; ++ni) {
      if (mi >= rows) emu::Poison(cAt(mi, ni), sizeof(TC));  // GEMV: rows 1-15 undefined
      else emu::Store<TC>(cAt(mi, ni), static_cast<TC>(cv[size_t(mi) * cols + ni]));
    }
  auto& cnt = emu::Core().counters;
  cnt.cubeCalls++;
  cnt.cubeMacs += uint64_t(m1) * 16 * n1 * 16 * kPad;
  emu::TraceRaw(emu::TraceOp::kCube, PIPE_M, api, p.m, p.k, p.n, static_cast<uint8_t>(emu::kBits<TA>));
}
}  // namespace emu

template <typename TC, typename TA, typename TB>
void Mmad(const LocalTensor<TC>& dst, const LocalTensor<TA>& fm, const LocalTensor<TB>& filter, const MmadParams& p) {
  static_assert(std::is_same_v<TA, TB>, "Mmad: A and B must have the same element type");
  static_assert((std::is_same_v<TC, float> && (std::is_same_v<TA, half> || std::is_same_v<TA, bfloat16_t> || std::is_same_v<TA, float>)) ||
                    (std::is_same_v<TC, int32_t> && (std::is_same_v<TA, int8_t> || std::is_same_v<TA, int4b_t>)),
                "Mmad: A2/A3 support half/bf16/float -> float and int8/int4 -> int32");
  // cmatrixSource = true takes the initial C from the bias table at an address this form does not
  // name (Mmad.md, MmadParams): not emulated; the bias form below covers it.
  EMU_REQUIRE(p.cmatrixInitVal || !p.cmatrixSource, "Mmad", "not-emulated",
              "cmatrixSource = true without a bias tensor is not emulated");
  EMU_REQUIRE(!p.isBias, "Mmad", "param-range", "isBias (deprecated, Mmad.md) is not emulated: use the bias form");
  emu::MmadRun("Mmad", dst, fm, filter, p, nullptr);
}

// Mmad with bias (Mmad.md, 传入bias的原型; dav_c220 kernel_operator_mm_base_impl.h MmadImpl): with the
// bias in the bias table (C2) the C matrix starts from it, one word per column broadcast over the
// rows, unless cmatrixInitVal is true (MmadParams: then C starts at zero; cmatrixSource is ignored,
// the bias tensor's position decides). A2 type sets (Mmad.md table 5): int8 x int8 + int32 -> int32,
// half / bf16 / float + float -> float; another set compiles and fails when called (CANN: an
// ASCENDC_ASSERT). A bias in CO1 is not emulated.
template <typename TC, typename TA, typename TB, typename TBias>
void Mmad(const LocalTensor<TC>& dst, const LocalTensor<TA>& fm, const LocalTensor<TB>& filter,
          const LocalTensor<TBias>& bias, const MmadParams& p) {
  const char* api = "Mmad(bias)";
  constexpr bool kFloatSet = std::is_same_v<TC, float> && std::is_same_v<TBias, float> &&
                             (std::is_same_v<TA, half> || std::is_same_v<TA, bfloat16_t> || std::is_same_v<TA, float>);
  constexpr bool kIntSet = std::is_same_v<TC, int32_t> && std::is_same_v<TBias, int32_t> && std::is_same_v<TA, int8_t>;
  constexpr bool kSameAB = std::is_same_v<TA, TB>;
  EMU_REQUIRE((kFloatSet || kIntSet) && kSameAB, api, "dtype",
              "A2/A3 support int8 + int32 bias -> int32 and half / bf16 / float + float bias -> float");
  if constexpr (kFloatSet || kIntSet) {
    if constexpr (std::is_same_v<TA, TB>) {
      emu::RequireCubeCore(api);
      EMU_REQUIRE(bias.EmuMem() != emu::Mem::L0C, api, "not-emulated", "a bias in CO1 is not emulated");
      emu::RequirePosition(api, "bias", bias, emu::Mem::BT);
      bias.CheckAlign(api, "bias", 128);
      const uint8_t* row = nullptr;
      if (!p.cmatrixInitVal && p.m && p.n && p.k) {
        const uint32_t cols = (p.n + 15) / 16 * 16;  // the columns Mmad computes: whole fractals
        bias.Reads(api, "bias", 0, uint64_t(cols) * sizeof(TBias));
        row = bias.Data();
      }
      emu::MmadRun(api, dst, fm, filter, p, row);
    }
  }
}

// DataCopy L1 -> bias table converting half to float (基础数据搬运.md, table 7; dav_c220
// kernel_operator_data_copy_intf_impl.h: copy_cbuf_to_bt with conversion 1). blockLen counts 64 B of
// the source (基础数据搬运.md: "当dst位于C2时，表示源操作数的连续传输数据块长度，单位为64B"), so each
// block lands as twice the bytes. Another type pair compiles and fails when called (CANN: an ASCENDC_ASSERT).
template <typename T, typename U>
void DataCopy(const LocalTensor<T>& dst, const LocalTensor<U>& src, const DataCopyParams& p) {
  const char* api = "DataCopy(L1->BT)";
  constexpr bool kHalfToFloat = std::is_same_v<T, float> && std::is_same_v<U, half>;
  EMU_REQUIRE(kHalfToFloat, api, "dtype", "L1 -> BT converts only half to float (or copies one type)");
  if constexpr (kHalfToFloat) {
    emu::RequireCubeCore(api);
    emu::RequirePosition(api, "src", src, emu::Mem::L1);
    emu::RequirePosition(api, "dst", dst, emu::Mem::BT);
    emu::CheckBlocks(api, p.blockCount);
    dst.CheckAlign(api, "dst", 64);
    src.CheckAlign(api, "src", 32);
    EMU_REQUIRE(p.blockCount <= 1 || (p.srcStride == 0 && p.dstStride == 0), api, "not-emulated",
                "gaps when copying into BT are not emulated");
    const uint64_t elems = uint64_t(p.blockCount) * p.blockLen * 64 / sizeof(U);
    if (elems == 0) return;
    src.CheckBytes(api, "src", 0, elems * sizeof(U));
    dst.CheckBytes(api, "dst", 0, elems * sizeof(T));
    emu::NoteBursts(src, 1, elems * sizeof(U), elems * sizeof(U), false);
    emu::NoteBursts(dst, 1, elems * sizeof(T), elems * sizeof(T), true);
    for (uint64_t i = 0; i < elems; ++i)
      emu::Store<float>(dst.Data() + i * 4, static_cast<float>(emu::Load<half>(src.Data() + i * 2)));
    emu::CountCopy(src.EmuMem(), dst.EmuMem(), elems * sizeof(T), api, nullptr, 1);
  }
}

// ---- Fixpipe: L0C (Nz) -> GM, row-major (NZ2ND) or Nz, with ReLU and quantization --------------
namespace emu {
template <typename TO, typename TI>
TO FixpipeConvert(const char* api, TI v, QuantMode_t mode, float scale) {
  if constexpr (std::is_same_v<TO, TI>) {
    EMU_REQUIRE(mode == NoQuant, api, "param-range", "quantPre %d with an output of the L0C type", int(mode));
    return v;
  } else if constexpr (std::is_same_v<TI, float> && std::is_same_v<TO, half>) {
    EMU_REQUIRE(mode == F322F16, api, "param-range", "float -> half needs quantPre F322F16");
    return half(v);
  } else if constexpr (std::is_same_v<TI, float> && std::is_same_v<TO, bfloat16_t>) {
    EMU_REQUIRE(mode == F322BF16, api, "param-range", "float -> bfloat16 needs quantPre F322BF16");
    return bfloat16_t(v);
  } else if constexpr (std::is_same_v<TI, int32_t> && std::is_same_v<TO, half>) {
    EMU_REQUIRE(mode == DEQF16 || mode == VDEQF16, api, "param-range", "int32 -> half needs quantPre DEQF16 or VDEQF16");
    return half(static_cast<double>(v) * scale);
  } else {
    // float -> int8 / uint8 and int32 -> int8 / uint8 (the int8 quant modes) are CANN's and not
    // emulated; any other pair dav_c220 refuses with an ASCENDC_ASSERT. Both compile and fail here.
    EMU_REQUIRE(false, api, "not-emulated", "L0C -> GM type pair (%u-byte -> %u-byte) is not emulated",
                unsigned(sizeof(TI)), unsigned(sizeof(TO)));
    (void)v;
    (void)scale;
    return TO();
  }
}
}  // namespace emu

template <typename T, typename U, const FixpipeConfig& config = CFG_ROW_MAJOR>
void Fixpipe(const GlobalTensor<T>& dst, const LocalTensor<U>& src, const FixpipeParamsV220& p) {
  static_assert(std::is_same_v<U, float> || std::is_same_v<U, int32_t>, "Fixpipe reads fp32 or int32 from L0C");
  const char* api = "Fixpipe";
  EMU_REQUIRE(config.format != CO2Layout::COLUMN_MAJOR, api, "not-emulated", "CFG_COLUMN_MAJOR is not emulated");
  constexpr bool emulatedPair = std::is_same_v<T, U> || (std::is_same_v<U, float> && std::is_same_v<T, half>) ||
                                (std::is_same_v<U, float> && std::is_same_v<T, bfloat16_t>) ||
                                (std::is_same_v<U, int32_t> && std::is_same_v<T, half>);
  EMU_REQUIRE(emulatedPair, api, "not-emulated", "this L0C -> GM type pair is not emulated (%u-byte -> %u-byte)",
              unsigned(sizeof(U)), unsigned(sizeof(T)));
  emu::RequireCubeCore(api);
  emu::RequirePosition(api, "src", src, emu::Mem::L0C);
  src.CheckAlign(api, "src", 64);
  EMU_REQUIRE(p.quantPre != VQF322B8_PRE && p.quantPre != VREQ8 && p.quantPre != QF322B8_PRE && p.quantPre != REQ8,
              api, "not-emulated", "the int8 output quant modes are not emulated");
  EMU_REQUIRE(p.ndNum == 1, api, "param-range", "ndNum > 1 is not emulated");
  // Fixpipe.md (isChannelSplit): only with float src and dst, and never together with NZ2ND.
  EMU_REQUIRE(!p.isChannelSplit || (std::is_same_v<T, float> && std::is_same_v<U, float>), api, "param-range",
              "isChannelSplit needs float in L0C and in GM");
  EMU_REQUIRE(!p.isChannelSplit || config.format == CO2Layout::NZ, api, "param-range",
              "isChannelSplit cannot be combined with NZ2ND (CFG_ROW_MAJOR)");
  if (p.mSize == 0 || p.nSize == 0) return;
  EMU_REQUIRE(p.srcStride >= p.mSize && p.srcStride % 16 == 0, api, "param-range",
              "srcStride %u must be a multiple of 16 covering mSize %u", p.srcStride, p.mSize);
  const uint32_t n1 = (p.nSize + 15) / 16;
  // mSize rows of each 16-column block, blocks srcStride rows apart (Fixpipe.md): the last block
  // ends after mSize rows (catlass's A2 conv CopyL0CToGm starts rows mid-buffer, one Ho row a call).
  src.Reads(api, "src", 0, (uint64_t(n1 - 1) * p.srcStride + p.mSize) * 16 * sizeof(U));
  // VDEQF16: one scale word per output column, from the tensor SetFixPipeConfig put in the fixpipe
  // buffer (same word format as deqScalar); the others: deqScalar.
  const bool perChannel = p.quantPre == VDEQF16;
  const uint8_t* channelScales = nullptr;
  if (perChannel) {
    auto& core = emu::Core();
    EMU_REQUIRE(core.fpcQuantAddr >= 0, api, "param-range", "VDEQF16 needs SetFixPipeConfig's quant tensor first");
    EMU_REQUIRE(uint64_t(p.nSize) * 8 <= core.fpcQuantBytes, api, "local-bounds",
                "%u columns need %u bytes of scales, the SetFixPipeConfig tensor has %u", p.nSize, p.nSize * 8,
                core.fpcQuantBytes);
    channelScales = emu::MemBase(emu::Mem::FB) + core.fpcQuantAddr;
  }
  const float tensorScale = emu::FixpipeScale(p.deqScalar);
  auto scaleOf = [&](uint32_t column) {
    return perChannel ? emu::FixpipeScale(emu::Load<uint64_t>(channelScales + uint64_t(column) * 8)) : tensorScale;
  };
  const uint8_t* s = src.Data();
  // Under SetAtomicAdd (Max / Min) the L0C -> GM write adds into GM (SetAtomicAdd.md: VECOUT / L0C / L1 -> GM).
  const bool atomic = emu::Core().atomicOp != 0;
  auto store = [&](T* at, const T& out) {
    if (atomic) emu::WriteGm(api, reinterpret_cast<uint8_t*>(at), reinterpret_cast<const uint8_t*>(&out), sizeof(T));
    else *at = out;
  };
  if constexpr (config.format == CO2Layout::ROW_MAJOR) {
    EMU_REQUIRE(p.dstStride >= p.nSize, api, "param-range", "dstStride %u is smaller than nSize %u", p.dstStride, p.nSize);
    EMU_REQUIRE(p.mSize <= 8192, api, "param-range", "mSize %u exceeds 8192 with NZ2ND", p.mSize);
    dst.Check(api, 0, uint64_t(p.mSize - 1) * p.dstStride + p.nSize);
    T* d = dst.EmuPtr();
    for (uint32_t mi = 0; mi < p.mSize; ++mi)
      for (uint32_t ni = 0; ni < p.nSize; ++ni) {
        U v = emu::Load<U>(s + ((uint64_t(ni / 16) * p.srcStride + mi) * 16 + ni % 16) * sizeof(U));
        if (p.reluEn && v < U(0)) v = U(0);
        const T out = emu::FixpipeConvert<T, U>(api, v, p.quantPre, scaleOf(ni));
        store(d + uint64_t(mi) * p.dstStride + ni, out);
      }
  } else {
    // NZ: each Z block (16 columns; 8 with isChannelSplit, which splits each 16-column L0C block in
    // two, fp32 only) keeps its first mSize rows; dstStride is the 32 B-unit offset between the
    // starts of consecutive Z blocks in GM (Fixpipe.md: 相邻Z排布的起始地址偏移). nSize must be whole
    // Z blocks there (Fixpipe.md: a multiple of 16, of 8 with channelSplit).
    const uint32_t zw = p.isChannelSplit ? 8 : 16, zs = (p.nSize + zw - 1) / zw;
    EMU_REQUIRE(p.nSize % zw == 0, api, "param-range", "nSize %u is not a multiple of %u without NZ2ND", p.nSize, zw);
    const uint64_t blockElems = uint64_t(p.mSize) * zw;
    const uint64_t pitch = uint64_t(p.dstStride) * 32 / sizeof(T);
    EMU_REQUIRE(zs == 1 || pitch >= blockElems, api, "param-range",
                "dstStride %u x 32 B is shorter than a block of mSize %u rows: column blocks would overlap", p.dstStride,
                p.mSize);
    dst.Check(api, 0, (zs - 1) * pitch + blockElems);
    T* d = dst.EmuPtr();
    for (uint32_t z = 0; z < zs; ++z)
      for (uint64_t i = 0; i < blockElems; ++i) {
        const uint32_t col = z * zw + uint32_t(i % zw), row = uint32_t(i / zw);
        U v = emu::Load<U>(s + ((uint64_t(col / 16) * p.srcStride + row) * 16 + col % 16) * sizeof(U));
        if (p.reluEn && v < U(0)) v = U(0);
        const T out = emu::FixpipeConvert<T, U>(api, v, p.quantPre, scaleOf(col));
        store(d + z * pitch + i, out);
      }
  }
  // The GM written (emu/hazard.h): row-major, mSize rows of nSize elements; NZ, Z blocks of mSize rows.
  if (config.format == CO2Layout::ROW_MAJOR)
    for (uint32_t mi = 0; mi < p.mSize; ++mi) emu::NoteGm(dst.EmuPtr() + uint64_t(mi) * p.dstStride, uint64_t(p.nSize) * sizeof(T), true);
  else
    for (uint32_t z = 0, zw = p.isChannelSplit ? 8 : 16; z < (p.nSize + zw - 1) / zw; ++z)
      emu::NoteGm(dst.EmuPtr() + z * (uint64_t(p.dstStride) * 32 / sizeof(T)), uint64_t(p.mSize) * zw * sizeof(T), true);
  auto& cnt = emu::Core().counters;
  cnt.fixpipeBytes += uint64_t(p.mSize) * p.nSize * sizeof(T);
  // Row-major: mSize rows of nSize elements, dstStride elements apart; NZ: n1 blocks of mSize x 16.
  if (config.format == CO2Layout::ROW_MAJOR)
    emu::TraceRaw(emu::TraceOp::kCopy, PIPE_FIX, api, p.mSize * p.nSize * sizeof(T), p.mSize, p.dstStride * sizeof(T),
                  static_cast<uint8_t>(uint8_t(emu::Mem::L0C) << 4 | emu::kTraceGm), atomic, reinterpret_cast<uint64_t>(dst.EmuPtr()));
  else
    emu::TraceRaw(emu::TraceOp::kCopy, PIPE_FIX, api, p.mSize * p.nSize * sizeof(T), n1, p.dstStride * 32,
                  static_cast<uint8_t>(uint8_t(emu::Mem::L0C) << 4 | emu::kTraceGm), atomic, reinterpret_cast<uint64_t>(dst.EmuPtr()));
}

}  // namespace AscendC
