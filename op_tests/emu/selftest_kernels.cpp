// Self-test kernels for the AscendC CPU emulator, driven from op_tests/emu through ctypes.
//
// The kernels are written as real AscendC kernels (TPipe, TQue/TBuf, DataCopy, flags). The host
// entry points allocate GM with GmAlloc, launch with ICPU_RUN_KF and return 0, or copy the
// emulator's error message into the caller's buffer and return 1: no exception crosses ctypes.
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "kernel_operator.h"
#include "tikicpulib.h"
#include "selftest_host.h"

using namespace AscendC;

// ---- shared by host and kernel (like a tiling struct); mirrored in conftest.py ---------------
struct VecArgs {
  int32_t op, dtype, dtype2, form;  // form: 0 count, 1 continuous mask, 2 bit mask, 3 counter registers, 4 mask registers
  int32_t count, repeat, aux, aux2;
  uint64_t mask, maskBits[2];
  uint16_t dstBlk, src0Blk, src1Blk, dstRep, src0Rep, src1Rep;
  double scalar;
  uint32_t bytes[4];  // UB bytes of in0, in1, in2 and out
};

enum Op : int32_t {
  kAdd = 0, kSub, kMul, kDiv, kMax, kMin,
  kExp = 10, kLn, kAbs, kSqrt, kRelu,
  kAdds = 20, kMuls, kMaxs, kMins,
  kDuplicate = 30, kCast = 40,
  kReduceMax = 50, kReduceSum, kWholeReduceMax, kWholeReduceSum, kBrcb, kBlockReduceMax, kBlockReduceMin, kBlockReduceSum,
  kCompare = 60, kCompareScalar, kSelect, kGatherMask, kGather,
  kAxpy = 70, kShiftRight, kMulAddDst, kCopy, kTransDataTo5HD,
};
enum Dtype : int32_t { kHalf = 0, kFloat, kBf16, kInt8, kUint8, kInt16, kInt32, kInt64, kInt4, kUint16, kUint32 };

