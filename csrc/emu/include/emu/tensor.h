// GlobalTensor (GM) and LocalTensor (UB / L1 / L0*) with every access checked.
#pragma once

#include <cstring>
#include <type_traits>

#include "data_cache.h"
#include "fp_types.h"
#include "runtime.h"
#include "trace.h"

namespace AscendC {

namespace emu {
// The physical memory a TPosition lives in on A2/A3.
constexpr Mem MemOf(TPosition p) {
  switch (p) {
    case TPosition::A1: case TPosition::B1: case TPosition::C1: case TPosition::TSCM: return Mem::L1;
    case TPosition::A2: return Mem::L0A;
    case TPosition::B2: return Mem::L0B;
    case TPosition::CO1: return Mem::L0C;
    case TPosition::C2: return Mem::BT;
    case TPosition::C2PIPE2GM: return Mem::FB;
    default: return Mem::UB;
  }
}
const char* PositionName(TPosition p);
}  // namespace emu

// A local buffer's address as CANN describes it (impl/basic_api/kernel_tensor_base.h); the
// emulator reads logicPos, bufferAddr (byte offset in the position's memory) and dataLen (bytes).
using TBufHandle = uint8_t*;
struct TBuffAddr {
  uint32_t dataLen;
  uint32_t bufferAddr;
  TBufHandle bufferHandle;
  uint8_t logicPos;
  uint8_t* absAddr;  // CPU-debug only; unused here
};

// impl/basic_api/utils/kernel_utils_macros.h
enum class CacheMode { CACHE_MODE_DISABLE = 0, CACHE_MODE_NORMAL = 1, CACHE_MODE_LAST = 2, CACHE_MODE_PERSISTENT = 4 };
enum class CacheRwMode { READ = 1, WRITE = 2, RW = 3 };

// include/basic_api/kernel_tensor.h (no ReinterpretCast on A2/A3: CANN has it only for arch 3101/5102).
template <typename T>
class GlobalTensor {
 public:
  using PrimType = T;
  GlobalTensor() = default;

  void SetGlobalBuffer(__gm__ T* buffer, uint64_t bufferSize) {
    addr_ = buffer;
    bufferSize_ = bufferSize;
  }
  void SetGlobalBuffer(__gm__ T* buffer) { SetGlobalBuffer(buffer, 0); }
  const __gm__ T* GetPhyAddr() const { return addr_; }
  __gm__ T* GetPhyAddr(const uint64_t offset) const { return (*this)[offset].addr_; }
  uint64_t GetSize() const { return bufferSize_; }

  GlobalTensor operator[](const uint64_t offset) const {
    GlobalTensor t = *this;
    t.addr_ = reinterpret_cast<T*>(reinterpret_cast<uint8_t*>(addr_) + emu::ElemBytes<T>(offset));
    t.bufferSize_ = bufferSize_ > offset ? bufferSize_ - offset : 0;
    return t;
  }

  // A packed sub-byte element (int4b_t) compiles with CANN 8.5 (no type check in its GlobalTensor /
  // LocalTensor scalar access); the emulator does not model it and fails such a call when it runs.
  T GetValue(const uint64_t offset) const {
    EMU_REQUIRE(emu::kBits<T> % 8 == 0, "GlobalTensor::GetValue", "not-emulated", "packed sub-byte GM");
    Check("GlobalTensor::GetValue", offset, 1);
    emu::Core().counters.scalarOps++;
    emu::TraceScalar(true, false, addr_ + offset, sizeof(T));
    T v;
    emu::ScalarGmRead(addr_ + offset, &v, sizeof(T));  // through the core's DataCache (emu/data_cache.h)
    return v;
  }
  __gm__ T& operator()(const uint64_t offset) const {
    EMU_REQUIRE(emu::kBits<T> % 8 == 0, "GlobalTensor::operator()", "not-emulated", "packed sub-byte GM");
    Check("GlobalTensor::operator()", offset, 1);
    emu::Core().counters.scalarOps++;
    emu::NoteGm(addr_ + offset, sizeof(T), true, false);  // the reference may be written through (emu/hazard.h)
    emu::IssueOn("GlobalTensor::operator()", PIPE_S);
    emu::TraceScalar(true, false, addr_ + offset);
    return *static_cast<T*>(emu::ScalarGmRef(addr_ + offset, sizeof(T)));
  }
  void SetValue(const uint64_t offset, T value) {
    EMU_REQUIRE(emu::kBits<T> % 8 == 0, "GlobalTensor::SetValue", "not-emulated", "packed sub-byte GM");
    Check("GlobalTensor::SetValue", offset, 1);
    emu::Core().counters.scalarOps++;
    emu::TraceScalar(true, true, addr_ + offset, sizeof(T));
    emu::ScalarGmWrite(addr_ + offset, &value, sizeof(T));
  }
  template <CacheRwMode rwMode = CacheRwMode::RW>
  void SetL2CacheHint(CacheMode mode) { cacheMode_ = mode; }

