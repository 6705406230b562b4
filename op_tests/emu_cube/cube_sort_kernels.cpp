// Self-test kernels for the emulator's sorting, cube and cross-core APIs, driven from
// op_tests/emu_cube through ctypes.
//
// The kernels are real AscendC kernels (TPipe, TBuf, DataCopy, flags). The host entry points
// allocate GM with GmAlloc, launch with ICPU_RUN_KF and return 0, or copy the emulator's error
// message into the caller's buffer and return 1: no exception crosses ctypes.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>

#include "kernel_operator.h"
#include "tikicpulib.h"
#include "../emu/selftest_host.h"

using namespace AscendC;

namespace {
template <typename T> constexpr bool kScore = std::is_same_v<T, half> || std::is_same_v<T, float>;
constexpr uint32_t Blocks(uint32_t x, uint32_t a) { return (x + a - 1) / a; }
}  // namespace

// ---- sorting ---------------------------------------------------------------------------------
// Shared by host and kernel; mirrored in conftest.py. Offsets are in bytes.
struct SortArgs {
  int32_t op, dtype;       // op: SortOp; dtype: 0 half, 1 float, 2 int16, 3 int32
  int32_t repeat;          // Sort32 / Extract repeatTime, MrgSort repeatTimes
  int32_t count;           // CreateVecIndex calCount, FullSort elements (32 * 4^k)
  double first;            // CreateVecIndex firstValue
  uint16_t lengths[4];     // MrgSort elementLengths
  uint16_t validBit;
  uint8_t exhausted;       // MrgSort ifExhaustedSuspension
  uint8_t dstInIn0;        // MrgSort dst inside in0 (the overlap rule), else inside out
  uint32_t srcOffsets[4];  // MrgSort queue i at in0 + srcOffsets[i]
  uint32_t dstOffset;      // MrgSort dst offset; Extract: indices at out + dstOffset
  uint32_t bytes[3];       // in0, in1, out (multiples of 32)
  uint16_t consumed[4];    // written back: GetMrgSortResult after MrgSort
};
enum SortOp : int32_t { kSort32 = 0, kMrgSort, kExtract, kCreateVecIndex, kFullSort };

namespace {
template <typename T>
void SortOps(const SortArgs& a, const LocalTensor<uint8_t>& in0, const LocalTensor<uint8_t>& in1,
             const LocalTensor<uint8_t>& out, TPipe& pipe, GM_ADDR consumedGm) {
  const LocalTensor<T> d = out.ReinterpretCast<T>();
  if (a.op == kCreateVecIndex) return CreateVecIndex(d, static_cast<T>(a.first), static_cast<uint32_t>(a.count));
  if constexpr (kScore<T>) {
    const LocalTensor<T> s0 = in0.ReinterpretCast<T>();
    const LocalTensor<uint32_t> s1 = in1.ReinterpretCast<uint32_t>();
    if (a.op == kSort32) return Sort32(d, s0, s1, a.repeat);
    if (a.op == kExtract) return Extract(d, out[a.dstOffset].ReinterpretCast<uint32_t>(), s0, a.repeat);
    if (a.op == kMrgSort) {
      MrgSortSrcList<T> list;
      LocalTensor<T>* q[4] = {&list.src1, &list.src2, &list.src3, &list.src4};
      for (int i = 0; i < 4; ++i)  // unused queues stay empty tensors, as kernels leave them
        if ((a.validBit >> i) & 1) *q[i] = in0[a.srcOffsets[i]].ReinterpretCast<T>();
      const LocalTensor<T> dst = (a.dstInIn0 ? in0 : out)[a.dstOffset].ReinterpretCast<T>();
      MrgSort(dst, list, MrgSort4Info(a.lengths, a.exhausted, a.validBit, static_cast<uint16_t>(a.repeat)));
      uint16_t r[4];
      GetMrgSortResult(r[0], r[1], r[2], r[3]);
      GlobalTensor<uint16_t> g;
      g.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(consumedGm), 4);
      for (int i = 0; i < 4; ++i) g.SetValue(i, r[i]);
      return;
    }
    // FullSort: Sort32 into runs of 32, then 4-way merge rounds (repeat form) until one run is left.
    const uint32_t n = static_cast<uint32_t>(a.count), pairElems = 8 / sizeof(T);
    TBuf<TPosition::VECCALC> tmp;
    pipe.InitBuffer(tmp, n * 8);
    LocalTensor<T> cur = d, next = tmp.Get<T>();
    Sort32(cur, s0, s1, static_cast<int32_t>(n / 32));
    for (uint32_t run = 32; run < n; run *= 4) {
      PipeBarrier<PIPE_V>();
      const uint16_t lens[4] = {static_cast<uint16_t>(run), static_cast<uint16_t>(run), static_cast<uint16_t>(run),
                                static_cast<uint16_t>(run)};
      MrgSort(next, MrgSortSrcList<T>(cur, cur[run * pairElems], cur[2 * run * pairElems], cur[3 * run * pairElems]),
              MrgSort4Info(lens, false, 0b1111, static_cast<uint16_t>(n / (4 * run))));
      std::swap(cur, next);
    }
    PipeBarrier<PIPE_V>();
    if (cur.GetPhyAddr() != d.GetPhyAddr()) DataCopy(d, cur, n * pairElems);
  }
}
}  // namespace