namespace {

[[noreturn]] void Unsupported(const VecArgs& a) {
  throw std::runtime_error("selftest harness: op " + std::to_string(a.op) + " has no case for dtype " +
                           std::to_string(a.dtype) + "/" + std::to_string(a.dtype2) + " form " + std::to_string(a.form));
}

BinaryRepeatParams Bin(const VecArgs& a) {
  return BinaryRepeatParams(static_cast<uint8_t>(a.dstBlk), static_cast<uint8_t>(a.src0Blk), static_cast<uint8_t>(a.src1Blk),
                            static_cast<uint8_t>(a.dstRep), static_cast<uint8_t>(a.src0Rep), static_cast<uint8_t>(a.src1Rep));
}
UnaryRepeatParams Un(const VecArgs& a) {
  return UnaryRepeatParams(a.dstBlk, a.src0Blk, static_cast<uint8_t>(a.dstRep), static_cast<uint8_t>(a.src0Rep));
}

// Runs the count form, or a mask/repeat form: repeat(std::bool_constant<isSetMask>, mask).
template <typename T, typename Count, typename Repeat>
void Forms(const VecArgs& a, Count&& count, Repeat&& repeat) {
  switch (a.form) {
    case 0: count(); break;
    case 1: repeat(std::true_type{}, a.mask); break;
    case 2: {  // CANN's mask-array parameter is a non-const uint64_t[]
      uint64_t bits[2] = {a.maskBits[0], a.maskBits[1]};
      repeat(std::true_type{}, bits);
      break;
    }
    case 3:  // isSetMask = false in counter mode, as kernels do for long tails
      SetMaskCount();
      SetVectorMask<T, MaskMode::COUNTER>(0, static_cast<uint64_t>(a.count));
      repeat(std::false_type{}, a.mask);
      SetMaskNorm();
      ResetMask();
      break;
    default: {  // isSetMask = false with a lane mask in the registers
      uint64_t placeholder[2] = {0, 0};
      SetVectorMask<T>(a.maskBits[1], a.maskBits[0]);
      repeat(std::false_type{}, placeholder);
      ResetMask();
    }
  }
}

#define BINARY_CASE(NAME)                                                                                 \
  case k##NAME:                                                                                           \
    Forms<T>(a, [&] { NAME(d, s0, s1, a.count); },                                                        \
             [&](auto set, auto mask) { NAME<T, decltype(set)::value>(d, s0, s1, mask, a.repeat, Bin(a)); }); \
    return;
#define UNARY_CASE(NAME)                                                                                  \
  case k##NAME:                                                                                           \
    Forms<T>(a, [&] { NAME(d, s0, a.count); },                                                            \
             [&](auto set, auto mask) { NAME<T, decltype(set)::value>(d, s0, mask, a.repeat, Un(a)); });  \
    return;
#define SCALAR_CASE(NAME)                                                                                 \
  case k##NAME:                                                                                           \
    Forms<T>(a, [&] { NAME(d, s0, sc, a.count); },                                                        \
             [&](auto set, auto mask) { NAME<T, decltype(set)::value>(d, s0, sc, mask, a.repeat, Un(a)); }); \
    return;

template <typename T>
void Elementwise(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  constexpr bool isFloat = std::is_same_v<T, half> || std::is_same_v<T, float>;
  const LocalTensor<T> s0 = ub[0].ReinterpretCast<T>(), s1 = ub[1].ReinterpretCast<T>(), d = ub[3].ReinterpretCast<T>();
  const T sc = static_cast<T>(a.scalar);
  switch (a.op) {
    BINARY_CASE(Add) BINARY_CASE(Sub) BINARY_CASE(Mul) BINARY_CASE(Max) BINARY_CASE(Min)
    SCALAR_CASE(Adds) SCALAR_CASE(Muls) SCALAR_CASE(Maxs) SCALAR_CASE(Mins)
    case kDuplicate:
      Forms<T>(a, [&] { Duplicate(d, sc, a.count); },
               [&](auto set, auto mask) { Duplicate<T, decltype(set)::value>(d, sc, mask, a.repeat, a.dstBlk, a.dstRep); });
      return;
    default: break;
  }
  if constexpr (isFloat) {
    switch (a.op) {
      BINARY_CASE(Div) UNARY_CASE(Exp) UNARY_CASE(Ln) UNARY_CASE(Sqrt) UNARY_CASE(Abs)
      default: break;
    }
  }
  if constexpr (isFloat || std::is_same_v<T, int32_t>) {
    switch (a.op) {
      UNARY_CASE(Relu)
      default: break;
    }
  }
  Unsupported(a);
}

template <typename D, typename S>
void RunCast(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<S> s = ub[0].ReinterpretCast<S>();
  const LocalTensor<D> d = ub[3].ReinterpretCast<D>();
  const RoundMode mode = static_cast<RoundMode>(a.aux);
  Forms<D>(a, [&] { Cast(d, s, mode, a.count); },
           [&](auto set, auto mask) { Cast<D, S, decltype(set)::value>(d, s, mode, mask, a.repeat, Un(a)); });
}

// Every (dst, src) pair of the A2/A3 Cast matrix.
#define CAST_PAIRS(X)                                                                                      \
  X(kFloat, kHalf, float, half) X(kInt32, kHalf, int32_t, half) X(kInt16, kHalf, int16_t, half)            \
  X(kInt8, kHalf, int8_t, half) X(kUint8, kHalf, uint8_t, half) X(kInt4, kHalf, int4b_t, half)             \
  X(kHalf, kFloat, half, float) X(kFloat, kFloat, float, float) X(kInt32, kFloat, int32_t, float)          \
  X(kInt16, kFloat, int16_t, float) X(kInt64, kFloat, int64_t, float) X(kBf16, kFloat, bfloat16_t, float)  \
  X(kFloat, kBf16, float, bfloat16_t) X(kInt32, kBf16, int32_t, bfloat16_t) X(kHalf, kInt4, half, int4b_t) \
  X(kHalf, kInt8, half, int8_t) X(kHalf, kUint8, half, uint8_t) X(kHalf, kInt16, half, int16_t)            \
  X(kFloat, kInt16, float, int16_t) X(kFloat, kInt32, float, int32_t) X(kInt16, kInt32, int16_t, int32_t)  \
  X(kInt64, kInt32, int64_t, int32_t) X(kFloat, kInt64, float, int64_t) X(kInt32, kInt64, int32_t, int64_t)

void CastOp(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
#define CAST_CASE(DID, SID, D, S) \
  if (a.dtype == DID && a.dtype2 == SID) return RunCast<D, S>(a, ub);
  CAST_PAIRS(CAST_CASE)
#undef CAST_CASE
  Unsupported(a);
}

template <typename T>
void Reduce(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<T> s = ub[0].ReinterpretCast<T>(), work = ub[2].ReinterpretCast<T>(), d = ub[3].ReinterpretCast<T>();
  auto whole = [&](auto set, auto mask) {
    constexpr bool isSetMask = decltype(set)::value;
    if (a.op == kWholeReduceMax)
      WholeReduceMax<T, isSetMask>(d, s, mask, a.repeat, a.dstRep, a.src0Blk, a.src0Rep, static_cast<ReduceOrder>(a.aux));
    else if (a.op == kWholeReduceSum)
      WholeReduceSum<T, isSetMask>(d, s, mask, a.repeat, a.dstRep, a.src0Blk, a.src0Rep);
    else if (a.op == kBlockReduceMax)
      BlockReduceMax<T, isSetMask>(d, s, a.repeat, mask, a.dstRep, a.src0Blk, a.src0Rep);
    else if (a.op == kBlockReduceMin)
      BlockReduceMin<T, isSetMask>(d, s, a.repeat, mask, a.dstRep, a.src0Blk, a.src0Rep);
    else
      BlockReduceSum<T, isSetMask>(d, s, a.repeat, mask, a.dstRep, a.src0Blk, a.src0Rep);
  };
  switch (a.op) {
    case kReduceMax: ReduceMax(d, s, work, a.count, a.aux != 0); return;
    case kReduceSum: ReduceSum(d, s, work, a.count); return;
    default: Forms<T>(a, [&] { Unsupported(a); }, whole);  // WholeReduce*, BlockReduce*: mask/repeat forms only
  }
}

template <typename T>
uint64_t Gathers(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<T> s = ub[0].ReinterpretCast<T>(), d = ub[3].ReinterpretCast<T>();
  using U = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;
  uint64_t kept = 0;
  if (a.op == kGather) {
    Gather(d, s, ub[1].ReinterpretCast<uint32_t>(), static_cast<uint32_t>(a.aux), static_cast<uint32_t>(a.count));
  } else {
    const GatherMaskParams gp(static_cast<uint8_t>(a.src0Blk), static_cast<uint16_t>(a.repeat), a.src0Rep,
                              static_cast<uint8_t>(a.src1Rep));
    if (a.aux) GatherMask(d, s, static_cast<uint8_t>(a.aux), a.aux2 != 0, static_cast<uint32_t>(a.mask), gp, kept);
    else GatherMask(d, s, ub[1].ReinterpretCast<U>(), a.aux2 != 0, static_cast<uint32_t>(a.mask), gp, kept);
  }
  return kept;
}

// TransDataTo5HD over 16 source blocks src0Blk blocks apart and 16 destination blocks dstBlk apart;
// repeat strides src0Rep / dstRep, dstHighHalf = aux, srcHighHalf = aux2 (8-bit).
template <typename T>
void Transpose5HD(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  constexpr uint32_t perBlock = 32 / sizeof(T);
  LocalTensor<T> dst[NCHW_CONV_ADDR_LIST_SIZE], src[NCHW_CONV_ADDR_LIST_SIZE];
  for (uint32_t i = 0; i < NCHW_CONV_ADDR_LIST_SIZE; ++i) {
    src[i] = ub[0].ReinterpretCast<T>()[i * a.src0Blk * perBlock];
    dst[i] = ub[3].ReinterpretCast<T>()[i * a.dstBlk * perBlock];
  }
  TransDataTo5HD(dst, src, TransDataTo5HDParams(a.aux != 0, a.aux2 != 0, static_cast<uint8_t>(a.repeat), a.dstRep,
                                                a.src0Rep));
}

template <typename T>
void CmpSel(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<T> s0 = ub[0].ReinterpretCast<T>(), s1 = ub[1].ReinterpretCast<T>();
  const T sc = static_cast<T>(a.scalar);
  if (a.op == kCompare || a.op == kCompareScalar) {
    // Count forms only; they run under the vector mask register, which forms 3 / 4 set first.
    if (a.form == 3) {
      SetMaskCount();
      SetVectorMask<T, MaskMode::COUNTER>(0, a.mask);
    } else if (a.form == 4) {
      SetVectorMask<T>(a.maskBits[1], a.maskBits[0]);
    }
    if constexpr (!std::is_same_v<T, int32_t>) {
      if (a.aux2) {  // a ReduceMax first (into in2): it leaves the mask register undefined
        const LocalTensor<T> r = ub[2].ReinterpretCast<T>();
        ReduceMax(r, s0, r[32 / sizeof(T)], static_cast<int32_t>(a.count));
      }
    }
    if (a.op == kCompare) Compare(ub[3], s0, s1, static_cast<CMPMODE>(a.aux), static_cast<uint32_t>(a.count));
    else CompareScalar(ub[3], s0, sc, static_cast<CMPMODE>(a.aux), static_cast<uint32_t>(a.count));
    SetMaskNorm();
    ResetMask();
    return;
  }
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, float>) {
    const LocalTensor<T> d = ub[3].ReinterpretCast<T>();
    const LocalTensor<uint8_t>& sel = ub[2];
    const SELMODE mode = static_cast<SELMODE>(a.aux);
    if (a.aux2)  // scalar src1
      Forms<T>(a, [&] { Select(d, sel, s0, sc, mode, static_cast<uint32_t>(a.count)); },
               [&](auto set, auto mask) { Select<T, uint8_t, decltype(set)::value>(d, sel, s0, sc, mode, mask, a.repeat, Bin(a)); });
    else
      Forms<T>(a, [&] { Select(d, sel, s0, s1, mode, static_cast<uint32_t>(a.count)); },
               [&](auto set, auto mask) { Select<T, uint8_t, decltype(set)::value>(d, sel, s0, s1, mode, mask, a.repeat, Bin(a)); });
    return;
  }
  Unsupported(a);
}

