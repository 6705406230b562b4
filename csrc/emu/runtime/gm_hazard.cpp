// The GM side of the happens-before check (emu/hazard.h, rule "gm-hazard"). One shadow per launch,
// shared by its cores, keeps per 32-byte block of GM the accesses not yet superseded, each with the
// bytes it touched, its core, pipe and step; it is made in pages of 64 blocks, each with its lock,
// when first written. An access is checked against every overlapping one it conflicts with (one of
// the two a plain write, or a read against an atomic add): the earlier one must be ordered before
// it, through the core's own clocks when both are on one core, through the stamps its cross-core
// syncs received otherwise.
//
// Only bytes some core wrote (or added to) in the launch are tracked: a read of a kernel input is
// not recorded, so overwriting an input after reading it is not checked (no op does). Atomic adds
// (max, min) from several cores to the same bytes need no order among themselves; nor do a read and
// another core's add when the reading core has added to those bytes itself: a counter the cores
// share, read back by each after its own add (the last-finisher pattern; SetAtomicAdd.md).
#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "emu/trace.h"
#include "hazard_state.h"
#include "launch_context.h"

namespace AscendC::emu {

namespace {

constexpr uint64_t kGmBlock = 32;
constexpr uint64_t kPageBlocks = 64;  // the shadow is allocated by pages of 2 KB of GM, when first written

// The instruction names of the accesses, as small ids (16-byte accesses: the shadow takes ~2 bytes per
// GM byte written). Each core thread keeps the ids it has seen.
uint16_t ApiId(const char* api);
const char* ApiName(uint16_t id);

struct GmAccess {
  uint32_t step;
  uint32_t mask;  // bytes of the block, bit i = byte i
  uint32_t core;  // launch index
  uint16_t api;   // ApiId
  uint8_t pipe;
  uint8_t kind;  // GmKind
};
static_assert(sizeof(GmAccess) == 16);

// The accesses a block holds: a few inline (most blocks see a write and a read or two), more on the heap.
class AccessList {
 public:
  size_t size() const { return n_ + (more_ ? more_->size() : 0); }
  GmAccess& operator[](size_t i) { return i < kInline ? inline_[i] : (*more_)[i - kInline]; }
  void push_back(const GmAccess& a) {
    if (n_ < kInline) {
      inline_[n_++] = a;
      return;
    }
    if (!more_) more_ = std::make_unique<std::vector<GmAccess>>();
    more_->push_back(a);
  }
  // Drops the accesses whose bytes were all superseded, keeping the others in order.
  void Compact() {
    size_t kept = 0;
    const size_t total = size();
    for (size_t i = 0; i < total; ++i)
      if ((*this)[i].mask) (*this)[kept++] = (*this)[i];
    n_ = static_cast<uint8_t>(std::min<size_t>(kept, kInline));
    if (kept <= kInline) more_.reset();
    else more_->resize(kept - kInline);
  }