// in0 / in1 / out are UB images of args->bytes[i] bytes; out is copied in first so that the
// bytes an instruction does not write survive.
extern "C" __global__ __aicore__ void sort_kernel(GM_ADDR in0, GM_ADDR in1, GM_ADDR out, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const SortArgs& a = *reinterpret_cast<const SortArgs*>(args);
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf[3];
  GlobalTensor<uint8_t> gm[3];
  LocalTensor<uint8_t> ub[3];
  GM_ADDR addr[3] = {in0, in1, out};
  for (int i = 0; i < 3; ++i) {
    pipe.InitBuffer(buf[i], a.bytes[i]);
    ub[i] = buf[i].Get<uint8_t>();
    gm[i].SetGlobalBuffer(addr[i], a.bytes[i]);
    DataCopy(ub[i], gm[i], a.bytes[i]);
  }
  PipeBarrier<PIPE_ALL>();  // the loads land before the sorts read them on V (CreateVecIndex writes on S)
  GM_ADDR consumed = args + offsetof(SortArgs, consumed);
  switch (a.dtype) {
    case 0: SortOps<half>(a, ub[0], ub[1], ub[2], pipe, consumed); break;
    case 1: SortOps<float>(a, ub[0], ub[1], ub[2], pipe, consumed); break;
    case 2: SortOps<int16_t>(a, ub[0], ub[1], ub[2], pipe, consumed); break;
    default: SortOps<int32_t>(a, ub[0], ub[1], ub[2], pipe, consumed); break;
  }
  SetFlag<HardEvent::V_MTE3>(0);
  WaitFlag<HardEvent::V_MTE3>(0);
  DataCopy(gm[2], ub[2], a.bytes[2]);
}

// ---- cube: C = A @ B^T (A [m, k], B [n, k] row-major) or C = A @ B (B [k, n], transB) ----------
struct CubeArgs {
  int32_t dtype;   // 0 half, 1 bf16, 2 int8, 3 int4 (two per byte, element 2i in the low nibble)
  int32_t out;     // 0 the L0C type (float / int32), 1 half (F322F16 / DEQF16), 2 bf16 (F322BF16)
  int32_t m, n, k;
  int32_t splitK;  // two Mmads over the K halves, the second with cmatrixInitVal = false
  int32_t transB;  // B is [k, n] row-major: Zn fractals come from LoadData ifTranspose
  int32_t relu;
  int32_t nz;      // CFG_NZ output with dstStride (32 B units); otherwise row-major [m, n]
  uint32_t dstStride;
  uint64_t deqScalar;
  int32_t ndL0a;   // m == 1: A's row laid out ND in L1 and L0A (what a GEMV reads), not Zz
};