// Axpy: dtype is dst, dtype2 src; in0 is src, out holds dst's initial values.
template <typename D, typename S>
void RunAxpy(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<S> s = ub[0].ReinterpretCast<S>();
  const LocalTensor<D> d = ub[3].ReinterpretCast<D>();
  const S sc = static_cast<S>(static_cast<float>(a.scalar));
  Forms<D>(a, [&] { Axpy(d, s, sc, a.count); },
           [&](auto set, auto mask) { Axpy<D, S, decltype(set)::value>(d, s, sc, mask, a.repeat, Un(a)); });
}

void AxpyOp(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  if (a.dtype == kHalf && a.dtype2 == kHalf) return RunAxpy<half, half>(a, ub);
  if (a.dtype == kFloat && a.dtype2 == kFloat) return RunAxpy<float, float>(a, ub);
  if (a.dtype == kFloat && a.dtype2 == kHalf) return RunAxpy<float, half>(a, ub);
  Unsupported(a);
}

// MulAddDst: dtype is dst, dtype2 src; in0 is src0, in1 src1, out holds dst's initial values.
template <typename D, typename S>
void RunMulAddDst(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<S> s0 = ub[0].ReinterpretCast<S>(), s1 = ub[1].ReinterpretCast<S>();
  const LocalTensor<D> d = ub[3].ReinterpretCast<D>();
  Forms<D>(a, [&] { MulAddDst(d, s0, s1, a.count); },
           [&](auto set, auto mask) { MulAddDst<D, S, decltype(set)::value>(d, s0, s1, mask, a.repeat, Bin(a)); });
}