 private:
  static constexpr size_t kInline = 3;
  std::array<GmAccess, kInline> inline_{};
  uint8_t n_ = 0;
  std::unique_ptr<std::vector<GmAccess>> more_;
};

std::mutex gApiMu;
std::vector<const char*>& ApiNames() {
  static auto* names = new std::vector<const char*>;  // leaked on purpose: names are string literals
  return *names;
}
uint16_t ApiId(const char* api) {
  thread_local std::unordered_map<const char*, uint16_t> seen;
  auto it = seen.find(api);
  if (it != seen.end()) return it->second;
  std::lock_guard<std::mutex> g(gApiMu);
  std::vector<const char*>& names = ApiNames();
  size_t id = 0;
  while (id < names.size() && names[id] != api) ++id;
  if (id == names.size()) {
    if (id > 0xFFFF) throw EmuError("[ascendc-emu] gm-hazard: more than 65,536 instruction names");
    names.push_back(api);
  }
  return seen[api] = static_cast<uint16_t>(id);
}
const char* ApiName(uint16_t id) {
  std::lock_guard<std::mutex> g(gApiMu);
  return ApiNames()[id];
}

struct GmPage {
  std::mutex mu;
  std::array<AccessList, kPageBlocks> blocks;
};

const char* const kDoes[] = {"reads", "writes", "adds to"};
const char* const kDid[] = {"reads", "wrote", "added to"};

bool Conflict(uint8_t a, uint8_t b) {
  if (a == kGmRead && b == kGmRead) return false;
  return !(a == kGmAtomic && b == kGmAtomic);
}

}  // namespace

// Per span of the launch's GM (LaunchContext::spans): whether any core wrote it yet (reads of spans
// nobody writes, the kernel's inputs, then cost one load), and its pages.
struct GmShadow {
  struct Span {
    std::atomic<bool> written{false};
    std::unique_ptr<std::atomic<GmPage*>[]> pages;
    size_t pageCount = 0;
  };
  std::vector<Span> spans;
  explicit GmShadow(const LaunchContext& L) : spans(L.spans.size()) {
    for (size_t i = 0; i < spans.size(); ++i) {
      spans[i].pageCount = (L.spans[i].hi - L.spans[i].lo + kPageBlocks * kGmBlock - 1) / (kPageBlocks * kGmBlock);
      spans[i].pages.reset(new std::atomic<GmPage*>[spans[i].pageCount]);
      for (size_t p = 0; p < spans[i].pageCount; ++p) spans[i].pages[p].store(nullptr, std::memory_order_relaxed);
    }
  }
  ~GmShadow() {
    for (Span& s : spans)
      for (size_t p = 0; p < s.pageCount; ++p) delete s.pages[p].load(std::memory_order_relaxed);
  }
  // The page, made on first write (nullptr for a read of a page nobody wrote).
  GmPage* Page(Span& s, size_t index, bool make) {
    GmPage* page = s.pages[index].load(std::memory_order_acquire);
    if (page || !make) return page;
    auto* fresh = new GmPage;
    if (s.pages[index].compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) return fresh;
    delete fresh;  // another core made it first
    return page;
  }
};

namespace {

GmShadow& ShadowOf(LaunchContext& L) {
  std::call_once(L.gmShadowOnce, [&L] { L.gmShadow = std::make_shared<GmShadow>(L); });
  return *L.gmShadow;
}

// The index of the span (overlapping GM buffers as one) holding address a, -1 if none.
ptrdiff_t SpanOf(const LaunchContext& L, uint64_t a) {
  auto it = std::upper_bound(L.spans.begin(), L.spans.end(), a,
                             [](uint64_t x, const LaunchContext::Span& s) { return x < s.lo; });
  return it != L.spans.begin() && a < (it - 1)->hi ? (it - 1) - L.spans.begin() : -1;
}

// A scalar GM access is done before the scalar issues its next instruction: a read returns its
// value, a write lands in the core's DataCache (which DataCacheCleanAndInvalid writes out at once,
// DataCacheCleanAndInvalid.md; whether it did is the DataCache rule's business, emu/data_cache.h).
bool Ordered(const HazardState& s, int p, const GmAccess& a) {
  if (a.core == s.self) return a.pipe == p || a.pipe == 0 || s.clock[p][a.pipe] >= a.step;
  return StampStep(s.remote, a.core * kPipes + a.pipe) >= a.step;
}

[[noreturn]] void Report(const LaunchContext& L, const HazardState& s, const char* api, int p, uint8_t kind,
                         const LaunchContext::Span& span, uint64_t key, uint32_t overlap, const GmAccess& other) {
  const uint64_t first = key - span.lo + __builtin_ctz(overlap);
  const uint64_t last = key - span.lo + (31 - __builtin_clz(overlap)) + 1;
  const std::string head = Format("PIPE_%s %s GM bytes [%llu, %llu) of argument %zu, which %s on PIPE_%s", kPipeNames[p],
                                  kDoes[kind], (unsigned long long)first, (unsigned long long)last, span.first, ApiName(other.api),
                                  kPipeNames[other.pipe]);
  if (other.core == s.self)
    Fail(api, "gm-hazard",
         Format("%s %s, with no SetFlag<%s_%s> / WaitFlag chain or PipeBarrier<PIPE_ALL> between them: the NPU runs "
                "the two pipes in parallel",
                head.c_str(), kDid[other.kind], kPipeNames[other.pipe], kPipeNames[p]));
  Fail(api, "gm-hazard",
       Format("%s of core %s %s, with no cross-core flag, SyncAll or GM counter ordering them: the cores run in parallel",
              head.c_str(), CoreName(*L.cores[other.core]).c_str(), kDid[other.kind]));
}

// One block (its page locked): checks the access against what the block holds, then records it.
void ApplyBlock(const LaunchContext& L, const HazardState& s, AccessList& acc, const char* api, uint16_t apiId, int p,
                uint32_t step,
                uint8_t kind, const LaunchContext::Span& span, uint64_t key, uint32_t mask) {
  if (kind == kGmRead && acc.size() == 0) return;  // bytes nobody wrote in this launch
  auto addedBy = [&acc](uint32_t core, uint32_t bytes) {
    for (size_t i = 0; i < acc.size(); ++i)
      if (acc[i].core == core && acc[i].kind == kGmAtomic && (acc[i].mask & bytes)) return true;
    return false;
  };
  for (size_t i = 0; i < acc.size(); ++i) {
    const GmAccess& a = acc[i];
    const uint32_t overlap = a.mask & mask;
    if (!overlap || !Conflict(a.kind, kind) || Ordered(s, p, a)) continue;
    const bool sharedCounter = a.core != s.self && ((kind == kGmRead && a.kind == kGmAtomic && addedBy(s.self, overlap)) ||
                                                    (kind == kGmAtomic && a.kind == kGmRead && addedBy(a.core, overlap)));
    if (!sharedCounter) Report(L, s, api, p, kind, span, key, overlap, a);
  }
  // What the new access supersedes: a plain write every earlier access to its bytes (each ordered
  // before it, checked above); a read or an add the same core and pipe's earlier one of its kind.
  bool dropped = false;
  for (size_t i = 0; i < acc.size(); ++i) {
    GmAccess& a = acc[i];
    if ((a.mask & mask) && (kind == kGmWrite || (a.core == s.self && a.pipe == p && a.kind == kind))) {
      a.mask &= ~mask;
      dropped |= a.mask == 0;
    }
  }
  if (dropped) acc.Compact();
  acc.push_back(GmAccess{step, mask, s.self, apiId, static_cast<uint8_t>(p), kind});
}

}  // namespace

void NoteGm(const void* p, uint64_t bytes, bool write, bool copy) {
  HazardState& s = State();
  if (!bytes || (s.inGmPoll && !write)) return;
  const uint64_t a = reinterpret_cast<uint64_t>(p);
  const uint8_t kind = !write ? kGmRead : copy && Core().atomicOp != 0 ? kGmAtomic : kGmWrite;
  std::vector<GmRange>& pending = s.gmPending;
  if (!pending.empty() && pending.back().kind == kind && pending.back().end == a) {
    pending.back().end = a + bytes;
    return;
  }
  pending.push_back(GmRange{a, a + bytes, kind});
}

void HazardGmPoll(bool inside) { State().inGmPoll = inside; }

void ApplyGm(HazardState& s, const char* api, int p, uint32_t step) {
  LaunchContext& L = *CurrentLaunch();
  GmShadow& shadow = ShadowOf(L);
  const uint16_t apiId = ApiId(api);
  for (const GmRange& r : s.gmPending) {  // IssueOn clears the list, also when a range is refused
    const ptrdiff_t index = SpanOf(L, r.begin);
    if (index < 0) continue;  // CheckGm has refused it already, or it is not a launch buffer
    const LaunchContext::Span& span = L.spans[index];
    GmShadow::Span& ss = shadow.spans[index];
    if (r.kind == kGmRead) {
      if (!ss.written.load(std::memory_order_acquire)) continue;
    } else if (!ss.written.load(std::memory_order_relaxed)) {
      ss.written.store(true, std::memory_order_release);
    }
    // Blocks are cut from the start of the buffer: host allocations are aligned differently from
    // run to run, and the messages give offsets into the buffer.
    const uint64_t end = std::min(r.end, span.hi);
    uint64_t block = (r.begin - span.lo) / kGmBlock;
    const uint64_t lastBlock = (end - span.lo - 1) / kGmBlock;
    while (block <= lastBlock) {
      const uint64_t pageEnd = std::min(lastBlock + 1, (block / kPageBlocks + 1) * kPageBlocks);
      GmPage* page = shadow.Page(ss, block / kPageBlocks, r.kind != kGmRead);
      if (page) {
        std::lock_guard<std::mutex> g(page->mu);
        for (; block < pageEnd; ++block) {
          const uint64_t key = span.lo + block * kGmBlock;
          const uint64_t lo = std::max(key, r.begin), hi = std::min(key + kGmBlock, end);
          const uint32_t mask = static_cast<uint32_t>((hi - lo == 32 ? ~0ull : (1ull << (hi - lo)) - 1) << (lo - key));
          ApplyBlock(L, s, page->blocks[block % kPageBlocks], api, apiId, p, step, r.kind, span, key, mask);
        }
      }
      block = pageEnd;
    }
  }
}

}  // namespace AscendC::emu
