// The scalar unit's DataCache: how GlobalTensor GetValue / SetValue / operator() see GM.
//
// On dav_c220 a scalar access to GM goes through the core's own DataCache (64-byte lines); DMA
// copies (DataCopy, DataCopyPad, Fixpipe, atomics) do not (DataCacheCleanAndInvalid.md; CANN 8.5
// impl/basic_api/kernel_tensor_impl.h: GetValue / SetValue dereference the GM pointer, and cut a
// line at a 64-byte boundary when they add their own dcci). So a scalar read may return a line the
// core cached before another core (or its own MTE3) rewrote GM, and a scalar write stays in the
// core's cache where no DMA copy and no other core sees it, until DataCacheCleanAndInvalid writes
// the line back and drops it. CANN's own cross-core code reads such data only after a dcci of its
// line (impl/basic_api/dav_c220/core_mng/roc/kernel_operator_group_barrier_impl.h, one barrier
// per 64 bytes "due to dcci").
//
// The emulator keeps, per core and launch, every line the core's scalar unit touched, as the
// worst case the hardware allows: no line is evicted before the core ends. A stale read or an
// unpublished write therefore shows in a kernel's results whenever the line was cached before the
// other side's write (always, when a barrier or flag orders the two), not once in a while.
// Assumed where CANN is silent: the cache starts empty at launch (every kernel reads its
// host-written tiling through it), lines are write-allocate (a write first fills its line), only
// the bytes the core wrote are written back (so cores writing other words of one line do not undo
// each other in thread-timing order), and a core's dirty lines reach GM when the core finishes.
// Lines are cut from the start of the GM buffer, as the trace does (NPU allocations are at least
// 64-byte aligned; host ones vary).
#pragma once

#include <cstdint>

namespace AscendC::emu {

// A scalar read of `bytes` (<= 8) at `gm`, through the running core's DataCache.
void ScalarGmRead(const void* gm, void* out, uint32_t bytes);
// A scalar write of `bytes` (<= 8) at `gm`: into the core's DataCache line, marked dirty.
void ScalarGmWrite(void* gm, const void* in, uint32_t bytes);
// operator(): the element's bytes in the core's cached line (marked dirty, as the reference may be
// written through).
void* ScalarGmRef(void* gm, uint32_t bytes);
// dcci: writes back the written bytes of the line holding `gm` (every line if `entire`) and drops it.
void DataCacheCleanInvalid(const void* gm, bool entire);

}  // namespace AscendC::emu