void MulAddDstOp(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  if (a.dtype == kHalf && a.dtype2 == kHalf) return RunMulAddDst<half, half>(a, ub);
  if (a.dtype == kFloat && a.dtype2 == kFloat) return RunMulAddDst<float, float>(a, ub);
  if (a.dtype == kFloat && a.dtype2 == kHalf) return RunMulAddDst<float, half>(a, ub);
  Unsupported(a);
}

// ShiftRight: aux = roundEn; aux2 = 1: the count form with isSetMask = false under the registers that
// forms 3 / 4 set (a.mask: the counter-mode count); aux2 = 2: the scalar-type (U) overloads.
template <typename T>
void RunShiftRight(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<T> s = ub[0].ReinterpretCast<T>(), d = ub[3].ReinterpretCast<T>();
  const T sc = static_cast<T>(static_cast<int64_t>(a.scalar));
  const bool roundEn = a.aux != 0;
  if (a.aux2 == 1) {
    if (a.form == 3) {
      SetMaskCount();
      SetVectorMask<T, MaskMode::COUNTER>(0, a.mask);
    } else {
      SetVectorMask<T>(a.maskBits[1], a.maskBits[0]);
    }
    ShiftRight<T, false>(d, s, sc, a.count);
    SetMaskNorm();
    ResetMask();
    return;
  }
  if (a.aux2 == 2) {
    Forms<T>(a, [&] { ShiftRight<T, T>(d, s, sc, a.count); },
             [&](auto set, auto mask) { ShiftRight<T, T, decltype(set)::value>(d, s, sc, mask, a.repeat, Un(a), roundEn); });
    return;
  }
  Forms<T>(a, [&] { ShiftRight(d, s, sc, a.count); },
           [&](auto set, auto mask) { ShiftRight<T, decltype(set)::value>(d, s, sc, mask, a.repeat, Un(a), roundEn); });
}

// Copy (mask forms only): in0 is src, out holds dst's initial image; the block strides and repeat
// sizes are the VecArgs' dst / src0 ones.
template <typename T>
void RunCopy(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  const LocalTensor<T> s = ub[0].ReinterpretCast<T>(), d = ub[3].ReinterpretCast<T>();
  const CopyRepeatParams rp(a.dstBlk, a.src0Blk, a.dstRep, a.src0Rep);
  Forms<T>(a, [&] { Unsupported(a); },
           [&](auto set, auto mask) { Copy<T, decltype(set)::value>(d, s, mask, static_cast<uint8_t>(a.repeat), rp); });
}

// Calls f(T{}) with the element type of the runtime dtype code (any other code: bfloat16_t).
template <typename F>
auto ByDtype(int32_t dtype, F&& f) {
  switch (dtype) {
    case kHalf: return f(half{});
    case kFloat: return f(float{});
    case kInt16: return f(int16_t{});
    case kInt32: return f(int32_t{});
    case kUint16: return f(uint16_t{});
    case kUint32: return f(uint32_t{});
    default: return f(bfloat16_t{});
  }
}

