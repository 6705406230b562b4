// Micro-kernels for the timing model's sanity tests (op_tests/perf): a streaming copy
// GM -> UB -> GM on every vector core, and an fp32 cube matmul on every cube core, each with and
// without double buffering. Built against the emulator and loaded with ctypes.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

// ---- streaming copy: each AIV moves its `bytes` slice in `tile`-byte steps through one queue -------
struct CopyArgs {
  uint64_t bytesPerCore;
  uint32_t tileBytes;
  uint32_t buffers;  // 1: copy-in waits for the previous copy-out; 2: they overlap
  const uint32_t* leads = nullptr;  // per block: scalar UB writes before its first copy (a head start)
};

template <int32_t kBuffers>
void StreamCopy(GM_ADDR src, GM_ADDR dst, const CopyArgs& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  TPipe pipe;
  TQueBind<TPosition::VECIN, TPosition::VECOUT, kBuffers> q;
  pipe.InitBuffer(q, kBuffers, a.tileBytes);
  GlobalTensor<int16_t> in, out;
  const uint64_t base = uint64_t(GetBlockIdx()) * a.bytesPerCore / 2;
  in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src) + base);
  out.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(dst) + base);
  const uint32_t n = a.tileBytes / 2;
  if (a.leads) {
    TBuf<TPosition::VECCALC> scratch;
    pipe.InitBuffer(scratch, 32);
    LocalTensor<int16_t> s = scratch.Get<int16_t>();
    for (uint32_t i = 0; i < a.leads[GetBlockIdx()]; ++i) s.SetValue(0, int16_t(i));
  }
  for (uint64_t off = 0; off < a.bytesPerCore / 2; off += n) {
    LocalTensor<int16_t> t = q.template AllocTensor<int16_t>();
    DataCopy(t, in[off], n);
    q.EnQue(t);
    t = q.template DeQue<int16_t>();
    DataCopy(out[off], t, n);
    q.FreeTensor(t);
  }
}

// ---- late copies: a core whose scalar unit issues copies of one pipe while another pipe's copy is
// still in flight, next to streaming cores -----------------------------------------------------------
// Blocks < `streamers` run StreamCopy's loop (double-buffered). The others, per step: two GM -> UB
// copies into buffers nobody reads (MTE2, back to back), then two UB -> GM copies of a constant tile
// (MTE3) that wait for nothing, then the scalar waits for the reads (MTE2 -> S) while the writes are
// in flight. A replay that holds the scalar unit back until a pipe's copy ends (the second read
// behind the first, the next step's writes behind this one's) hands the other pipe's copies to the
// HBM pool after their true start.
struct LateArgs {
  uint64_t bytesPerCore;
  uint32_t tileBytes, streamers;  // LateCrossCopy: streamers holds the block count
};

// The AIV side of both late-copy kernels: two UB input tiles and an output tile of a constant,
// ready for MTE3.
struct LateTiles {
  TBuf<TPosition::VECIN> inA, inB;
  TBuf<TPosition::VECOUT> outC;
  LocalTensor<int16_t> a, b, c;

  __aicore__ inline void Init(TPipe& pipe, uint32_t tileBytes) {
    pipe.InitBuffer(inA, tileBytes);
    pipe.InitBuffer(inB, tileBytes);
    pipe.InitBuffer(outC, tileBytes);
    a = inA.Get<int16_t>();
    b = inB.Get<int16_t>();
    c = outC.Get<int16_t>();
    Duplicate(c, int16_t(7), tileBytes / 2);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
  }
};

void LateCopy(GM_ADDR src, GM_ADDR dst, const LateArgs& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  if (GetBlockIdx() < a.streamers) {
    StreamCopy<2>(src, dst, CopyArgs{a.bytesPerCore, a.tileBytes, 2});
    return;
  }
  TPipe pipe;
  LateTiles tiles;
  tiles.Init(pipe, a.tileBytes);
  const LocalTensor<int16_t>&ta = tiles.a, &tb = tiles.b, &tc = tiles.c;
  const uint32_t n = a.tileBytes / 2;
  GlobalTensor<int16_t> in, out;
  const uint64_t base = uint64_t(GetBlockIdx()) * a.bytesPerCore / 2;
  in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src) + base);
  out.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(dst) + base);
  for (uint64_t off = 0; off + 2 * n <= a.bytesPerCore / 2; off += 2 * n) {
    DataCopy(ta, in[off], n);
    DataCopy(tb, in[off + n], n);
    DataCopy(out[off], tc, n);
    DataCopy(out[off + n], tc, n);
    SetFlag<HardEvent::MTE2_S>(0);  // the scalar waits for the reads while the writes are in flight
    WaitFlag<HardEvent::MTE2_S>(0);
  }
}

