// L1 -> L0A / L0B loads beyond LoadData 2D: LoadDataWithTranspose (square-block transpose) and
// LoadData 3Dv2 (image to column) with SetFmatrix. Declarations are CANN 8.5's
// (include/basic_api/kernel_operator_mm_intf.h, kernel_struct_mm.h,
// impl/basic_api/kernel_operator_mm_base_impl.h); semantics from LoadDataWithTranspose.md and
// Load3D.md; the A2 implementation is impl/basic_api/dav_c220/kernel_operator_mm_impl.h.
#pragma once

#include "cube.h"
#include "pipe.h"

namespace AscendC {

// kernel_struct_mm.h: the lower-case spelling is an alias of LoadData2DParams.
using LoadData2dParams = struct LoadData2DParams;

struct LoadData2dTransposeParams {
  LoadData2dTransposeParams() {}
  LoadData2dTransposeParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn,
                            const uint16_t dstGapIn, const uint16_t dstfracGapIn, const uint8_t addrModeIn)
      : startIndex(startIndexIn), repeatTimes(repeatTimesIn), srcStride(srcStrideIn), dstGap(dstGapIn),
        dstFracGap(dstfracGapIn), addrMode(addrModeIn) {}
  LoadData2dTransposeParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn,
                            const uint16_t dstGapIn, const uint16_t dstfracGapIn)
      : startIndex(startIndexIn), repeatTimes(repeatTimesIn), srcStride(srcStrideIn), dstGap(dstGapIn),
        dstFracGap(dstfracGapIn) {}
  uint16_t startIndex = 0;  // first square block of the source
  uint8_t repeatTimes = 0;  // square blocks
  uint16_t srcStride = 0;   // square blocks between the starts of consecutive repeats
  uint16_t dstGap = 0;      // 512 B units from the end of a repeat's first fractal to the next repeat's first
  uint16_t dstFracGap = 0;  // 512 B units between the fractals of one repeat (b8, b32, b4)
  uint8_t addrMode = 0;     // reserved
};

enum class FmatrixMode : uint8_t {
  FMATRIX_LEFT = 0,
  FMATRIX_RIGHT = 1,
};

struct IsResetLoad3dConfig {
  constexpr IsResetLoad3dConfig(const bool isSetFMatrixIn, const bool isSetPaddingIn)
      : isSetFMatrix(isSetFMatrixIn), isSetPadding(isSetPaddingIn) {}
  bool isSetFMatrix = true;  // take l1H, l1W, padList from the params (else from SetFmatrix)
  bool isSetPadding = true;  // take padValue from the params
};
constexpr IsResetLoad3dConfig IS_RESER_LOAD3D_DEFAULT_CONFIG = {true, true};

constexpr uint8_t PAD_SIZE = 4;