uint64_t Dispatch(const VecArgs& a, const LocalTensor<uint8_t>* ub) {
  if (a.op == kCast) return CastOp(a, ub), 0;
  if (a.op == kAxpy) return AxpyOp(a, ub), 0;
  if (a.op == kMulAddDst) return MulAddDstOp(a, ub), 0;
  if (a.op == kTransDataTo5HD && (a.dtype == kInt8 || a.dtype == kUint8)) return Transpose5HD<int8_t>(a, ub), 0;
  return ByDtype(a.dtype, [&](auto tag) -> uint64_t {
    using T = decltype(tag);
    constexpr bool arith = std::is_same_v<T, half> || std::is_same_v<T, float> || std::is_same_v<T, int16_t> ||
                           std::is_same_v<T, int32_t>;
    constexpr bool cmp = std::is_same_v<T, half> || std::is_same_v<T, float> || std::is_same_v<T, int32_t>;
    constexpr bool reduce = std::is_same_v<T, half> || std::is_same_v<T, float>;
    if (a.op == kCopy) return RunCopy<T>(a, ub), 0;
    if (a.op == kBrcb) return Brcb(ub[3].ReinterpretCast<T>(), ub[0].ReinterpretCast<T>(), a.repeat, BrcbRepeatParams(a.dstBlk, a.dstRep)), 0;
    if (a.op == kGatherMask || a.op == kGather) return Gathers<T>(a, ub);
    if (a.op == kTransDataTo5HD) return Transpose5HD<T>(a, ub), 0;
    constexpr bool shift = std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t> || std::is_same_v<T, int32_t> ||
                           std::is_same_v<T, uint32_t>;
    if constexpr (shift) if (a.op == kShiftRight) return RunShiftRight<T>(a, ub), 0;
    if constexpr (arith) if (a.op <= kDuplicate) return Elementwise<T>(a, ub), 0;
    if constexpr (cmp) if (a.op >= kCompare && a.op <= kSelect) return CmpSel<T>(a, ub), 0;
    if constexpr (reduce) if (a.op >= kReduceMax && a.op <= kBlockReduceSum && a.op != kBrcb) return Reduce<T>(a, ub), 0;
    Unsupported(a);
  });
}

}  // namespace

// One vector instruction on UB images of in0/in1/in2/out: GM -> UB, the op, UB(out) -> GM.
extern "C" __global__ __aicore__ void vec_kernel(GM_ADDR in0, GM_ADDR in1, GM_ADDR in2, GM_ADDR out, GM_ADDR result, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const VecArgs& a = *reinterpret_cast<const VecArgs*>(args);
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf[4];
  GM_ADDR gm[4] = {in0, in1, in2, out};
  LocalTensor<uint8_t> ub[4];
  for (int i = 0; i < 4; ++i) {
    pipe.InitBuffer(buf[i], a.bytes[i]);
    ub[i] = buf[i].Get<uint8_t>();
    GlobalTensor<uint8_t> g;
    g.SetGlobalBuffer(gm[i], a.bytes[i]);
    DataCopy(ub[i], g, a.bytes[i]);
  }
  SetFlag<HardEvent::MTE2_V>(0);
  WaitFlag<HardEvent::MTE2_V>(0);
  const uint64_t kept = Dispatch(a, ub);
  SetFlag<HardEvent::V_MTE3>(0);
  WaitFlag<HardEvent::V_MTE3>(0);
  GlobalTensor<uint8_t> g;
  g.SetGlobalBuffer(out, a.bytes[3]);
  DataCopy(g, ub[3], a.bytes[3]);
  GlobalTensor<uint64_t> r;
  r.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(result), 1);
  r.SetValue(0, kept);
}

// ---- data movement ---------------------------------------------------------------------------
struct CopyArgs {
  int32_t kind;        // see copy_kernel
  uint32_t ubBytes;    // UB buffer size
  uint32_t count;      // count-form elements (int16_t) / tile elements (queue pipeline)
  uint32_t tiles;      // queue pipeline tiles
  uint16_t blockCount;
  uint32_t blockLen, srcStride, dstStride;
  uint8_t isPad, leftPad, rightPad;
  int16_t padValue;
};

namespace {
// GM -> VECIN -> (Adds 1) -> VECOUT -> GM over `tiles` tiles with double-buffered queues.
void QueuePipeline(const CopyArgs& a, GlobalTensor<int16_t>& in, GlobalTensor<int16_t>& out) {
  TPipe pipe;
  TQue<TPosition::VECIN, 2> qin;
  TQue<TPosition::VECOUT, 2> qout;
  pipe.InitBuffer(qin, 2, a.count * sizeof(int16_t));
  pipe.InitBuffer(qout, 2, a.count * sizeof(int16_t));
  for (uint32_t t = 0; t < a.tiles; ++t) {
    LocalTensor<int16_t> x = qin.AllocTensor<int16_t>();
    DataCopy(x, in[t * a.count], a.count);
    qin.EnQue(x);
    x = qin.DeQue<int16_t>();
    LocalTensor<int16_t> y = qout.AllocTensor<int16_t>();
    Adds(y, x, static_cast<int16_t>(1), a.count);
    qout.EnQue(y);
    qin.FreeTensor(x);
    y = qout.DeQue<int16_t>();
    DataCopy(out[t * a.count], y, a.count);
    qout.FreeTensor(y);
  }
}
}  // namespace