// Mixed: per block, the AIC reads `steps` tiles GM -> L1 and after each sends a cross-core flag
// (mode 2, set on MTE2: it fires when the read has ended). Each AIV per step waits for that flag
// (naming MTE3; on A2/A3 the wait holds the whole core: dav_c220 wait_flag_dev), writes a constant
// tile UB -> GM and reads two tiles GM -> UB. A replay that lets the other cores run on while an
// AIV is held must still hand each copy to the HBM pool at its true start.
constexpr uint16_t kLateFlag = 4;

void LateCrossCopy(GM_ADDR src, GM_ADDR dst, const LateArgs& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  TPipe pipe;
  const uint32_t n = a.tileBytes / 2;
  const uint64_t steps = a.bytesPerCore / a.tileBytes / 2;
  GlobalTensor<int16_t> in, out;
  if ASCEND_IS_AIC {
    // after the AIVs' slices: the AIC's reads share no line with theirs (all miss L2)
    const uint64_t base = (2ull * a.streamers + GetBlockIdx()) * a.bytesPerCore / 2;
    in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src) + base);
    TBuf<TPosition::A1> l1;
    pipe.InitBuffer(l1, a.tileBytes);
    LocalTensor<int16_t> t = l1.Get<int16_t>();
    for (uint64_t i = 0; i < steps; ++i) {
      DataCopy(t, in[i * n], n);
      CrossCoreSetFlag<2, PIPE_MTE2>(kLateFlag);
    }
  }
  if ASCEND_IS_AIV {
    const uint64_t base = uint64_t(GetBlockIdx()) * a.bytesPerCore / 2;  // AIV block idx: 2 per AIC block
    in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src) + base);
    out.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(dst) + base);
    LateTiles tiles;
    tiles.Init(pipe, a.tileBytes);
    const LocalTensor<int16_t>&ta = tiles.a, &tb = tiles.b, &tc = tiles.c;
    for (uint64_t i = 0; i < steps; ++i) {
      CrossCoreWaitFlag<2, PIPE_MTE3>(kLateFlag);
      DataCopy(out[i * n], tc, n);
      DataCopy(ta, in[2 * i * n], n);
      DataCopy(tb, in[(2 * i + 1) * n], n);
    }
  }
}

// ---- matmul: C [M, N] = A [M, K] x Bt [N, K]^T in fp32; core b owns rows [128 b, 128 b + 128) ----
constexpr uint32_t kM = 128, kN = 128, kK = 64;  // tile: 128 x 128 out, 64-deep k chunks (fp32 k0 = 8)

struct MatmulArgs {
  uint32_t n, k;
  uint32_t overlap;  // 1: double-buffered L1/L0/L0C queues; 0: one buffer each, and MTE2 waits for M
};

template <int32_t kBuffers>
void Matmul(GM_ADDR a, GM_ADDR bt, GM_ADDR c, const MatmulArgs& args) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
  TPipe pipe;
  TQue<TPosition::A1, kBuffers> aL1;
  TQue<TPosition::B1, kBuffers> bL1;
  TQue<TPosition::A2, kBuffers> aL0;
  TQue<TPosition::B2, kBuffers> bL0;
  TQue<TPosition::CO1, kBuffers> cL0;
  pipe.InitBuffer(aL1, kBuffers, kM * kK * 4);
  pipe.InitBuffer(bL1, kBuffers, kN * kK * 4);
  pipe.InitBuffer(aL0, kBuffers, kM * kK * 4);
  pipe.InitBuffer(bL0, kBuffers, kN * kK * 4);
  pipe.InitBuffer(cL0, kBuffers, kM * kN * 4);
  GlobalTensor<float> ga, gb, gc;
  const uint64_t row0 = uint64_t(GetBlockIdx()) * kM;
  ga.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(a) + row0 * args.k);
  gb.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(bt));
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c) + row0 * args.n);
  constexpr uint32_t m1 = kM / 16, k1 = kK / 8, n1 = kN / 16;
  for (uint32_t n0 = 0; n0 < args.n; n0 += kN) {
    LocalTensor<float> acc = cL0.template AllocTensor<float>();
    for (uint32_t k0 = 0; k0 < args.k; k0 += kK) {
      LocalTensor<float> a1 = aL1.template AllocTensor<float>();
      DataCopy(a1, ga[k0], Nd2NzParams(1, kM, kK, 0, args.k, kM, 1, 0));
      aL1.EnQue(a1);
      LocalTensor<float> b1 = bL1.template AllocTensor<float>();
      DataCopy(b1, gb[uint64_t(n0) * args.k + k0], Nd2NzParams(1, kN, kK, 0, args.k, kN, 1, 0));
      bL1.EnQue(b1);
      a1 = aL1.template DeQue<float>();
      LocalTensor<float> a2 = aL0.template AllocTensor<float>();
      for (uint32_t i = 0; i < m1; ++i)  // L1 Nz (k column blocks) -> L0A Zz (row blocks)
        LoadData(a2[i * k1 * 128], a1, LoadData2DParams(i, k1, m1, 0, 0, false, 0));
      aL0.EnQue(a2);
      aL1.FreeTensor(a1);
      b1 = bL1.template DeQue<float>();
      LocalTensor<float> b2 = bL0.template AllocTensor<float>();
      LoadData(b2, b1, LoadData2DParams(0, k1 * n1, 1, 0, 0, false, 0));
      bL0.EnQue(b2);
      bL1.FreeTensor(b1);
      a2 = aL0.template DeQue<float>();
      b2 = bL0.template DeQue<float>();
      MmadParams mp;
      mp.m = kM;
      mp.n = kN;
      mp.k = kK;
      mp.cmatrixInitVal = k0 == 0;
      Mmad(acc, a2, b2, mp);
      aL0.FreeTensor(a2);
      bL0.FreeTensor(b2);
      if (!args.overlap) {  // the next chunk's copy-in waits for this Mmad
        SetFlag<HardEvent::M_MTE2>(0);
        WaitFlag<HardEvent::M_MTE2>(0);
      }
    }
    cL0.EnQue(acc);
    acc = cL0.template DeQue<float>();
    Fixpipe(gc[n0], acc, FixpipeParamsV220(kN, kM, kM, args.n, false));
    cL0.FreeTensor(acc);
  }
}