namespace {
template <typename TA, typename TC> constexpr QuantMode_t kQuant =
    std::is_same_v<TA, TC> ? NoQuant : std::is_same_v<TC, bfloat16_t> ? F322BF16 : std::is_same_v<TA, float> ? F322F16 : DEQF16;

template <typename TIn, typename TAcc, typename TOut>
void Matmul(const CubeArgs& p, GM_ADDR a, GM_ADDR b, GM_ADDR c) {
  constexpr uint32_t bits = std::is_same_v<TIn, int4b_t> ? 4 : 8 * sizeof(TIn);
  constexpr uint32_t k0 = 256 / bits, fractal = 4096 / bits;  // fractal: elements of 512 B
  const uint32_t m = p.m, n = p.n, k = p.k;
  const uint32_t m1 = Blocks(m, 16), n1 = Blocks(n, 16), k1 = Blocks(k, k0);
  const uint32_t parts = p.splitK ? 2 : 1, kb = k1 / parts;  // k fractals per Mmad
  TPipe pipe;
  TBuf<TPosition::A1> a1;
  TBuf<TPosition::B1> b1;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  pipe.InitBuffer(a1, m1 * k1 * 512);
  pipe.InitBuffer(b1, n1 * k1 * 512);
  pipe.InitBuffer(a2, m1 * kb * 512);
  pipe.InitBuffer(b2, n1 * kb * 512);
  pipe.InitBuffer(co1, m1 * n1 * 256 * sizeof(TAcc));
  GlobalTensor<TIn> ga, gb;
  GlobalTensor<TOut> gc;
  ga.SetGlobalBuffer(reinterpret_cast<__gm__ TIn*>(a), uint64_t(m) * k);
  gb.SetGlobalBuffer(reinterpret_cast<__gm__ TIn*>(b), uint64_t(n) * k);
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ TOut*>(c));
  const LocalTensor<TIn> l1a = a1.Get<TIn>(), l1b = b1.Get<TIn>(), l0a = a2.Get<TIn>(), l0b = b2.Get<TIn>();
  const LocalTensor<TAcc> l0c = co1.Get<TAcc>();

  // ND -> NZ in L1: column blocks of k0 (B^T: of 16 n) columns, rows padded to 16. With ndL0a the
  // column blocks of the one row follow each other (dstNzC0Stride 1): the row stays ND. For int4b_t
  // the row lengths count bytes: the instruction is the b8 one (dav_c220 DataCopyGM2L1ND2NZImpl).
  const uint32_t kRow = bits == 4 ? k / 2 : k;
  DataCopy(l1a, ga, Nd2NzParams(1, m, kRow, 0, kRow, p.ndL0a ? 1 : m1 * 16, 1, 0));
  if (p.transB) DataCopy(l1b, gb, Nd2NzParams(1, k, n, 0, n, k1 * 16, 1, 0));
  else DataCopy(l1b, gb, Nd2NzParams(1, n, kRow, 0, kRow, n1 * 16, 1, 0));
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  for (uint32_t part = 0; part < parts; ++part) {
    // L1 holds A's fractals (k1, m1)-ordered; L0A wants (m1, k1): one strided load per row of fractals.
    if (p.ndL0a)  // the ND row: whole fractals, in order
      LoadData(l0a, l1a, LoadData2DParams(0, static_cast<uint8_t>(Blocks(kb * 32, 512)), 1, 0, 0, false, 0));
    else
      for (uint32_t mb = 0; mb < m1; ++mb)
        LoadData(l0a[mb * kb * fractal], l1a, LoadData2DParams(part * kb * m1 + mb, kb, m1, 0, 0, false, 0));
    if (p.transB) {
      // L1 holds B's [k, n] fractals (n1, k1)-ordered; each is transposed into the Zn (k1, n1) order.
      for (uint32_t kk = 0; kk < kb; ++kk)
        LoadData(l0b[kk * n1 * fractal], l1b, LoadData2DParams(part * kb + kk, n1, k1, 0, 0, true, 0));
    } else {
      LoadData(l0b, l1b, LoadData2DParams(part * kb * n1, kb * n1, 1, 0, 0, false, 0));  // already Zn
    }
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    MmadParams mp;
    mp.m = m;
    mp.n = n;
    mp.k = parts == 1 ? k : kb * k0;  // the exact k when it is one Mmad
    mp.cmatrixInitVal = part == 0;
    Mmad(l0c, l0a, l0b, mp);
    SetFlag<HardEvent::M_MTE1>(0);
    WaitFlag<HardEvent::M_MTE1>(0);
  }
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  FixpipeParamsV220 fp;
  fp.mSize = m;
  fp.srcStride = m1 * 16;
  fp.quantPre = kQuant<TAcc, TOut>;
  fp.deqScalar = p.deqScalar;
  fp.reluEn = p.relu;
  if (p.nz) {
    fp.nSize = n1 * 16;
    fp.dstStride = p.dstStride;
    Fixpipe<TOut, TAcc, CFG_NZ>(gc, l0c, fp);
  } else {
    fp.nSize = n;
    fp.dstStride = n;
    Fixpipe(gc, l0c, fp);
  }
}

