// UB bank beats of an element-wise vector instruction, for the timing model.
//
// A2/A3 (NPU arch 2201): UB's 192 KiB are 48 banks of 128 rows x 32 B, in 16 bank groups of 3 banks.
// Address bits [17:16] pick the bank within its group, [15:9] the row, [8:5] the group
// (asc-devkit examples/01_simd_cpp_api/05_best_practices/04_memory_access/bank_conflict_ub/README;
// CANN guide "避免bank冲突（NPU架构版本2201）"). Per beat the vector unit reads one row from each bank
// group and writes one row to each bank group, and a bank serves either a read or a write. A
// repeat's 8 blocks of each operand are its rows; its writes go out with the next repeat's reads
// (the hardware delays them a repeat, which is why dst over src costs nothing). A block read twice
// (block stride 0) is read once. So a repeat takes as many beats as the most reads one group gets,
// the most writes one group gets, or the most accesses one bank gets, whichever is largest.
#include "emu/vec_engine.h"

namespace AscendC::emu {

namespace {

constexpr uint32_t kGroups = 16, kBanks = 48, kMaxRows = 24;

uint32_t GroupOf(uint32_t addr) { return (addr >> 5) & 15; }
uint32_t BankOf(uint32_t addr) { return GroupOf(addr) + 16 * ((addr >> 16) % 3); }

// Whether any lane of lanes [first, first + count) runs in repeat r (count <= 32, within one mask word).
bool AnyLane(const LanePlan& p, uint32_t r, uint32_t first, uint32_t count) {
  if (p.counter()) return uint64_t(r) * p.lanes + first < p.count;
  if (first >= 128) return false;  // the mask has 128 lanes
  return (p.bits[first >> 6] >> (first & 63)) & ((1ull << count) - 1);
}

// The rows (32-byte blocks) an operand touches in repeat r, appended to rows[] without repeats.
void AddRows(const LanePlan& p, uint32_t r, const BankOperand& o, uint32_t* rows, uint32_t& n) {
  const uint32_t lanesPerBlock = 32 / o.layout.eltBytes;
  const uint32_t blocks = std::min<uint32_t>(8, (p.lanes + lanesPerBlock - 1) / lanesPerBlock);
  for (uint32_t b = 0; b < blocks; ++b) {
    if (!AnyLane(p, r, b * lanesPerBlock, std::min(lanesPerBlock, p.lanes - b * lanesPerBlock))) continue;
    const uint32_t row = o.ubAddr + static_cast<uint32_t>(o.layout.Offset(r, b * lanesPerBlock));
    bool seen = false;
    for (uint32_t i = 0; i < n && !seen; ++i) seen = rows[i] == row;
    if (!seen && n < kMaxRows) rows[n++] = row;
  }
}

// Beats of repeat r: its reads meet the writes of repeat r - 1.
uint32_t RepeatBeats(const LanePlan& p, uint32_t r, const BankOperand* reads, uint32_t nReads,
                     const BankOperand& write) {
  uint32_t readRows[kMaxRows], writeRows[kMaxRows], nr = 0, nw = 0;
  for (uint32_t i = 0; i < nReads; ++i) AddRows(p, r, reads[i], readRows, nr);
  if (r > 0) AddRows(p, r - 1, write, writeRows, nw);
  uint8_t groupReads[kGroups] = {}, groupWrites[kGroups] = {}, bankUse[kBanks] = {};
  uint32_t beats = 0;
  for (uint32_t i = 0; i < nr; ++i) {
    beats = std::max<uint32_t>(beats, ++groupReads[GroupOf(readRows[i])]);
    beats = std::max<uint32_t>(beats, ++bankUse[BankOf(readRows[i])]);
  }
  for (uint32_t i = 0; i < nw; ++i) {
    beats = std::max<uint32_t>(beats, ++groupWrites[GroupOf(writeRows[i])]);
    beats = std::max<uint32_t>(beats, ++bankUse[BankOf(writeRows[i])]);
  }
  return beats;
}

}  // namespace

uint64_t UbBankBeats(const LanePlan& p, const BankOperand* reads, uint32_t nReads, const BankOperand& write) {
  // The groups a repeat meets recur every 16 repeats (strides are whole 32-byte rows), so repeats
  // past the 17th are priced at the average of repeats 1-16 (a 64-KiB bank crossing is then missed).
  constexpr uint32_t kExact = 17;
  uint64_t beats = 0, window = 0;
  for (uint32_t r = 0; r < std::min(p.repeats, kExact); ++r) {
    const uint32_t b = RepeatBeats(p, r, reads, nReads, write);
    beats += b;
    if (r > 0) window += b;
  }
  if (p.repeats > kExact) beats += (uint64_t(p.repeats - kExact) * window + 8) / 16;
  return beats;
}

}  // namespace AscendC::emu
