#include "local_memory.h"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace AscendC::emu {
namespace {

using Buffer = std::unique_ptr<uint8_t[]>;

// Free buffers by size. It grows to the largest launch seen (64 AI cores: ~75 MB) and is kept.
std::mutex gPoolMu;
std::map<uint32_t, std::vector<Buffer>>& Pool() {
  static auto* pool = new std::map<uint32_t, std::vector<Buffer>>;  // leaked on purpose: no teardown order at exit
  return *pool;
}

Buffer Take(uint32_t bytes) {
  {
    std::lock_guard<std::mutex> g(gPoolMu);
    auto& free = Pool()[bytes];
    if (!free.empty()) {
      Buffer b = std::move(free.back());
      free.pop_back();
      return b;
    }
  }
  return Buffer(new uint8_t[bytes]);
}

}  // namespace

void AcquireLocalMemory(CoreState& core) {
  for (int m = 0; m < kMemCount; ++m) {
    const MemSpec& s = Spec(static_cast<Mem>(m));
    if (s.onCube != (core.coreType == AIC)) continue;
    core.mem[m] = Take(s.physicalBytes);
    PoisonGm(core.mem[m].get(), s.physicalBytes);
  }
}

void ReleaseLocalMemory(CoreState& core) {
  std::lock_guard<std::mutex> g(gPoolMu);
  for (int m = 0; m < kMemCount; ++m)
    if (core.mem[m]) Pool()[Spec(static_cast<Mem>(m)).physicalBytes].push_back(std::move(core.mem[m]));
}

}  // namespace AscendC::emu
