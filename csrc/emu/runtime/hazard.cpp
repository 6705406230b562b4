// The in-core happens-before check (emu/hazard.h): a vector clock per pipe, and per 32-byte block
// of local memory the step of its last write and of each pipe's last read.
#include "emu/hazard.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "emu/trace.h"

namespace AscendC::emu {
namespace {

constexpr int kPipes = 7;  // S, V, M, MTE1, MTE2, MTE3, FIX
constexpr uint8_t kNoPipe = 0xFF;
constexpr uint32_t kBlock = 32;
constexpr uint32_t kRecent = 1024;  // instruction names kept per pipe for the messages

int PipeIndex(pipe_t p) {
  switch (p) {
    case PIPE_S: return 0;
    case PIPE_V: return 1;
    case PIPE_M: return 2;
    case PIPE_MTE1: return 3;
    case PIPE_MTE2: return 4;
    case PIPE_MTE3: return 5;
    case PIPE_FIX: return 6;
    default: return -1;
  }
}
const char* const kPipeNames[kPipes] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};

using Clock = std::array<uint32_t, kPipes>;

// One 32-byte block. `owner` tells whose launch the entry belongs to, so a pooled state never needs
// clearing: an entry of another owner reads as untouched.
struct Block {
  uint32_t owner = 0;
  uint32_t writeStep = 0;
  std::array<uint32_t, kPipes> readStep{};
  uint8_t writer = kNoPipe;
};

struct Range {
  Mem mem;
  uint32_t begin, end;
  bool write;
};

uint32_t NextOwner() {
  static std::atomic<uint32_t> next{0};
  uint32_t o = ++next;
  if (o == 0) o = ++next;  // 0 marks a fresh entry
  return o;
}

}  // namespace

struct HazardState {
  uint32_t owner = 0;
  std::array<Clock, kPipes> clock{};  // clock[p][q]: the steps of pipe q that pipe p has waited for
  std::vector<Range> pending;
  std::unordered_map<uint64_t, Clock> flags;  // (event, id) -> the source pipe's clock at SetFlag
  std::unordered_map<uint16_t, std::deque<Clock>> groupSets;  // flag id -> own mode-0/1 sets not yet waited
  std::array<std::vector<Block>, kMemCount> shadow;
  std::array<std::array<const char*, kRecent>, kPipes> recent{};

  void Reset() {
    owner = NextOwner();
    for (Clock& c : clock) c.fill(0);
    pending.clear();
    flags.clear();
    groupSets.clear();
  }
  const char* Name(int pipe, uint32_t step) const {
    const char* n = recent[pipe][step % kRecent];
    return step + kRecent > clock[pipe][pipe] && n ? n : "an earlier instruction";
  }
};

namespace {

std::mutex gPoolMu;
std::vector<HazardState*>& Pool() {
  static auto* pool = new std::vector<HazardState*>;  // leaked on purpose, as the local-memory pool
  return *pool;
}

HazardState& State() { return *Core().hazard; }

// The scalar unit issues every other pipe's instructions in program order and blocks in its own
// waits (WaitFlag<X_S>, a PipeBarrier): an instruction issued after such a wait starts after what
// the scalar waited for. Its own reads and writes of UB are not ordered so (S_V / S_MTE2 / ...).
void InheritScalarWaits(HazardState& s, int p) {
  if (p <= 0) return;  // the scalar itself, or no pipe
  for (int q = 1; q < kPipes; ++q) s.clock[p][q] = std::max(s.clock[p][q], s.clock[0][q]);
}

uint64_t FlagKey(HardEvent e, uint32_t id) { return uint64_t(static_cast<uint8_t>(e)) << 32 | id; }

[[noreturn]] void Report(const char* api, int pipe, const Range& r, uint32_t block, const char* what, int other,
                         const char* otherApi) {
  const uint32_t a = block * kBlock;
  Fail(api, "pipe-hazard",
       Format("PIPE_%s %s %s bytes [%u, %u), which %s on PIPE_%s %s, with no SetFlag<%s_%s> / WaitFlag chain or "
              "PipeBarrier<PIPE_ALL> between them: the NPU runs the two pipes in parallel",
              kPipeNames[pipe], r.write ? "writes" : "reads", Spec(r.mem).name, std::max(a, r.begin),
              std::min(a + kBlock, r.end), otherApi, kPipeNames[other], what, kPipeNames[other], kPipeNames[pipe]));
}

void Apply(HazardState& s, const char* api, int p, const Range& r) {
  std::vector<Block>& blocks = s.shadow[static_cast<int>(r.mem)];
  if (blocks.empty()) blocks.resize(Spec(r.mem).physicalBytes / kBlock);
  const Clock& mine = s.clock[p];
  const uint32_t step = mine[p];
  for (uint32_t b = r.begin / kBlock; b < (r.end + kBlock - 1) / kBlock; ++b) {
    Block& e = blocks[b];
    if (e.owner != s.owner) e = Block{s.owner};
    if (e.writer != kNoPipe && e.writer != p && e.writeStep > mine[e.writer])
      Report(api, p, r, b, "wrote", e.writer, s.Name(e.writer, e.writeStep));
    if (r.write) {
      for (int q = 0; q < kPipes; ++q)
        if (q != p && e.readStep[q] > mine[q]) Report(api, p, r, b, "reads", q, s.Name(q, e.readStep[q]));
      e.writer = static_cast<uint8_t>(p);
      e.writeStep = step;
      e.readStep.fill(0);  // a later access ordered after this write is ordered after these reads
    } else {
      e.readStep[p] = step;
    }
  }
}

}  // namespace

