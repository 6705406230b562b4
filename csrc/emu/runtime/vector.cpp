// Lane plans of the vector unit: masks, repeats and the counter mode.
#include "emu/vec_engine.h"

namespace AscendC::emu {

namespace {
void CheckRepeats(const char* api, uint32_t repeats) {
  EMU_REQUIRE(repeats <= 255, api, "param-range", "repeatTime %u exceeds 255", repeats);
}
}  // namespace

uint32_t LanePlan::MaxLane(uint32_t r) const {
  if (counter()) {
    const uint64_t start = uint64_t(r) * lanes;
    if (start >= count) return ~0u;
    return static_cast<uint32_t>(std::min<uint64_t>(count - start, lanes) - 1);
  }
  for (int lane = static_cast<int>(lanes) - 1; lane >= 0; --lane)
    if (Active(r, lane)) return lane;
  return ~0u;
}

uint64_t LanePlan::ActiveLanes() const {
  if (counter()) return count;
  return uint64_t(repeats) * (__builtin_popcountll(bits[0]) + (lanes > 64 ? __builtin_popcountll(bits[1]) : 0));
}

namespace {
LanePlan PlanBits(const char* api, uint32_t lanes, uint64_t high, uint64_t low, uint32_t repeats) {
  CheckRepeats(api, repeats);
  LanePlan p;
  p.lanes = lanes;
  p.repeats = repeats;
  p.bits[0] = low;
  p.bits[1] = lanes > 64 ? high : 0;
  EMU_REQUIRE(p.bits[0] || p.bits[1], api, "param-range", "the lane mask is all zeros");
  return p;
}
}  // namespace

void WriteMask(uint64_t high, uint64_t low) {
  CoreState& c = Core();
  c.maskHigh = high;
  c.maskLow = low;
  c.maskUndefinedBy = nullptr;
}

// AscendCUtils::SetMask<T>(len) (impl/basic_api/kernel_utils_base.h): 64 -> low word only; a full
// repeat or >= 128 -> all ones; otherwise the first `len` lanes.
void WriteMaskLen(uint32_t lanes, int64_t len) {
  if (len == 64) return WriteMask(0, ~0ull);
  if (len == lanes || len >= 128) return WriteMask(~0ull, ~0ull);
  const uint64_t n = len < 0 ? 0 : static_cast<uint64_t>(len);
  WriteMask(n > 64 ? (1ull << (n - 64)) - 1 : 0, n > 64 ? ~0ull : (1ull << n) - 1);
}

void UndefineMask(const char* api) { Core().maskUndefinedBy = api; }

void EndCountForm() {
  Core().maskCounterMode = false;
  WriteMask(~0ull, ~0ull);
}

LanePlan PlanFromRegisters(const char* api, uint32_t lanes, uint32_t repeats) {
  const CoreState& c = Core();
  EMU_REQUIRE(!c.maskUndefinedBy, api, "mask-state",
              "runs under the vector mask register, which %s left undefined: set it first (SetVectorMask, ResetMask, "
              "or a count-form instruction)", c.maskUndefinedBy);
  if (c.maskCounterMode) return PlanCount(api, lanes, static_cast<int64_t>(c.maskLow));
  return PlanBits(api, lanes, c.maskHigh, c.maskLow, repeats);
}

LanePlan PlanMask(const char* api, uint32_t lanes, uint64_t mask, uint32_t repeats, bool isSetMask) {
  if (isSetMask) {
    CheckRepeats(api, repeats);
    EMU_REQUIRE(mask >= 1 && mask <= lanes, api, "param-range", "continuous mask %llu outside [1, %u]",
                (unsigned long long)mask, lanes);
    WriteMaskLen(lanes, static_cast<int64_t>(mask));
  }
  return PlanFromRegisters(api, lanes, repeats);
}

LanePlan PlanMask(const char* api, uint32_t lanes, const uint64_t mask[], uint32_t repeats, bool isSetMask) {
  if (isSetMask) WriteMask(mask[1], mask[0]);
  return PlanFromRegisters(api, lanes, repeats);
}

LanePlan PlanCount(const char* api, uint32_t lanes, int64_t count) {
  EMU_REQUIRE(count >= 0, api, "param-range", "count %lld is negative", (long long)count);
  LanePlan p;
  p.lanes = lanes;
  p.count = static_cast<uint64_t>(count);
  p.counterMode = true;
  p.repeats = static_cast<uint32_t>((p.count + lanes - 1) / lanes);
  return p;
}

LanePlan PlanCountForm(const char* api, uint32_t lanes, int64_t count) {
  const LanePlan p = PlanCount(api, lanes, count);
  EndCountForm();
  return p;
}

uint64_t Extent(const LanePlan& p, const Layout& l) {
  uint64_t ext = 0;
  // Offsets grow with the repeat and the lane, so only the last two repeats can hold the maximum.
  for (uint32_t r = p.repeats >= 2 ? p.repeats - 2 : 0; r < p.repeats; ++r) {
    const uint32_t lane = p.MaxLane(r);
    if (lane != ~0u) ext = std::max(ext, l.Offset(r, lane) + l.eltBytes);
  }
  return ext;
}

void NoteOperand(Mem m, uint32_t addr, const LanePlan& p, const Layout& l, bool write) {
  if (Dense(p, l)) {
    NoteAccess(m, addr, addr + DenseCount(p) * l.eltBytes, write);
    return;
  }
  // The 32-byte blocks of a repeat holding at least one active lane, each noted where it lies.
  const uint32_t perBlock = l.eltBytes < 32 ? 32 / l.eltBytes : 1;
  for (uint32_t r = 0; r < p.repeats; ++r)
    for (uint32_t first = 0; first < p.lanes; first += perBlock)
      for (uint32_t lane = first; lane < std::min(first + perBlock, p.lanes); ++lane)
        if (p.Active(r, lane)) {
          const uint64_t at = addr + l.Offset(r, first);
          NoteAccess(m, at, at + uint64_t(perBlock) * l.eltBytes, write);
          break;
        }
}

void RequireCubeCore(const char* api) {
  EMU_REQUIRE(Core().coreType == AIC, api, "core-type", "cube instruction on a vector (AIV) core");
}

void RequireVectorCore(const char* api) {
  EMU_REQUIRE(Core().coreType == AIV, api, "core-type", "vector instruction on a cube (AIC) core");
}

}  // namespace AscendC::emu
