// TPipe, TQueBind / TQue and TBuf (include/basic_api/kernel_tpipe.h): local memory handed out with
// the hardware's capacity, count and alignment rules, queues with their EnQue/DeQue order, fresh
// buffers poisoned.
#pragma once

#include <deque>
#include <vector>

#include "tensor.h"

namespace AscendC {

// include/basic_api/../impl/basic_api/kernel_tensor_base.h
enum class TBufState : uint8_t { FREE = 0, OCCUPIED, ENQUE, DEQUE };

namespace emu {
constexpr uint8_t kPoisonPattern[4] = {0xC0, 0xFF, 0xC0, 0xFF};  // 0xFFC0FFC0: NaN as fp32, fp16 and bf16
void Poison(uint8_t* p, uint32_t bytes);
// TQue buffers per TPosition: one event id each, 8 on A2/A3 (TQue简介.md, "TQue Buffer限制").
constexpr uint32_t kMaxQueBuffersPerPosition = 8;
// All buffers of a kernel, TQue and TBuf (InitBuffer.md: "一个kernel中所有使用的Buffer数量之和不能超过64").
constexpr uint32_t kMaxBuffersPerKernel = 64;
// InitBuffer rounds every length up to 32 bytes, in every memory (impl/basic_api/kernel_tpipe_impl.h).
inline uint32_t RoundLen(uint32_t len) { return (len + 31) / 32 * 32; }

// The queue's buffers live where CANN's GetBufferPos puts them (impl/basic_api/kernel_event.h): in
// dst's memory, or src's when dst is GM or CO2. Returns the position that names that memory.
constexpr TPosition BufferPosition(TPosition src, TPosition dst) {
  return (dst == TPosition::GM || dst == TPosition::CO2) ? src : dst;
}
// TQue<pos> is TQueBind<GetBufferLogicPos(pos, true), GetBufferLogicPos(pos, false)> (kernel_event.h).
constexpr TPosition QueSrc(TPosition p) {
  switch (p) {
    case TPosition::A1: case TPosition::B1: case TPosition::C1: case TPosition::VECIN: return TPosition::GM;
    case TPosition::A2: return TPosition::A1;
    case TPosition::B2: return TPosition::B1;
    case TPosition::C2: return TPosition::C1;
    case TPosition::C2PIPE2GM: return TPosition::B1;
    case TPosition::SPM: return TPosition::VECOUT;
    default: return p;  // CO1, CO2, VECOUT
  }
}
constexpr TPosition QueDst(TPosition p) {
  switch (p) {
    case TPosition::CO1: return TPosition::CO2;
    case TPosition::CO2: case TPosition::VECOUT: case TPosition::SPM: return TPosition::GM;
    default: return p;
  }
}

// What the live TPipe of a core has handed out.
class PipeState {
 public:
  // Reserves `num` blocks of `len` bytes at `pos` (`isQue`: TQue buffers, which hold event ids);
  // returns the first block's address.
  uint32_t Reserve(const char* api, TPosition pos, uint32_t num, uint32_t len, bool isQue);
  void Reset();

 private:
  std::array<uint32_t, kMemCount> used_{};                                  // bytes per memory
  std::array<uint32_t, static_cast<int>(TPosition::MAX)> queBuffers_{};   // TQue buffers per position
  uint32_t buffers_ = 0;                                                    // all buffers
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

  template <class T>
  bool InitBuffer(T& que, uint8_t num, uint32_t len) {
    static_assert(T::isTQue, "TPipe::InitBuffer(T& que, uint8_t num, uint32_t len) not supports T as TBuf");
    // CANN 8.5 refuses a queue without a local buffer here, at InitBuffer (declaring one compiles).
    static_assert(T::kBufferPos != TPosition::GM && T::kBufferPos != TPosition::CO2 && T::kBufferPos != TPosition::MAX,
                  "TQue/TQueBind: this position has no local buffer on A2/A3 (CO2 is GM there)");
    const uint32_t rounded = emu::RoundLen(len);
    que.EmuInit(state_.Reserve("TPipe::InitBuffer", T::kBufferPos, num, rounded, true), num, rounded);
    return true;
  }
  template <TPosition pos>
  bool InitBuffer(TBuf<pos>& buf, uint32_t len);

