// Self-test kernels for the APIs and rules added when catlass's A2 tile operators were run on the
// emulator (docs/emulator.md, "catlass conformance"): LoadDataWithTranspose, LoadData 3Dv2 with
// SetFmatrix, And / Or / ShiftLeft, LocalTensor::SetAddr, DataCopyPad of int4b_t, memory a core
// lacks, the reserved tops of UB / L1, and cross-core flags across modes. Driven from
// op_tests/emu_cube/test_emu_*.py through ctypes (entry points return 0, or 1 with the message).
#include <cstring>

#include "kernel_operator.h"
#include "tikicpulib.h"
#include "../emu/selftest_host.h"

using namespace AscendC;
using selftest::Gm;
using selftest::Guard;

// Names kernels take from CANN's utilities and from the compiler.
static_assert(IsSameType<half, half>::value && !IsSameType<half, float>::value, "IsSameType");
static_assert(SizeOfBits<int4b_t>::value == 4 && SizeOfBits<half>::value == 16, "SizeOfBits");
static_assert(EVENT_ID3 == 3 && event_t::EVENT_ID7 == 7, "event_t");
static_assert(std::is_same_v<decltype(LoadData2dParams{}), LoadData2DParams>, "LoadData2dParams alias");

// ---- L0 probe: an API writes L0A / L0B, an int8 identity Mmad reads the bytes back ---------------
// Observing L0A (m x 32 bytes as int8 Zz, k = 32): C = A x I, so C row-major is the bytes in order.
// Observing L0B (32 x n bytes as int8 Zn, k = 32): C = I x B, so C transposed is the bytes in order.
struct ProbeArgs {
  int32_t api;    // 0 LoadDataWithTranspose, 1 LoadData 3Dv2, 2 3Dv2 from SetFmatrix, 3 3Dv2Pro
  int32_t dtype;  // 0 int8, 1 half, 2 float, 3 int4, 4 bf16, 5 uint8, 6 int32
  int32_t toL0A;
  uint32_t srcBytes, dstBytes;  // the L1 image; the observed L0 region (multiple of 512, <= 32 KiB)
  uint32_t dstOffset;           // bytes from the L0 buffer's start to the API's dst
  uint16_t startIndex, srcStride, dstGap, dstFracGap;
  uint32_t repeat;
  uint16_t l1H, l1W, channels, kExt, mExt, kStart, mStart;
  uint8_t strideW, strideH, pad[4];
};

namespace {
constexpr IsResetLoad3dConfig kFmatrixFromRegister = {false, true};

template <typename T>
void ProbeApi(const ProbeArgs& a, const LocalTensor<uint8_t>& l1, const LocalTensor<uint8_t>& l0) {
  const LocalTensor<T> src = l1.ReinterpretCast<T>();
  const LocalTensor<T> dst = l0[a.dstOffset].template ReinterpretCast<T>();
  if (a.api == 0) {
    return LoadDataWithTranspose(dst, src, LoadData2dTransposeParams(a.startIndex, static_cast<uint8_t>(a.repeat),
                                                                     a.srcStride, a.dstGap, a.dstFracGap));
  }
  if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, half> || std::is_same_v<T, float>) {
    if (a.api == 3) {
      Load3DSetFMatrixCal(a.l1H, a.l1W, a.pad);
      LoadData3DParamsV2Pro p;
      p.channelSize = a.channels;
      p.extConfig = uint64_t(a.mStart) << 48 | uint64_t(a.kStart) << 32 | uint64_t(a.mExt) << 16 | a.kExt;
      p.filterConfig = 0x010101010000ull | uint64_t(a.strideH) << 8 | a.strideW;  // dilation 1, filter 1x1
      return LoadData(dst, src, p);
    }
    LoadData3DParamsV2<T> p(a.pad, a.l1H, a.l1W, a.channels, a.kExt, a.mExt, a.kStart, a.mStart, a.strideW,
                            a.strideH, 1, 1, 1, 1, false, false, T(0));
    if (a.api == 1) return LoadData(dst, src, p);
    SetFmatrix(a.l1H, a.l1W, a.pad, FmatrixMode::FMATRIX_LEFT);
    p.l1H = p.l1W = 7777;  // ignored: the feature map comes from the register
    LoadData<T, kFmatrixFromRegister>(dst, src, p);
  }
}
}  // namespace