template <typename T>
struct LoadData3DParamsV2 {
  LoadData3DParamsV2() {}
  LoadData3DParamsV2(const uint8_t padListIn[PAD_SIZE], const uint16_t l1HIn, const uint16_t l1WIn,
                     const uint16_t channelSizeIn, const uint16_t kExtensionIn, const uint16_t mExtensionIn,
                     const uint16_t kStartPtIn, const uint16_t mStartPtIn, const uint8_t strideWIn, const uint8_t strideHIn,
                     const uint8_t filterWIn, const uint8_t filterHIn, const uint8_t dilationFilterWIn,
                     const uint8_t dilationFilterHIn, const bool enTransposeIn, const bool enSmallKIn, const T padValueIn)
      : l1H(l1HIn), l1W(l1WIn), channelSize(channelSizeIn), kExtension(kExtensionIn), mExtension(mExtensionIn),
        kStartPt(kStartPtIn), mStartPt(mStartPtIn), strideW(strideWIn), strideH(strideHIn), filterW(filterWIn),
        filterH(filterHIn), dilationFilterW(dilationFilterWIn), dilationFilterH(dilationFilterHIn),
        enTranspose(enTransposeIn), enSmallK(enSmallKIn), padValue(padValueIn) {
    for (int32_t i = 0; i < PAD_SIZE; ++i) padList[i] = padListIn[i];
  }
  LoadData3DParamsV2(const uint8_t padListIn[PAD_SIZE], const uint16_t l1HIn, const uint16_t l1WIn,
                     const uint16_t channelSizeIn, const uint16_t kExtensionIn, const uint16_t mExtensionIn,
                     const uint16_t kStartPtIn, const uint16_t mStartPtIn, const uint8_t strideWIn, const uint8_t strideHIn,
                     const uint8_t filterWIn, const uint8_t filterHIn, const uint8_t dilationFilterWIn,
                     const uint8_t dilationFilterHIn, const bool enTransposeIn, const bool enSmallKIn, const T padValueIn,
                     const bool filterSizeWIn, const bool filterSizeHIn, const bool fMatrixCtrlIn)
      : LoadData3DParamsV2(padListIn, l1HIn, l1WIn, channelSizeIn, kExtensionIn, mExtensionIn, kStartPtIn, mStartPtIn,
                           strideWIn, strideHIn, filterWIn, filterHIn, dilationFilterWIn, dilationFilterHIn,
                           enTransposeIn, enSmallKIn, padValueIn) {
    filterSizeW = filterSizeWIn;
    filterSizeH = filterSizeHIn;
    fMatrixCtrl = fMatrixCtrlIn;
  }
  uint8_t padList[PAD_SIZE] = {0};  // left, right, top, bottom
  uint16_t l1H = 0;
  uint16_t l1W = 0;
  uint16_t channelSize = 0;
  uint16_t kExtension = 0;  // columns of the im2col matrix loaded
  uint16_t mExtension = 0;  // rows loaded
  uint16_t kStartPt = 0;
  uint16_t mStartPt = 0;
  uint8_t strideW = 1;
  uint8_t strideH = 1;
  uint8_t filterW = 1;
  uint8_t filterH = 1;
  uint8_t dilationFilterW = 1;
  uint8_t dilationFilterH = 1;
  bool enTranspose = false;
  bool enSmallK = false;
  T padValue = 0;
  bool filterSizeW = false;
  bool filterSizeH = false;
  bool fMatrixCtrl = false;  // false: feature map from the left register, true: the right one
};

// The packed form: extConfig = mStart << 48 | kStart << 32 | mExtension << 16 | kExtension,
// filterConfig = dilationH << 40 | dilationW << 32 | filterH << 24 | filterW << 16 | strideH << 8 | strideW
// (the shifts of kernel_operator_mm_impl.h's img2colv2 calls).
struct LoadData3DParamsV2Pro {
  LoadData3DParamsV2Pro() {}
  LoadData3DParamsV2Pro(const uint16_t channelSizeIn, const bool enTransposeIn, const bool enSmallKIn,
                        const bool filterSizeWIn, const bool filterSizeHIn, const bool fMatrixCtrlIn,
                        const uint64_t extConfigIn, const uint64_t filterConfigIn)
      : channelSize(channelSizeIn), enTranspose(enTransposeIn), enSmallK(enSmallKIn), filterSizeW(filterSizeWIn),
        filterSizeH(filterSizeHIn), fMatrixCtrl(fMatrixCtrlIn), extConfig(extConfigIn), filterConfig(filterConfigIn) {}
  uint16_t channelSize = 0;
  bool enTranspose = false;
  bool enSmallK = false;
  bool filterSizeW = false;
  bool filterSizeH = false;
  bool fMatrixCtrl = false;
  uint64_t extConfig = 0;
  uint64_t filterConfig = 0X10101010101;
};

