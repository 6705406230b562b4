// GM atomic accumulation: SetAtomicAdd / SetAtomicType / SetAtomicNone (A2/A3).
//
// CANN 8.5: include/basic_api/kernel_operator_set_atomic_intf.h declares them; dav_c220
// impl/basic_api/dav_c220/kernel_operator_set_atomic_impl.h sets an atomic mode (add) and an
// element type (half / float / int16_t / int32_t / int8_t / bfloat16_t; anything else fails its
// dtype check, here a static_assert); SetAtomicAdd<T> = mode add + SetAtomicType<T>. While set, copies from VECOUT / L0C /
// L1 to GM add into GM instead of overwriting (SetAtomicAdd.md, SetAtomicType.md). The state is the
// core's own register, so it belongs to the emulated core; the element type is the register's, not
// the copied tensor's (SetAtomicType.md's example changes it under an unchanged copy).
//
// Cores are threads, so every add is one compare-and-swap on the element's bits (GCC/Clang
// __atomic builtins, which ThreadSanitizer models); GM reads while a launch uses atomics are
// atomic loads too (ReadGm), so a core may read back a counter other cores are adding to.
// Integer adds wrap (the docs do not say the NPU saturates: assumed).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fp_types.h"
#include "runtime.h"

namespace AscendC {
namespace emu {

enum AtomicDtype : uint8_t { kAtomicNoType = 0, kAtomicF32, kAtomicF16, kAtomicBf16, kAtomicS32, kAtomicS16, kAtomicS8 };

// True once any core of the current launch turned atomics on (reset by Launch).
std::atomic<bool>& GmAtomicsUsed();

// The dav_c220 dtype check (ASCENDC_ASSERT SupportType<...>), made a compile-time refusal as the
// emulator does for other unsupported element types.
template <typename T>
constexpr uint8_t AtomicDtypeOf() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> ||
                    std::is_same_v<T, int32_t> || std::is_same_v<T, int16_t> || std::is_same_v<T, int8_t>,
                "SetAtomicAdd / SetAtomicType: unsupported element type on A2/A3 (half / float / int16_t / "
                "int32_t / int8_t / bfloat16_t)");
  if constexpr (std::is_same_v<T, float>) return kAtomicF32;
  else if constexpr (std::is_same_v<T, half>) return kAtomicF16;
  else if constexpr (std::is_same_v<T, bfloat16_t>) return kAtomicBf16;
  else if constexpr (std::is_same_v<T, int32_t>) return kAtomicS32;
  else if constexpr (std::is_same_v<T, int16_t>) return kAtomicS16;
  else return kAtomicS8;
}

inline uint32_t AtomicElemBytes(uint8_t dtype) {
  return dtype == kAtomicF32 || dtype == kAtomicS32 ? 4 : dtype == kAtomicS8 ? 1 : 2;
}

// One element: *gm += *value, as one compare-and-swap on its Bits.
template <typename V, typename Bits>
void AtomicAddElem(uint8_t* gm, const uint8_t* value) {
  Bits* word = reinterpret_cast<Bits*>(gm);
  V add;
  std::memcpy(&add, value, sizeof(V));
  Bits old = __atomic_load_n(word, __ATOMIC_RELAXED);
  Bits next;
  do {
    V cur;
    std::memcpy(&cur, &old, sizeof(V));
    V sum;
    if constexpr (std::is_integral_v<V>)
      sum = static_cast<V>(static_cast<Bits>(static_cast<Bits>(cur) + static_cast<Bits>(add)));  // wraps
    else
      sum = V(float(cur) + float(add));  // half / bf16: the float sum rounded to nearest even
    std::memcpy(&next, &sum, sizeof(V));
  } while (!__atomic_compare_exchange_n(word, &old, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

inline void AtomicAddBytes(uint8_t dtype, uint8_t* gm, const uint8_t* src, uint64_t bytes) {
  const uint32_t e = AtomicElemBytes(dtype);
  for (uint64_t i = 0; i < bytes; i += e) {
    switch (dtype) {
      case kAtomicF32: AtomicAddElem<float, uint32_t>(gm + i, src + i); break;
      case kAtomicS32: AtomicAddElem<int32_t, uint32_t>(gm + i, src + i); break;
      case kAtomicF16: AtomicAddElem<half, uint16_t>(gm + i, src + i); break;
      case kAtomicBf16: AtomicAddElem<bfloat16_t, uint16_t>(gm + i, src + i); break;
      case kAtomicS16: AtomicAddElem<int16_t, uint16_t>(gm + i, src + i); break;
      default: AtomicAddElem<int8_t, uint8_t>(gm + i, src + i); break;
    }
  }
}

// Writes `bytes` into GM: a plain copy, or an element-wise atomic add while the core's atomic mode
// is on (the atomic element size must then divide both the GM address and the length).
inline void WriteGm(const char* api, uint8_t* gm, const uint8_t* src, uint64_t bytes) {
  const CoreState& c = Core();
  if (!c.atomicAdd) {
    std::memcpy(gm, src, bytes);
    return;
  }
  const uint32_t e = AtomicElemBytes(c.atomicDtype);
  EMU_REQUIRE(reinterpret_cast<uintptr_t>(gm) % e == 0 && bytes % e == 0, api, "alignment",
              "atomic add of %u-byte elements into GM needs an element-aligned address and length (%llu bytes)", e,
              (unsigned long long)bytes);
  AtomicAddBytes(c.atomicDtype, gm, src, bytes);
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
  const uint8_t dtype = emu::AtomicDtypeOf<T>();
  emu::Core().atomicDtype = dtype;
}

template <typename T>
inline void SetAtomicAdd() {
  const uint8_t dtype = emu::AtomicDtypeOf<T>();
  emu::GmAtomicsUsed().store(true, std::memory_order_relaxed);
  emu::CoreState& c = emu::Core();
  c.atomicAdd = true;
  c.atomicDtype = dtype;
}

inline void SetAtomicNone() {
  emu::CoreState& c = emu::Core();
  c.atomicAdd = false;
  c.atomicDtype = emu::kAtomicNoType;
}

}  // namespace AscendC
