// Pipe-level timing model of an Ascend A2/A3 AI Core array, replaying an emulator trace
// (emu/trace.h). The semantics and every constant are documented in docs/performance.md; the
// constants themselves come from Python (ascend_glm5/perf/soc.py), one table per SoC.
//
// Model, per core: the scalar unit walks the trace in program order and issues each instruction
// into its pipe's in-order queue (S, V, M, MTE1, MTE2, MTE3, FIX); pipes run concurrently; only
// flags, barriers and queue events order one pipe against another; cross-core flags and SyncAll
// order cores. GM traffic goes through an L2 model and the HBM / L2 bandwidth pools shared by all
// cores, max-min fair among the transfers in flight (flows.h).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emu/trace.h"

namespace ascend_glm5::perf {

// Pipes in the model's order.
enum Pipe : uint8_t { kS, kV, kM, kMte1, kMte2, kMte3, kFix, kPipes };
const char* PipeName(int p);

// Cost of one API on its pipe: head (paid when the pipe was idle, as the startup of a pipelined
// unit) + per-repeat slope (by element size) + per-element cost.
struct ApiCost {
  double head = 0, slope16 = 0, slope32 = 0, perElement = 0;
};

struct SocParams {
  std::string name;
  double clockGhz = 1.8;
  uint32_t aicCores = 24, aivCores = 48;
  // GM: the HBM and L2 bandwidths shared by all cores, the L2 cache, per-core rates (bytes / cycle).
  double hbmBytesPerCycle = 800, l2BytesPerCycle = 2200;
  double l2Bytes = 192.0 * 1024 * 1024;
  uint32_t l2LineBytes = 128;
  double l2DirtyAtStart = 0;  // share of the L2 lines a launch finds dirty (written by earlier launches)
  double gmToUbRate = 58.6, gmToL1Rate = 78.4, gmReadL2Rate = 110, ubToGmRate = 109, fixWriteRate = 86;
  // Local paths (bytes / cycle / core).
  double l1ToL0aRate = 256, l1ToL0bRate = 128, l1ToUbRate = 128, ubToL1Rate = 128, ubToUbRate = 256, fillRate = 32;
  double gmCopyOverhead = 18, localCopyOverhead = 8;  // cycles per MTE instruction
  double l1ToL0Overhead = 22;                         // cycles per L1 -> L0A / L0B load
  double gmReadLatency = 400;                         // cycles from a GM read's last byte to its consumer
  double cubeHead = 6;
  double vecBarrierDrain = 16;
  double vecHeadWhenBusy = 1;  // share of a vector instruction's head paid when the pipe was busy
  double ubBeatCycles = 1;  // cycles per UB bank beat of an element-wise vector instruction
  double flagLatency = 1, crossCoreLatency = 200;
  double issueCycles = 2, scalarLocalCycles = 2, scalarGmHitCycles = 4, scalarGmMissCycles = 300;
  uint32_t scalarCacheLines = 256;  // scalar DataCache, 64-byte lines, direct mapped
  uint32_t queueDepth = 32;
  double turnCycles = 256;  // the replay advances a core this far past the next one per turn
  ApiCost defaultVector{6, 2, 2, 0};
  std::map<std::string, ApiCost> apiCosts;
};

// Why an instruction started when it did (critical path).
enum Reason : uint8_t { kStart, kIssue, kPipeOrder, kFlag, kBarrier, kCrossCore, kSyncAll, kQueueFull, kGmCounter };
constexpr int kReasonCount = kGmCounter + 1;
const char* ReasonName(int r);

struct CoreResult {
  int32_t coreType;
  int64_t blockIdx, subBlockIdx;
  double start = 0, end = 0;
  double busy[kPipes] = {};
  uint64_t instructions[kPipes] = {};
};

struct Segment {  // a busy interval of one pipe of one core (coalesced for drawing)
  uint32_t core;
  uint8_t pipe;
  double start, end;
};

struct PathStep {  // one instruction on the critical path, latest first
  uint32_t core;
  uint8_t pipe, reason;
  int32_t api;  // index into Result::apiNames
  double start, end;
};

struct Result {
  std::string kernel;
  double cycles = 0;  // modeled time of the launch
  std::vector<CoreResult> cores;
  std::vector<std::string> apiNames;
  std::vector<std::array<double, 2>> apiBusy;  // per API: busy cycles summed over cores, instructions
  std::vector<double> apiBankCycles;  // per API: cycles its UB bank beats took beyond its bank-free rate
  std::vector<uint8_t> apiPipe;
  std::vector<Segment> timeline;
  std::vector<PathStep> path;
  double hbmReadBytes = 0, hbmWriteBytes = 0, l2HitBytes = 0;
  double l2DirtyBytes = 0;  // written lines still in L2 at the end: written back to HBM after the launch
  double cubeMacs[4] = {};  // by A element size: 4-bit, 8-bit, 16-bit, 32-bit
  double vectorRepeats = 0;
  uint64_t records = 0;
  double bandwidthStall = 0;  // cycles GM transfers lost to the shared HBM bandwidth
  double lateBytes = 0;  // GM bytes handed to the shared pools after their clock passed the copy's start
  // Every GM read with bytes from HBM: (when it ended, its bytes from HBM), in the order the replay
  // settled them (not always by end).
  std::vector<std::array<double, 2>> hbmReads;
  // Every record of one core (Replay's detailCore), for inspecting a schedule.
  struct Detail {
    int32_t api;
    uint8_t pipe;
    float issue, start, end;
  };
  std::vector<Detail> detail;
};

// `timelineResolution`: busy intervals closer than this many cycles are drawn as one.
// `detailCore` >= 0: also return every record of that core (Result::detail).
Result Replay(const AscendC::emu::LaunchTrace& trace, const SocParams& soc, double timelineResolution,
              int64_t detailCore = -1);

}  // namespace ascend_glm5::perf