extern "C" __global__ __aicore__ void probe_kernel(GM_ADDR srcGm, GM_ADDR identGm, GM_ADDR outGm, GM_ADDR argsGm) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const ProbeArgs& a = *reinterpret_cast<const ProbeArgs*>(argsGm);
  TPipe pipe;
  TBuf<TPosition::A1> l1, l1Ident;
  TBuf<TPosition::A2> l0a;
  TBuf<TPosition::B2> l0b;
  TBuf<TPosition::CO1> l0c;
  pipe.InitBuffer(l1, a.srcBytes);
  pipe.InitBuffer(l1Ident, 1024);
  pipe.InitBuffer(l0a, a.toL0A ? a.dstBytes : 1024);
  pipe.InitBuffer(l0b, a.toL0A ? 1024 : a.dstBytes);
  pipe.InitBuffer(l0c, a.dstBytes * 4);
  GlobalTensor<uint8_t> src, ident;
  src.SetGlobalBuffer(srcGm, a.srcBytes);
  ident.SetGlobalBuffer(identGm, 1024);
  DataCopy(l1.Get<uint8_t>(), src, a.srcBytes);
  DataCopy(l1Ident.Get<uint8_t>(), ident, 1024);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  const LocalTensor<uint8_t> probed = (a.toL0A ? l0a.Get<uint8_t>() : l0b.Get<uint8_t>());
  switch (a.dtype) {
    case 0: ProbeApi<int8_t>(a, l1.Get<uint8_t>(), probed); break;
    case 1: ProbeApi<half>(a, l1.Get<uint8_t>(), probed); break;
    case 2: ProbeApi<float>(a, l1.Get<uint8_t>(), probed); break;
    case 3: ProbeApi<int4b_t>(a, l1.Get<uint8_t>(), probed); break;
    case 4: ProbeApi<bfloat16_t>(a, l1.Get<uint8_t>(), probed); break;
    case 5: ProbeApi<uint8_t>(a, l1.Get<uint8_t>(), probed); break;
    default: ProbeApi<int32_t>(a, l1.Get<uint8_t>(), probed); break;
  }
  // The identity (two 16 x 32 int8 fractals) into the other L0; then C = A x B in int32.
  const LocalTensor<int8_t> other = (a.toL0A ? l0b.Get<int8_t>() : l0a.Get<int8_t>());
  LoadData(other, l1Ident.Get<int8_t>(), LoadData2DParams(0, 2, 1, 0, 0, false, 0));
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  const uint16_t rows = a.toL0A ? a.dstBytes / 32 : 32, cols = a.toL0A ? 32 : a.dstBytes / 32;
  Mmad(l0c.Get<int32_t>(), l0a.Get<int8_t>(), l0b.Get<int8_t>(), MmadParams(rows, cols, 32, 0, false, true));
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  GlobalTensor<int32_t> out;
  out.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(outGm), uint32_t(rows) * cols);
  FixpipeParamsV220 fp(cols, rows, (rows + 15) / 16 * 16, cols, false);
  Fixpipe(out, l0c.Get<int32_t>(), fp);
}

// ---- And / Or / ShiftLeft ------------------------------------------------------------------------
struct BitArgs {
  int32_t op;     // 0 And, 1 Or, 2 ShiftLeft
  int32_t dtype;  // 0 int16, 1 uint16, 2 int32, 3 uint32
  int32_t form;   // 0 count, 1 continuous mask, 2 bit mask; ShiftLeft only: 3 the count form with
                  // isSetMask = false under counter-mode registers of `mask` elements, 4 forms 0-2's
                  // scalar-type (U) overloads by `count` / `mask` (count > 0: the count form)
  int32_t count;
  int32_t shift;
  uint32_t repeat;
  uint64_t mask;
  uint64_t bits[2];
  uint8_t dstBlk, src0Blk, src1Blk, dstRep, src0Rep, src1Rep;
  uint32_t bytes;  // of each UB operand
};

