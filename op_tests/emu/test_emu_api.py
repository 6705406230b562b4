"""The emulator's declarations are CANN 8.5's: calls CANN's headers accept compile against the emulator,
and calls CANN rejects at compile time (wrong constness, element types A2/A3 does not have, APIs that
do not exist on A2/A3) fail here too. Each snippet was checked against asc-devkit v8.5.0's headers
(docs/emulator.md, "API conformance"). One g++ -fsyntax-only run per direction keeps this fast."""

from __future__ import annotations

import re
import subprocess

PRELUDE = r"""
#include "kernel_operator.h"
using namespace AscendC;
"""

# Calls CANN 8.5 accepts that an older emulator did not (or declared differently).
ACCEPTED = r"""
void Accepted(LocalTensor<half> h, LocalTensor<float> f, LocalTensor<int16_t> i16, LocalTensor<int32_t> i32,
              LocalTensor<uint8_t> u8, GlobalTensor<half> gh, GlobalTensor<int32_t> gi, LocalTensor<int32_t> ui) {
  uint64_t mask[2] = {~0ull, ~0ull};  // mask arrays are non-const uint64_t[]
  Duplicate(h, half(1.0f), mask, 1, 1, 8);
  Add(h, h, h, mask, 1, BinaryRepeatParams());
  Exp(f, f, mask, 1, UnaryRepeatParams());
  Adds(f, f, 1.0f, mask, 1, UnaryRepeatParams());
  Adds<float, float>(f, f, 1.0f, 64);  // the scalar-type form
  Select(h, u8, h, h, SELMODE::VSEL_TENSOR_TENSOR_MODE, mask, 1, BinaryRepeatParams());
  const uint64_t constMask[2] = {~0ull, 0};  // Cast, Compare and WholeReduce take const uint64_t[]
  Cast(f, h, RoundMode::CAST_NONE, constMask, 1, UnaryRepeatParams(1, 1, 8, 4));
  WholeReduceSum(f, f, constMask, 1, 1, 1, 8);
  BlockReduceMax(f, f, 1, mask, 1, 1, 8);  // BlockReduce*: repeatTime before the mask, a non-const mask array
  BlockReduceSum<half, false>(h, h, 2, 128, 1, 1, 8);
  BlockReduceMin(f, f, 1, 64, 1, 1, 8);
  AddRelu(i16, i16, i16, 128);  // AddRelu also takes int16_t on A2/A3
  SetVectorMask<half>(100);
  SetVectorMask<float, MaskMode::COUNTER>(300);
  gh.SetGlobalBuffer(nullptr);  // the one-argument overload
  const half* p = gh.GetPhyAddr();
  (void)p;
  const int32_t pos = h.GetPosition();
  (void)pos;
  gh.SetL2CacheHint<CacheRwMode::READ>(CacheMode::CACHE_MODE_NORMAL);
  SyncAll(gi, ui, 4);
  CreateVecIndex(i32, 0, 64);
  FixpipeParamsV220 fp(16, 16, 16, 16, false, QuantMode_t::F322BF16, 0, 1, 0, 0, 0);
  (void)fp;
  LoadData2dParams ld;
  (void)ld;
  SetAtomicAdd<bfloat16_t>();  // kernel_operator_set_atomic_intf.h
  SetAtomicType<int8_t>();
  SetAtomicMax<half>();  // SetAtomicMax(ISASI).md / SetAtomicMin(ISASI).md
  SetAtomicMin<int16_t>();
  SetAtomicNone();
  DataCacheCleanAndInvalid<int32_t, CacheLine::SINGLE_CACHE_LINE, DcciDst::CACHELINE_OUT>(gi);  // cache_intf.h
  DataCacheCleanAndInvalid<half, CacheLine::ENTIRE_DATA_CACHE>(gh);
  static_assert(defaultGatherMaskMode == GatherMaskMode::VERSION_V2);
  static_assert(std::is_same_v<decltype(Nd2NzParams().ndNum), uint16_t>);
}
void Queues(TPipe& pipe) {
  TQueBind<TPosition::VECIN, TPosition::VECOUT, 1> bind;
  TSCM<TPosition::A1> scm;
  TQue<TPosition::VECIN, 0> q;  // depth 0: the in-place forms
  pipe.InitBuffer(q, 2, 256);
  LocalTensor<float> t;
  q.AllocTensor<float>(t);
  const TBufState s = q.GetState(t);
  (void)s;
  q.EnQue(t);
  q.DeQue<float>(t);
  q.FreeTensor(t);
  TQue<TPosition::VECOUT, 2> q2;
  pipe.InitBuffer(q2, 2, 256);
  const int32_t n = q2.GetTensorCountInQue();
  (void)n;
  TQueSync<PIPE_MTE2, PIPE_V> sync;
  sync.SetFlag(0);
  sync.WaitFlag(0);
  (void)bind;
  (void)scm;
}
// The APIs catlass's A2 tile operators use (kernel_operator_mm_intf.h, kernel_struct_mm.h,
// kernel_operator_vec_binary(_scalar)_intf.h, kernel_tensor_base.h, kernel_common.h, compiler builtins).
void Catlass(LocalTensor<int8_t> l1, LocalTensor<int8_t> l0, LocalTensor<half> h, LocalTensor<int16_t> i16,
             LocalTensor<uint16_t> u16, LocalTensor<uint8_t> u8, LocalTensor<int4b_t> i4) {
  LoadDataWithTranspose(l0, l1, LoadData2dTransposeParams(0, 1, 1, 0, 0));
  LoadDataWithTranspose(i4, i4, LoadData2dTransposeParams(0, 1, 1, 3, 0, 0));
  const uint8_t pad[4] = {0, 0, 0, 0};
  SetFmatrix(1, 16, pad, FmatrixMode::FMATRIX_LEFT);
  static constexpr IsResetLoad3dConfig config = {false, false};
  LoadData3DParamsV2<half> p3;
  LoadData<half, config>(h, h, p3);
  LoadData(h, h, LoadData3DParamsV2Pro());
  uint64_t mask[2] = {~0ull, ~0ull};
  And(i16, i16, i16, mask, 1, BinaryRepeatParams());
  Or<uint16_t>(u16, u16, u16, 128, 1, {1, 1, 1, 8, 8, 0});
  And(i16, i16, i16, 256);
  ShiftLeft<uint16_t>(u16, u16, 7, 256);
  ShiftLeft(i16, i16, int16_t(1), mask, 1, UnaryRepeatParams());
  ShiftLeft<int16_t, int16_t>(i16, i16, int16_t(1), 128);
  ShiftLeft<int16_t, int16_t, false>(i16, i16, int16_t(1), 128, 1, UnaryRepeatParams());
  ShiftLeft<uint16_t, false>(u16, u16, uint16_t(1), 1);
  static_assert(SizeOfBits<int4b_t>::value == 4 && IsSameType<half, half>::value);
  TBuffAddr addr{};
  u8.SetAddr(addr);
  pipe_barrier(PIPE_V);
  TPipe* tp = GetTPipePtr();
  TEventID ids[2] = {EVENT_ID0, event_t::EVENT_ID1};
  (void)tp;
  (void)ids;
  // Atomic element types A2/A3 lacks: dav_c220 checks them with ASCENDC_ASSERT (a run-time abort in
  // CPU-debug, compiled out on the device), so they compile; the emulator fails them when called
  // (test_emu_atomic.py).
  if (false) {
    SetAtomicAdd<uint32_t>();
    SetAtomicType<int64_t>();
    SetAtomicMax<uint8_t>();
    SetAtomicMin<double>();
  }
}
// Axpy (kernel_operator_vec_ternary_scalar_intf.h): (half, half), (float, float), (float, half); and
// ShiftRight (kernel_operator_vec_binary_scalar_intf.h): roundEn defaults to false in the T forms only.
void AxpyShiftRight(LocalTensor<half> h, LocalTensor<float> f, LocalTensor<int16_t> i16, LocalTensor<uint16_t> u16,
                    LocalTensor<int32_t> i32, LocalTensor<uint32_t> u32) {
  uint64_t mask[2] = {~0ull, ~0ull};
  Axpy(h, h, half(2.0f), 256);
  Axpy(f, f, 2.0f, 64);
  Axpy(f, h, half(2.0f), 64);
  Axpy(h, h, half(2.0f), 128, 2, UnaryRepeatParams());
  Axpy(f, h, half(2.0f), 64, 2, UnaryRepeatParams(1, 1, 8, 4));
  Axpy(f, f, 2.0f, mask, 1, UnaryRepeatParams());
  uint64_t placeholder[2] = {0, 0};  // isSetMask = false: a non-const placeholder array
  Axpy<half, half, false>(h, h, half(2.0f), placeholder, 1, UnaryRepeatParams());
  Axpy<float, half, false>(f, h, half(2.0f), MASK_PLACEHOLDER, 1, UnaryRepeatParams(1, 1, 8, 4));
  ShiftRight(i16, i16, int16_t(2), 256);
  ShiftRight(u32, u32, uint32_t(3), 64);
  ShiftRight(i32, i32, int32_t(1), 64, 1, UnaryRepeatParams());
  ShiftRight(i16, i16, int16_t(1), mask, 1, UnaryRepeatParams(), true);
  ShiftRight(u16, u16, uint16_t(1), 128, 1, UnaryRepeatParams(), true);
  ShiftRight<uint16_t, uint16_t>(u16, u16, uint16_t(1), 128);
  ShiftRight<int32_t, int32_t, true>(i32, i32, int32_t(1), 64, 1, UnaryRepeatParams(), false);
  ShiftRight<int32_t, int32_t, true>(i32, i32, int32_t(1), mask, 1, UnaryRepeatParams(), true);
  ShiftRight<int16_t, false>(i16, i16, int16_t(1), 1);
}
// MulAddDst (kernel_operator_vec_binary_intf.h): (half, half), (float, float), (float, half); mask[] is const.
void MulAddDstForms(LocalTensor<half> h, LocalTensor<float> f) {
  const uint64_t mask[2] = {~0ull, 0};
  MulAddDst(h, h, h, 256);
  MulAddDst(f, f, f, 64);
  MulAddDst(f, h, h, 64);
  MulAddDst(h, h, h, 128, 2, BinaryRepeatParams());
  MulAddDst(f, h, h, 64, 2, BinaryRepeatParams(1, 1, 1, 8, 4, 4));
  MulAddDst(f, f, f, mask, 1, BinaryRepeatParams(1, 1, 0, 8, 8, 1));
  uint64_t placeholder[2] = {0, 0};
  MulAddDst<half, half, false>(h, h, h, placeholder, 1, BinaryRepeatParams());
  MulAddDst<float, half, false>(f, h, h, MASK_PLACEHOLDER, 1, BinaryRepeatParams(1, 1, 1, 8, 4, 4));
}
// Element types and forms whose rule CANN 8.5 checks only when the call runs (ASCENDC_ASSERT), or that
// the emulator does not model: they compile and fail when called (test_emu_type_rules.py).
void CompileRunTimeChecked(LocalTensor<half> h, LocalTensor<float> f, LocalTensor<int16_t> i16, LocalTensor<uint16_t> u16,
                           LocalTensor<uint32_t> u32, LocalTensor<int8_t> i8, LocalTensor<int32_t> i32,
                           LocalTensor<int64_t> i64, LocalTensor<uint64_t> u64, LocalTensor<int4b_t> li4,
                           GlobalTensor<float> gf, GlobalTensor<int8_t> gi8, GlobalTensor<int4b_t> gi4) {
  if (false) {
    uint64_t c = 0;
    Abs(i16, i16, 128);  // the count form: vabs has an int16_t overload
    And(f, f, f, 64);  // And / Or count forms run as int16_t
    Or(i8, i8, i8, 256);
    Compare(u16, h, h, CMPMODE::EQ, 128);
    Select(h, i8, h, h, SELMODE::VSEL_TENSOR_TENSOR_MODE, 128);
    GatherMask(h, h, u32, true, 32, GatherMaskParams(), c);
    GatherMask(i8, i8, uint8_t(1), false, 0, GatherMaskParams(), c);
    Gather(i8, i8, u32, 0, 128);
    Gather(i64, i64, u32, 0, 32, 1, 8);
    Brcb(i8, i8, 1, BrcbRepeatParams());
    Extract(i16, u32, i16, 1);
    Fixpipe(gi8, f, FixpipeParamsV220());  // the int8 quant outputs are not emulated
    Fixpipe(gi8, i32, FixpipeParamsV220());
    Fixpipe<float, float, CFG_COLUMN_MAJOR>(gf, f, FixpipeParamsV220());
    SetFixPipeConfig<uint64_t, true>(u64);
    InitConstValue(i8, InitConstValueParams<int8_t>(1, int8_t(0)));  // dav_c220: ASCENDC_ASSERT(false)
    TQue<TPosition::CO2, 1> q;  // refused at InitBuffer, not when declared
    (void)q;
    TQueSync<PIPE_S, PIPE_MTE1> s;  // no hardware event between these pipes
    s.SetFlag(0);
    int4b_t v = gi4.GetValue(0);  // packed int4b_t scalar access is not emulated
    gi4.SetValue(0, v);
    (void)gi4(0);
    (void)li4(0);
  }
}
"""

