// The scalar DataCache of each emulated core (emu/data_cache.h).
#include "emu/data_cache.h"

#include <cstring>

#include "emu/atomic.h"
#include "launch_context.h"

namespace AscendC::emu {

namespace {

ScalarDataCache& Cache() { return CurrentLaunch()->dataCaches[Core().launchIndex]; }

// The line holding `a`: its first address and how many of its 64 bytes lie inside the GM buffer.
// Accesses were bounds-checked against the launch's buffers before they get here.
uint64_t LineOf(uint64_t a, uint32_t& size) {
  const LaunchContext* L = CurrentLaunch();
  for (const auto& s : L->spans)
    if (a >= s.lo && a < s.hi) {
      const uint64_t line = s.lo + ((a - s.lo) & ~uint64_t(63));
      size = static_cast<uint32_t>(s.hi - line < 64 ? s.hi - line : 64);
      return line;
    }
  Fail("GlobalTensor scalar access", "gm-bounds", Format("address %p is in no GM buffer of the launch", reinterpret_cast<void*>(a)));
}

// The hardware reads the whole line while other cores may be writing other bytes of it: a read the
// kernel never asked for, so ThreadSanitizer must not see it (the bytes the kernel asked for are
// read again, instrumented, by the caller).
__attribute__((no_sanitize("thread"))) void FillLine(uint8_t* dst, const volatile uint8_t* src, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) dst[i] = src[i];
}

// The cached line holding [a, a + bytes), filled from GM on a miss.
DataCacheLine& Line(uint64_t a, uint32_t bytes, uint64_t& line) {
  uint32_t size = 0;
  line = LineOf(a, size);
  EMU_REQUIRE(a + bytes <= line + size, "GlobalTensor scalar access", "gm-bounds",
              "a %u-byte scalar access at byte %llu of a 64-byte DataCache line crosses the line", bytes,
              (unsigned long long)(a - line));
  auto [it, miss] = Cache().lines.try_emplace(line);
  DataCacheLine& l = it->second;
  if (miss) {
    l.size = size;
    FillLine(l.bytes.data(), reinterpret_cast<const volatile uint8_t*>(line), size);
    // What the kernel reads: atomic loads while the launch uses atomics (a GM counter polled by
    // GmFlagWaitAtLeast while other cores add to it), as DMA reads are (emu/atomic.h ReadGm).
    ReadGm(l.bytes.data() + (a - line), reinterpret_cast<const uint8_t*>(a), bytes);
  }
  return l;
}

// Only the bytes the core wrote go back (assumed: CANN does not say whether a whole line is written
// back; its own cross-core slots sit one per 64-byte line, core_mng/roc/kernel_operator_cube_group_info.h
// BARRIER_SIZE "due to dcci", which kernels should copy). Cores writing other words of one line then
// do not undo each other's writes in an order that depends on the host's thread timing.
void WriteBack(uint64_t line, DataCacheLine& l) {
  for (uint32_t i = 0; i < l.size;) {
    if (!(l.dirty >> i & 1)) {
      ++i;
      continue;
    }
    uint32_t j = i;
    while (j < l.size && (l.dirty >> j & 1)) ++j;
    std::memcpy(reinterpret_cast<void*>(line + i), l.bytes.data() + i, j - i);
    i = j;
  }
  l.dirty = 0;
}

uint64_t ByteMask(uint64_t offset, uint32_t bytes) { return ((1ull << bytes) - 1) << offset; }  // bytes <= 8

}  // namespace

void ScalarGmRead(const void* gm, void* out, uint32_t bytes) {
  const uint64_t a = reinterpret_cast<uint64_t>(gm);
  uint64_t line;
  const DataCacheLine& l = Line(a, bytes, line);
  std::memcpy(out, l.bytes.data() + (a - line), bytes);
}

void ScalarGmWrite(void* gm, const void* in, uint32_t bytes) {
  std::memcpy(ScalarGmRef(gm, bytes), in, bytes);
}

void* ScalarGmRef(void* gm, uint32_t bytes) {
  const uint64_t a = reinterpret_cast<uint64_t>(gm);
  uint64_t line;
  DataCacheLine& l = Line(a, bytes, line);
  l.dirty |= ByteMask(a - line, bytes);
  return l.bytes.data() + (a - line);
}

void DataCacheCleanInvalid(const void* gm, bool entire) {
  ScalarDataCache& c = Cache();
  if (entire) {
    for (auto& [line, l] : c.lines) WriteBack(line, l);
    c.lines.clear();
    return;
  }
  uint32_t size = 0;
  const uint64_t line = LineOf(reinterpret_cast<uint64_t>(gm), size);
  auto it = c.lines.find(line);
  if (it == c.lines.end()) return;
  WriteBack(line, it->second);
  c.lines.erase(it);
}

void FlushDataCacheAtCoreEnd() { DataCacheCleanInvalid(nullptr, true); }

}  // namespace AscendC::emu
