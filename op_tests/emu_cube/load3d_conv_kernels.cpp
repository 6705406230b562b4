// LoadData 3Dv2 into L0A with a general filter, stride, dilation and padding (Load3D.md), in its
// three forms, as catlass's Atlas A2 Conv::Tile::CopyL1ToL0A uses it. The L0A bytes are read back
// through an int8 identity Mmad (C = A x I with A as int8 Zz of rows x 32 bytes: C row-major is the
// bytes in order). Driven from test_emu_load3d_conv.py.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

struct L3Args {
  uint32_t srcBytes, dstBytes;  // the L1 image; the observed L0A bytes (multiple of 512, <= 32 KiB)
  uint16_t l1H, l1W, channels, kExt, mExt, kStart, mStart;
  uint8_t strideW, strideH, filterW, filterH, dilW, dilH, pad[4];
  // 0 LoadData3DParamsV2, 1 the same with the feature map from SetFmatrix, 2 LoadData3DParamsV2Pro;
  // bf16, padValue a half -2.5 (catlass's A2 conv passes `(half)(0)` for every element type):
  // 3 assigned to the member (CopyL1ToL0ATla), 4 through the constructor (CopyL1ToL0A's braces)
  uint8_t form;
  // The read-back Fixpipe starts at L0C row fixRow0 and copies fixRows rows (0: all), as catlass's
  // conv CopyL0CToGm does one Ho row at a time from the middle of L0C.
  uint16_t fixRow0, fixRows;
};

namespace {
constexpr IsResetLoad3dConfig kFromRegister = {false, true};

void Img2Col(const L3Args& a, const LocalTensor<half>& dst, const LocalTensor<half>& src) {
  if (a.form == 2) {
    Load3DSetFMatrixCal(a.l1H, a.l1W, a.pad);
    LoadData3DParamsV2Pro p;
    p.channelSize = a.channels;
    p.extConfig = uint64_t(a.mStart) << 48 | uint64_t(a.kStart) << 32 | uint64_t(a.mExt) << 16 | a.kExt;
    p.filterConfig = uint64_t(a.dilH) << 40 | uint64_t(a.dilW) << 32 | uint64_t(a.filterH) << 24 |
                     uint64_t(a.filterW) << 16 | uint64_t(a.strideH) << 8 | a.strideW;
    return LoadData(dst, src, p);
  }
  LoadData3DParamsV2<half> p(a.pad, a.l1H, a.l1W, a.channels, a.kExt, a.mExt, a.kStart, a.mStart, a.strideW, a.strideH,
                             a.filterW, a.filterH, a.dilW, a.dilH, false, false, half(0));
  if (a.form == 0) return LoadData(dst, src, p);
  SetFmatrix(a.l1H, a.l1W, a.pad, FmatrixMode::FMATRIX_LEFT);
  p.l1H = p.l1W = 7777;  // ignored: the feature map comes from the register
  LoadData<half, kFromRegister>(dst, src, p);
}
}  // namespace

void Img2ColBf16(const L3Args& a, const LocalTensor<bfloat16_t>& dst, const LocalTensor<bfloat16_t>& src) {
  if (a.form == 4) {
    return LoadData(dst, src, {a.pad, a.l1H, a.l1W, a.channels, a.kExt, a.mExt, a.kStart, a.mStart, a.strideW,
                               a.strideH, a.filterW, a.filterH, a.dilW, a.dilH, false, false, (half)(-2.5f)});
  }
  LoadData3DParamsV2<bfloat16_t> p(a.pad, a.l1H, a.l1W, a.channels, a.kExt, a.mExt, a.kStart, a.mStart, a.strideW,
                                   a.strideH, a.filterW, a.filterH, a.dilW, a.dilH, false, false, bfloat16_t(0.0f));
  p.padValue = (half)(-2.5f);
  LoadData(dst, src, p);
}

extern "C" __global__ __aicore__ void load3d_conv_kernel(GM_ADDR srcGm, GM_ADDR identGm, GM_ADDR outGm, GM_ADDR argsGm) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const L3Args& a = *reinterpret_cast<const L3Args*>(argsGm);
  TPipe pipe;
  TBuf<TPosition::A1> l1, l1Ident;
  TBuf<TPosition::A2> l0a;
  TBuf<TPosition::B2> l0b;
  TBuf<TPosition::CO1> l0c;
  pipe.InitBuffer(l1, a.srcBytes);
  pipe.InitBuffer(l1Ident, 1024);
  pipe.InitBuffer(l0a, a.dstBytes);
  pipe.InitBuffer(l0b, 1024);
  pipe.InitBuffer(l0c, a.dstBytes * 4);
  GlobalTensor<uint8_t> src, ident;
  src.SetGlobalBuffer(srcGm, a.srcBytes);
  ident.SetGlobalBuffer(identGm, 1024);
  DataCopy(l1.Get<uint8_t>(), src, a.srcBytes);
  DataCopy(l1Ident.Get<uint8_t>(), ident, 1024);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  if (a.form >= 3) Img2ColBf16(a, l0a.Get<bfloat16_t>(), l1.Get<bfloat16_t>());
  else Img2Col(a, l0a.Get<half>(), l1.Get<half>());
  LoadData(l0b.Get<int8_t>(), l1Ident.Get<int8_t>(), LoadData2DParams(0, 2, 1, 0, 0, false, 0));
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  const uint16_t rows = a.dstBytes / 32;
  Mmad(l0c.Get<int32_t>(), l0a.Get<int8_t>(), l0b.Get<int8_t>(), MmadParams(rows, 32, 32, 0, false, true));
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  GlobalTensor<int32_t> out;
  const uint16_t fixRows = a.fixRows ? a.fixRows : rows;
  out.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(outGm), uint32_t(fixRows) * 32);
  Fixpipe(out, l0c.Get<int32_t>()[a.fixRow0 * 16], FixpipeParamsV220(32, fixRows, rows, 32, false));
}

extern "C" __attribute__((visibility("default"))) int load3d_conv_launch(void* args, void* src, void* ident, void* out,
                                                                           char* err, int errLen) {
  try {
    const L3Args& a = *static_cast<const L3Args*>(args);
    emu::Launch("load3d_conv_kernel", KernelMode::AIC_MODE, 1,
                [&] {
                  load3d_conv_kernel(static_cast<GM_ADDR>(src), static_cast<GM_ADDR>(ident), static_cast<GM_ADDR>(out),
                                     static_cast<GM_ADDR>(args));
                },
                {{src, a.srcBytes}, {ident, 1024}, {out, a.dstBytes * 4u}, {args, sizeof(L3Args)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