namespace {
template <typename T>
void BitOp(const BitArgs& a, const LocalTensor<T>& d, const LocalTensor<T>& s0, const LocalTensor<T>& s1) {
  const auto rep = static_cast<uint8_t>(a.repeat);
  const BinaryRepeatParams bp(a.dstBlk, a.src0Blk, a.src1Blk, a.dstRep, a.src0Rep, a.src1Rep);
  const UnaryRepeatParams up(a.dstBlk, a.src0Blk, a.dstRep, a.src0Rep);
  uint64_t bits[2] = {a.bits[0], a.bits[1]};
  const T s = static_cast<T>(a.shift);
  if (a.op == 2) {
    if (a.form == 0) ShiftLeft(d, s0, s, a.count);
    else if (a.form == 1) ShiftLeft(d, s0, s, a.mask, rep, up);
    else if (a.form == 2) ShiftLeft(d, s0, s, bits, rep, up);
    else if (a.form == 4 && a.count > 0) ShiftLeft<T, T>(d, s0, s, a.count);
    else if (a.form == 4) ShiftLeft<T, T>(d, s0, s, a.mask, rep, up);
    else {
      SetMaskCount();
      SetVectorMask<T, MaskMode::COUNTER>(0, a.mask);
      ShiftLeft<T, false>(d, s0, s, a.count);  // `count` ignored: one repeat under the registers
      SetMaskNorm();
      ResetMask();
    }
    return;
  }
  if (a.form == 0) {
    if (a.op == 0) And(d, s0, s1, a.count);
    else Or(d, s0, s1, a.count);
    return;
  }
  if constexpr (sizeof(T) == 2) {  // the mask forms take 16-bit integers only
    if (a.op == 0 && a.form == 1) And(d, s0, s1, a.mask, rep, bp);
    if (a.op == 0 && a.form == 2) And(d, s0, s1, bits, rep, bp);
    if (a.op == 1 && a.form == 1) Or(d, s0, s1, a.mask, rep, bp);
    if (a.op == 1 && a.form == 2) Or(d, s0, s1, bits, rep, bp);
  }
}
}  // namespace

extern "C" __global__ __aicore__ void bit_kernel(GM_ADDR in0, GM_ADDR in1, GM_ADDR out, GM_ADDR argsGm) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const BitArgs& a = *reinterpret_cast<const BitArgs*>(argsGm);
  TPipe pipe;
  TBuf<TPosition::VECCALC> ub;
  pipe.InitBuffer(ub, 3 * a.bytes);
  GlobalTensor<uint8_t> g0, g1, go;
  g0.SetGlobalBuffer(in0, a.bytes);
  g1.SetGlobalBuffer(in1, a.bytes);
  go.SetGlobalBuffer(out, a.bytes);
  const LocalTensor<uint8_t> u = ub.Get<uint8_t>();
  DataCopy(u, g0, a.bytes);
  DataCopy(u[a.bytes], g1, a.bytes);
  DataCopy(u[2 * a.bytes], go, a.bytes);  // the initial dst image
  SetFlag<HardEvent::MTE2_V>(0);
  WaitFlag<HardEvent::MTE2_V>(0);
  const auto d = u[2 * a.bytes], s0 = u, s1 = u[a.bytes];
  switch (a.dtype) {
    case 0: BitOp(a, d.ReinterpretCast<int16_t>(), s0.ReinterpretCast<int16_t>(), s1.ReinterpretCast<int16_t>()); break;
    case 1: BitOp(a, d.ReinterpretCast<uint16_t>(), s0.ReinterpretCast<uint16_t>(), s1.ReinterpretCast<uint16_t>()); break;
    case 2: BitOp(a, d.ReinterpretCast<int32_t>(), s0.ReinterpretCast<int32_t>(), s1.ReinterpretCast<int32_t>()); break;
    default: BitOp(a, d.ReinterpretCast<uint32_t>(), s0.ReinterpretCast<uint32_t>(), s1.ReinterpretCast<uint32_t>()); break;
  }
  pipe_barrier(PIPE_V);  // the raw intrinsic; counted like PipeBarrier
  SetFlag<HardEvent::V_MTE3>(EVENT_ID1);
  WaitFlag<HardEvent::V_MTE3>(EVENT_ID1);
  DataCopy(go, d, a.bytes);
}

// ---- memory: a core's missing memories, the reserved tops, SetAddr, int4 DataCopyPad ---------------
enum MemCase : int32_t { kAbsentReserved = 0, kAbsentTouched, kUbTop, kL1Top, kSetAddr, kSetAddrOutside, kInt4Pad };