// kind 0: queue pipeline; 1: DataCopyParams GM->UB, then the whole UB -> GM; 2: DataCopyPad GM->UB,
// then the whole UB -> GM; 3: whole GM -> UB, then DataCopyPad UB->GM; 4: whole GM -> UB, DataCopyParams
// UB->UB into a second buffer, then it -> GM; 5: whole GM -> UB, then DataCopyParams UB->GM; 6 and 7: as
// 2 and 3 with DataCopyPad's 16-bit DataCopyParams / DataCopyPadParams forms.
extern "C" __global__ __aicore__ void copy_kernel(GM_ADDR src, GM_ADDR dst, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const CopyArgs& a = *reinterpret_cast<const CopyArgs*>(args);
  GlobalTensor<int16_t> in, out;
  in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src));
  out.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(dst));
  if (a.kind == 0) return QueuePipeline(a, in, out);
  TPipe pipe;
  TBuf<TPosition::VECCALC> b0, b1;
  pipe.InitBuffer(b0, a.ubBytes);
  pipe.InitBuffer(b1, a.ubBytes);
  LocalTensor<int16_t> u = b0.Get<int16_t>(), v = b1.Get<int16_t>();
  const uint32_t whole = a.ubBytes / sizeof(int16_t);
  const DataCopyParams params(a.blockCount, static_cast<uint16_t>(a.blockLen), static_cast<uint16_t>(a.srcStride),
                              static_cast<uint16_t>(a.dstStride));
  const DataCopyExtParams ext(a.blockCount, a.blockLen, a.srcStride, a.dstStride, 0);
  if (a.kind == 1) DataCopy(u, in, params);
  else if (a.kind == 2) DataCopyPad(u, in, ext, DataCopyPadExtParams<int16_t>(a.isPad, a.leftPad, a.rightPad, a.padValue));
  else if (a.kind == 6) DataCopyPad(u, in, params, DataCopyPadParams(a.isPad, a.leftPad, a.rightPad, uint16_t(a.padValue)));
  else DataCopy(u, in, whole);
  SetFlag<HardEvent::MTE2_MTE3>(0);
  WaitFlag<HardEvent::MTE2_MTE3>(0);
  if (a.kind == 3) return DataCopyPad(out, u, ext);
  if (a.kind == 7) return DataCopyPad(out, u, params);
  if (a.kind == 5) return DataCopy(out, u, params);
  if (a.kind == 4) {  // UB -> UB runs on PIPE_V, between the two MTE pipes
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    DataCopy(v, u, params);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    u = v;
  }
  DataCopy(out, u, whole);
}

// ---- multi-core ------------------------------------------------------------------------------
// Each AIV core writes 8 int32 (its id * 100 + i) to GM slot[id], SyncAll, then copies slot[id+1 mod N]
// to out[id]. With skip >= 0 that core returns before the barrier: a deadlock the emulator must report.
extern "C" __global__ __aicore__ void syncall_kernel(GM_ADDR slots, GM_ADDR out, GM_ADDR skipArg) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);
  const int64_t id = GetBlockIdx(), n = GetBlockNum();
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, 32);
  LocalTensor<int32_t> t = buf.Get<int32_t>();
  for (int i = 0; i < 8; ++i) t.SetValue(i, static_cast<int32_t>(id * 100 + i));
  GlobalTensor<int32_t> s, o;
  s.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(slots), n * 8);
  o.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out), n * 8);
  SetFlag<HardEvent::S_MTE3>(0);
  WaitFlag<HardEvent::S_MTE3>(0);
  DataCopy(s[id * 8], t, 8);
  if (id == *reinterpret_cast<const int32_t*>(skipArg)) return;
  SyncAll();
  SetFlag<HardEvent::MTE3_MTE2>(0);
  WaitFlag<HardEvent::MTE3_MTE2>(0);
  DataCopy(t, s[((id + 1) % n) * 8], 8);
  SetFlag<HardEvent::MTE2_MTE3>(0);
  WaitFlag<HardEvent::MTE2_MTE3>(0);
  DataCopy(o[id * 8], t, 8);
}

// ---- rule violations and poison --------------------------------------------------------------
// Each case breaks one rule (or, case kPoison, reads a never-written buffer into GM).
enum Case : int32_t {
  kUbOverflow = 0, kMisalignedCopy, kGmOutOfBounds, kLocalOutOfBounds, kVectorOutOfBounds, kWaitWithoutSet,
  kSetTwice, kEventId8, kNinthBuffer, kCopyCountUnaligned, kVectorOnAic, kSyncAllAivOnly, kSetNeverWaited,
  kDequeEmpty, kPoison, kNineTBufs, kBuffer65, kQueueFull, kEnQuePastDepth, kForeignFreeTensor, kGmBufferSize,
  kOffsetAlignment, kDefaultTensor, kSliceBounds, kSliceIndexBounds, kTopOfUb, kKernelType, kSyncScope, kFlagPending,
  kGatherMaskV1, kGatherRepeats, kVectorEventOnAic, kPipeBarrierScalar,
};

// Declared kernel type and launch mode of each rule case (most: a vector-only kernel on one AIV).
int32_t RuleKernelType(int32_t c) {
  switch (c) {
    case kVectorOnAic: case kVectorEventOnAic: return KERNEL_TYPE_MIX_AIC_1_2;
    case kKernelType: return KERNEL_TYPE_AIC_ONLY;  // but launched in AIV_MODE
    case kSyncScope: case kFlagPending: return KERNEL_TYPE_MIX_AIV_1_0;
    default: return KERNEL_TYPE_AIV_ONLY;
  }
}

