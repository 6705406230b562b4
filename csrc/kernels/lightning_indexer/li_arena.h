// Lightning Indexer, vector side (AIV): the UB arena its two phases carve their buffers from, by
// bump allocation of 32-byte aligned slices. Each phase starts over (LiVector::CarvePhase1,
// LiMerger::Carve); phase 1's last list may stay in place across SyncAll (LiMerger::EarlyBytes).
#pragma once

#include "../common/host_device.h"
#include "kernel_operator.h"

namespace ascend_glm5 {

class LiArena {
 public:
  __aicore__ inline void Init(AscendC::TPipe& pipe, uint32_t bytes) { pipe.InitBuffer(buf_, bytes); }

  // The next slice starts at byte `offset` (32-byte aligned).
  __aicore__ inline void Seek(uint32_t offset) { used_ = offset; }

  // The next slice's offset.
  __aicore__ inline uint32_t Used() const { return used_; }

  template <typename T>
  __aicore__ inline AscendC::LocalTensor<T> Take(uint32_t elems) {
    AscendC::LocalTensor<T> out = buf_.GetWithOffset<T>(elems, used_);
    used_ += AlignUp(elems * sizeof(T), 32);
    return out;
  }

  // Byte offset of a buffer in the arena.
  __aicore__ inline uint32_t Offset(const AscendC::LocalTensor<float>& t) {
    return static_cast<uint32_t>(reinterpret_cast<uint64_t>(t.GetPhyAddr()) -
                                 reinterpret_cast<uint64_t>(buf_.GetWithOffset<float>(8, 0).GetPhyAddr()));
  }

 private:
  AscendC::TBuf<AscendC::TPosition::VECCALC> buf_;
  uint32_t used_ = 0;
};

}  // namespace ascend_glm5
