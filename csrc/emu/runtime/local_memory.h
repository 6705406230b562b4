// Each emulated core's local memories (UB, L1, L0A / L0B / L0C, BT, FB), taken from buffers kept
// across launches. Allocating them fresh for every core of every launch page-faulted ~28 MB per
// 24-core launch, which dominated the small launches of the model tests.
#pragma once

#include "emu/runtime.h"

namespace AscendC::emu {

// Gives `core` a buffer for every memory its core type has, filled with the poison pattern (local
// memory holds an earlier kernel's data on the NPU, never zeros). Called on the core's own thread.
void AcquireLocalMemory(CoreState& core);

// Returns the core's buffers for later launches.
void ReleaseLocalMemory(CoreState& core);

}  // namespace AscendC::emu