  template <HardEvent evt> TEventID AllocEventID() { return nextEvent_[static_cast<int>(evt)]++ & 7; }
  template <HardEvent evt> void ReleaseEventID(TEventID) {}
  template <HardEvent evt> TEventID FetchEventID() { return nextEvent_[static_cast<int>(evt)] & 7; }
  TEventID FetchEventID(HardEvent evt) { return nextEvent_[static_cast<int>(evt)] & 7; }

  emu::PipeState& EmuState() { return state_; }

 private:
  emu::PipeState state_;
  std::array<uint8_t, static_cast<int>(HardEvent::MAX)> nextEvent_{};
};

// `num` equal buffers moving from src to dst; depth bounds how many may sit in the queue at once.
template <TPosition src, TPosition dst, int32_t depth, auto mask = 0>
class TQueBind {
 public:
  static constexpr bool isTQue = true;
  static constexpr TPosition srcPosition = src;
  static constexpr TPosition dstPosition = dst;
  static constexpr TPosition kBufferPos = emu::BufferPosition(src, dst);

  TQueBind() = default;

  // depth 0 queues work in place: AllocTensor(t) / DeQue(t); the others return tensors (kernel_tquebind_impl.h).
  template <typename T>
  LocalTensor<T> AllocTensor() {
    static_assert(depth != 0, "must use AllocTensor<LocalTensor&> api while tque's depth is zero");
    return Alloc<T>();
  }
  template <typename T>
  void AllocTensor(LocalTensor<T>& tensor) {
    static_assert(depth == 0, "can not AllocTensor in place while tque's depth is non zero");
    tensor = Alloc<T>();
  }
  template <typename T>
  void FreeTensor(LocalTensor<T>& tensor) {
    const uint32_t i = Slot("TQue::FreeTensor", tensor);
    EMU_REQUIRE(state_[i] == TBufState::OCCUPIED || state_[i] == TBufState::DEQUE, "TQue::FreeTensor", "queue-state",
                "buffer %u is %s, not held", i, StateName(state_[i]));
    state_[i] = TBufState::FREE;
    TraceQueue(emu::TraceOp::kSetFlag, kFreeEvent, i);
  }
  template <typename T>
  bool EnQue(const LocalTensor<T>& tensor) {
    const uint32_t i = Slot("TQue::EnQue", tensor);
    EMU_REQUIRE(state_[i] == TBufState::OCCUPIED || state_[i] == TBufState::DEQUE, "TQue::EnQue", "queue-state",
                "buffer %u is %s, not held", i, StateName(state_[i]));
    EMU_REQUIRE(fifo_.size() < Capacity(), "TQue::EnQue", "queue-state", "queue depth %d is full", depth);
    state_[i] = TBufState::ENQUE;
    fifo_.push_back(i);
    TraceQueue(emu::TraceOp::kSetFlag, kEnQueEvent, i);
    return true;
  }
  template <typename T>
  LocalTensor<T> DeQue() {
    static_assert(depth != 0, "must use DeQue<LocalTensor&> api while tque's depth is zero");
    EMU_REQUIRE(!fifo_.empty(), "TQue::DeQue", "queue-state",
                "DeQue on an empty %s queue: nothing was EnQue'd (the NPU would hang)", emu::PositionName(kBufferPos));
    const uint32_t i = fifo_.front();
    fifo_.pop_front();
    state_[i] = TBufState::DEQUE;
    emu::Core().counters.syncWaits++;
    TraceQueue(emu::TraceOp::kWaitFlag, kEnQueEvent, i);
    return Tensor<T>(i);
  }
  // In place: waits for this tensor's EnQue.
  template <typename T>
  void DeQue(LocalTensor<T>& tensor) {
    static_assert(depth == 0, "can not DeQue tensor in place while tque's depth is non zero");
    const uint32_t i = Slot("TQue::DeQue", tensor);
    EMU_REQUIRE(state_[i] == TBufState::ENQUE, "TQue::DeQue", "queue-state",
                "buffer %u is %s: it was not EnQue'd (the NPU would hang)", i, StateName(state_[i]));
    for (auto it = fifo_.begin(); it != fifo_.end(); ++it)
      if (*it == i) {
        fifo_.erase(it);
        break;
      }
    state_[i] = TBufState::DEQUE;
    emu::Core().counters.syncWaits++;
    TraceQueue(emu::TraceOp::kWaitFlag, kEnQueEvent, i);
  }
  bool VacantInQue() {
    static_assert(depth != 0, "VacantInQue api is not supported while depth is zero");
    return fifo_.size() < Capacity();
  }
  bool HasTensorInQue() {
    static_assert(depth != 0, "HasTensorInQue api is not supported while depth is zero");
    return !fifo_.empty();
  }
  int32_t GetTensorCountInQue() {
    static_assert(depth != 0, "GetTensorCountInQue api is not supported while depth is zero");
    return static_cast<int32_t>(fifo_.size());
  }
  bool HasIdleBuffer() {
    static_assert(depth != 0, "HasIdleBuffer api is not supported while depth is zero");
    for (uint32_t i = 0; i < num_; ++i)
      if (state_[i] == TBufState::FREE) return true;
    return false;
  }
  void FreeAllEvent() { static_assert(depth != 0, "can not use FreeAllEvent api while depth is zero"); }  // ids not modelled
  template <typename T>
  TBufState GetState(const LocalTensor<T>& tensor) const { return state_[Slot("TQue::GetState", tensor)]; }