template <typename TIn, typename TAcc>
void MatmulTo(const CubeArgs& p, GM_ADDR a, GM_ADDR b, GM_ADDR c) {
  if (p.out == 1) return Matmul<TIn, TAcc, half>(p, a, b, c);
  if constexpr (std::is_same_v<TAcc, float>)
    if (p.out == 2) return Matmul<TIn, TAcc, bfloat16_t>(p, a, b, c);
  Matmul<TIn, TAcc, TAcc>(p, a, b, c);
}
}  // namespace

extern "C" __global__ __aicore__ void cube_kernel(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  const CubeArgs& p = *reinterpret_cast<const CubeArgs*>(args);
  if (p.dtype == 0) MatmulTo<half, float>(p, a, b, c);
  else if (p.dtype == 1) MatmulTo<bfloat16_t, float>(p, a, b, c);
  else if (p.dtype == 2) MatmulTo<int8_t, int32_t>(p, a, b, c);
  else MatmulTo<int4b_t, int32_t>(p, a, b, c);
}

// Each case breaks one cube rule.
enum CubeRule : int32_t { kMmadOnAiv = 0, kLoadDataToL1, kNd2NzC0Stride, kMmadOutside };

extern "C" __global__ __aicore__ void cube_rule_kernel(GM_ADDR gm, GM_ADDR caseArg) {
  const int32_t c = *reinterpret_cast<const int32_t*>(caseArg);
  KERNEL_TASK_TYPE_DEFAULT(c == kMmadOnAiv ? KERNEL_TYPE_AIV_ONLY : KERNEL_TYPE_AIC_ONLY);
  if (c == kMmadOnAiv) {  // raw-address tensors: an AIV has no L0 memory to allocate from
    const LocalTensor<half> a(TPosition::A2, 0, 256), b(TPosition::B2, 0, 256);
    const LocalTensor<float> d(TPosition::CO1, 0, 256);
    return Mmad(d, a, b, MmadParams(16, 16, 16, 0, false, true));
  }
  TPipe pipe;
  TBuf<TPosition::A1> l1;
  TBuf<TPosition::A2> l0a;
  TBuf<TPosition::B2> l0b;
  TBuf<TPosition::CO1> l0c;
  pipe.InitBuffer(l1, 4096);
  pipe.InitBuffer(l0a, 512);  // one fractal
  pipe.InitBuffer(l0b, 512);
  pipe.InitBuffer(l0c, 1024);
  GlobalTensor<half> g;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(gm), 1024);
  if (c == kLoadDataToL1) LoadData(l1.Get<half>()[256], l1.Get<half>(), LoadData2DParams(0, 1, 1, 0, 0, false, 0));
  if (c == kNd2NzC0Stride) DataCopy(l1.Get<half>(), g, Nd2NzParams(1, 32, 32, 0, 32, 16, 1, 0));  // 32 rows, stride 16
  if (c == kMmadOutside) Mmad(l0c.Get<float>(), l0a.Get<half>(), l0b.Get<half>(), MmadParams(32, 16, 16, 0, false, true));
}

