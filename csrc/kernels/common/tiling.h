// Reading a host-computed tiling struct from GM, identically on the NPU and the emulator.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

// Tiling structs are plain arrays of 32-bit fields so host and kernel agree on the layout.
template <typename T>
__aicore__ inline void LoadTiling(T& out, GM_ADDR tiling) {
  static_assert(sizeof(T) % sizeof(uint32_t) == 0, "tiling structs hold 32-bit fields only");
  constexpr uint32_t words = sizeof(T) / sizeof(uint32_t);
  AscendC::GlobalTensor<uint32_t> src;
  src.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(tiling), words);
  uint32_t* dst = reinterpret_cast<uint32_t*>(&out);
  for (uint32_t i = 0; i < words; ++i) dst[i] = src.GetValue(i);
}

// Rows [begin, end) of block `idx` when `rows` are spread as evenly as possible over `blocks`.
__aicore__ inline void SplitEvenly(uint64_t rows, uint32_t blocks, uint32_t idx, uint64_t& begin, uint64_t& end) {
  const uint64_t base = rows / blocks, extra = rows % blocks;
  begin = idx * base + (idx < extra ? idx : extra);
  end = begin + base + (idx < extra ? 1 : 0);
}

}  // namespace ascend_glm5
