// GM atomics: SetAtomicAdd / SetAtomicMax / SetAtomicMin / SetAtomicType / SetAtomicNone (A2/A3).
//
// CANN 8.5: include/basic_api/kernel_operator_set_atomic_intf.h declares them; dav_c220
// impl/basic_api/dav_c220/kernel_operator_set_atomic_impl.h sets an atomic mode (add) and an
// element type (half / float / int16_t / int32_t / int8_t / bfloat16_t; anything else fails its
// dtype check, an ASCENDC_ASSERT: it compiles, aborts when called in CPU-debug builds and is compiled
// out on the device, where the type register keeps its old value; here it fails when called, too);
// SetAtomicAdd<T> = mode add + SetAtomicType<T>, SetAtomicMax<T> /
// SetAtomicMin<T> = mode max / min + SetAtomicType<T>. While set, copies from VECOUT / L0C / L1 to GM add
// into GM, or keep the larger / smaller of GM and the copied element, instead of overwriting
// (SetAtomicAdd.md, SetAtomicMax(ISASI).md, SetAtomicMin(ISASI).md, SetAtomicType.md). The state is the
// core's own register, so it belongs to the emulated core; the element type is the register's, not
// the copied tensor's (SetAtomicType.md's example changes it under an unchanged copy).
//
// Cores are threads, so every element of an atomic write is one compare-and-swap on its bits (GCC/Clang
// __atomic builtins, which ThreadSanitizer models); GM reads while a launch uses atomics are
// atomic loads too (ReadGm), so a core may read back a counter other cores are adding to.
// Integer adds wrap (the docs do not say the NPU saturates: assumed). Max / min compare values
// (half / bf16 as floats); with a NaN on either side the result is not documented: here the
// comparison is false and GM keeps its element (assumed).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fp_types.h"
#include "runtime.h"

