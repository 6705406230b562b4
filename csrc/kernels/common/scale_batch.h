// Per-row fp32 values (a quantizer's scales) of consecutive rows, set one by one by the scalar unit
// into a UB batch and written to GM a batch at a time: one DataCopyPad per `capacity` rows instead
// of one per row. The S <-> MTE3 waits use event id 0.
#pragma once

#include "kernel_operator.h"
#include "gm_copy.h"

namespace ascend_glm5 {

class ScaleBatchWriter {
 public:
  // dst: the values of all rows (row r at dst[r]); batch: `capacity` floats of UB.
  __aicore__ inline void Init(const AscendC::GlobalTensor<float>& dst, const AscendC::LocalTensor<float>& batch,
                              uint32_t capacity) {
    dst_ = dst;
    batch_ = batch;
    capacity_ = capacity;
    count_ = 0;
    written_ = false;
  }

  // The value of `row`; rows come in increasing order, without gaps between Flushes.
  __aicore__ inline void Push(uint64_t row, float value) {
    if (count_ == 0) {
      first_ = row;
      if (written_) {  // the previous batch's copy-out must finish before the batch is overwritten
        AscendC::SetFlag<AscendC::HardEvent::MTE3_S>(0);
        AscendC::WaitFlag<AscendC::HardEvent::MTE3_S>(0);
      }
    }
    batch_.SetValue(count_++, value);
    if (count_ == capacity_) Flush();
  }

  // Writes what is gathered; call once more after the last Push.
  __aicore__ inline void Flush() {
    if (count_ == 0) return;
    AscendC::SetFlag<AscendC::HardEvent::S_MTE3>(0);
    AscendC::WaitFlag<AscendC::HardEvent::S_MTE3>(0);
    CopyUbToGm(dst_[first_], batch_, count_);
    count_ = 0;
    written_ = true;
  }

 private:
  AscendC::GlobalTensor<float> dst_;
  AscendC::LocalTensor<float> batch_;
  uint64_t first_ = 0;
  uint32_t capacity_ = 1, count_ = 0;
  bool written_ = false;
};

}  // namespace ascend_glm5