// ---- cross-core flags (KERNEL_TYPE_MIX_AIC_1_2) ------------------------------------------------
struct XArgs {
  int32_t kase;     // XCase
  int32_t tiles;    // kRing: tiles per block
  int32_t rounds;   // kMode0 / kMode1: exchange rounds
  int32_t lazySub;  // kRing: this sub-block never frees a slot (-1: none)
};
enum XCase : int32_t { kRing = 0, kMode1, kMode0, kIds, kFlagId11, kMode3, kNeverSet, kFlagOverflow, kFlagPending };
constexpr uint16_t kReady = 0, kFree = 1, kExchange = 3;
constexpr uint32_t kTile = 256;  // 16 x 16

namespace {
// The AIC computes tile t = A_t @ I (16 x 16, fp32) into slot t % 2 of its block's GM ring and
// signals both AIVs; it refills a slot only after both AIVs have released it.
void RingProducer(const XArgs& x, GM_ADDR src, GM_ADDR ws) {
  const int64_t blk = GetBlockIdx();
  TPipe pipe;
  TBuf<TPosition::A1> a1;
  TBuf<TPosition::B1> b1;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  pipe.InitBuffer(a1, kTile * 2);
  pipe.InitBuffer(b1, kTile * 2);
  pipe.InitBuffer(a2, kTile * 2);
  pipe.InitBuffer(b2, kTile * 2);
  pipe.InitBuffer(co1, kTile * 4);
  GlobalTensor<half> g;
  GlobalTensor<float> w;
  g.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(src));  // identity, then [block][tile][16][16]
  w.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws));  // [block][slot][16][16]
  const Nd2NzParams nd2nz(1, 16, 16, 0, 16, 16, 1, 0);
  const LoadData2DParams one(0, 1, 1, 0, 0, false, 0);
  const FixpipeParamsV220 fp(16, 16, 16, 16, false);
  DataCopy(b1.Get<half>(), g, nd2nz);
  SetFlag<HardEvent::MTE2_MTE1>(0);
  WaitFlag<HardEvent::MTE2_MTE1>(0);
  LoadData(b2.Get<half>(), b1.Get<half>(), one);
  for (int32_t t = 0; t < x.tiles; ++t) {
    if (t >= 2) CrossCoreWaitFlag<2>(kFree);  // both AIVs have read tile t - 2 from this slot
    if (t > 0) PipeBarrier<PIPE_ALL>();  // tile t - 1's LoadData, Mmad and Fixpipe are done with a1, a2, co1
    DataCopy(a1.Get<half>(), g[(1 + blk * x.tiles + t) * kTile], nd2nz);
    SetFlag<HardEvent::MTE2_MTE1>(0);
    WaitFlag<HardEvent::MTE2_MTE1>(0);
    LoadData(a2.Get<half>(), a1.Get<half>(), one);
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    Mmad(co1.Get<float>(), a2.Get<half>(), b2.Get<half>(), MmadParams(16, 16, 16, 0, false, true));
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    Fixpipe(w[(blk * 2 + t % 2) * kTile], co1.Get<float>(), fp);
    CrossCoreSetFlag<2, PIPE_FIX>(kReady);
  }
  for (int32_t t = std::max(x.tiles - 2, 0); t < x.tiles; ++t) CrossCoreWaitFlag<2>(kFree);  // the last releases
}

