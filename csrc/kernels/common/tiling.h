// Reading a host-computed tiling struct from GM, identically on the NPU and the emulator.
#pragma once

#include "kernel_operator.h"
#include "host_device.h"

namespace ascend_glm5 {

// Tiling structs are read as plain arrays of 32-bit words so host and kernel agree on the layout
// (a word may hold two 16-bit fields).
template <typename T>
__aicore__ inline void LoadTilingWords(T& out, GM_ADDR tiling, uint32_t first, uint32_t count) {
  static_assert(sizeof(T) % sizeof(uint32_t) == 0, "tiling structs are whole 32-bit words");
  AscendC::GlobalTensor<uint32_t> src;
  src.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(tiling), sizeof(T) / sizeof(uint32_t));
  uint32_t* dst = reinterpret_cast<uint32_t*>(&out);
  for (uint32_t i = first; i < first + count; ++i) dst[i] = src.GetValue(i);
}

// The whole tiling with scalar reads: each 64-byte line of it is one DataCache miss.
template <typename T>
__aicore__ inline void LoadTiling(T& out, GM_ADDR tiling) {
  LoadTilingWords(out, tiling, 0, sizeof(T) / sizeof(uint32_t));
}

// Vector cores: the whole tiling through UB in one copy, which pays one GM latency instead of a
// scalar miss per 64-byte line. With `preread`, the scalar unit reads that GM line (e.g. a group
// list the core reads next) while the copy is in flight, so its DataCache miss overlaps the copy's
// latency instead of following it. Leaves `pipe` reset.
template <typename T>
__aicore__ inline void LoadTilingThroughUb(AscendC::TPipe& pipe, T& out, GM_ADDR tiling, GM_ADDR preread = nullptr) {
  using namespace AscendC;
  static_assert(sizeof(T) % sizeof(uint32_t) == 0, "tiling structs are whole 32-bit words");
  constexpr uint32_t words = sizeof(T) / sizeof(uint32_t);
  TBuf<TPosition::VECCALC> buf;
  pipe.InitBuffer(buf, (sizeof(T) + 31) / 32 * 32);
  GlobalTensor<uint32_t> src;
  src.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(tiling), words);
  const LocalTensor<uint32_t> ub = buf.Get<uint32_t>();
  DataCopyPad(ub, src, DataCopyExtParams(1, sizeof(T), 0, 0, 0), DataCopyPadExtParams<uint32_t>(false, 0, 0, 0));
  if (preread != nullptr) {
    GlobalTensor<uint32_t> line;
    line.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(preread), 1);
    volatile uint32_t sink = line.GetValue(0);  // kept: only the DataCache fill matters
    (void)sink;
  }
  SetFlag<HardEvent::MTE2_S>(0);
  WaitFlag<HardEvent::MTE2_S>(0);
  uint32_t* dst = reinterpret_cast<uint32_t*>(&out);
  for (uint32_t i = 0; i < words; ++i) dst[i] = ub.GetValue(i);
  // The buffer is free for the copies and vector work that follow once the reads are done.
  SetFlag<HardEvent::S_MTE2>(0);
  WaitFlag<HardEvent::S_MTE2>(0);
  SetFlag<HardEvent::S_V>(0);
  WaitFlag<HardEvent::S_V>(0);
  pipe.Reset();
}

// Rows [begin, end) of block `idx` when `rows` are spread as evenly as possible over `blocks`.
__aicore__ inline void SplitEvenly(uint64_t rows, uint32_t blocks, uint32_t idx, uint64_t& begin, uint64_t& end) {
  const uint64_t base = rows / blocks, extra = rows % blocks;
  begin = idx * base + (idx < extra ? idx : extra);
  end = begin + base + (idx < extra ? 1 : 0);
}

}  // namespace ascend_glm5
