// Host side of CANN's CPU debug mode, mirrored so that existing CPU-debug host programs build
// unchanged: GmAlloc/GmFree, SetKernelMode, ICPU_SET_TILING_KEY and ICPU_RUN_KF.
//
// Differences from CANN: cores run as threads of this process (not forked processes), and a
// violated rule throws AscendC::emu::EmuError from ICPU_RUN_KF instead of aborting.
#pragma once

#include <algorithm>
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

// The launch's GM regions: argument i's GmAlloc buffer at position i (an empty region for a null or
// non-pointer argument), so that messages can name "GM argument i"; then every other live GmAlloc
// buffer (a kernel may reach one through its tiling).
inline void AddArgRegions(std::vector<GmRegion>&, const std::vector<GmRegion>&) {}
template <typename A, typename... Rest>
void AddArgRegions(std::vector<GmRegion>& out, const std::vector<GmRegion>& all, A arg, Rest... rest) {
  GmRegion mine{nullptr, 0};
  if constexpr (std::is_pointer_v<A>)
    for (const GmRegion& r : all)
      if (arg && static_cast<const void*>(arg) >= r.ptr &&
          static_cast<const void*>(arg) < static_cast<const uint8_t*>(r.ptr) + (r.bytes ? r.bytes : 1))
        mine = r;
  out.push_back(mine);
  AddArgRegions(out, all, rest...);
}
template <typename... Args>
std::vector<GmRegion> KernelArgRegions(Args... args) {
  const std::vector<GmRegion> all = GmAllocRegions();
  std::vector<GmRegion> out;
  AddArgRegions(out, all, args...);
  for (const GmRegion& r : all)
    if (std::none_of(out.begin(), out.end(), [&](const GmRegion& o) { return o.ptr == r.ptr; })) out.push_back(r);
  return out;
}
}  // namespace emu
}  // namespace AscendC

#define ICPU_SET_TILING_KEY(key) ::AscendC::emu::SetTilingKey(static_cast<uint64_t>(key))

#define ICPU_RUN_KF(func, blockdim, ...)                                                              \
  do {                                                                                                \
    ::AscendC::emu::CheckKernelArgs(#func, 0, __VA_ARGS__);                                           \
    ::AscendC::emu::Launch(#func, ::AscendC::emu::DefaultKernelMode(), (blockdim),                    \
                           [&]() { func(__VA_ARGS__); }, ::AscendC::emu::KernelArgRegions(__VA_ARGS__)); \
  } while (0)
