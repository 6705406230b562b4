// One core's scalar DataCache during a launch (emu/data_cache.h; private to the runtime library).
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

namespace AscendC::emu {

struct DataCacheLine {
  std::array<uint8_t, 64> bytes{};
  uint64_t dirty = 0;  // bit i: bytes[i] was written by the scalar unit and not yet written back
  uint32_t size = 0;   // bytes of the line inside its GM buffer (the last line of a buffer may be short)
};

struct ScalarDataCache {
  std::unordered_map<uint64_t, DataCacheLine> lines;  // by the line's first GM address
};

// Writes back the running core's dirty lines (assumed: they reach GM by the time the core ends).
void FlushDataCacheAtCoreEnd();

}  // namespace AscendC::emu