namespace emu {

// Copies element si of s to element di of d (whole bytes, or a nibble for 4-bit types).
template <uint32_t bits>
inline void CopyElem(uint8_t* d, uint64_t di, const uint8_t* s, uint64_t si) {
  if constexpr (bits == 4) {
    const uint8_t v = (si & 1) ? (s[si / 2] >> 4) : (s[si / 2] & 0xF);
    uint8_t& b = d[di / 2];
    b = (di & 1) ? static_cast<uint8_t>((b & 0x0F) | (v << 4)) : static_cast<uint8_t>((b & 0xF0) | v);
  } else {
    std::memcpy(d + di * (bits / 8), s + si * (bits / 8), bits / 8);
  }
}

// The feature-map register written by SetFmatrix (Load3DSetFMatrixCal's packing).
inline uint64_t PackFmatrix(uint16_t l1H, uint16_t l1W, const uint8_t padList[4]) {
  uint64_t reg = uint64_t(l1W) | uint64_t(l1H) << 16;
  for (uint32_t i = 0; i < 4; ++i) reg |= uint64_t(padList[i]) << (32 + 8 * i);
  return reg;
}

// The image-to-column load into L0A (Zz fractals of 16 x c0), shared by both 3Dv2 forms.
struct Img2Col {
  uint32_t l1H, l1W, pad[4], channels, kExt, mExt, kStart, mStart, strideW, strideH, filterW, filterH, dilW, dilH;
  bool transpose, smallK, rightMatrix;
};

template <typename T>
void Load3Dv2(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src, const Img2Col& g, bool padFromParams,
              T padValue) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, float> ||
                    std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t> || std::is_same_v<T, int32_t> ||
                    std::is_same_v<T, uint32_t> || std::is_same_v<T, int4b_t>,
                "LoadData 3Dv2: unsupported element type on A2/A3 (Load3D.md)");
  RequireCubeCore(api);
  RequirePosition(api, "src", src, Mem::L1);
  // What the emulator models: the img2col into L0A (Zz) of whole C0 channel blocks, any filter,
  // stride, dilation and padding (Load3D.md "Load3d数据格式说明"). The rest has no published data
  // layout to check against, so it is refused, not guessed.
  EMU_REQUIRE(dst.EmuMem() == Mem::L0A, api, "not-emulated", "dst in %s: only the L0A (Zz) form is emulated",
              Spec(dst.EmuMem()).name);
  EMU_REQUIRE(!g.transpose && !g.smallK && !g.rightMatrix, api, "not-emulated",
              "enTranspose, enSmallK and fMatrixCtrl are not emulated");
  dst.CheckAlign(api, "dst", 512);
  src.CheckAlign(api, "src", 32);
  // Ranges of Load3D.md table 4 and SetFmatrix.md (filter and dilation [1, 255]; filterSizeW/H add 256).
  EMU_REQUIRE(g.l1H >= 1 && g.l1H <= 32767 && g.l1W >= 1 && g.l1W <= 32767, api, "param-range",
              "feature map %ux%u outside [1, 32767] (was SetFmatrix called?)", g.l1H, g.l1W);
  EMU_REQUIRE(g.strideW >= 1 && g.strideW <= 63 && g.strideH >= 1 && g.strideH <= 63, api, "param-range",
              "strides %u/%u outside [1, 63]", g.strideW, g.strideH);
  EMU_REQUIRE(g.filterW % 256 >= 1 && g.filterH % 256 >= 1, api, "param-range",
              "filter %ux%u: filterW/H outside [1, 255]", g.filterW, g.filterH);
  EMU_REQUIRE(g.dilW >= 1 && g.dilH >= 1, api, "param-range", "dilations %u/%u outside [1, 255]", g.dilW, g.dilH);
  EMU_REQUIRE(g.kExt >= 1 && g.mExt >= 1, api, "param-range", "kExtension %u / mExtension %u must be at least 1",
              g.kExt, g.mExt);
  constexpr uint32_t c0 = 256 / kBits<T>;
  EMU_REQUIRE(g.channels >= 1 && g.channels % c0 == 0, api, "not-emulated",
              "channelSize %u: only whole C0 blocks of %u channels are emulated", g.channels, c0);
  EMU_REQUIRE(g.kStart % c0 == 0, api, "alignment", "kStartPt %u is not a multiple of C0 %u", g.kStart, c0);
  // The dilated filter's extent; the output grid is Ho x Wo positions of it over the padded map.
  const int64_t spanW = int64_t(g.dilW) * (g.filterW - 1) + 1, spanH = int64_t(g.dilH) * (g.filterH - 1) + 1;
  const int64_t padW = int64_t(g.l1W) + g.pad[0] + g.pad[1], padH = int64_t(g.l1H) + g.pad[2] + g.pad[3];
  EMU_REQUIRE(padW >= spanW && padH >= spanH, api, "param-range",
              "the dilated %ux%u filter (%lldx%lld) does not fit the padded %lldx%lld feature map", g.filterH, g.filterW,
              (long long)spanH, (long long)spanW, (long long)padH, (long long)padW);
  const uint32_t wo = uint32_t((padW - spanW) / g.strideW + 1);
  const uint32_t ho = uint32_t((padH - spanH) / g.strideH + 1);
  // Rows past the last output position have no documented content (catlass loads howo rounded up
  // to 16 and never stores those rows): allowed up to the end of the last fractal holding a
  // position, and poisoned.
  const uint64_t positions = uint64_t(wo) * ho;
  EMU_REQUIRE(g.mStart < positions && uint64_t(g.mExt) <= (positions - g.mStart + 15) / 16 * 16, api, "param-range",
              "rows [%u, %u) reach past the fractal holding the last of the %llu output positions", g.mStart,
              g.mStart + g.mExt, (unsigned long long)positions);
  // Columns: channel block c1 outermost, then the filter row, the filter column, C0 (the
  // (Cin1, Kh, Kw, C0) order of the fractal_Z filter it is multiplied with).
  const uint64_t kTotal = uint64_t(g.channels) * g.filterH * g.filterW;
  EMU_REQUIRE(uint64_t(g.kStart) + g.kExt <= kTotal, api, "param-range",
              "columns [%u, %u) beyond channelSize %u x filter %ux%u = %llu", g.kStart, g.kStart + g.kExt, g.channels,
              g.filterH, g.filterW, (unsigned long long)kTotal);
  const uint32_t m1 = (g.mExt + 15) / 16, k1 = (g.kExt + c0 - 1) / c0;
  dst.Writes(api, "dst", 0, uint64_t(m1) * k1 * 512);
  // Source element of im2col position (m, k); -1 for padding, -2 past the output positions.
  auto source = [&](uint32_t m, uint32_t k) -> int64_t {
    if (m >= positions) return -2;
    const uint32_t c1 = k / (c0 * g.filterH * g.filterW), kk = k / c0 % (g.filterH * g.filterW);
    const int64_t h = int64_t(m / wo) * g.strideH - g.pad[2] + int64_t(kk / g.filterW) * g.dilH;
    const int64_t w = int64_t(m % wo) * g.strideW - g.pad[0] + int64_t(kk % g.filterW) * g.dilW;
    if (h < 0 || w < 0 || h >= g.l1H || w >= g.l1W) return -1;
    return ((int64_t(c1) * g.l1H + h) * g.l1W + w) * c0 + k % c0;
  };
  int64_t lo = -1, hi = -1;
  bool padded = false;
  for (uint32_t m = g.mStart; m < g.mStart + g.mExt; ++m)
    for (uint32_t k = g.kStart; k < g.kStart + g.kExt; k += c0) {
      const int64_t e = source(m, k);
      if (e == -1) padded = true;
      if (e < 0) continue;
      lo = lo < 0 ? e : std::min(lo, e);
      hi = std::max(hi, e + int64_t(std::min(c0, g.kStart + g.kExt - k)));
    }
  EMU_REQUIRE(!padded || padFromParams, api, "not-emulated",
              "padding with isSetPadding = false needs SetLoadDataPaddingValue, which is not emulated");
  if (hi > lo) src.Reads(api, "src", ElemBytes<T>(lo), (uint64_t(hi) * kBits<T> + 7) / 8);
  // Rows and columns of the last fractals beyond the extensions are not defined: poisoned.
  uint8_t* d = dst.Data();
  Poison(d, m1 * k1 * 512);
  const uint8_t* s = src.Data();
  for (uint32_t r = 0; r < g.mExt; ++r)
    for (uint32_t c = 0; c < g.kExt; ++c) {
      const uint64_t di = ((uint64_t(r / 16) * k1 + c / c0) * 16 + r % 16) * c0 + c % c0;
      const int64_t e = source(g.mStart + r, g.kStart + c);
      if (e >= 0) {
        CopyElem<kBits<T>>(d, di, s, uint64_t(e));
      } else if (e == -2) {
        continue;  // past the output positions: stays poisoned
      } else if constexpr (kBits<T> >= 8) {
        std::memcpy(d + di * sizeof(T), &padValue, sizeof(T));
      } else {
        const uint8_t pv[1] = {static_cast<uint8_t>(static_cast<int>(padValue) & 0xF)};
        CopyElem<4>(d, di, pv, 0);
      }
    }
  CountCopy(Mem::L1, Mem::L0A, ElemBytes<T>(uint64_t(g.mExt) * g.kExt), api);
}

}  // namespace emu

