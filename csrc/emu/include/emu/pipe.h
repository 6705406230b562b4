// TPipe, TQue and TBuf: local memory handed out with the hardware's capacity, count and
// alignment rules, queues with their EnQue/DeQue order, fresh buffers poisoned.
#pragma once

#include <deque>
#include <vector>

#include "tensor.h"

namespace AscendC {

namespace emu {
constexpr uint8_t kPoisonPattern[4] = {0xC0, 0xFF, 0xC0, 0xFF};  // 0xFFC0FFC0: NaN as fp32, fp16 and bf16
void Poison(uint8_t* p, uint32_t bytes);
constexpr uint32_t kMaxBuffersPerPosition = 8;
// InitBuffer lengths round up to the memory's alignment (32 B in UB/L1, 512 B in L0A/L0B, 64 B in L0C).
inline uint32_t RoundLen(TPosition pos, uint32_t len) {
  const uint32_t a = Spec(MemOf(pos)).alignBytes;
  return (len + a - 1) / a * a;
}

// What the live TPipe of a core has handed out.
class PipeState {
 public:
  // Reserves `num` blocks of `len` bytes at `pos`; returns the first block's address.
  uint32_t Reserve(const char* api, TPosition pos, uint32_t num, uint32_t len);
  void Reset();

 private:
  std::array<uint32_t, kMemCount> used_{};                                  // bytes per memory
  std::array<uint32_t, static_cast<int>(TPosition::MAX)> buffers_{};      // buffers per position
};
PipeState& CurrentPipe(const char* api);
}  // namespace emu

template <TPosition pos = TPosition::LCM>
class TBuf;

class TPipe {
 public:
  TPipe();
  ~TPipe();
  TPipe(const TPipe&) = delete;
  TPipe& operator=(const TPipe&) = delete;
  void Init() {}
  void Destroy() { state_.Reset(); }
  void Reset() { state_.Reset(); }

  template <class Q>
  bool InitBuffer(Q& que, uint8_t num, uint32_t len) {
    const uint32_t rounded = emu::RoundLen(Q::kPosition, len);
    que.EmuInit(state_.Reserve("TPipe::InitBuffer", Q::kPosition, num, rounded), num, rounded);
    return true;
  }
  template <TPosition pos>
  bool InitBuffer(TBuf<pos>& buf, uint32_t len);

  template <HardEvent evt> TEventID AllocEventID() { return nextEvent_[static_cast<int>(evt)]++ & 7; }
  template <HardEvent evt> void ReleaseEventID(TEventID) {}
  template <HardEvent evt> TEventID FetchEventID() { return nextEvent_[static_cast<int>(evt)] & 7; }

  emu::PipeState& EmuState() { return state_; }

 private:
  emu::PipeState state_;
  std::array<uint8_t, static_cast<int>(HardEvent::MAX)> nextEvent_{};
};

// A queue of `num` equal buffers at one position. depth bounds how many may sit in the queue.
template <TPosition pos, int32_t depth, auto mask = 0>
class TQue {
 public:
  static constexpr TPosition kPosition = pos;

  template <typename T>
  LocalTensor<T> AllocTensor() {
    EMU_REQUIRE(num_ > 0, "TQue::AllocTensor", "queue-state", "queue at %s was not initialised with TPipe::InitBuffer",
                emu::PositionName(pos));
    for (uint32_t i = 0; i < num_; ++i) {
      if (state_[i] == kFree) {
        state_[i] = kHeld;
        const uint32_t a = base_ + i * len_;
        emu::Poison(emu::MemBase(emu::MemOf(pos)) + a, len_);
        return LocalTensor<T>::Make(pos, a, a, a + len_, static_cast<uint32_t>(uint64_t(len_) * 8 / emu::kBits<T>));
      }
    }
    emu::Fail("TQue::AllocTensor", "queue-state",
              emu::Format("all %u buffers of the %s queue are in use: FreeTensor one first (the NPU would hang)", num_,
                          emu::PositionName(pos)));
  }
  template <typename T>
  void FreeTensor(LocalTensor<T>& t) {
    uint32_t i = Slot("TQue::FreeTensor", t);
    EMU_REQUIRE(state_[i] == kHeld, "TQue::FreeTensor", "queue-state", "buffer %u is %s, not held", i, StateName(state_[i]));
    state_[i] = kFree;
  }
  template <typename T>
  bool EnQue(const LocalTensor<T>& t) {
    uint32_t i = Slot("TQue::EnQue", t);
    EMU_REQUIRE(state_[i] == kHeld, "TQue::EnQue", "queue-state", "buffer %u is %s, not held", i, StateName(state_[i]));
    EMU_REQUIRE(fifo_.size() < static_cast<size_t>(depth > 0 ? depth : num_), "TQue::EnQue", "queue-state",
                "queue depth %d is full", depth);
    state_[i] = kQueued;
    fifo_.push_back(i);
    return true;
  }
  template <typename T>
  LocalTensor<T> DeQue() {
    EMU_REQUIRE(!fifo_.empty(), "TQue::DeQue", "queue-state",
                "DeQue on an empty %s queue: nothing was EnQue'd (the NPU would hang)", emu::PositionName(pos));
    const uint32_t i = fifo_.front();
    fifo_.pop_front();
    state_[i] = kHeld;
    emu::Core().counters.syncWaits++;
    const uint32_t a = base_ + i * len_;
    return LocalTensor<T>::Make(pos, a, a, a + len_, static_cast<uint32_t>(uint64_t(len_) * 8 / emu::kBits<T>));
  }
  bool VacantInQue() const { return fifo_.size() < static_cast<size_t>(depth > 0 ? depth : num_); }
  bool HasTensorInQue() const { return !fifo_.empty(); }
  bool HasIdleBuffer() const {
    for (uint32_t i = 0; i < num_; ++i) if (state_[i] == kFree) return true;
    return false;
  }