// Each AIV copies every tile of its block to out[aiv][tile] and releases the slot after reading it.
void RingConsumer(const XArgs& x, GM_ADDR ws, GM_ADDR out) {
  const int64_t id = GetBlockIdx(), blk = id / 2;
  const bool releases = GetSubBlockIdx() != x.lazySub;
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, kTile * 4);
  const LocalTensor<float> u = buf.Get<float>();
  GlobalTensor<float> w, o;
  w.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws));
  o.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out));
  for (int32_t t = 0; t < x.tiles; ++t) {
    CrossCoreWaitFlag<2>(kReady);
    DataCopy(u, w[(blk * 2 + t % 2) * kTile], kTile);
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    if (releases) CrossCoreSetFlag<2, PIPE_MTE2>(kFree);
    DataCopy(o[(id * x.tiles + t) * kTile], u, kTile);
    SetFlag<HardEvent::MTE3_MTE2>(0);
    WaitFlag<HardEvent::MTE3_MTE2>(0);
  }
}

// Round r: every member copies s[r][me] (8 int32) into its slot of w (two slots, alternating by
// round), sets the flag, waits for the group, then copies its peer's slot to o[me][r]. Without
// the flags a member would read a slot before its peer wrote it (poison) or after the next write.
template <uint8_t mode, TPosition pos>
void Exchange(int32_t rounds, int64_t members, int64_t me, int64_t peer, const GlobalTensor<int32_t>& s,
              const GlobalTensor<int32_t>& w, const GlobalTensor<int32_t>& o) {
  TPipe pipe;
  TBuf<pos> buf;
  pipe.InitBuffer(buf, 32);
  const LocalTensor<int32_t> t = buf.template Get<int32_t>();
  for (int32_t r = 0; r < rounds; ++r) {
    DataCopy(t, s[(r * members + me) * 8], 8);
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    DataCopy(w[((r % 2) * members + me) * 8], t, 8);
    CrossCoreSetFlag<mode, PIPE_MTE3>(kExchange);
    CrossCoreWaitFlag<mode>(kExchange);
    DataCopy(t, w[((r % 2) * members + peer) * 8], 8);
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    DataCopy(o[(me * rounds + r) * 8], t, 8);
    SetFlag<HardEvent::MTE3_MTE2>(0);
    WaitFlag<HardEvent::MTE3_MTE2>(0);
  }
}

void Identity(GM_ADDR out) {
  GlobalTensor<int32_t> o;
  o.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out));
  const int64_t row = ASCEND_IS_AIC ? GetBlockIdx() : GetBlockNum() + GetBlockIdx();
  const int64_t v[8] = {ASCEND_IS_AIC ? AIC : AIV, GetBlockIdx(), GetSubBlockIdx(), GetBlockNum(),
                        GetSubBlockNum(), GetTaskRatio(), ASCEND_IS_AIV, ASCEND_IS_NOT_AIC};
  for (int i = 0; i < 8; ++i) o.SetValue(row * 8 + i, static_cast<int32_t>(v[i]));
}
}  // namespace

extern "C" __global__ __aicore__ void xcore_kernel(GM_ADDR src, GM_ADDR ws, GM_ADDR out, GM_ADDR args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  const XArgs& x = *reinterpret_cast<const XArgs*>(args);
  GlobalTensor<int32_t> s, w, o;
  s.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(src));
  w.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(ws));
  o.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out));
  const int64_t n = GetBlockNum(), id = GetBlockIdx(), r = x.rounds;
  switch (x.kase) {
    case kRing:
      if ASCEND_IS_AIC RingProducer(x, src, ws);
      else RingConsumer(x, ws, out);
      break;
    case kMode1:  // the two AIVs of a block: s [n][r][2][8], w [n][2][2][8], o [n][2][r][8]
      if ASCEND_IS_AIV {
        const int64_t blk = id / 2, sub = GetSubBlockIdx();
        Exchange<1, TPosition::VECCALC>(x.rounds, 2, sub, 1 - sub, s[blk * r * 16], w[blk * 32], o[blk * r * 16]);
      }
      break;
    case kMode0:  // all AIVs (s [r][2n][8], w [2][2n][8], o [2n][r][8]), then all AICs, with L1 staging
      if ASCEND_IS_AIV Exchange<0, TPosition::VECCALC>(x.rounds, 2 * n, id, (id + 1) % (2 * n), s, w, o);
      else Exchange<0, TPosition::A1>(x.rounds, n, id, (id + 1) % n, s[r * 16 * n], w[32 * n], o[r * 16 * n]);
      break;
    case kIds: Identity(out); break;
    case kFlagId11:  // CrossCoreSetFlag(ISASI).md: 0-10 on A2/A3
      if ASCEND_IS_AIC CrossCoreSetFlag<2, PIPE_FIX>(11);
      break;
    case kFlagOverflow:  // the counter holds at most 15 pending sets
      if ASCEND_IS_AIC
        for (int i = 0; i < 16; ++i) CrossCoreSetFlag<2, PIPE_FIX>(5);
      break;
    case kFlagPending:  // set for the AIVs, which never wait: the count would outlive the kernel
      if ASCEND_IS_AIC CrossCoreSetFlag<2, PIPE_FIX>(6);
      break;
    case kMode3:
      if ASCEND_IS_AIV CrossCoreSetFlag<3, PIPE_V>(0);
      break;
    case kNeverSet:
      if ASCEND_IS_AIV CrossCoreWaitFlag<2>(7);  // the AIC never sets flag 7
      break;
    default: break;
  }
}