// ---- SetFmatrix: the feature-map description the 3D loads read when isSetFMatrix is false ------
inline void SetFmatrix(uint16_t l1H, uint16_t l1W, const uint8_t padList[4], const FmatrixMode& fmatrixMode) {
  const char* api = "SetFmatrix";
  emu::RequireCubeCore(api);
  EMU_REQUIRE(l1H >= 1 && l1H <= 32767 && l1W >= 1 && l1W <= 32767, api, "param-range", "l1H %u / l1W %u outside [1, 32767]",
              l1H, l1W);
  emu::Core().fmatrix[static_cast<int>(fmatrixMode)] = emu::PackFmatrix(l1H, l1W, padList);
}

// The left-register setter that CANN's 3D loads use internally (kernel_operator_mm_impl.h);
// catlass calls it directly.
inline void Load3DSetFMatrixCal(uint16_t l1H, uint16_t l1W, const uint8_t padList[4]) {
  SetFmatrix(l1H, l1W, padList, FmatrixMode::FMATRIX_LEFT);
}

// ---- LoadData 3Dv2 ---------------------------------------------------------------------------------
template <typename T, const IsResetLoad3dConfig& defaultConfig = IS_RESER_LOAD3D_DEFAULT_CONFIG, typename U = T,
          typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData3DParamsV2<U>& p) {
  emu::Img2Col g{};
  uint64_t reg = emu::PackFmatrix(p.l1H, p.l1W, p.padList);
  // A plain `if`: GCC 12 crashes on `if constexpr` over a member of a function-local constexpr
  // config (catlass's `static constexpr IsResetLoad3dConfig config` inside an operator()).
  const IsResetLoad3dConfig& cfg = defaultConfig;
  if (!cfg.isSetFMatrix) reg = emu::Core().fmatrix[p.fMatrixCtrl ? 1 : 0];
  g.l1W = reg & 0xFFFF;
  g.l1H = (reg >> 16) & 0xFFFF;
  for (int i = 0; i < 4; ++i) g.pad[i] = (reg >> (32 + 8 * i)) & 0xFF;
  g.channels = p.channelSize;
  g.kExt = p.kExtension;
  g.mExt = p.mExtension;
  g.kStart = p.kStartPt;
  g.mStart = p.mStartPt;
  g.strideW = p.strideW;
  g.strideH = p.strideH;
  g.filterW = p.filterW + (p.filterSizeW ? 256 : 0);
  g.filterH = p.filterH + (p.filterSizeH ? 256 : 0);
  g.dilW = p.dilationFilterW;
  g.dilH = p.dilationFilterH;
  g.transpose = p.enTranspose;
  g.smallK = p.enSmallK;
  g.rightMatrix = p.fMatrixCtrl;
  emu::Load3Dv2("LoadData(3Dv2)", dst, src, g, cfg.isSetPadding, p.padValue);
}

