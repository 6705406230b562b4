// The threads that run emulated cores, kept across launches: starting a thread per core for every
// launch (72 for 24 AI cores) cost more than a small kernel's work.
#pragma once

#include <functional>
#include <vector>

namespace AscendC::emu {

// Runs every job on its own thread, all of them at once (emulated cores wait for each other), and
// returns when all have returned. Jobs must not throw. Safe to call from several host threads.
void RunOnCoreThreads(std::vector<std::function<void()>> jobs);

}  // namespace AscendC::emu