// ---- host entry points ------------------------------------------------------------------------
using selftest::Gm;
using selftest::Guard;

extern "C" {

// in0 / in1 / out hold args->bytes[i] bytes; out is read (initial UB image) and written back, and
// args->consumed receives GetMrgSortResult.
int emu_sort(SortArgs* args, const void* in0, const void* in1, void* out, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm g0(args->bytes[0], in0), g1(args->bytes[1], in1), go(args->bytes[2], out), ga(sizeof(SortArgs), args);
    SetKernelMode(KernelMode::AIV_MODE);
    ICPU_RUN_KF(sort_kernel, 1, g0.get(), g1.get(), go.get(), ga.get());
    std::memcpy(out, go.get(), args->bytes[2]);
    std::memcpy(args->consumed, reinterpret_cast<SortArgs*>(ga.get())->consumed, sizeof(args->consumed));
  });
}

// c holds cBytes: its initial contents are kept where the kernel does not write.
int emu_cube(const CubeArgs* args, const void* a, uint64_t aBytes, const void* b, uint64_t bBytes, void* c,
             uint64_t cBytes, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm ga(aBytes, a), gb(bBytes, b), gc(cBytes, c), gp(sizeof(CubeArgs), args);
    SetKernelMode(KernelMode::AIC_MODE);
    ICPU_RUN_KF(cube_kernel, 1, ga.get(), gb.get(), gc.get(), gp.get());
    std::memcpy(c, gc.get(), cBytes);
  });
}

int emu_cube_rule(int which, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm g(2048), c(4, &which);
    SetKernelMode(which == kMmadOnAiv ? KernelMode::AIV_MODE : KernelMode::AIC_MODE);
    ICPU_RUN_KF(cube_rule_kernel, 1, g.get(), c.get());
  });
}

// The workspace starts poisoned (GmAlloc), so a read before the producer's write shows.
int emu_xcore(const XArgs* args, int blockDim, const void* src, uint64_t srcBytes, uint64_t wsBytes, void* out,
              uint64_t outBytes, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    Gm gs(srcBytes, src), gw(wsBytes), go(outBytes), ga(sizeof(XArgs), args);
    SetKernelMode(KernelMode::MIX_MODE);
    ICPU_RUN_KF(xcore_kernel, blockDim, gs.get(), gw.get(), go.get(), ga.get());
    std::memcpy(out, go.get(), outBytes);
  });
}

// Totals of the last launch: vector calls, vector element-ops, cube calls, cube MACs, fixpipe bytes.
void emu_last_counters(uint64_t* out) {
  const emu::Counters c = emu::LastLaunch().total;
  const uint64_t v[] = {c.vecCalls, c.vecElemOps, c.cubeCalls, c.cubeMacs, c.fixpipeBytes};
  std::memcpy(out, v, sizeof(v));
}

}  // extern "C"