extern "C" __global__ __aicore__ void rule_kernel(GM_ADDR gmIn, GM_ADDR gmOut, GM_ADDR caseArg) {
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  KERNEL_TASK_TYPE_DEFAULT(static_cast<KernelMetaType>(RuleKernelType(c)));
  TPipe pipe;
  GlobalTensor<float> in, out;
  in.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(gmIn));  // 64 floats
  out.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(gmOut));
  switch (c) {
    case kUbOverflow: {
      TQue<TPosition::VECIN, 1> q;
      pipe.InitBuffer(q, 1, 193 * 1024);  // UB is 192 KiB
      break;
    }
    case kMisalignedCopy: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      DataCopy(b.Get<float>()[2], in, 8);  // UB address + 8 bytes
      break;
    }
    case kGmOutOfBounds: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      DataCopy(b.Get<float>(), in, 128);  // the GM buffer holds 64
      break;
    }
    case kLocalOutOfBounds: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 64);
      b.Get<float>().GetValue(16);
      break;
    }
    case kVectorOutOfBounds: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 256);
      LocalTensor<float> t = b.Get<float>();
      Adds(t, t, 1.0f, 128);  // 512 bytes
      break;
    }
    case kWaitWithoutSet: WaitFlag<HardEvent::MTE2_V>(1); break;
    case kSetTwice:
      SetFlag<HardEvent::V_MTE3>(2);
      SetFlag<HardEvent::V_MTE3>(2);
      break;
    case kEventId8: SetFlag<HardEvent::MTE2_V>(8); break;
    case kNinthBuffer: {  // TQue buffers hold an event id each: 8 per position
      TQue<TPosition::VECIN, 1> q[9];
      for (auto& x : q) pipe.InitBuffer(x, 1, 32);
      break;
    }
    case kNineTBufs: {  // TBufs hold no event id: only the per-kernel limit applies
      TBuf<TPosition::VECCALC> b[9];
      for (auto& x : b) pipe.InitBuffer(x, 32);
      b[8].Get<float>().SetValue(0, 1.0f);
      break;
    }
    case kBuffer65: {
      TBuf<TPosition::VECCALC> b[65];
      for (auto& x : b) pipe.InitBuffer(x, 32);
      break;
    }
    case kCopyCountUnaligned: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      DataCopy(b.Get<float>(), in, 7);  // 28 bytes
      break;
    }
    case kVectorOnAic:
      if ASCEND_IS_AIC {
        TBuf<TPosition::A1> b;
        pipe.InitBuffer(b, 256);
        LocalTensor<float> t = b.Get<float>();
        Adds(t, t, 1.0f, 64);
      }
      break;
    case kSyncAllAivOnly: SyncAll(); break;
    case kSetNeverWaited: SetFlag<HardEvent::MTE3_MTE2>(3); break;
    case kDequeEmpty: {
      TQue<TPosition::VECIN, 1> q;
      pipe.InitBuffer(q, 1, 256);
      q.DeQue<float>();
      break;
    }
    case kPoison: {
      TQue<TPosition::VECOUT, 1> q;
      pipe.InitBuffer(q, 1, 256);
      LocalTensor<float> t = q.AllocTensor<float>();
      q.EnQue(t);
      t = q.DeQue<float>();
      DataCopy(out, t, 64);  // never written
      q.FreeTensor(t);
      break;
    }
    case kQueueFull: {
      TQue<TPosition::VECIN, 2> q;
      pipe.InitBuffer(q, 2, 64);
      q.AllocTensor<float>();
      q.AllocTensor<float>();
      q.AllocTensor<float>();
      break;
    }
    case kEnQuePastDepth: {
      TQue<TPosition::VECIN, 1> q;
      pipe.InitBuffer(q, 2, 64);
      LocalTensor<float> a = q.AllocTensor<float>(), b = q.AllocTensor<float>();
      q.EnQue(a);
      q.EnQue(b);
      break;
    }
    case kForeignFreeTensor: {
      TQue<TPosition::VECIN, 1> q1, q2;
      pipe.InitBuffer(q1, 1, 64);
      pipe.InitBuffer(q2, 1, 64);
      LocalTensor<float> t = q1.AllocTensor<float>();
      q2.FreeTensor(t);
      break;
    }
    case kGmBufferSize: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      GlobalTensor<float> small;
      small.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(gmIn), 16);
      DataCopy(b.Get<float>(), small, 32);  // the GM buffer holds 64, the tensor declares 16
      break;
    }
    case kOffsetAlignment: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      b.GetWithOffset<float>(8, 16);
      break;
    }
    case kDefaultTensor: {
      LocalTensor<float> t;
      Adds(t, t, 1.0f, 64);
      break;
    }
    case kSliceBounds: {  // a 32-byte slice of a 1 KiB TBuf; the vector op covers 256 bytes
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      LocalTensor<float> slice = b.GetWithOffset<float>(8, 64);
      Adds(slice, slice, 1.0f, 64);
      break;
    }
    case kSliceIndexBounds: {  // operator[] does not leave the slice either
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      b.GetWithOffset<float>(8, 64)[8].GetValue(0);
      break;
    }
    case kTopOfUb: {  // all of UB is the kernel's, but Select (modes 1 and 2) writes 32 B at 184 KiB
      LocalTensor<float> top(TPosition::VECCALC, 184 * 1024, 2048);  // [184 KiB, 192 KiB)
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      const LocalTensor<float> x = b.Get<float>();
      Duplicate(top, 2.0f, 2048);
      Duplicate(x, 1.0f, 64);
      Select(x, b.Get<uint8_t>()[512], x, 3.0f, SELMODE::VSEL_TENSOR_SCALAR_MODE, 64);
      SetFlag<HardEvent::V_MTE3>(0);
      WaitFlag<HardEvent::V_MTE3>(0);
      DataCopy(out, top, 16);              // the scratch's 8 floats, then 8 the Select left alone
      DataCopy(out[16], top[2040], 8);     // the last 32 B of UB
      break;
    }
    case kKernelType: break;  // the declaration itself fails
    case kSyncScope: CrossCoreSetFlag<2, PIPE_S>(0); break;
    case kFlagPending: CrossCoreSetFlag<0, PIPE_S>(3); break;  // every AIV sets it; nobody waits
    case kGatherMaskV1: {
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 1024);
      uint64_t kept = 0;
      GatherMask<float, GatherMaskMode::VERSION_V1>(b.Get<float>(), b.Get<float>()[64], 1, false, 0,
                                                    GatherMaskParams(1, 1, 8, 0), kept);
      break;
    }
    case kGatherRepeats: {  // 256 repeats of 64 floats: CANN's uint8_t repeat count would wrap to 0
      TBuf<TPosition::VECCALC> b;
      pipe.InitBuffer(b, 32);
      Gather(b.Get<float>(), b.Get<float>(), b.Get<uint32_t>(), 0, 256 * 64);
      break;
    }
    case kVectorEventOnAic:  // a vector-pipe event on the cube core is a no-op, as in CANN
      if ASCEND_IS_AIC SetFlag<HardEvent::V_MTE3>(1);
      break;
    case kPipeBarrierScalar:  // the scalar pipe is ordered by the hardware; the barrier is a hardware error
      PipeBarrier<PIPE_S>();
      break;
    default: break;
  }
}