extern "C" __global__ __aicore__ void mem_kernel(GM_ADDR in, GM_ADDR out, GM_ADDR caseGm) {
  const int32_t c = *reinterpret_cast<const int32_t*>(caseGm);
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  GlobalTensor<float> gin, gout;
  gin.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(in), 256);
  gout.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), 256);
  TPipe pipe;
  TBuf<TPosition::VECCALC> ub;
  TBuf<TPosition::A1> l1;
  switch (c) {
    case kAbsentReserved:  // catlass's Resource: every memory on every core, each core touching its own
    case kAbsentTouched: {
      pipe.InitBuffer(ub, 192 * 1024);
      pipe.InitBuffer(l1, 512 * 1024);
      if (ASCEND_IS_AIV && GetSubBlockIdx() == 0) {
        const LocalTensor<float> t = (c == kAbsentTouched ? l1.Get<float>() : ub.Get<float>());
        DataCopy(t, gin, 64);
        SetFlag<HardEvent::MTE2_MTE3>(0);
        WaitFlag<HardEvent::MTE2_MTE3>(0);
        DataCopy(gout, t, 64);
      }
      break;
    }
    case kUbTop: {  // the whole UB may be reserved and used, up to its last byte
      if (ASCEND_IS_AIC || GetSubBlockIdx() != 0) break;
      pipe.InitBuffer(ub, 192 * 1024);
      const LocalTensor<float> top = ub.Get<float>()[192 * 256 - 64];
      Duplicate(top, 1.0f, 64);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(gout, top, 64);
      break;
    }
    case kL1Top: {  // all of L1 may be used, up to its last byte (no KFC: Huawei's basic-API matmul example)
      if (ASCEND_IS_AIV) break;
      pipe.InitBuffer(l1, 512 * 1024);
      DataCopy(l1.Get<float>()[128 * 1024 - 32], gin, 32);  // [512 KiB - 128, 512 KiB)
      DataCopy(LocalTensor<float>(TPosition::B1, 384 * 1024, 32 * 1024), gin, 64);  // the example's B pong packet
      break;
    }
    case kSetAddr:
    case kSetAddrOutside: {
      if (ASCEND_IS_AIC || GetSubBlockIdx() != 0) break;
      TBuffAddr addr{};
      addr.logicPos = static_cast<uint8_t>(TPosition::VECCALC);
      addr.bufferAddr = 1024;
      addr.dataLen = 64;  // 16 floats at UB [1024, 1088)
      LocalTensor<float> t;
      t.SetAddr(addr);
      Duplicate(t, 1.5f, c == kSetAddr ? 16 : 24);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(gout, t, 16);
      break;
    }
    case kInt4Pad: {  // 5 rows of 37 int4 pairs... as bytes: rows of 19 bytes, GM row pitch 24 bytes
      if (ASCEND_IS_AIC || GetSubBlockIdx() != 0) break;
      pipe.InitBuffer(ub, 1024);
      GlobalTensor<int4b_t> g4in, g4out;
      g4in.SetGlobalBuffer(reinterpret_cast<__gm__ int4b_t*>(in), 2048);
      g4out.SetGlobalBuffer(reinterpret_cast<__gm__ int4b_t*>(out), 2048);
      const LocalTensor<int4b_t> t = ub.Get<int4b_t>();
      DataCopyPad(t, g4in, DataCopyExtParams(5, 19, 5, 0, 0), DataCopyPadExtParams<int4b_t>(false, 0, 0, 0));
      SetFlag<HardEvent::MTE2_MTE3>(0);
      WaitFlag<HardEvent::MTE2_MTE3>(0);
      DataCopyPad(g4out, t, DataCopyExtParams(5, 19, 0, 1, 0));  // GM row pitch 20 bytes
      break;
    }
    default: break;
  }
}

// ---- cross-core flags across modes -------------------------------------------------------------------
enum FlagCase : int32_t { kWaitWithoutMode = 0, kNoIdAliasing, kManyMembers };