  void EmuInit(uint32_t base, uint32_t num, uint32_t len) {
    base_ = base;
    num_ = num;
    len_ = len;
    state_.assign(num, kFree);
    fifo_.clear();
  }

 private:
  enum State : uint8_t { kFree, kHeld, kQueued };
  static const char* StateName(State s) { return s == kFree ? "free" : s == kHeld ? "held" : "queued"; }
  template <typename T>
  uint32_t Slot(const char* api, const LocalTensor<T>& t) const {
    const uint32_t a = t.EmuAddr();
    EMU_REQUIRE(num_ > 0 && a >= base_ && a < base_ + num_ * len_ && (a - base_) % len_ == 0, api, "queue-state",
                "tensor at %s address %u is not a buffer of this queue", emu::PositionName(pos), a);
    return (a - base_) / len_;
  }
  uint32_t base_ = 0, num_ = 0, len_ = 0;
  std::vector<State> state_;
  std::deque<uint32_t> fifo_;
};

template <TPosition pos, int32_t depth>
using TQueBind = TQue<pos, depth>;

// One scratch buffer at a position, sliced by the kernel.
template <TPosition pos>
class TBuf {
 public:
  static constexpr TPosition kPosition = pos;
  template <typename T>
  LocalTensor<T> Get() const {
    EMU_REQUIRE(len_ > 0, "TBuf::Get", "queue-state", "TBuf at %s was not initialised", emu::PositionName(pos));
    return LocalTensor<T>::Make(pos, base_, base_, base_ + len_, static_cast<uint32_t>(uint64_t(len_) * 8 / emu::kBits<T>));
  }
  template <typename T>
  LocalTensor<T> Get(uint32_t len) const {
    EMU_REQUIRE(emu::ElemBytes<T>(len) <= len_, "TBuf::Get", "local-bounds", "%u elements exceed the %u-byte TBuf", len, len_);
    auto t = Get<T>();
    t.SetSize(len);
    return t;
  }
  template <typename T>
  LocalTensor<T> GetWithOffset(uint32_t size, uint32_t bufOffset) const {
    EMU_REQUIRE(bufOffset % 32 == 0, "TBuf::GetWithOffset", "alignment", "bufOffset %u is not 32-byte aligned", bufOffset);
    EMU_REQUIRE(bufOffset + emu::ElemBytes<T>(size) <= len_, "TBuf::GetWithOffset", "local-bounds",
                "[%u, %llu) exceeds the %u-byte TBuf", bufOffset, (unsigned long long)(bufOffset + emu::ElemBytes<T>(size)), len_);
    return LocalTensor<T>::Make(pos, base_ + bufOffset, base_, base_ + len_, size);
  }
  void EmuInit(uint32_t base, uint32_t len) {
    base_ = base;
    len_ = len;
    emu::Poison(emu::MemBase(emu::MemOf(pos)) + base, len);
  }

 private:
  uint32_t base_ = 0, len_ = 0;
};

template <TPosition pos>
bool TPipe::InitBuffer(TBuf<pos>& buf, uint32_t len) {
  const uint32_t rounded = emu::RoundLen(pos, len);
  buf.EmuInit(state_.Reserve("TPipe::InitBuffer", pos, 1, rounded), rounded);
  return true;
}

}  // namespace AscendC

// Global in CANN (include/basic_api/kernel_common.h): the TPipe alive on this core.
inline AscendC::TPipe* GetTPipePtr() { return static_cast<AscendC::TPipe*>(AscendC::emu::Core().pipe); }