void NoteAccess(Mem m, uint64_t begin, uint64_t end, bool write) {
  if (begin >= end) return;
  std::vector<Range>& pending = State().pending;
  if (!pending.empty()) {
    Range& last = pending.back();
    if (last.mem == m && last.write == write && last.end == begin) {
      last.end = static_cast<uint32_t>(end);
      return;
    }
  }
  pending.push_back(Range{m, static_cast<uint32_t>(begin), static_cast<uint32_t>(end), write});
}

void IssueOn(const char* api, pipe_t pipe) {
  HazardState& s = State();
  const int p = PipeIndex(pipe);
  if (p < 0) {
    s.pending.clear();
    return;
  }
  InheritScalarWaits(s, p);
  const uint32_t step = ++s.clock[p][p];
  s.recent[p][step % kRecent] = api;
  // Writes first: an operand both read and written (Axpy's dst) is then checked as a write.
  for (const Range& r : s.pending)
    if (r.write) Apply(s, api, p, r);
  for (const Range& r : s.pending)
    if (!r.write) Apply(s, api, p, r);
  s.pending.clear();
}

namespace {
// The clock index of an event's source (or destination) pipe, -1 if it has none here.
int EventPipeIndex(HardEvent e, bool source) {
  pipe_t src = PIPE_S, dst = PIPE_S;
  EventPipes(e, src, dst);
  return PipeIndex(source ? src : dst);
}
}  // namespace

void HazardSetFlag(HardEvent e, uint32_t id) {
  HazardCheckIdle("SetFlag");
  HazardState& s = State();
  const int p = EventPipeIndex(e, true);
  InheritScalarWaits(s, p);
  if (p >= 0) s.flags[FlagKey(e, id)] = s.clock[p];
}

void HazardWaitFlag(HardEvent e, uint32_t id) {
  HazardCheckIdle("WaitFlag");
  HazardState& s = State();
  const int p = EventPipeIndex(e, false);
  auto it = s.flags.find(FlagKey(e, id));
  if (p < 0 || it == s.flags.end()) return;
  for (int q = 0; q < kPipes; ++q) s.clock[p][q] = std::max(s.clock[p][q], it->second[q]);
  s.flags.erase(it);
}

void HazardBarrierAll() {
  HazardCheckIdle("PipeBarrier");
  HazardState& s = State();
  Clock all{};
  for (const Clock& c : s.clock)
    for (int q = 0; q < kPipes; ++q) all[q] = std::max(all[q], c[q]);
  for (Clock& c : s.clock) c = all;
}

void HazardCrossSet(int mode, pipe_t pipe, uint16_t flagId) {
  HazardCheckIdle("CrossCoreSetFlag");
  HazardState& s = State();
  const int p = PipeIndex(pipe);
  if ((mode == 0 || mode == 1) && p >= 0) s.groupSets[flagId].push_back(s.clock[p]);
}

void HazardCrossWait(uint16_t flagId) {
  HazardCheckIdle("CrossCoreWaitFlag");
  HazardState& s = State();
  auto it = s.groupSets.find(flagId);
  if (it == s.groupSets.end() || it->second.empty()) return;
  const Clock own = it->second.front();
  it->second.pop_front();
  for (Clock& c : s.clock)
    for (int q = 0; q < kPipes; ++q) c[q] = std::max(c[q], own[q]);
}

void AcquireHazardState(CoreState& core) {
  HazardState* s = nullptr;
  {
    std::lock_guard<std::mutex> g(gPoolMu);
    if (!Pool().empty()) {
      s = Pool().back();
      Pool().pop_back();
    }
  }
  if (!s) s = new HazardState;
  s->Reset();
  core.hazard = s;
}

void ReleaseHazardState(CoreState& core) {
  if (!core.hazard) return;
  std::lock_guard<std::mutex> g(gPoolMu);
  Pool().push_back(core.hazard);
  core.hazard = nullptr;
}

void HazardCheckIdle(const char* where) {
  HazardState& s = State();
  if (s.pending.empty()) return;
  const Range r = s.pending.front();
  s.pending.clear();
  Fail(where, "emulator", Format("an instruction noted %s bytes [%u, %u) but was never issued on a pipe",
                                 Spec(r.mem).name, r.begin, r.end));
}

}  // namespace AscendC::emu
