// Double (or triple) buffered operands of the cube with deferred release, shared by the kernels.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

// Double (or triple) buffered operands with deferred release: the reader signals `evt` when
// done with a buffer, and the next writer of that buffer waits only if it has not yet.
template <AscendC::HardEvent evt>
class BufferSlots {
 public:
  __aicore__ inline void Init(uint32_t count, int32_t firstEventId) {
    count_ = count;
    first_ = firstEventId;
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
  bool busy_[4] = {false, false, false, false};
};

}  // namespace ascend_glm5
