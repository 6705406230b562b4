// `assert` in kernel code, as CANN's kernel_operator.h provides it: asc-devkit 8.5
// include/basic_api/kernel_operator_dump_tensor_intf.h redefines the macro (#undef assert), checking
// when ASCENDC_DUMP is on (the default; ASCENDC_DUMP=0 switches it off, and then assert(...) is
// empty) and ending the program on a false condition (assert.md). assert(expr, fmt, args...) is the
// deprecated form; its message arguments are not printed here. The emulator fails the launch (rule
// `assert`) instead of aborting the process.
#pragma once

#include "runtime.h"

namespace AscendC::emu {
template <class... Args>
inline void KernelAssert(const char* file, int line, const char* text, bool cond, Args&&...) {
  if (!cond) Fail("assert", "assert", Format("%s:%d: Assertion `%s' failed", file, line, text));
}
}  // namespace AscendC::emu

#undef assert
#if defined(ASCENDC_DUMP) && (ASCENDC_DUMP == 0)
#define assert(...)
#else
#define assert(...) ::AscendC::emu::KernelAssert(__FILE__, __LINE__, #__VA_ARGS__, __VA_ARGS__)
#endif
