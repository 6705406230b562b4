// Helpers for host code that launches kernels on the CPU emulator with AscendC::emu::Launch,
// passing every GM range the kernel may touch; any other access is a gm-bounds violation.
#pragma once

#include <functional>
#include <vector>

#include "kernel_operator.h"

namespace ascend_glm5::host {

inline GM_ADDR GmArg(const void* p) { return reinterpret_cast<GM_ADDR>(const_cast<void*>(p)); }

}  // namespace ascend_glm5::host
