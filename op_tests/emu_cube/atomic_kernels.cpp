// GM atomics (SetAtomicAdd / Max / Min / Type / None): every AIV core adds its rows into
// the same GM floats, int32s and halves, `rounds` times each, then bumps a shared int32 counter and
// reads it back (the last-finisher pattern); finally it writes its own row with atomics off again.
// FixpipeBody: AIC cores adding matmul tiles into the same GM (SetAtomicAdd.md's L0C -> GM path).
// MaxMinBody: every AIV core keeps the element-wise max and min of its row and GM, for each element
// type (SetAtomicMax(ISASI).md / SetAtomicMin(ISASI).md).
#include <cstdio>
#include <exception>
#include <vector>

#include "kernel_operator.h"

#define ATOMIC_EXPORT extern "C" __attribute__((visibility("default")))

using namespace AscendC;

namespace {
constexpr uint32_t kF = 64;   // floats per row: DataCopy count form (256 B)
constexpr uint32_t kI = 60;   // int32 per row: DataCopyPad, 240 B (not a whole number of 32 B blocks)
constexpr uint32_t kH = 48;   // halves per row: DataCopyPad after SetAtomicType<half> under SetAtomicAdd<int8_t>

struct Gm {
  GlobalTensor<float> fIn, fSum, fOwn;
  GlobalTensor<int32_t> iIn, iSum, counter, seen;
  GlobalTensor<half> hIn, hSum;
};

void AtomicBody(GM_ADDR* p, int32_t rounds) {
  const int64_t b = GetBlockIdx();
  Gm g;
  g.fIn.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(p[0]) + b * kF);
  g.iIn.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(p[1]) + b * kI);
  g.hIn.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(p[2]) + b * kH);
  g.fSum.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(p[3]));
  g.iSum.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(p[4]));
  g.hSum.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(p[5]));
  g.counter.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(p[6]));
  g.seen.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(p[7]));
  g.fOwn.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(p[8]) + b * kF);

  TPipe pipe;
  TBuf<TPosition::VECCALC> fBuf, iBuf, hBuf, cBuf;
  pipe.InitBuffer(fBuf, kF * sizeof(float));
  pipe.InitBuffer(iBuf, kI * sizeof(int32_t) + 16);
  pipe.InitBuffer(hBuf, kH * sizeof(half));
  pipe.InitBuffer(cBuf, 32);
  LocalTensor<float> f = fBuf.Get<float>();
  LocalTensor<int32_t> i = iBuf.Get<int32_t>();
  LocalTensor<half> h = hBuf.Get<half>();
  LocalTensor<int32_t> c = cBuf.Get<int32_t>();

  DataCopy(f, g.fIn, kF);
  DataCopyPad(i, g.iIn, DataCopyExtParams(1, kI * sizeof(int32_t), 0, 0, 0), DataCopyPadExtParams<int32_t>());
  DataCopyPad(h, g.hIn, DataCopyExtParams(1, kH * sizeof(half), 0, 0, 0), DataCopyPadExtParams<half>());
  Duplicate(c, int32_t(1), 8);
  SetFlag<HardEvent::MTE2_MTE3>(0);
  WaitFlag<HardEvent::MTE2_MTE3>(0);
  SetFlag<HardEvent::V_MTE3>(0);
  WaitFlag<HardEvent::V_MTE3>(0);

  SetAtomicAdd<float>();
  for (int32_t r = 0; r < rounds; ++r) DataCopy(g.fSum, f, kF);
  SetAtomicAdd<int32_t>();
  for (int32_t r = 0; r < rounds; ++r) DataCopyPad(g.iSum, i, DataCopyExtParams(1, kI * sizeof(int32_t), 0, 0, 0));
  // SetAtomicType.md: the mode stays, the element type is the last one set.
  SetAtomicAdd<int8_t>();
  SetAtomicType<half>();
  for (int32_t r = 0; r < rounds; ++r) DataCopyPad(g.hSum, h, DataCopyExtParams(1, kH * sizeof(half), 0, 0, 0));

  // Last finisher: add 1 to the counter, read it back.
  SetAtomicAdd<int32_t>();
  DataCopyPad(g.counter, c, DataCopyExtParams(1, sizeof(int32_t), 0, 0, 0));
  SetAtomicNone();
  SetFlag<HardEvent::MTE3_MTE2>(0);
  WaitFlag<HardEvent::MTE3_MTE2>(0);
  DataCopyPad(c, g.counter, DataCopyExtParams(1, sizeof(int32_t), 0, 0, 0), DataCopyPadExtParams<int32_t>());
  SetFlag<HardEvent::MTE2_MTE3>(1);
  WaitFlag<HardEvent::MTE2_MTE3>(1);
  DataCopyPad(g.seen[b], c, DataCopyExtParams(1, sizeof(int32_t), 0, 0, 0));
  // Atomics off again: a plain overwrite of this core's own row.
  DataCopy(g.fOwn, f, kF);
}
// Fixpipe L0C -> GM under SetAtomicAdd<float> (AIC): block b computes a 16 x 16 x 16 product of
// constants (b + 1) and 1, i.e. 16 * (b + 1) everywhere, and adds it into the shared 16 x 16 floats.
void FixpipeBody(GM_ADDR out) {
  const int64_t b = GetBlockIdx();
  TPipe pipe;
  TBuf<TPosition::A2> a2;
  TBuf<TPosition::B2> b2;
  TBuf<TPosition::CO1> co1;
  pipe.InitBuffer(a2, 512);
  pipe.InitBuffer(b2, 512);
  pipe.InitBuffer(co1, 1024);
  GlobalTensor<float> gc;
  gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), 256);
  InitConstValue(a2.Get<half>(), InitConstValueParams<half>(1, 1, 0, half(float(b + 1))));
  InitConstValue(b2.Get<half>(), InitConstValueParams<half>(1, 1, 0, half(1.0f)));
  SetFlag<HardEvent::MTE1_M>(0);
  WaitFlag<HardEvent::MTE1_M>(0);
  Mmad(co1.Get<float>(), a2.Get<half>(), b2.Get<half>(), MmadParams(16, 16, 16, 0, false, true));
  SetFlag<HardEvent::M_FIX>(0);
  WaitFlag<HardEvent::M_FIX>(0);
  SetAtomicAdd<float>();
  Fixpipe(gc, co1.Get<float>(), FixpipeParamsV220(16, 16, 16, 16, false));
  SetAtomicNone();
}