  // ---- for the emulator's API implementations ------------------------------------------------
  __gm__ T* EmuPtr() const { return addr_; }
  // [offset, offset+count) elements must be inside the registered GM and the declared size.
  void Check(const char* api, uint64_t offset, uint64_t count) const {
    EMU_REQUIRE(addr_ != nullptr, api, "gm-bounds", "GlobalTensor has no buffer (SetGlobalBuffer not called)");
    EMU_REQUIRE(bufferSize_ == 0 || offset + count <= bufferSize_, api, "gm-bounds",
                "elements [%llu, %llu) beyond the GlobalTensor's bufferSize %llu", (unsigned long long)offset,
                (unsigned long long)(offset + count), (unsigned long long)bufferSize_);
    emu::CheckGm(api, reinterpret_cast<uint8_t*>(addr_) + emu::ElemBytes<T>(offset), emu::ElemBytes<T>(count));
  }

  uint64_t bufferSize_ = 0;  // elements; 0 = not declared (public in CANN too)
  CacheMode cacheMode_ = CacheMode::CACHE_MODE_NORMAL;

 private:
  T* addr_ = nullptr;
};

namespace emu {
// The same GM seen as another element type, for the emulator's own int4b_t paths that run b8
// instructions (kernels have no GlobalTensor::ReinterpretCast on A2/A3).
template <typename U, typename T>
GlobalTensor<U> GmAs(const GlobalTensor<T>& g) {
  GlobalTensor<U> r;
  r.SetGlobalBuffer(reinterpret_cast<__gm__ U*>(g.EmuPtr()), g.GetSize() * kBits<T> / kBits<U>);
  return r;
}
}  // namespace emu

// A view of local memory. Remembers the allocation it came from so that every access can be
// checked against it, not merely against the physical buffer.
template <typename T>
class LocalTensor {
 public:
  using PrimType = T;
  LocalTensor() = default;
  // Raw address form: [addr, addr + tileSize elements) of the position's memory (kernels may use all
  // of UB and L1: runtime/memory.cpp).
  LocalTensor(TPosition pos, uint32_t addr, uint32_t tileSize)
      : pos_(pos), addr_(addr), allocBegin_(addr), allocEnd_(addr + static_cast<uint32_t>(emu::ElemBytes<T>(tileSize))),
        size_(tileSize) {
    const uint64_t end = uint64_t(addr) + emu::ElemBytes<T>(tileSize);
    EMU_REQUIRE(end <= emu::Spec(emu::MemOf(pos)).physicalBytes && tileSize > 0, "LocalTensor", "local-bounds",
                "raw tensor [%u, %llu) of %s is outside the %u bytes kernels may use", addr, (unsigned long long)end,
                emu::Spec(emu::MemOf(pos)).name, emu::Spec(emu::MemOf(pos)).physicalBytes);
  }