namespace AscendC {
namespace emu {

enum AtomicOp : uint8_t { kAtomicOff = 0, kAtomicAdd, kAtomicMax, kAtomicMin };
enum AtomicDtype : uint8_t { kAtomicNoType = 0, kAtomicF32, kAtomicF16, kAtomicBf16, kAtomicS32, kAtomicS16, kAtomicS8 };

// True once any core of the current launch turned atomics on (reset by Launch).
std::atomic<bool>& GmAtomicsUsed();

// The element type's code; kAtomicNoType for a type the dav_c220 dtype check (ASCENDC_ASSERT
// SupportType<...>) refuses, which the callers turn into a run-time failure as CPU-debug CANN does.
template <typename T>
constexpr uint8_t AtomicDtypeOf() {
  if constexpr (std::is_same_v<T, float>) return kAtomicF32;
  else if constexpr (std::is_same_v<T, half>) return kAtomicF16;
  else if constexpr (std::is_same_v<T, bfloat16_t>) return kAtomicBf16;
  else if constexpr (std::is_same_v<T, int32_t>) return kAtomicS32;
  else if constexpr (std::is_same_v<T, int16_t>) return kAtomicS16;
  else if constexpr (std::is_same_v<T, int8_t>) return kAtomicS8;
  else return kAtomicNoType;
}

template <typename T>
inline uint8_t CheckedAtomicDtype(const char* api) {
  constexpr uint8_t dtype = AtomicDtypeOf<T>();
  EMU_REQUIRE(dtype != kAtomicNoType, api, "dtype",
              "unsupported element type on A2/A3 (half / float / int16_t / int32_t / int8_t / bfloat16_t)");
  return dtype;
}

inline uint32_t AtomicElemBytes(uint8_t dtype) {
  return dtype == kAtomicF32 || dtype == kAtomicS32 ? 4 : dtype == kAtomicS8 ? 1 : 2;
}

// One element: *gm = *gm + *value, max(*gm, *value) or min(*gm, *value), as one compare-and-swap on its Bits.
template <typename V, typename Bits>
void AtomicElem(uint8_t op, uint8_t* gm, const uint8_t* value) {
  Bits* word = reinterpret_cast<Bits*>(gm);
  V in;
  std::memcpy(&in, value, sizeof(V));
  Bits old = __atomic_load_n(word, __ATOMIC_RELAXED);
  Bits next;
  do {
    V cur;
    std::memcpy(static_cast<void*>(&cur), &old, sizeof(V));  // V: half / bf16 have constructors
    V out;
    if constexpr (std::is_integral_v<V>) {
      if (op == kAtomicAdd)
        out = static_cast<V>(static_cast<Bits>(static_cast<Bits>(cur) + static_cast<Bits>(in)));  // wraps
      else
        out = (op == kAtomicMax ? in > cur : in < cur) ? in : cur;
    } else {
      const float a = float(cur), b = float(in);
      if (op == kAtomicAdd)
        out = V(a + b);  // half / bf16: the float sum rounded to nearest even
      else
        out = (op == kAtomicMax ? b > a : b < a) ? in : cur;
    }
    std::memcpy(&next, &out, sizeof(V));
  } while (!__atomic_compare_exchange_n(word, &old, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

inline void AtomicBytes(uint8_t op, uint8_t dtype, uint8_t* gm, const uint8_t* src, uint64_t bytes) {
  const uint32_t e = AtomicElemBytes(dtype);
  for (uint64_t i = 0; i + e <= bytes; i += e) {  // whole elements (WriteGm requires them)
    switch (dtype) {
      case kAtomicF32: AtomicElem<float, uint32_t>(op, gm + i, src + i); break;
      case kAtomicS32: AtomicElem<int32_t, uint32_t>(op, gm + i, src + i); break;
      case kAtomicF16: AtomicElem<half, uint16_t>(op, gm + i, src + i); break;
      case kAtomicBf16: AtomicElem<bfloat16_t, uint16_t>(op, gm + i, src + i); break;
      case kAtomicS16: AtomicElem<int16_t, uint16_t>(op, gm + i, src + i); break;
      default: AtomicElem<int8_t, uint8_t>(op, gm + i, src + i); break;
    }
  }
}

// Writes `bytes` into GM: a plain copy, or an element-wise atomic add / max / min while the core's
// atomic mode is on (the atomic element size must then divide both the GM address and the length).
inline void WriteGm(const char* api, uint8_t* gm, const uint8_t* src, uint64_t bytes) {
  const CoreState& c = Core();
  if (c.atomicOp == kAtomicOff) {
    std::memcpy(gm, src, bytes);
    return;
  }
  const uint32_t e = AtomicElemBytes(c.atomicDtype);
  EMU_REQUIRE(reinterpret_cast<uintptr_t>(gm) % e == 0 && bytes % e == 0, api, "alignment",
              "an atomic write of %u-byte elements into GM needs an element-aligned address and length (%llu bytes)", e,
              (unsigned long long)bytes);
  AtomicBytes(c.atomicOp, c.atomicDtype, gm, src, bytes);
}

// Reads `bytes` of GM: memcpy, or acquire loads while the launch uses atomics (a plain read of a
// word another core is adding to would be a data race for the emulator's threads).
inline void ReadGm(uint8_t* dst, const uint8_t* gm, uint64_t bytes) {
  if (!GmAtomicsUsed().load(std::memory_order_relaxed)) {
    std::memcpy(dst, gm, bytes);
    return;
  }
  uint64_t i = 0;
  for (; i < bytes && reinterpret_cast<uintptr_t>(gm + i) % 4 != 0; ++i) dst[i] = __atomic_load_n(gm + i, __ATOMIC_ACQUIRE);
  for (; i + 4 <= bytes; i += 4) {
    const uint32_t w = __atomic_load_n(reinterpret_cast<const uint32_t*>(gm + i), __ATOMIC_ACQUIRE);
    std::memcpy(dst + i, &w, 4);
  }
  for (; i < bytes; ++i) dst[i] = __atomic_load_n(gm + i, __ATOMIC_ACQUIRE);
}
}  // namespace emu

// ---- the API (declarations as include/basic_api/kernel_operator_set_atomic_intf.h) -----------
template <typename T>
inline void SetAtomicType() {
  const uint8_t dtype = emu::CheckedAtomicDtype<T>("SetAtomicType");
  emu::Core().atomicDtype = dtype;
}

namespace emu {
template <typename T>
inline void SetAtomicMode(uint8_t op, const char* api) {
  const uint8_t dtype = CheckedAtomicDtype<T>(api);
  GmAtomicsUsed().store(true, std::memory_order_relaxed);
  CoreState& c = Core();
  c.atomicOp = op;
  c.atomicDtype = dtype;
}
}  // namespace emu

template <typename T>
inline void SetAtomicAdd() {
  emu::SetAtomicMode<T>(emu::kAtomicAdd, "SetAtomicAdd");
}

// SetAtomicMax(ISASI).md / SetAtomicMin(ISASI).md: A2 / A3, the same six element types.
template <typename T>
inline void SetAtomicMax() {
  emu::SetAtomicMode<T>(emu::kAtomicMax, "SetAtomicMax");
}

template <typename T>
inline void SetAtomicMin() {
  emu::SetAtomicMode<T>(emu::kAtomicMin, "SetAtomicMin");
}

inline void SetAtomicNone() {
  emu::CoreState& c = emu::Core();
  c.atomicOp = emu::kAtomicOff;
  c.atomicDtype = emu::kAtomicNoType;
}

}  // namespace AscendC