// One row of n elements of T: read from `in` (this core's row), written under SetAtomicMax<T> into
// `mx` and under SetAtomicMin<T> into `mn` (DataCopyPad: any length in bytes).
template <typename T>
void MaxMinRow(TBuf<TPosition::VECCALC>& buf, GM_ADDR in, GM_ADDR mx, GM_ADDR mn, uint32_t n) {
  const int64_t b = GetBlockIdx();
  GlobalTensor<T> gIn, gMax, gMin;
  gIn.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(in) + b * n);
  gMax.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(mx));
  gMin.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(mn));
  LocalTensor<T> row = buf.Get<T>();
  const DataCopyExtParams one(1, n * sizeof(T), 0, 0, 0);
  DataCopyPad(row, gIn, one, DataCopyPadExtParams<T>());
  SetFlag<HardEvent::MTE2_MTE3>(0);
  WaitFlag<HardEvent::MTE2_MTE3>(0);
  SetAtomicMax<T>();
  DataCopyPad(gMax, row, one);
  SetAtomicMin<T>();
  DataCopyPad(gMin, row, one);
  SetAtomicNone();
  SetFlag<HardEvent::MTE3_MTE2>(0);  // the next row's load reuses the buffer
  WaitFlag<HardEvent::MTE3_MTE2>(0);
}

// Rows (elements): float 40, int32 24, half 48, bf16 32, int16 20, int8 37 (not a multiple of 32 B).
constexpr uint32_t kMaxMinCounts[6] = {40, 24, 48, 32, 20, 37};

void MaxMinBody(GM_ADDR* p) {
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, 160);  // the longest row: 40 floats
  MaxMinRow<float>(buf, p[0], p[1], p[2], kMaxMinCounts[0]);
  MaxMinRow<int32_t>(buf, p[3], p[4], p[5], kMaxMinCounts[1]);
  MaxMinRow<half>(buf, p[6], p[7], p[8], kMaxMinCounts[2]);
  MaxMinRow<bfloat16_t>(buf, p[9], p[10], p[11], kMaxMinCounts[3]);
  MaxMinRow<int16_t>(buf, p[12], p[13], p[14], kMaxMinCounts[4]);
  MaxMinRow<int8_t>(buf, p[15], p[16], p[17], kMaxMinCounts[5]);
}
}  // namespace

ATOMIC_EXPORT int atomic_maxmin_launch(uint32_t blockDim, void** ptrs, const uint64_t* bytes, char* err, int errLen) {
  try {
    std::vector<emu::GmRegion> regions;
    for (int k = 0; k < 18; ++k) regions.push_back({ptrs[k], bytes[k]});
    auto* p = reinterpret_cast<GM_ADDR*>(ptrs);
    emu::Launch("atomic_maxmin_kernel", KernelMode::AIV_MODE, blockDim, [&] { MaxMinBody(p); }, regions);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}

// An element type the dav_c220 dtype check refuses, set on one AIV core: `which` picks the API.
ATOMIC_EXPORT int atomic_bad_type_launch(int which, char* err, int errLen) {
  try {
    emu::Launch("atomic_bad_type_kernel", KernelMode::AIV_MODE, 1, [&] {
      if (which == 0) SetAtomicAdd<uint32_t>();
      else if (which == 1) SetAtomicType<int64_t>();
      else if (which == 2) SetAtomicMax<uint8_t>();
      else SetAtomicMin<double>();
      SetAtomicNone();
    }, {});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}

ATOMIC_EXPORT int atomic_fixpipe_launch(uint32_t blockDim, float* out, char* err, int errLen) {
  try {
    emu::Launch("atomic_fixpipe_kernel", KernelMode::AIC_MODE, blockDim, [&] { FixpipeBody(reinterpret_cast<GM_ADDR>(out)); },
                {{out, 256 * sizeof(float)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}

ATOMIC_EXPORT int atomic_launch(uint32_t blockDim, int32_t rounds, void** ptrs, const uint64_t* bytes, char* err,
                                int errLen) {
  try {
    std::vector<emu::GmRegion> regions;
    for (int k = 0; k < 9; ++k) regions.push_back({ptrs[k], bytes[k]});
    auto* p = reinterpret_cast<GM_ADDR*>(ptrs);
    emu::Launch("atomic_kernel", KernelMode::AIV_MODE, blockDim, [&] { AtomicBody(p, rounds); }, regions);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