  // Internal constructor used by TQue/TBuf.
  static LocalTensor Make(TPosition pos, uint32_t addr, uint32_t allocBegin, uint32_t allocEnd, uint32_t size) {
    LocalTensor t;
    t.pos_ = pos;
    t.addr_ = addr;
    t.allocBegin_ = allocBegin;
    t.allocEnd_ = allocEnd;
    t.size_ = size;
    return t;
  }

  LocalTensor operator[](const uint32_t offset) const {
    if constexpr (emu::kBits<T> < 8) {
      EMU_REQUIRE(offset % (8 / emu::kBits<T>) == 0, "LocalTensor::operator[]", "alignment",
                  "int4b_t offset %u must be even", offset);
    }
    LocalTensor t = *this;
    t.addr_ = addr_ + static_cast<uint32_t>(emu::ElemBytes<T>(offset));
    t.size_ = size_ > offset ? size_ - offset : 0;
    return t;
  }
  template <typename U>
  LocalTensor<U> ReinterpretCast() const {
    auto t = LocalTensor<U>::Make(pos_, addr_, allocBegin_, allocEnd_,
                                  static_cast<uint32_t>(uint64_t(size_) * emu::kBits<T> / emu::kBits<U>));
    return t;
  }

  T GetValue(const uint32_t index) const {
    CheckAccess("LocalTensor::GetValue", index, 1);
    emu::Core().counters.scalarOps++;
    NoteElement(index, false);
    emu::TraceScalar(false, false);
    if constexpr (emu::kBits<T> == 4) {
      const uint8_t byte = Data()[emu::ElemBytes<T>(index)];
      return T((index & 1) ? (byte >> 4) : (byte & 0xF));
    } else {
      T v;
      std::memcpy(&v, Data() + emu::ElemBytes<T>(index), sizeof(T));
      return v;
    }
  }
  template <typename S>
  void SetValue(const uint32_t index, const S value) const {
    CheckAccess("LocalTensor::SetValue", index, 1);
    emu::Core().counters.scalarOps++;
    NoteElement(index, true);
    emu::TraceScalar(false, true);
    const T v = static_cast<T>(value);
    if constexpr (emu::kBits<T> == 4) {
      uint8_t& byte = Data()[emu::ElemBytes<T>(index)];
      const uint8_t nib = static_cast<uint8_t>(static_cast<int>(v) & 0xF);
      byte = (index & 1) ? static_cast<uint8_t>((byte & 0x0F) | (nib << 4)) : static_cast<uint8_t>((byte & 0xF0) | nib);
    } else {
      std::memcpy(Data() + emu::ElemBytes<T>(index), &v, sizeof(T));
    }
  }
  T& operator()(const uint32_t index) const {
    EMU_REQUIRE(emu::kBits<T> % 8 == 0, "LocalTensor::operator()", "not-emulated", "packed int4b_t");
    CheckAccess("LocalTensor::operator()", index, 1);
    emu::Core().counters.scalarOps++;
    NoteElement(index, true);  // the reference may be written through
    emu::TraceScalar(false, true);
    return *reinterpret_cast<T*>(Data() + emu::ElemBytes<T>(index));
  }

  uint32_t GetSize() const { return size_; }
  void SetSize(const uint32_t size) { size_ = size; }
  // Points the tensor at [bufferAddr, bufferAddr + dataLen) of logicPos's memory; later accesses
  // are checked against that range.
  void SetAddr(const TBuffAddr& address) {
    const auto pos = static_cast<TPosition>(address.logicPos);
    const uint64_t end = uint64_t(address.bufferAddr) + address.dataLen;
    EMU_REQUIRE(pos != TPosition::GM && pos != TPosition::CO2 && pos < TPosition::MAX, "LocalTensor::SetAddr", "position",
                "logicPos %u is not a local TPosition", address.logicPos);
    EMU_REQUIRE(address.dataLen > 0 && end <= emu::Spec(emu::MemOf(pos)).physicalBytes, "LocalTensor::SetAddr",
                "local-bounds", "[%u, %llu) is not inside %s", address.bufferAddr, (unsigned long long)end,
                emu::Spec(emu::MemOf(pos)).name);
    pos_ = pos;
    addr_ = allocBegin_ = address.bufferAddr;
    allocEnd_ = static_cast<uint32_t>(end);
    size_ = static_cast<uint32_t>(uint64_t(address.dataLen) * 8 / emu::kBits<T>);
  }
  uint32_t GetLength() const { return static_cast<uint32_t>(emu::ElemBytes<T>(size_)); }
  int32_t GetPosition() const { return static_cast<int32_t>(pos_); }
  void SetUserTag(const TTagType tag) { tag_ = tag; }
  TTagType GetUserTag() const { return tag_; }
  T* GetPhyAddr() const { return reinterpret_cast<T*>(Data()); }
  T* GetPhyAddr(const uint32_t offset) const { return (*this)[offset].GetPhyAddr(); }