// ---- dependencies: what a barrier, SyncAll or a cross-core flag orders, the model must serialise ----
// A copy part (`copies` GM -> local copies of `tileBytes`) and a vector part (`vecs` Adds over a UB
// buffer of their own) that share no data, so only the dependency under test orders them:
//   kBarrier (AIV): every core copies, PipeBarrier<PIPE_ALL>, then its vector part;
//   kSyncAll (AIV): block 0 alone copies, SyncAll, then every core's vector part;
//   kCrossCore (MIX): the AIC copies GM -> L1, CrossCoreSetFlag (mode 2), each AIV waits for it, then
//   its vector part; kSyncAll (MIX): the AIC copies, SyncAll<false> on every core, then the vector parts;
//   kCrossCoreMte2 (MIX): as kCrossCore with the AIV's wait naming PIPE_MTE2, a pipe its vector part does
//   not use (on A2/A3 the wait holds every later instruction all the same: dav_c220 wait_flag_dev).
//   kNone: the same work without the dependency (AIV: as kBarrier, MIX: as kCrossCore).
enum DepKind : uint32_t { kNone = 0, kBarrier = 1, kSyncAll = 2, kCrossCore = 3, kCrossCoreMte2 = 4 };
constexpr uint16_t kDepFlag = 3;
constexpr uint32_t kVecFloats = 2048;  // 8 KiB: 32 repeats of 64 fp32

struct DepArgs {
  uint32_t copies, tileBytes, vecs, kind, mix;
};

__aicore__ inline void VectorPart(TPipe& pipe, uint32_t vecs) {
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, kVecFloats * 4);
  LocalTensor<float> v = buf.Get<float>();
  Duplicate(v, 1.0f, kVecFloats);
  for (uint32_t i = 0; i < vecs; ++i) Adds(v, v, 1.0f, kVecFloats);
}

void Dependencies(GM_ADDR src, const DepArgs& a) {
  TPipe pipe;
  GlobalTensor<int16_t> in;
  in.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(src), uint64_t(a.tileBytes) / 2);
  const uint32_t n = a.tileBytes / 2;
  if (a.mix) {
    if ASCEND_IS_AIC {
      TBuf<TPosition::A1> l1;
      pipe.InitBuffer(l1, a.tileBytes);
      LocalTensor<int16_t> t = l1.Get<int16_t>();
      for (uint32_t i = 0; i < a.copies; ++i) DataCopy(t, in, n);
      if (a.kind == kCrossCore || a.kind == kCrossCoreMte2) CrossCoreSetFlag<2, PIPE_MTE2>(kDepFlag);
      if (a.kind == kSyncAll) SyncAll<false>();
    }
    if ASCEND_IS_AIV {
      if (a.kind == kCrossCore) CrossCoreWaitFlag<2, PIPE_V>(kDepFlag);
      if (a.kind == kCrossCoreMte2) CrossCoreWaitFlag<2, PIPE_MTE2>(kDepFlag);
      if (a.kind == kSyncAll) SyncAll<false>();
      VectorPart(pipe, a.vecs);
    }
    return;
  }
  TBuf<TPosition::VECIN> ub;
  pipe.InitBuffer(ub, a.tileBytes);
  LocalTensor<int16_t> t = ub.Get<int16_t>();
  if (a.kind != kSyncAll || GetBlockIdx() == 0)
    for (uint32_t i = 0; i < a.copies; ++i) DataCopy(t, in, n);
  if (a.kind == kBarrier) PipeBarrier<PIPE_ALL>();
  if (a.kind == kSyncAll) SyncAll<true>();
  VectorPart(pipe, a.vecs);
}

