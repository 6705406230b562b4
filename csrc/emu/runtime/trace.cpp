// Instruction traces for the timing model: the switch, the per-launch record limit, and the
// traces of finished launches waiting to be taken (see emu/trace.h).
#include "emu/trace.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace AscendC::emu {

namespace {
constexpr uint64_t kDefaultMaxRecords = 16ull << 20;  // 512 MiB of 32-byte records per launch

std::mutex gTraceMu;
std::vector<LaunchTrace> gTraces;
std::atomic<int> gTracing{-1};  // -1: not decided yet (read the environment at first use)
std::atomic<uint64_t> gMaxRecords{0};

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return (end && *end == '\0') ? n : fallback;
}
}  // namespace

void SetTracing(bool on, uint64_t maxRecordsPerLaunch) {
  gTracing = on ? 1 : 0;
  gMaxRecords = maxRecordsPerLaunch ? maxRecordsPerLaunch : EnvU64("ASCEND_GLM5_TRACE_MAX_RECORDS", kDefaultMaxRecords);
  if (!on) {
    std::lock_guard<std::mutex> g(gTraceMu);
    gTraces.clear();
  }
}

bool TracingEnabled() {
  int t = gTracing.load();
  if (t < 0) {
    SetTracing(EnvU64("ASCEND_GLM5_TRACE", 0) != 0, 0);
    t = gTracing.load();
  }
  return t == 1;
}

uint64_t TraceRecordLimit() {
  TracingEnabled();
  return gMaxRecords.load();
}

std::vector<LaunchTrace> TakeTraces() {
  std::lock_guard<std::mutex> g(gTraceMu);
  std::vector<LaunchTrace> out;
  out.swap(gTraces);
  return out;
}

void StoreTrace(LaunchTrace&& t) {
  std::lock_guard<std::mutex> g(gTraceMu);
  gTraces.push_back(std::move(t));
}

}  // namespace AscendC::emu