  // ---- for the emulator's API implementations ------------------------------------------------
  emu::Mem EmuMem() const { return emu::MemOf(pos_); }
  uint32_t EmuAddr() const { return addr_; }
  uint8_t* Data() const {
    EMU_REQUIRE(allocEnd_ > 0, "LocalTensor", "local-bounds", "tensor was never allocated (default-constructed)");
    return emu::MemBase(EmuMem()) + addr_;
  }
  // Bytes [begin, end) relative to this tensor's start must stay inside its allocation.
  void CheckBytes(const char* api, const char* operand, uint64_t begin, uint64_t end) const {
    EMU_REQUIRE(allocEnd_ > 0, api, "local-bounds", "%s was never allocated (default-constructed LocalTensor)", operand);
    const uint64_t b = addr_ + begin, e = addr_ + end;
    EMU_REQUIRE(b >= allocBegin_ && e <= allocEnd_, api, "local-bounds",
                "%s touches %s bytes [%llu, %llu) outside its buffer [%u, %u)", operand,
                emu::Spec(EmuMem()).name, (unsigned long long)b, (unsigned long long)e, allocBegin_, allocEnd_);
  }
  void CheckAccess(const char* api, uint64_t index, uint64_t count) const {
    CheckBytes(api, "tensor", emu::ElemBytes<T>(index), ((index + count) * emu::kBits<T> + 7) / 8);
  }
  // An instruction operand: checks bytes [begin, end) from this tensor's start as CheckBytes does and
  // notes them as read (written) by the instruction about to be issued (emu/hazard.h).
  void Reads(const char* api, const char* operand, uint64_t begin, uint64_t end) const {
    CheckBytes(api, operand, begin, end);
    emu::NoteAccess(EmuMem(), addr_ + begin, addr_ + end, false);
  }
  void Writes(const char* api, const char* operand, uint64_t begin, uint64_t end) const {
    CheckBytes(api, operand, begin, end);
    emu::NoteAccess(EmuMem(), addr_ + begin, addr_ + end, true);
  }
  // Instruction operands must start on the memory's alignment (UB/L1 32 B, L0A/L0B 512 B, L0C 64 B).
  void CheckAlign(const char* api, const char* operand, uint32_t align = 0) const {
    const uint32_t a = align ? align : emu::Spec(EmuMem()).alignBytes;
    EMU_REQUIRE(addr_ % a == 0, api, "alignment", "%s starts at %s address %u, not %u-byte aligned", operand,
                emu::Spec(EmuMem()).name, addr_, a);
  }

 private:
  void NoteElement(uint64_t index, bool write) const {
    const uint64_t b = addr_ + emu::ElemBytes<T>(index);
    emu::NoteAccess(EmuMem(), b, b + (emu::kBits<T> + 7) / 8, write);
  }
  TPosition pos_ = TPosition::VECCALC;
  uint32_t addr_ = 0;        // byte address in the physical memory
  uint32_t allocBegin_ = 0;  // the owning allocation, bytes
  uint32_t allocEnd_ = 0;
  uint32_t size_ = 0;        // elements
  TTagType tag_ = 0;
};

}  // namespace AscendC
