// The in-core happens-before check ("pipe-hazard", docs/emulator.md).
//
// An AI core's pipes (S, V, M, MTE1, MTE2, MTE3, FIX) run their instruction queues in parallel; the
// emulator runs a core's instructions one after another in program order, so a missing in-core flag
// cannot change a result here. This check finds it anyway: every instruction notes the local-memory
// bytes it reads and writes (NoteAccess) and is then issued on its pipe (IssueOn). Two accesses to
// one 32-byte block from different pipes, at least one a write, must be ordered by a chain of
// SetFlag / WaitFlag (the kernel's own and those EnQue / DeQue / AllocTensor / FreeTensor imply) or a
// PipeBarrier<PIPE_ALL> (SyncAll runs one). Instructions of one pipe are ordered among themselves:
// the scalar pipe by the hardware, PIPE_V by the barriers the compiler inserts (PipeBarrier(ISASI).md).
// Sources: SetFlag-WaitFlag(ISASI).md ("具有数据依赖的不同流水指令之间需要插此同步"), 同步控制简介.md,
// dav_c220/kernel_operator_sync_impl.h (SyncAllImpl starts with PipeBarrier<PIPE_ALL>).
//
// GM ("gm-hazard") is checked the same way, per byte, within a core and across the cores of a launch.
// A core's knowledge of the other cores is a stamp (step per core and pipe) that travels with the
// cross-core sync: a CrossCoreSetFlag sends its pipe's clock, SyncAll every pipe's, GmFlagAdd the
// MTE3 pipe's (the pipe of its atomic add); a CrossCoreWaitFlag, SyncAll or GmFlagWaitAtLeast joins
// what it received into every pipe of the waiting core (CrossCoreSetFlag(ISASI).md: the instructions
// after the wait run only once the flag is set).
#pragma once

#include <cstdint>

#include "runtime.h"

namespace AscendC::emu {

// Bytes [begin, end) of this core's memory `m` are read (or written) by the instruction about to be
// issued. An instruction notes every operand, then IssueOn applies them all at one step of its pipe.
void NoteAccess(Mem m, uint64_t begin, uint64_t end, bool write);
// Issues the instruction `api` on `pipe`: checks and records the noted accesses.
void IssueOn(const char* api, pipe_t pipe);
// SetFlag / WaitFlag of an event between two pipes (`id`: the event id, or a queue buffer's token).
void HazardSetFlag(HardEvent e, uint32_t id);
void HazardWaitFlag(HardEvent e, uint32_t id);
// PipeBarrier<PIPE_ALL>: every pipe waits for every earlier instruction.
void HazardBarrierAll();
// Cross-core sync (CrossCoreSetFlag / CrossCoreWaitFlag, SyncAll, GM counters) carries stamps. A
// mode-0 / mode-1 wait is delivered once every member has set, itself included, so its stamp also
// orders the core's own pipes (CrossCoreSetFlag(ISASI).md, CrossCoreWaitFlag(ISASI).md).
// A stamp (HazardStamp, emu/runtime.h): per (core, pipe) the latest step known ordered before the
// sender's point. Sparse: a flag between an AIC and its AIVs carries only what those cores knew.
// This core's stamp as of `pipe` (PIPE_ALL: after a PipeBarrier<PIPE_ALL>, every pipe).
HazardStamp StampOf(pipe_t pipe);
// Joins a received stamp into every pipe of this core (the wait holds every later instruction).
void ReceiveStamp(const HazardStamp& stamp);
// Element-wise max (an empty stamp knows nothing).
void JoinStamp(HazardStamp& into, const HazardStamp& from);
// The step a stamp holds for index core * 7 + pipe (0 if none).
uint32_t StampStep(const HazardStamp& stamp, uint32_t index);

// GM: bytes [p, p + bytes) are read (written; added to, by a copy under SetAtomicAdd / Max / Min)
// by the instruction about to be issued. `copy` false: a scalar access, which atomics leave alone.
void NoteGm(const void* p, uint64_t bytes, bool write, bool copy = true);
// Inside GmFlagWaitAtLeast's poll loop: its reads of the counter race with the adds by design.
void HazardGmPoll(bool inside);

// Per-core state, pooled across launches (emu/runtime/hazard.cpp).
struct HazardState;
void AcquireHazardState(CoreState& core);
void ReleaseHazardState(CoreState& core);
// Fails if an instruction noted accesses but was never issued (an emulator bug).
void HazardCheckIdle(const char* where);

}  // namespace AscendC::emu