template <typename F>
int Guard(char* err, int errLen, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // namespace

extern "C" {

// src and dst hold cores x bytesPerCore bytes.
// leads: null, or per core the scalar work before its first copy.
int perf_stream_copy(void* src, void* dst, uint32_t cores, uint64_t bytesPerCore, uint32_t tileBytes, uint32_t buffers,
                     const uint32_t* leads, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    const CopyArgs args{bytesPerCore, tileBytes, buffers, leads};
    const uint64_t total = uint64_t(cores) * bytesPerCore;
    auto s = reinterpret_cast<GM_ADDR>(src), d = reinterpret_cast<GM_ADDR>(dst);
    emu::Launch("stream_copy", KernelMode::AIV_MODE, cores,
                [&] { buffers == 2 ? StreamCopy<2>(s, d, args) : StreamCopy<1>(s, d, args); },
                {{src, total}, {dst, total}});
  });
}

// src and dst hold cores x bytesPerCore bytes; blocks < streamers stream src to dst, the others write a
// tile of 7s over their slice of dst (LateCopy).
int perf_late_copy(void* src, void* dst, uint32_t cores, uint64_t bytesPerCore, uint32_t tileBytes,
                   uint32_t streamers, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    const LateArgs args{bytesPerCore, tileBytes, streamers};
    const uint64_t total = uint64_t(cores) * bytesPerCore;
    auto s = reinterpret_cast<GM_ADDR>(src), d = reinterpret_cast<GM_ADDR>(dst);
    emu::Launch("late_copy", KernelMode::AIV_MODE, cores, [&] { LateCopy(s, d, args); }, {{src, total}, {dst, total}});
  });
}

// MIX: `blocks` x (1 AIC + 2 AIV); src and dst hold 3 x blocks x bytesPerCore bytes (LateCrossCopy:
// the AIVs' slices, then the AICs' halves).
int perf_late_cross_copy(void* src, void* dst, uint32_t blocks, uint64_t bytesPerCore, uint32_t tileBytes, char* err,
                         int errLen) {
  return Guard(err, errLen, [&] {
    const LateArgs args{bytesPerCore, tileBytes, blocks};  // streamers: the block count here
    const uint64_t total = 3ull * blocks * bytesPerCore;
    auto s = reinterpret_cast<GM_ADDR>(src), d = reinterpret_cast<GM_ADDR>(dst);
    emu::Launch("late_cross_copy", KernelMode::MIX_MODE, blocks, [&] { LateCrossCopy(s, d, args); },
                {{src, total}, {dst, total}});
  });
}

// a [cores x 128, k], bt [n, k], c [cores x 128, n], fp32 row-major.
int perf_matmul(void* a, void* bt, void* c, uint32_t cores, uint32_t n, uint32_t k, uint32_t overlap, char* err,
                int errLen) {
  return Guard(err, errLen, [&] {
    const MatmulArgs args{n, k, overlap};
    const uint64_t m = uint64_t(cores) * kM;
    auto pa = reinterpret_cast<GM_ADDR>(a), pb = reinterpret_cast<GM_ADDR>(bt), pc = reinterpret_cast<GM_ADDR>(c);
    emu::Launch("matmul", KernelMode::AIC_MODE, cores,
                [&] { overlap ? Matmul<2>(pa, pb, pc, args) : Matmul<1>(pa, pb, pc, args); },
                {{a, m * k * 4}, {bt, uint64_t(n) * k * 4}, {c, m * n * 4}});
  });
}

// src holds tileBytes bytes (every copy reads it); mix: 1 AIC + 2 AIV per block, else one AIV.
int perf_dependencies(void* src, uint32_t cores, uint32_t tileBytes, uint32_t copies, uint32_t vecs, uint32_t kind,
                      uint32_t mix, char* err, int errLen) {
  return Guard(err, errLen, [&] {
    const DepArgs args{copies, tileBytes, vecs, kind, mix};
    auto s = reinterpret_cast<GM_ADDR>(src);
    if (mix) {
      emu::Launch("dependencies", KernelMode::MIX_MODE, cores, [&] {
        KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
        Dependencies(s, args);
      }, {{src, tileBytes}});
    } else {
      emu::Launch("dependencies", KernelMode::AIV_MODE, cores, [&] {
        KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);  // SyncAll needs the inter-core sync hardware
        Dependencies(s, args);
      }, {{src, tileBytes}});
    }
  });
}

}  // extern "C"