template <typename T>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData3DParamsV2Pro& p) {
  emu::Img2Col g{};
  const uint64_t reg = emu::Core().fmatrix[p.fMatrixCtrl ? 1 : 0];
  g.l1W = reg & 0xFFFF;
  g.l1H = (reg >> 16) & 0xFFFF;
  for (int i = 0; i < 4; ++i) g.pad[i] = (reg >> (32 + 8 * i)) & 0xFF;
  g.channels = p.channelSize;
  g.kExt = p.extConfig & 0xFFFF;
  g.mExt = (p.extConfig >> 16) & 0xFFFF;
  g.kStart = (p.extConfig >> 32) & 0xFFFF;
  g.mStart = (p.extConfig >> 48) & 0xFFFF;
  g.strideW = p.filterConfig & 0xFF;
  g.strideH = (p.filterConfig >> 8) & 0xFF;
  g.filterW = ((p.filterConfig >> 16) & 0xFF) + (p.filterSizeW ? 256 : 0);
  g.filterH = ((p.filterConfig >> 24) & 0xFF) + (p.filterSizeH ? 256 : 0);
  g.dilW = (p.filterConfig >> 32) & 0xFF;
  g.dilH = (p.filterConfig >> 40) & 0xFF;
  g.transpose = p.enTranspose;
  g.smallK = p.enSmallK;
  g.rightMatrix = p.fMatrixCtrl;
  emu::Load3Dv2("LoadData(3Dv2Pro)", dst, src, g, false, T());
}

