// Emulator hooks of ascend_glm5's GM counter wait (csrc/kernels/common/gm_flag.h): the kernel code
// is the NPU's; these make its trace and counters independent of thread timing and its waits
// blocking instead of spinning. Called only under ASCEND_GLM5_EMULATOR.
//
// GmFlagAddBegin: before the atomic add's copy (a waiter that sees the add waits for its GmFlagSignal).
// GmFlagSignal: after the atomic add's copy: records kGmSignal (address, delta) and wakes waiters.
// GmWaitBegin .. GmWaitEnd: around the poll loop. Inside, nothing is recorded; GmWaitEnd records one
//   kGmWait (address, target) and sets the core's counters to what one poll costs (GmWaitPolled marks
//   the end of the first poll), however many polls ran.
// GmWaitMissed: after a poll that saw less than target: blocks the core's thread until the counter
//   reaches target (the next poll then sees it), or fails with a deadlock error naming kernel, core
//   and flag once no other core can add to it (all finished or blocked).
#pragma once

#include <cstdint>

namespace AscendC::emu {

void GmFlagAddBegin(const int32_t* flag);
void GmFlagSignal(const int32_t* flag, int32_t delta);
void GmWaitBegin(const int32_t* flag, int32_t target);
void GmWaitPolled();
void GmWaitMissed(const int32_t* flag, int32_t target);
void GmWaitEnd(const int32_t* flag, int32_t target);

}  // namespace AscendC::emu
