// The per-core state of the happens-before check (emu/hazard.h), shared by its in-core part
// (hazard.cpp) and its GM part (gm_hazard.cpp). Private to the runtime library.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "emu/hazard.h"

namespace AscendC::emu {

constexpr int kPipes = 7;  // S, V, M, MTE1, MTE2, MTE3, FIX
constexpr uint32_t kRecent = 1024;  // instruction names kept per pipe for the messages

int PipeIndex(pipe_t p);  // -1 for a pipe the check does not track
extern const char* const kPipeNames[kPipes];

using Clock = std::array<uint32_t, kPipes>;

// One 32-byte block of local memory. `owner` tells whose launch the entry belongs to, so a pooled
// state never needs clearing: an entry of another owner reads as untouched.
struct LocalBlock {
  uint32_t owner = 0;
  uint32_t writeStep = 0;
  std::array<uint32_t, kPipes> readStep{};
  uint8_t writer = 0xFF;
};

struct LocalRange {
  Mem mem;
  uint32_t begin, end;
  bool write;
};

struct GmRange {
  uint64_t begin, end;
  uint8_t kind;  // GmKind
};
enum GmKind : uint8_t { kGmRead, kGmWrite, kGmAtomic };

struct HazardState {
  uint32_t owner = 0;
  uint32_t self = 0;  // the core's launch index: its entries in a stamp start at self * kPipes
  std::array<Clock, kPipes> clock{};  // clock[p][q]: the steps of pipe q that pipe p has waited for
  HazardStamp remote;                 // what every pipe of this core knows of the other cores (empty: nothing)
  std::vector<LocalRange> pending;
  std::vector<GmRange> gmPending;
  bool inGmPoll = false;
  std::unordered_map<uint64_t, Clock> flags;  // (event, id) -> the source pipe's clock at SetFlag
  std::array<std::vector<LocalBlock>, kMemCount> shadow;
  std::array<std::array<const char*, kRecent>, kPipes> recent{};

  void Reset(uint32_t launchIndex);
  const char* Name(int pipe, uint32_t step) const {
    const char* n = recent[pipe][step % kRecent];
    return step + kRecent > clock[pipe][pipe] && n ? n : "an earlier instruction";
  }
};

HazardState& State();  // the running core's

// Checks and records the GM ranges noted for the instruction `api` issued as step `step` of pipe `p`
// (gm_hazard.cpp).
void ApplyGm(HazardState& s, const char* api, int p, uint32_t step);

}  // namespace AscendC::emu