# Calls CANN 8.5 rejects at compile time, one per line of the function body.
REJECTED = [
    "const uint64_t m[2] = {1, 0}; Duplicate(h, half(0.0f), m, 1, 1, 8);",  # mask[] is non-const
    "const uint64_t m[2] = {1, 0}; Add(h, h, h, m, 1, BinaryRepeatParams());",
    "const uint64_t m[2] = {1, 0}; Muls(f, f, 2.0f, m, 1, UnaryRepeatParams());",
    "const uint64_t m[2] = {1, 0}; Select(h, u8, h, h, SELMODE::VSEL_TENSOR_TENSOR_MODE, m, 1, BinaryRepeatParams());",
    "Abs(i16, i16, 128, 1, UnaryRepeatParams());",  # Abs: half / float only
    "Abs(i32, i32, 64);",
    "Neg(f, f, 64);",  # no Neg on A2/A3
    "Add(bf, bf, bf, 128);",  # no bfloat16_t arithmetic
    "Div(i32, i32, i32, 64);",
    "Adds(f, f, 2.0, 64);",  # a double scalar does not deduce against float
    "Cast(i8, f, RoundMode::CAST_RINT, 64);",  # no float -> int8 pair
    "auto g = gh.ReinterpretCast<float>();",  # GlobalTensor::ReinterpretCast is not on 2201
    "half* p = gh.GetPhyAddr();",  # GetPhyAddr() returns const
    "cgh.SetValue(0, half(1.0f));",  # SetValue is not const
    "TPosition p = h.GetPosition();",  # GetPosition() returns int32_t
    "DataCopyExtParams e(1, 32, 0, 0);",  # the constructor takes rsv too
    "AscendC::QuantMode_t q = AscendC::NoQuant;",  # QuantMode_t is global
    "TQue<TPosition::CO2, 1> q; pipe.InitBuffer(q, 1, 64);",  # CO2 is GM on A2/A3
    "TBuf<TPosition::VECCALC> b; pipe.InitBuffer(b, 1, 64);",  # a TBuf is not a queue
    "TQue<TPosition::VECIN, 1> q; LocalTensor<half> t; q.AllocTensor<half>(t);",  # in place needs depth 0
    "TQue<TPosition::VECIN, 0> q; LocalTensor<half> t = q.AllocTensor<half>();",  # depth 0 allocates in place
    "TQue<TPosition::VECIN, 0> q; q.HasTensorInQue();",  # not with depth 0
    "const uint64_t m[2] = {1, 0}; And(i16, i16, i16, m, 1, BinaryRepeatParams());",  # mask[] is non-const
    "And(f, f, f, 64, 1, BinaryRepeatParams());",  # And / Or mask forms: int16 / uint16 (c220 static_assert)
    "ShiftLeft(h, h, half(1.0f), 128);",  # ShiftLeft: 16 / 32-bit integers (c220 static_assert)
    "TPipe* t = AscendC::GetTPipePtr();",  # GetTPipePtr is global
    "TQueSync<PIPE_V, PIPE_V> s; s.SetFlag(0);",  # src / dst pipe must differ (kernel_tquesync_impl.h static_assert)
    "LocalTensor<uint8_t> p; uint64_t c = 0; GatherMask(h, h, p, true, 32, GatherMaskParams(), c);",  # pattern: u16 / u32
    "LocalTensor<uint16_t> u; CreateVecIndex(u, uint16_t(0), 128);",  # no vector Adds for uint16_t
    "Axpy(i16, i16, int16_t(2), 128);",  # vaxpy: (half, half), (float, float), (float, half) only
    "Axpy(h, f, 2.0f, 64, 1, UnaryRepeatParams());",  # no half <- float pair
    "Axpy(bf, bf, bfloat16_t(2.0f), 64);",
    "Axpy(h, h, 2.0f, 128);",  # the scalar is the src type
    "const uint64_t m[2] = {1, 0}; Axpy(f, f, 2.0f, m, 1, UnaryRepeatParams());",  # mask[] is non-const
    "MulAddDst(i16, i16, i16, 128);",  # vmla: (half, half), (float, float), (float, half) only
    "MulAddDst(h, f, f, 64, 1, BinaryRepeatParams());",  # no half <- float pair
    "MulAddDst(bf, bf, bf, 64);",
    "MulAddDst(f, h, f, 64);",  # src0 and src1 share a type
    "ShiftRight(h, h, half(1.0f), 128);",  # vshr: 16 / 32-bit integers only
    "ShiftRight(i8, i8, int8_t(1), 64, 1, UnaryRepeatParams());",
    "ShiftRight(i16, i16, 1, 128);",  # the scalar is T (an int does not deduce against int16_t)
    "uint64_t m[2] = {1, 0}; ShiftRight<int16_t, int16_t, true>(i16, i16, int16_t(1), m, 1, UnaryRepeatParams());",  # U forms: no roundEn default
]