extern "C" __global__ __aicore__ void flag_kernel(GM_ADDR ws, GM_ADDR out, GM_ADDR caseGm) {
  const int32_t c = *reinterpret_cast<const int32_t*>(caseGm);
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  GlobalTensor<int32_t> gws, gout;
  gws.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws));
  gout.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out));
  const int64_t id = GetBlockIdx();
  if (c == kWaitWithoutMode) {  // AIVs set with mode 2; the AIC waits as catlass does, without a mode
    // Scalar GM writes reach the other core only through a DataCache clean (docs/emulator.md).
    constexpr auto kLine = CacheLine::SINGLE_CACHE_LINE;
    if (ASCEND_IS_AIV) {
      gws.SetValue(id, int32_t(10 + id));
      DataCacheCleanAndInvalid<int32_t, kLine, DcciDst::CACHELINE_OUT>(gws[id]);
      CrossCoreSetFlag<2, PIPE_MTE3>(3);
    } else {
      CrossCoreWaitFlag(3);
      DataCacheCleanAndInvalid<int32_t, kLine, DcciDst::CACHELINE_OUT>(gws[2 * id]);
      gout.SetValue(id, gws.GetValue(2 * id) + gws.GetValue(2 * id + 1));
    }
  } else if (c == kNoIdAliasing) {  // flag 3 from the AIVs must not satisfy a wait on flag 4
    if (ASCEND_IS_AIV) CrossCoreSetFlag<2, PIPE_MTE3>(3);
    else CrossCoreWaitFlag<0>(4);
  } else if (c == kManyMembers) {  // mode-0 rounds among more than 15 AIVs
    if (ASCEND_IS_AIV) {
      for (int32_t r = 0; r < 3; ++r) {
        CrossCoreSetFlag<0, PIPE_MTE3>(5);
        CrossCoreWaitFlag(5);
      }
      gout.SetValue(id, 3);
    }
  }
}

// ---- per-channel dequantisation: int8 GEMM -> half with VDEQF16 -------------------------------------
// C [m, n] = A [m, k] int8 x B [n, k]^T int8, each column n scaled by scales[n] (uint64 words as
// deqScalar): GM -> L1 -> fixpipe buffer (DataCopy, 128 B blocks), SetFixPipeConfig, Fixpipe.
struct DeqArgs {
  uint32_t m, n, k;
  int32_t setConfig;  // 0: skip SetFixPipeConfig (rule test)
  int32_t fbGap;      // 1: copy into FB with a gap (not emulated)
};

extern "C" __global__ __aicore__ void deq_kernel(GM_ADDR a, GM_ADDR b, GM_ADDR scales, GM_ADDR c, GM_ADDR argsGm) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const DeqArgs& p = *reinterpret_cast<const DeqArgs*>(argsGm);
  const uint32_t m1 = (p.m + 15) / 16, n1 = (p.n + 15) / 16, k1 = (p.k + 31) / 32;
  TPipe pipe;
  TBuf<TPosition::A1> l1a, l1b, l1s;
  TBuf<TPosition::A2> l0a;
  TBuf<TPosition::B2> l0b;
  TBuf<TPosition::CO1> l0c;
  TBuf<TPosition::C2PIPE2GM> fb;
  pipe.InitBuffer(l1a, m1 * k1 * 512);
  pipe.InitBuffer(l1b, n1 * k1 * 512);
  pipe.InitBuffer(l1s, n1 * 128);
  pipe.InitBuffer(l0a, m1 * k1 * 512);
  pipe.InitBuffer(l0b, n1 * k1 * 512);
  pipe.InitBuffer(l0c, m1 * n1 * 1024);
  pipe.InitBuffer(fb, n1 * 128);
  GlobalTensor<int8_t> ga, gb;
  GlobalTensor<uint64_t> gs;
  GlobalTensor<half> gc;
  ga.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(a), uint64_t(p.m) * p.k);
  gb.SetGlobalBuffer(reinterpret_cast<__gm__ int8_t*>(b), uint64_t(p.n) * p.k);
  gs.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(scales), n1 * 16);
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(c), uint64_t(p.m) * p.n);
  DataCopy(l1a.Get<int8_t>(), ga, Nd2NzParams(1, p.m, p.k, 0, p.k, m1 * 16, 1, 0));
  DataCopy(l1b.Get<int8_t>(), gb, Nd2NzParams(1, p.n, p.k, 0, p.k, n1 * 16, 1, 0));
  DataCopy(l1s.Get<uint64_t>(), gs, n1 * 16);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  for (uint32_t mb = 0; mb < m1; ++mb)
    LoadData(l0a.Get<int8_t>()[mb * k1 * 512], l1a.Get<int8_t>(), LoadData2DParams(mb, k1, m1, 0, 0, false, 0));
  LoadData(l0b.Get<int8_t>(), l1b.Get<int8_t>(), LoadData2DParams(0, k1 * n1, 1, 0, 0, false, 0));
  // 16 words = 128 B per block of 16 columns; one block per DataCopy block into FB (on PIPE_FIX).
  SetFlag<HardEvent::MTE2_FIX>(0);
  WaitFlag<HardEvent::MTE2_FIX>(0);
  DataCopy(fb.Get<uint64_t>(), l1s.Get<uint64_t>(), DataCopyParams(p.fbGap ? 2 : 1, p.fbGap ? 1 : n1, 0, p.fbGap));
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  Mmad(l0c.Get<int32_t>(), l0a.Get<int8_t>(), l0b.Get<int8_t>(), MmadParams(p.m == 1 ? 16 : p.m, p.n, p.k, 0, false, true));
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  if (p.setConfig) SetFixPipeConfig<uint64_t, false>(fb.Get<uint64_t>(), false);
  FixpipeParamsV220 fp(p.n, p.m, m1 * 16, p.n, false);
  fp.quantPre = QuantMode_t::VDEQF16;
  Fixpipe(gc, l0c.Get<int32_t>(), fp);
}