// ---- LoadDataWithTranspose: square blocks of whole fractals, transposed ---------------------------
// A square block is F consecutive 512 B fractals of 16 rows x 32 B: b16 one 16x16 fractal; b8 two
// 16x32 fractals stacked into 32x32; b4 four 16x64 stacked into 64x64; b32 two 16x8 fractals side
// by side as 16x16. The block is transposed and split back the same way (LoadDataWithTranspose.md).
template <typename T>
void LoadDataWithTranspose(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2dTransposeParams& p) {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, float> ||
                    std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, uint8_t> ||
                    std::is_same_v<T, int8_t> || std::is_same_v<T, int4b_t>,
                "LoadDataWithTranspose: A2/A3 support int4b_t/int8_t/uint8_t/half/bfloat16_t/float/int32_t/uint32_t");
  const char* api = "LoadDataWithTranspose";
  emu::RequireCubeCore(api);
  emu::RequirePosition(api, "src", src, emu::Mem::L1);
  EMU_REQUIRE(dst.EmuMem() == emu::Mem::L0A || dst.EmuMem() == emu::Mem::L0B, api, "position",
              "dst must be in L0A or L0B, it is in %s", emu::Spec(dst.EmuMem()).name);
  EMU_REQUIRE(emu::kBits<T> != 4 || dst.EmuMem() == emu::Mem::L0B, api, "position", "int4b_t is supported into L0B (B2) only");
  dst.CheckAlign(api, "dst", 512);
  src.CheckAlign(api, "src", 32);
  if (p.repeatTimes == 0) return;
  constexpr uint32_t bits = emu::kBits<T>;
  constexpr uint32_t rowElems = 256 / bits;                        // elements per 32 B fractal row
  constexpr uint32_t side = bits == 32 ? 16 : rowElems;            // square block side in elements
  constexpr uint32_t frac = side * side * bits / 8 / 512;          // fractals per square block
  constexpr bool sideBySide = bits == 32;                          // b32 fractals sit next to each other
  constexpr uint64_t kFractal = 512, fracElems = 4096 / bits;
  const uint64_t dstPitch = uint64_t(1 + p.dstGap) * kFractal, fracPitch = uint64_t(1 + p.dstFracGap) * kFractal;
  const uint64_t srcLast = (uint64_t(p.startIndex) + uint64_t(p.repeatTimes - 1) * p.srcStride + 1) * frac * kFractal;
  src.CheckBytes(api, "src", (uint64_t(p.startIndex)) * frac * kFractal, srcLast);
  dst.CheckBytes(api, "dst", 0, uint64_t(p.repeatTimes - 1) * dstPitch + (frac - 1) * fracPitch + kFractal);
  for (uint32_t i = 0; i < p.repeatTimes; ++i) {  // each repeat's square block and its fractals (emu/hazard.h)
    const uint64_t s = src.EmuAddr() + (uint64_t(p.startIndex) + uint64_t(i) * p.srcStride) * frac * kFractal;
    emu::NoteAccess(src.EmuMem(), s, s + frac * kFractal, false);
    for (uint32_t f = 0; f < frac; ++f) {
      const uint64_t d = dst.EmuAddr() + i * dstPitch + f * fracPitch;
      emu::NoteAccess(dst.EmuMem(), d, d + kFractal, true);
    }
  }
  // Element (r, c) of a square block <-> (fractal, element inside the fractal).
  auto at = [](uint32_t r, uint32_t c) -> uint64_t {
    if constexpr (sideBySide) return (c / rowElems) * fracElems + r * rowElems + c % rowElems;
    else return (r / 16) * fracElems + (r % 16) * rowElems + c;
  };
  uint8_t block[2048];
  for (uint32_t i = 0; i < p.repeatTimes; ++i) {
    const uint8_t* s = src.Data() + (uint64_t(p.startIndex) + uint64_t(i) * p.srcStride) * frac * kFractal;
    std::memcpy(block, s, frac * kFractal);  // source and destination may be re-read by later repeats
    uint8_t* d0 = dst.Data() + uint64_t(i) * dstPitch;
    for (uint32_t f = 0; f < frac; ++f) {
      uint8_t* d = d0 + f * fracPitch;
      for (uint64_t e = 0; e < fracElems; ++e) {
        // Element e of output fractal f is element (r, c) of the transposed block = (c, r) of the source.
        const uint64_t local = f * fracElems + e;
        uint32_t r, c;
        if constexpr (sideBySide) { r = (local % fracElems) / rowElems; c = (local / fracElems) * rowElems + local % rowElems; }
        else { r = local / rowElems; c = local % rowElems; }
        emu::CopyElem<bits>(d, e, block, at(c, r));
      }
    }
  }
  emu::CountCopy(emu::Mem::L1, dst.EmuMem(), uint64_t(p.repeatTimes) * frac * kFractal, api);
}

// ---- LoadDataWithSparse (A2 structured-sparse weights): declared, not emulated -------------------
template <typename T = int8_t, typename U = uint8_t,
          typename std::enable_if<std::is_same<T, int8_t>::value, bool>::type = true,
          typename std::enable_if<std::is_same<U, uint8_t>::value, bool>::type = true>
void LoadDataWithSparse(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<U>& idx,
                        const LoadData2dParams& loadDataParam) {
  (void)dst, (void)src, (void)idx, (void)loadDataParam;
  emu::Fail("LoadDataWithSparse", "not-emulated", "the structured-sparse load (and MmadWithSparse) is not emulated");
}

}  // namespace AscendC
