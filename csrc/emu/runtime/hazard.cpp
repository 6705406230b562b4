// The in-core happens-before check (emu/hazard.h): a vector clock per pipe, and per 32-byte block
// of local memory the step of its last write and of each pipe's last read; and the stamps that
// carry the clocks across cores (the GM side is gm_hazard.cpp).
#include "emu/hazard.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "emu/trace.h"
#include "hazard_state.h"
#include "launch_context.h"

namespace AscendC::emu {

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

namespace {

constexpr uint32_t kBlock = 32;

uint32_t NextOwner() {
  static std::atomic<uint32_t> next{0};
  uint32_t o = ++next;
  if (o == 0) o = ++next;  // 0 marks a fresh entry
  return o;
}

}  // namespace

void HazardState::Reset(uint32_t launchIndex) {
  owner = NextOwner();
  self = launchIndex;
  for (Clock& c : clock) c.fill(0);
  remote.clear();
  pending.clear();
  gmPending.clear();
  inGmPoll = false;
  flags.clear();
}

HazardState& State() { return *Core().hazard; }

namespace {

std::mutex gPoolMu;
std::vector<HazardState*>& Pool() {
  static auto* pool = new std::vector<HazardState*>;  // leaked on purpose, as the local-memory pool
  return *pool;
}

// The scalar unit issues every other pipe's instructions in program order and blocks in its own
// waits (WaitFlag<X_S>, a PipeBarrier): an instruction issued after such a wait starts after what
// the scalar waited for. Its own reads and writes of UB are not ordered so (S_V / S_MTE2 / ...).
void InheritScalarWaits(HazardState& s, int p) {
  if (p <= 0) return;  // the scalar itself, or no pipe
  for (int q = 1; q < kPipes; ++q) s.clock[p][q] = std::max(s.clock[p][q], s.clock[0][q]);
}

uint64_t FlagKey(HardEvent e, uint32_t id) { return uint64_t(static_cast<uint8_t>(e)) << 32 | id; }

[[noreturn]] void Report(const char* api, int pipe, const LocalRange& r, uint32_t block, const char* what, int other,
                         const char* otherApi) {
  const uint32_t a = block * kBlock;
  Fail(api, "pipe-hazard",
       Format("PIPE_%s %s %s bytes [%u, %u), which %s on PIPE_%s %s, with no SetFlag<%s_%s> / WaitFlag chain or "
              "PipeBarrier<PIPE_ALL> between them: the NPU runs the two pipes in parallel",
              kPipeNames[pipe], r.write ? "writes" : "reads", Spec(r.mem).name, std::max(a, r.begin),
              std::min(a + kBlock, r.end), otherApi, kPipeNames[other], what, kPipeNames[other], kPipeNames[pipe]));
}

void Apply(HazardState& s, const char* api, int p, const LocalRange& r) {
  std::vector<LocalBlock>& blocks = s.shadow[static_cast<int>(r.mem)];
  if (blocks.empty()) blocks.resize(Spec(r.mem).physicalBytes / kBlock);
  const Clock& mine = s.clock[p];
  const uint32_t step = mine[p];
  for (uint32_t b = r.begin / kBlock; b < (r.end + kBlock - 1) / kBlock; ++b) {
    LocalBlock& e = blocks[b];
    if (e.owner != s.owner) e = LocalBlock{s.owner};
    if (e.writer != 0xFF && e.writer != p && e.writeStep > mine[e.writer])
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
  std::vector<LocalRange>& pending = State().pending;
  if (!pending.empty()) {
    LocalRange& last = pending.back();
    if (last.mem == m && last.write == write && last.end == begin) {
      last.end = static_cast<uint32_t>(end);
      return;
    }
  }
  pending.push_back(LocalRange{m, static_cast<uint32_t>(begin), static_cast<uint32_t>(end), write});
}

void IssueOn(const char* api, pipe_t pipe) {
  HazardState& s = State();
  const int p = PipeIndex(pipe);
  if (p < 0) {
    s.pending.clear();
    s.gmPending.clear();
    return;
  }
  InheritScalarWaits(s, p);
  const uint32_t step = ++s.clock[p][p];
  s.recent[p][step % kRecent] = api;
  // The noted ranges leave the core's lists even when a check refuses one (throws): the error must
  // reach the launch although the kernel's destructors issue more calls on the way out (catlass's
  // tiles wait their flags in destructors; a second throw there would be std::terminate).
  struct ClearOnExit {
    HazardState& s;
    ~ClearOnExit() {
      s.pending.clear();
      s.gmPending.clear();
    }
  } clearOnExit{s};
  // Writes first: an operand both read and written (Axpy's dst) is then checked as a write.
  for (const LocalRange& r : s.pending)
    if (r.write) Apply(s, api, p, r);
  for (const LocalRange& r : s.pending)
    if (!r.write) Apply(s, api, p, r);
  if (!s.gmPending.empty()) ApplyGm(s, api, p, step);
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

// ---- stamps: the clocks that travel with cross-core sync --------------------------------------

void JoinStamp(HazardStamp& into, const HazardStamp& from) {
  if (from.empty()) return;
  if (into.empty()) {
    into = from;
    return;
  }
  HazardStamp out;
  out.reserve(into.size() + from.size());
  size_t i = 0, j = 0;
  while (i < into.size() || j < from.size()) {
    if (j == from.size() || (i < into.size() && into[i].first < from[j].first)) out.push_back(into[i++]);
    else if (i == into.size() || from[j].first < into[i].first) out.push_back(from[j++]);
    else {
      out.emplace_back(into[i].first, std::max(into[i].second, from[j].second));
      ++i;
      ++j;
    }
  }
  into = std::move(out);
}

uint32_t StampStep(const HazardStamp& stamp, uint32_t index) {
  auto it = std::lower_bound(stamp.begin(), stamp.end(), index,
                             [](const std::pair<uint32_t, uint32_t>& e, uint32_t i) { return e.first < i; });
  return it != stamp.end() && it->first == index ? it->second : 0;
}

HazardStamp StampOf(pipe_t pipe) {
  HazardCheckIdle("a cross-core sync");
  HazardState& s = State();
  Clock own{};
  if (pipe == PIPE_ALL) {
    for (const Clock& c : s.clock)
      for (int q = 0; q < kPipes; ++q) own[q] = std::max(own[q], c[q]);
  } else {
    const int p = PipeIndex(pipe);
    InheritScalarWaits(s, p);
    if (p >= 0) own = s.clock[p];
  }
  // The scalar's own GM accesses are done before it issues anything later (gm_hazard.cpp, Ordered).
  own[0] = std::max(own[0], s.clock[0][0]);
  HazardStamp mine;
  for (int q = 0; q < kPipes; ++q)
    if (own[q]) mine.emplace_back(s.self * kPipes + q, own[q]);
  JoinStamp(mine, s.remote);
  return mine;
}

void ReceiveStamp(const HazardStamp& stamp) {
  HazardCheckIdle("a cross-core wait");
  if (stamp.empty()) return;
  HazardState& s = State();
  JoinStamp(s.remote, stamp);
  // The core's own entries come back when another core's sync passed them on (or a group flag
  // included the core's own set): they order its pipes among themselves too.
  for (int q = 0; q < kPipes; ++q) {
    const uint32_t step = StampStep(stamp, s.self * kPipes + q);
    for (Clock& c : s.clock) c[q] = std::max(c[q], step);
  }
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
  s->Reset(core.launchIndex);
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
  if (s.pending.empty() && s.gmPending.empty()) return;
  std::string what = s.pending.empty() ? Format("GM bytes at %p", reinterpret_cast<void*>(s.gmPending.front().begin))
                                       : Format("%s bytes [%u, %u)", Spec(s.pending.front().mem).name,
                                                s.pending.front().begin, s.pending.front().end);
  s.pending.clear();
  s.gmPending.clear();
  Fail(where, "emulator", Format("an instruction noted %s but was never issued on a pipe", what.c_str()));
}

}  // namespace AscendC::emu
