// Round-robin buffers guarded by one in-core event per buffer: the reader of buffer s signals
// `evt` when done with it (Release), the next writer of s waits only if that signal is pending.
// Every pending signal is taken back by Drain, so no flag outlives the kernel.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

template <AscendC::HardEvent evt, uint32_t kMax = 4>
class EventSlots {
 public:
  __aicore__ inline void Init(uint32_t count, int32_t firstEventId) {
    count_ = count;
    first_ = firstEventId;
    next_ = 0;
    for (uint32_t s = 0; s < kMax; ++s) busy_[s] = false;
  }
  // The next buffer in round-robin order, once its previous reader is done.
  __aicore__ inline uint32_t Acquire() {
    const uint32_t s = next_;
    next_ = (next_ + 1) % count_;
    Wait(s);
    return s;
  }
  __aicore__ inline void Wait(uint32_t s) {
    if (!busy_[s]) return;
    AscendC::WaitFlag<evt>(first_ + int32_t(s));
    busy_[s] = false;
  }
  __aicore__ inline void Release(uint32_t s) {
    AscendC::SetFlag<evt>(first_ + int32_t(s));
    busy_[s] = true;
  }
  __aicore__ inline void Drain() {
    for (uint32_t s = 0; s < count_; ++s) Wait(s);
  }

 private:
  uint32_t count_ = 1, next_ = 0;
  int32_t first_ = 0;
  bool busy_[kMax] = {};
};

}  // namespace ascend_glm5
