// Host side of CANN's CPU debug mode, mirrored so that existing CPU-debug host programs build
// unchanged: GmAlloc/GmFree, SetKernelMode, ICPU_SET_TILING_KEY and ICPU_RUN_KF.
//
// Differences from CANN: cores run as threads of this process (not forked processes), and a
// violated rule throws AscendC::emu::EmuError from ICPU_RUN_KF instead of aborting.
#pragma once

#include <cstddef>
#include <vector>

#include "kernel_operator.h"

namespace AscendC {
inline void* GmAlloc(size_t size) { return emu::GmAllocRegistered(size); }
inline void GmFree(void* ptr) { emu::GmFreeRegistered(ptr); }
inline void SetKernelMode(KernelMode mode) { emu::SetDefaultKernelMode(mode); }

namespace emu {
// Every pointer argument of ICPU_RUN_KF must come from GmAlloc (or be null).
inline void CheckKernelArgs(const char*, int) {}
template <typename A, typename... Rest>
void CheckKernelArgs(const char* kernel, int index, A arg, Rest... rest) {
  if constexpr (std::is_pointer_v<A>) {
    if (arg) {
      bool known = false;
      for (const GmRegion& r : GmAllocRegions())
        known |= static_cast<const void*>(arg) >= r.ptr &&
                 static_cast<const void*>(arg) < static_cast<const uint8_t*>(r.ptr) + (r.bytes ? r.bytes : 1);
      if (!known)
        throw EmuError(Format("[ascendc-emu] ICPU_RUN_KF(%s): argument %d is not memory from AscendC::GmAlloc", kernel, index));
    }
  }
  CheckKernelArgs(kernel, index + 1, rest...);
}
}  // namespace emu
}  // namespace AscendC

#define ICPU_SET_TILING_KEY(key) ::AscendC::emu::SetTilingKey(static_cast<uint64_t>(key))

#define ICPU_RUN_KF(func, blockdim, ...)                                                              \
  do {                                                                                                \
    ::AscendC::emu::CheckKernelArgs(#func, 0, __VA_ARGS__);                                           \
    ::AscendC::emu::Launch(#func, ::AscendC::emu::DefaultKernelMode(), (blockdim),                    \
                           [&]() { func(__VA_ARGS__); }, ::AscendC::emu::GmAllocRegions());          \
  } while (0)
