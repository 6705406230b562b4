// The scalar DataCache (emu/data_cache.h) on the emulator: two vector cores and two SyncAlls.
//   AIV 0 reads data[0] (its line, data[0..15], is now cached), writes pub[0] = 7 and pub[1] = 8
//   with SetValue (they sit in its cache) and reads pub[0] back; with `dcci` it then cleans the
//   pub line. SyncAll.
//   AIV 1 rewrites data[0..31] = 100 + i with a DMA copy, and copies pub[0..15] out to out[16..31]
//   with DMA. SyncAll.
//   AIV 0 (with `dcci`, after cleaning the data line) reads data[1] (a cached line) and data[16]
//   (a line it never read), and writes its four reads to out[0..3] with SetValue.
// One line, two writers: AIV 0 reads share[0] before the first SyncAll; between the two, AIV 1
// writes share[1] = 55 with SetValue and cleans its line; after them AIV 0 writes share[0] = 44
// (cleaned with `dcci`, else at its end). Only the bytes AIV 0 wrote go back: share[1] stays 55,
// though AIV 0's copy of the line still holds the old share[1].
// dcci: 0 none, 1 SINGLE_CACHE_LINE on the lines concerned, 2 ENTIRE_DATA_CACHE.
#include "../emu/selftest_host.h"
#include "kernel_operator.h"

using namespace AscendC;

namespace {

template <typename T>
void Clean(const GlobalTensor<T>& line, int32_t dcci) {
  if (dcci == 1) DataCacheCleanAndInvalid<T, CacheLine::SINGLE_CACHE_LINE, DcciDst::CACHELINE_OUT>(line);
  if (dcci == 2) DataCacheCleanAndInvalid<T, CacheLine::ENTIRE_DATA_CACHE>(line);
}

void Body(GM_ADDR data, GM_ADDR pub, GM_ADDR out, GM_ADDR share, int32_t dcci) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIV_1_0);  // SyncAll needs a MIX type
  GlobalTensor<int32_t> gData, gPub, gOut, gShare;
  gData.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(data), 48);
  gPub.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(pub), 16);
  gOut.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out), 32);
  gShare.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(share), 16);
  if (GetBlockIdx() == 0) {
    const int32_t first = gData.GetValue(0);
    (void)gShare.GetValue(0);  // caches the share line
    gPub.SetValue(0, 7);
    gPub.SetValue(1, 8);
    const int32_t own = gPub.GetValue(0);
    Clean(gPub, dcci);
    SyncAll();
    SyncAll();
    Clean(gData, dcci);
    const int32_t cached = gData.GetValue(1), fresh = gData.GetValue(16);
    gOut.SetValue(0, first);
    gOut.SetValue(1, own);
    gOut.SetValue(2, cached);
    gOut.SetValue(3, fresh);
    gShare.SetValue(0, 44);
    Clean(gShare, dcci);
    return;
  }
  TPipe pipe;
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, 32 * sizeof(int32_t));
  LocalTensor<int32_t> v = buf.Get<int32_t>();
  SyncAll();
  gShare.SetValue(1, 55);
  DataCacheCleanAndInvalid<int32_t, CacheLine::SINGLE_CACHE_LINE, DcciDst::CACHELINE_OUT>(gShare);
  for (int32_t i = 0; i < 32; ++i) v.SetValue(i, 100 + i);
  SetFlag<HardEvent::S_MTE3>(0);
  WaitFlag<HardEvent::S_MTE3>(0);
  DataCopyPad(gData, v, DataCopyExtParams(1, 32 * sizeof(int32_t), 0, 0, 0));
  SetFlag<HardEvent::MTE3_MTE2>(0);
  WaitFlag<HardEvent::MTE3_MTE2>(0);
  DataCopyPad(v, gPub, DataCopyExtParams(1, 16 * sizeof(int32_t), 0, 0, 0), DataCopyPadExtParams<int32_t>());
  SetFlag<HardEvent::MTE2_MTE3>(0);
  WaitFlag<HardEvent::MTE2_MTE3>(0);
  DataCopyPad(gOut[16], v, DataCopyExtParams(1, 16 * sizeof(int32_t), 0, 0, 0));
  PipeBarrier<PIPE_ALL>();
  SyncAll();
}

}  // namespace

extern "C" {

// data: 48 int32, pub: 16, out: 32, share: 16 (host-initialised).
__attribute__((visibility("default"))) int data_cache_run(int32_t dcci, void* data, void* pub, void* out, void* share,
                                                          char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    auto d = reinterpret_cast<GM_ADDR>(data), p = reinterpret_cast<GM_ADDR>(pub), o = reinterpret_cast<GM_ADDR>(out),
         s = reinterpret_cast<GM_ADDR>(share);
    emu::Launch("data_cache_test", KernelMode::AIV_MODE, 2, [&] { Body(d, p, o, s, dcci); },
                {{data, 48 * 4}, {pub, 16 * 4}, {out, 32 * 4}, {share, 16 * 4}});
  });
}

}  // extern "C"
