// GmFlagAdd / GmFlagWaitAtLeast (csrc/kernels/common/gm_flag.h) on the emulator: AIV 0 is the
// consumer, AIVs 1 .. P the producers. Producer p copies its row of `src` (n int32) through UB to
// its row of `data`, adds `extra` vector instructions of make-work first if it is the `late` core
// (what the timing model sees), sleeps `sleepMs` first on the host if it is the `late` core (what
// the threads see), then adds 1 to the counter. The consumer waits for counter >= target, then
// copies all of `data` to `out`.
// kind 1 (a control that shows the test can see an early return): the late producer first waits
// for a second counter that the consumer bumps only after it has copied `data`, so a consumer
// waiting for fewer than all producers must read the late row before it is written.
// kind 2: the consumer first issues `extra` copies of all of `src` into its row buffer (MTE2 loads
// queued before the wait, which the scalar poll does not queue behind).
#include <chrono>
#include <thread>

#include "../emu/selftest_host.h"
#include "common/gm_flag.h"
#include "emu/trace.h"
#include "kernel_operator.h"

using namespace AscendC;

namespace {

struct Args {
  int32_t kind;    // 0: plain, 1: the late producer waits for the consumer (control), 2: the consumer preloads
  int32_t target;  // the consumer waits for counter >= target
  int32_t late;    // the late producer's block, -1: none
  int32_t sleepMs; // host sleep of the late producer before it starts
  int32_t extra;   // vector instructions the late producer issues before its write
  uint32_t n;      // int32 per row
};

void Body(GM_ADDR src, GM_ADDR data, GM_ADDR out, GM_ADDR counters, const Args& a) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  const int64_t b = GetBlockIdx(), producers = GetBlockNum() - 1;
  TPipe pipe;
  TBuf<TPosition::VECCALC> rowBuf, scratchBuf;
  pipe.InitBuffer(rowBuf, uint32_t(producers) * a.n * sizeof(int32_t));
  pipe.InitBuffer(scratchBuf, 32);
  LocalTensor<int32_t> row = rowBuf.Get<int32_t>(), scratch = scratchBuf.Get<int32_t>();
  GlobalTensor<int32_t> gSrc, gData, gOut, counter, back;
  gSrc.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(src));
  gData.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(data));
  gOut.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out));
  counter.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(counters), 1);
  back.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(counters) + 8, 1);

  if (b == 0) {
    const uint32_t bytes = uint32_t(producers) * a.n * sizeof(int32_t);
    for (int32_t i = 0; a.kind == 2 && i < a.extra; ++i)
      DataCopyPad(row, gSrc, DataCopyExtParams(1, bytes, 0, 0, 0), DataCopyPadExtParams<int32_t>());
    ascend_glm5::GmFlagWaitAtLeast(counter, a.target);
    DataCopyPad(row, gData, DataCopyExtParams(1, bytes, 0, 0, 0), DataCopyPadExtParams<int32_t>());
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    DataCopyPad(gOut, row, DataCopyExtParams(1, bytes, 0, 0, 0));
    if (a.kind == 1) ascend_glm5::GmFlagAdd(back, 1, scratch);
    return;
  }
  const uint64_t off = uint64_t(b - 1) * a.n;
  if (b == a.late) {
    if (a.sleepMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.sleepMs));
    if (a.kind == 1) ascend_glm5::GmFlagWaitAtLeast(back, 1);
  }
  DataCopyPad(row, gSrc[off], DataCopyExtParams(1, a.n * sizeof(int32_t), 0, 0, 0), DataCopyPadExtParams<int32_t>());
  SetFlag<HardEvent::MTE2_V>(0);
  WaitFlag<HardEvent::MTE2_V>(0);
  if (b == a.late)
    for (int32_t i = 0; i < a.extra; ++i) Adds(row, row, int32_t(0), a.n);  // make-work the model sees
  SetFlag<HardEvent::V_MTE3>(0);
  WaitFlag<HardEvent::V_MTE3>(0);
  DataCopyPad(gData[off], row, DataCopyExtParams(1, a.n * sizeof(int32_t), 0, 0, 0));
  ascend_glm5::GmFlagAdd(counter, 1, scratch);
}

}  // namespace

extern "C" {

// src, data, out: (cores - 1) x n int32; counters: 16 int32 (the counter at 0, the control's at 8).
__attribute__((visibility("default"))) int gm_flag_run(uint32_t cores, int32_t kind, int32_t target, int32_t late,
                                                       int32_t sleepMs, int32_t extra, uint32_t n, void* src, void* data,
                                                       void* out, void* counters, char* err, int errLen) {
  return selftest::Guard(err, errLen, [&] {
    const Args a{kind, target, late, sleepMs, extra, n};
    const uint64_t bytes = uint64_t(cores - 1) * n * sizeof(int32_t);
    auto s = reinterpret_cast<GM_ADDR>(src), d = reinterpret_cast<GM_ADDR>(data), o = reinterpret_cast<GM_ADDR>(out),
         c = reinterpret_cast<GM_ADDR>(counters);
    emu::Launch("gm_flag_test", KernelMode::AIV_MODE, cores, [&] { Body(s, d, o, c, a); },
                {{src, bytes}, {data, bytes}, {out, bytes}, {counters, 64}});
  });
}

// The last launch's trace, if tracing is on: per core, how many records it holds, how many of them
// are kGmWait / kGmSignal, and its MTE2 copies, scalar accesses and waits as counted by the emulator
// (5 numbers a core into out). The trace goes back to the store for the caller's perf.tracing().
__attribute__((visibility("default"))) int gm_flag_last_trace(uint64_t* out, uint32_t cores) {
  auto traces = emu::TakeTraces();
  if (traces.empty()) return 1;
  const emu::LaunchTrace& t = traces.back();
  const emu::LaunchStats stats = emu::LastLaunch();
  for (uint32_t i = 0; i < cores && i < t.cores.size(); ++i) {
    uint64_t waits = 0, signals = 0;
    for (const auto& r : t.cores[i].records) {
      waits += r.op == static_cast<uint8_t>(emu::TraceOp::kGmWait);
      signals += r.op == static_cast<uint8_t>(emu::TraceOp::kGmSignal);
    }
    const emu::Counters& k = stats.perCore[i];
    const uint64_t row[5] = {t.cores[i].records.size(), waits, signals, k.mte2Calls, k.scalarOps + k.syncWaits};
    for (int j = 0; j < 5; ++j) out[i * 5 + j] = row[j];
  }
  for (auto& tr : traces) emu::StoreTrace(std::move(tr));
  return 0;
}

}  // extern "C"