// ---- host entry points ------------------------------------------------------------------------
using selftest::Gm;
using selftest::Guard;

extern "C" {

// in[i] / out hold args->bytes[i] bytes; out is read (initial UB image) and written back.
int emu_vec(const VecArgs* args, const void* in0, const void* in1, const void* in2, void* out, uint64_t* kept,
            char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm g0(args->bytes[0], in0), g1(args->bytes[1], in1), g2(args->bytes[2], in2), go(args->bytes[3], out),
        gr(8), ga(sizeof(VecArgs), args);
    SetKernelMode(KernelMode::AIV_MODE);
    ICPU_RUN_KF(vec_kernel, 1, g0.get(), g1.get(), g2.get(), go.get(), gr.get(), ga.get());
    std::memcpy(out, go.get(), args->bytes[3]);
    std::memcpy(kept, gr.get(), 8);
  });
}

int emu_copy(const CopyArgs* args, const void* src, uint64_t srcBytes, void* dst, uint64_t dstBytes, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm gs(srcBytes, src), gd(dstBytes, dst), ga(sizeof(CopyArgs), args);
    SetKernelMode(KernelMode::AIV_MODE);
    ICPU_RUN_KF(copy_kernel, 1, gs.get(), gd.get(), ga.get());
    std::memcpy(dst, gd.get(), dstBytes);
  });
}

// out: blockDim x 8 int32.
int emu_syncall(int blockDim, int skip, int32_t* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm slots(blockDim * 32u), o(blockDim * 32u), s(4, &skip);
    SetKernelMode(KernelMode::AIV_MODE);
    ICPU_RUN_KF(syncall_kernel, blockDim, slots.get(), o.get(), s.get());
    std::memcpy(out, o.get(), blockDim * 32u);
  });
}

// out: 64 floats (256 bytes), written by the poison case.
int emu_rule(int which, void* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm in(256), o(256), c(4, &which);
    const int32_t type = RuleKernelType(which);
    SetKernelMode(type == KERNEL_TYPE_MIX_AIC_1_2 ? KernelMode::MIX_MODE : KernelMode::AIV_MODE);
    ICPU_RUN_KF(rule_kernel, 1, in.get(), o.get(), c.get());
    std::memcpy(out, o.get(), 256);
  });
}

// Totals of the last launch, in the order of emu::Counters; returns the number of cores.
int emu_last_counters(uint64_t* out) {
  const emu::LaunchStats s = emu::LastLaunch();
  const emu::Counters& c = s.total;
  const uint64_t v[] = {c.mte2Bytes, c.mte3Bytes, c.mte1Bytes, c.mte2Calls, c.mte3Calls, c.mte1Calls, c.vecElemOps,
                        c.vecCalls, c.cubeMacs, c.cubeCalls, c.fixpipeBytes, c.scalarOps, c.syncWaits};
  std::memcpy(out, v, sizeof(v));
  return static_cast<int>(s.cores);
}

}  // extern "C"