def _syntax_check(emu, tmp_path, name: str, code: str) -> subprocess.CompletedProcess:
    src = tmp_path / f"{name}.cpp"
    src.write_text(PRELUDE + code)
    return subprocess.run(["g++", "-fsyntax-only", "-fmax-errors=0", *emu.cflags, str(src)], capture_output=True,
                          text=True)


def test_calls_cann_accepts_compile(emu, tmp_path):
    res = _syntax_check(emu, tmp_path, "accepted", ACCEPTED)
    assert res.returncode == 0, res.stderr[-4000:]


def test_calls_cann_rejects_do_not_compile(emu, tmp_path):
    head = ("void Rejected(TPipe& pipe, LocalTensor<half> h, LocalTensor<float> f, LocalTensor<int16_t> i16, "
            "LocalTensor<int32_t> i32, LocalTensor<int8_t> i8, LocalTensor<bfloat16_t> bf, LocalTensor<uint8_t> u8, "
            "GlobalTensor<half> gh, const GlobalTensor<half> cgh) {\n")
    first = PRELUDE.count("\n") + 2  # line of the first case
    res = _syntax_check(emu, tmp_path, "rejected", head + "\n".join(f"  {{ {c} }}" for c in REJECTED) + "\n}\n")
    assert res.returncode != 0
    # Every case's line is named by an error or by the "required from here" of a failed static_assert.
    failed = {int(n) for n in re.findall(r"rejected\.cpp:(\d+):\d+:", res.stderr)}
    missing = [c for i, c in enumerate(REJECTED) if first + i not in failed]
    assert not missing, f"accepted by the emulator but rejected by CANN: {missing}"