extern "C" {

int ext_deq(const DeqArgs* args, const void* a, const void* b, const void* scales, void* c, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    const uint32_t n1 = (args->n + 15) / 16;
    Gm ga(uint64_t(args->m) * args->k, a), gb(uint64_t(args->n) * args->k, b), gs(n1 * 128, scales),
        gc(uint64_t(args->m) * args->n * 2), gp(sizeof(DeqArgs), args);
    SetKernelMode(KernelMode::AIC_MODE);
    ICPU_RUN_KF(deq_kernel, 1, ga.get(), gb.get(), gs.get(), gc.get(), gp.get());
    std::memcpy(c, gc.get(), uint64_t(args->m) * args->n * 2);
  });
}

int ext_probe(const ProbeArgs* args, const void* src, const void* ident, int32_t* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    const uint64_t outBytes = uint64_t(args->dstBytes) * 4;
    Gm gs(args->srcBytes, src), gi(1024, ident), go(outBytes), ga(sizeof(ProbeArgs), args);
    SetKernelMode(KernelMode::AIC_MODE);
    ICPU_RUN_KF(probe_kernel, 1, gs.get(), gi.get(), go.get(), ga.get());
    std::memcpy(out, go.get(), outBytes);
  });
}

int ext_bit(const BitArgs* args, const void* in0, const void* in1, void* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm g0(args->bytes, in0), g1(args->bytes, in1), go(args->bytes, out), ga(sizeof(BitArgs), args);
    SetKernelMode(KernelMode::AIV_MODE);
    ICPU_RUN_KF(bit_kernel, 1, g0.get(), g1.get(), go.get(), ga.get());
    std::memcpy(out, go.get(), args->bytes);
  });
}

int ext_mem(int32_t which, const void* in, void* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm gi(1024, in), go(1024, out), gc(4, &which);
    SetKernelMode(KernelMode::MIX_MODE);
    ICPU_RUN_KF(mem_kernel, 1, gi.get(), go.get(), gc.get());
    std::memcpy(out, go.get(), 1024);
  });
}

int ext_flag(int32_t which, int32_t blockDim, int32_t* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm gw(4 * 64), go(4 * 64), gc(4, &which);
    SetKernelMode(KernelMode::MIX_MODE);
    ICPU_RUN_KF(flag_kernel, blockDim, gw.get(), go.get(), gc.get());
    std::memcpy(out, go.get(), 4 * 64);
  });
}

// Counters of the last launch.
uint64_t ext_sync_waits() { return emu::LastLaunch().total.syncWaits; }
uint64_t ext_mte1_bytes() { return emu::LastLaunch().total.mte1Bytes; }

}  // extern "C"