  void EmuInit(uint32_t base, uint32_t num, uint32_t len) {
    base_ = base;
    num_ = num;
    len_ = len;
    state_.assign(num, TBufState::FREE);
    fifo_.clear();
    freedOnce_.assign(num, false);
    cursor_ = 0;
    traceToken_ = emu::Core().nextQueueToken;
    emu::Core().nextQueueToken += 2 * num;
  }

 private:
  template <typename T>
  LocalTensor<T> Alloc() {
    EMU_REQUIRE(num_ > 0, "TQue::AllocTensor", "queue-state", "queue at %s was not initialised with TPipe::InitBuffer",
                emu::PositionName(kBufferPos));
    // Buffers are probed round-robin from a cursor, as CANN's AllocBuffer does (kernel_tquebind_impl.h),
    // so double buffering alternates between the buffers.
    for (uint32_t probe = 0; probe < num_; ++probe) {
      const uint32_t i = cursor_;
      cursor_ = cursor_ + 1 == num_ ? 0 : cursor_ + 1;
      if (state_[i] == TBufState::FREE) {
        state_[i] = TBufState::OCCUPIED;
        if (freedOnce_[i]) TraceQueue(emu::TraceOp::kWaitFlag, kFreeEvent, i);  // waits for the last FreeTensor
        const uint32_t a = base_ + i * len_;
        if (emu::HasMem(emu::MemOf(kBufferPos))) emu::Poison(emu::MemBase(emu::MemOf(kBufferPos)) + a, len_);
        return Tensor<T>(i);
      }
    }
    emu::Fail("TQue::AllocTensor", "queue-state",
              emu::Format("all %u buffers of the %s queue are in use: FreeTensor one first (the NPU would hang)", num_,
                          emu::PositionName(kBufferPos)));
  }

  // The events CANN's EnQue/DeQue and FreeTensor/AllocTensor set and wait (kernel_tquebind_impl.h),
  // recorded for the timing model and the happens-before check with a per-buffer token in place of
  // the hardware event id.
  static constexpr HardEvent kEnQueEvent = emu::QueEvent(src, dst, true);
  static constexpr HardEvent kFreeEvent = emu::QueEvent(src, dst, false);
  void TraceQueue(emu::TraceOp op, HardEvent e, uint32_t i) {
    if (e == HardEvent::MAX) return;
    if (e == kFreeEvent && op == emu::TraceOp::kSetFlag) freedOnce_[i] = true;
    emu::TraceFlag(op, e, traceToken_ + 2 * i + (e == kFreeEvent ? 1 : 0));
  }

  static const char* StateName(TBufState s) {
    return s == TBufState::FREE ? "free" : s == TBufState::ENQUE ? "queued" : "held";
  }
  size_t Capacity() const { return static_cast<size_t>(depth > 0 ? depth : num_); }
  template <typename T>
  LocalTensor<T> Tensor(uint32_t i) const {
    const uint32_t a = base_ + i * len_;
    return LocalTensor<T>::Make(kBufferPos, a, a, a + len_, static_cast<uint32_t>(uint64_t(len_) * 8 / emu::kBits<T>));
  }
  template <typename T>
  uint32_t Slot(const char* api, const LocalTensor<T>& t) const {
    const uint32_t a = t.EmuAddr();
    EMU_REQUIRE(num_ > 0 && t.EmuMem() == emu::MemOf(kBufferPos) && a >= base_ && a < base_ + num_ * len_ &&
                    (a - base_) % len_ == 0,
                api, "queue-state", "tensor at %s address %u is not a buffer of this queue",
                emu::Spec(t.EmuMem()).name, a);
    return (a - base_) / len_;
  }
  uint32_t base_ = 0, num_ = 0, len_ = 0;
  std::vector<TBufState> state_;
  std::deque<uint32_t> fifo_;
  std::vector<bool> freedOnce_;  // tracing: buffers freed at least once (their AllocTensor waits)
  uint32_t traceToken_ = 0;
  uint32_t cursor_ = 0;  // next buffer AllocTensor probes
};

template <TPosition pos, int32_t depth, auto mask = 0>
class TQue : public TQueBind<emu::QueSrc(pos), emu::QueDst(pos), depth, mask> {
 public:
  TQue() = default;
};

template <TPosition pos, int32_t depth = 1, auto mask = 0>
using TSCM = TQueBind<pos, TPosition::TSCM, depth, mask>;

// One scratch buffer at a position, sliced by the kernel. A tensor it hands out is bounded by its
// slice, in whole 32-byte blocks as every local buffer is: Get<T>() the whole buffer, Get<T>(len)
// the first len elements, GetWithOffset(size, bufOffset) the window at bufOffset.
template <TPosition pos>
class TBuf {
 public:
  static constexpr bool isTQue = false;
  TBuf() = default;
  template <typename T>
  LocalTensor<T> Get() {
    Require("TBuf::Get");
    return LocalTensor<T>::Make(pos, base_, base_, base_ + len_, static_cast<uint32_t>(uint64_t(len_) * 8 / emu::kBits<T>));
  }
  template <typename T>
  LocalTensor<T> Get(uint32_t len) {
    Require("TBuf::Get");
    const uint64_t bytes = (uint64_t(len) * emu::kBits<T> + 7) / 8;
    EMU_REQUIRE(bytes <= len_, "TBuf::Get", "local-bounds", "%u elements exceed the %u-byte TBuf", len, len_);
    return LocalTensor<T>::Make(pos, base_, base_, base_ + emu::RoundLen(static_cast<uint32_t>(bytes)), len);
  }
  template <typename T>
  LocalTensor<T> GetWithOffset(uint32_t size, uint32_t bufOffset) {
    Require("TBuf::GetWithOffset");
    EMU_REQUIRE(bufOffset % 32 == 0, "TBuf::GetWithOffset", "alignment", "bufOffset %u is not 32-byte aligned", bufOffset);
    const uint64_t end = bufOffset + emu::RoundLen(static_cast<uint32_t>((uint64_t(size) * emu::kBits<T> + 7) / 8));
    EMU_REQUIRE(end <= len_, "TBuf::GetWithOffset", "local-bounds", "[%u, %llu) exceeds the %u-byte TBuf", bufOffset,
                (unsigned long long)end, len_);
    return LocalTensor<T>::Make(pos, base_ + bufOffset, base_ + bufOffset, base_ + static_cast<uint32_t>(end), size);
  }
  void EmuInit(uint32_t base, uint32_t len) {
    base_ = base;
    len_ = len;
    if (emu::HasMem(emu::MemOf(pos))) emu::Poison(emu::MemBase(emu::MemOf(pos)) + base, len);
  }

 private:
  void Require(const char* api) const {
    EMU_REQUIRE(len_ > 0, api, "queue-state", "TBuf at %s was not initialised", emu::PositionName(pos));
  }
  uint32_t base_ = 0, len_ = 0;
};

template <TPosition pos>
bool TPipe::InitBuffer(TBuf<pos>& buf, uint32_t len) {
  const uint32_t rounded = emu::RoundLen(len);
  buf.EmuInit(state_.Reserve("TPipe::InitBuffer", pos, 1, rounded, false), rounded);
  return true;
}

}  // namespace AscendC

// Global in CANN (include/basic_api/kernel_common.h): the TPipe alive on this core.
inline AscendC::TPipe* GetTPipePtr() { return static_cast<AscendC::TPipe*>(AscendC::emu::Core().pipe); }
