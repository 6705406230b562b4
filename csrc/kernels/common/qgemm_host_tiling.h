// Host side of the quantized GEMM engine: tile sizes, work split parameters and the workspace
// layout, from the problem's shape only (never from group_list values, which live on the device).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "host_device.h"
#include "qgemm_tiling.h"

namespace ascend_glm5 {

struct QGemmProblem {
  uint64_t m = 0;
  uint32_t n = 0, k = 0, groups = 1;
  bool hasGroupList = false;
  bool msd = false;
  uint32_t weightKind = kWeightInt8KN;
  uint32_t outDtype = kBFloat16;
  uint32_t biasKind = kBiasNone;
  bool hasPertoken = false;
};

struct QGemmPlan {
  QGemmTiling tiling{};
  uint64_t workspaceBytes = 0;
};

namespace qgemm_detail {

inline uint32_t TokensPerPass(bool msd, uint32_t mTile) { return msd ? (mTile - 1) / 2 : mTile; }
inline uint32_t MTileFor(uint32_t nTile) { return std::min(kQGemmMaxMTile, kQGemmL0cSlotElems / nTile); }
inline uint64_t AlignUp64(uint64_t a, uint64_t b) { return (a + b - 1) / b * b; }

// Split-K: the partial (int32) from which a block's last units load in two column halves (the cut,
// QGemmCube::CutUnits): its fixpipe (~40 B/cycle) then takes longer than the MTE1 work the cut adds.
constexpr uint64_t kQGemmCutPartialBytes = 32 * 1024;

// Prefill of one matrix (compute-bound): each item is one output tile of mTile rows x up to 256
// columns that fills L0C (one 128 KiB accumulator), one pass streaming K: per K step the cube reads
// (mTile + width) x 128 B from L1 for mTile x width x 128 MACs, the most work per loaded byte L0C
// allows (a core's GM -> L1 path, ~78 B/cycle, cannot feed 8192 int8 MAC/cycle with smaller tiles).
struct PrefillTiles {
  uint32_t mTile = 0, nTiles = 0, width = 0;  // width: the widest column tile, a multiple of gran
};

constexpr uint32_t kPrefillUnits = 3;  // load units L1 holds (weights and A rows) in the prefill schedule

// A core's time per K element for an item (x 8192): its loads at the GM -> L1 path rate, or its MACs
// (the cube runs the widest tile's columns).
inline uint64_t PrefillItemCost(uint32_t mTile, double avgWidth, uint32_t width) {
  constexpr double kMacPerByte = 105;  // 8192 int8 MAC/cycle / ~78 B/cycle of a core's GM -> L1 path
  return std::max<uint64_t>(uint64_t(kMacPerByte * (mTile + avgWidth)), uint64_t(mTile) * width);
}

// Tile shape (256 x 128 or 128 x 256 output; twoSlots: 128 x 128, two accumulators) and column tile
// count that minimise the busiest core's time: ceil(items / cores) items each; N cut into nTiles
// ranges of whole gran units (widths one unit apart, so the average width counts for the loads).
inline PrefillTiles ChoosePrefillTiles(uint64_t m, uint32_t n, uint32_t gran, uint32_t aiCores, bool twoSlots) {
  PrefillTiles best;
  uint64_t bestCost = ~uint64_t(0);
  const uint32_t units = CeilDiv(n, gran);
  for (uint32_t mTile : {kQGemmMaxMTile, kQGemmMaxMTile / 2}) {
    if (twoSlots && mTile != kQGemmMaxMTile / 2) continue;
    const uint32_t maxWidth = std::min<uint32_t>(256, (twoSlots ? kQGemmL0cSlotElems : kQGemmL0cElems) / mTile) / gran * gran;
    const uint64_t rowBlocks = (m + mTile - 1) / mTile;
    const uint32_t fewest = CeilDiv(units * gran, maxWidth);
    for (uint32_t nTiles = fewest; nTiles <= std::min(units, fewest + aiCores); ++nTiles) {
      const uint32_t width = CeilDiv(units, nTiles) * gran;
      const uint64_t perCore = (rowBlocks * nTiles + aiCores - 1) / aiCores;
      const uint64_t cost = perCore * PrefillItemCost(mTile, double(n) / nTiles, width);
      if (cost < bestCost) bestCost = cost, best = PrefillTiles{mTile, nTiles, width};
    }
  }
  return best;
}

// K-chunked prefill (QGemmChunkWalk): the longest run of consecutive items of one block on the same
// rows, under the schedule's split (QGemmSchedule: item costs max(224, rows rounded to 16), each
// item to the block whose share of the total cost holds its midpoint).
inline uint32_t LongestPrefillRun(uint64_t m, uint32_t itemRows, uint32_t nTiles, uint32_t blockDim) {
  const uint64_t rowBlocks = (m + itemRows - 1) / itemRows;
  auto cost = [&](uint64_t rb) {
    const uint64_t rows = std::min<uint64_t>(itemRows, m - rb * itemRows);
    return std::max<uint64_t>(kQGemmWeightCostRows, AlignUp64(rows, 16));
  };
  uint64_t total = 0;
  for (uint64_t rb = 0; rb < rowBlocks; ++rb) total += cost(rb) * nTiles;
  uint64_t start = 0;
  uint32_t longest = 0;
  for (uint64_t rb = 0; rb < rowBlocks; ++rb) {
    uint32_t run = 0, owner = ~0u;
    for (uint32_t j = 0; j < nTiles; ++j, start += cost(rb)) {
      const uint32_t b = uint32_t(std::min<uint64_t>(blockDim - 1, (2 * start + cost(rb)) * blockDim / (2 * total)));
      run = b == owner ? run + 1 : 1;
      owner = b;
      longest = std::max(longest, run);
    }
  }
  return std::min(longest, kQGemmMaxRunTiles);
}

// The K-chunked load layout: L1 holds a chunk's rows (steps x aStepBytes, in units; up to half of L1:
// q_a_proj / o_proj S = 1024, 16 steps: 99.2 / 695.1 k cycles, 24 / 12 steps 100.8 / 728.9 k) and a
// ring of weight units (up to kPrefillUnits, as many steps a unit as fit); the rows may run at most
// as many units ahead as the shortest chunk has (a chunk's row slots are refilled by the next chunk).
constexpr uint32_t kChunkRowBytes = 256 * 1024;  // a K chunk's rows: half of L1
struct ChunkLayout {
  uint32_t steps = 0, unit = 0, ringUnits = 0, aDepth = 0;  // steps == 0: does not fit
};
inline ChunkLayout ChooseChunkLayout(uint32_t chunks, uint32_t chunkBytes, uint32_t aStepBytes) {
  ChunkLayout c;
  const uint32_t most = std::min<uint32_t>(255, kChunkRowBytes / aStepBytes);
  if (most == 0) return c;
  const uint32_t count = CeilDiv(chunks, most), steps = CeilDiv(chunks, count);
  if (uint64_t(count - 1) * steps >= chunks) return c;
  const uint32_t last = chunks - (count - 1) * steps;
  for (uint32_t unit = steps; unit >= 1; --unit) {
    const uint64_t aBytes = uint64_t(CeilDiv(steps, unit)) * unit * aStepBytes;
    if (aBytes + uint64_t(kPrefillUnits) * unit * chunkBytes > kQGemmL1Bytes) continue;
    const uint32_t depth = std::min<uint32_t>(kQGemmMaxADepth, CeilDiv(last, unit));
    if (depth < 2) continue;  // shorter units: the rows run ahead by more units
    return ChunkLayout{steps, unit, std::min<uint32_t>(kPrefillUnits, CeilDiv(steps, unit)), depth};
  }
  return c;
}

// Whether a plan's A rows go to L1 in L0A's order (QGemmTiling::aZz): a K step then goes to L0A in
// one load instead of min(row blocks, column blocks) (MTE1 pays ~22 cycles a load), for one copy per
// row block of a unit instead of one (MTE2 pays ~18 a copy). Only K-chunked prefill plans, whose
// 128 x 128 tiles are MTE1-bound (a step: 4 loads of A, 1 of B, 302 cycles, for 256 of Mmad) and
// whose rows are copied once per run of tiles (o_proj S = 1024: 788.9 -> 682.8 k cycles, q_a_proj
// 110.0 -> 96.1 k). Where each pass copies its own rows (decode B = 64: 4 row blocks, MSD prefill),
// the extra copies cost more than the loads save (q_a_proj B = 64 +1.5 %, the a8w4 prefills' hi / lo /
// ones rows +1.2 / +3.8 %). Never MSD (K-chunked plans are not). The copies' row pitch and L1 matrix
// stride are 16 bits.
inline bool AZzPays(const QGemmTiling& t) {
  return t.chunkSteps > 0 && !t.msd && t.aRows >= 32 && t.k <= 65535 && uint64_t(t.aRows) * kQGemmStepBytes <= 65535;
}

}  // namespace qgemm_detail

// aiCores: AI cores (blocks of 1 cube + 2 vector cores) of the SoC.
inline QGemmPlan MakeQGemmPlan(const QGemmProblem& p, uint32_t aiCores) {
  using namespace qgemm_detail;
  if (p.n == 0 || p.k == 0 || p.groups == 0) throw std::invalid_argument("qgemm: N, K and the group count must be >= 1");
  if (p.m > 0x7FFFFFFFull) throw std::invalid_argument("qgemm: M must be below 2^31");
  if (aiCores == 0 || aiCores > 0xFFFF) throw std::invalid_argument("qgemm: the core count must fit the tiling's 16-bit blockDim");
  const bool int4 = p.weightKind == kWeightInt4KN;
  const uint32_t kStep = kQGemmStepBytes * 8 / (int4 ? 4 : 8);
  const uint32_t kLen = p.msd ? AlignUp(p.k, kQGemmKPadMsd) : p.k;
  const uint32_t chunks = CeilDiv(kLen, kStep);
  // Widest column tile first: wider tiles read longer weight rows per DMA. [K, N] tiles go through
  // square transposes (64 int4 / 32 int8 columns), [N, K] tiles need whole 16-row fractals.
  const uint32_t gran = int4 ? 64 : (p.weightKind == kWeightInt8KN ? 32 : 16);
  const uint32_t candidates[] = {256, 128, 64, 32, 16};
  // Take the widest tile whose weights stay in L1 for all passes (or that needs one pass only) and
  // that gives every core an item: groups with rows (at most min(E, M)) x column tiles >= cores,
  // unless that means going below 64 columns of a [K, N] weight (shorter DMA rows) or 16 of an
  // [N, K] one. If none qualifies, the narrowest tile streams its weights once per pass.
  uint32_t nTile = 0;
  bool resident = false;
  const uint32_t cap = std::max(gran, AlignUp(p.n, gran));
  for (uint32_t c : candidates) {
    if (c % gran != 0 || c > cap) continue;
    const uint32_t mTile = MTileFor(c);
    if (p.msd && mTile < 32) continue;
    nTile = c;
    resident = uint64_t(chunks) * c * kQGemmStepBytes <= kQGemmRingBytes;
    const bool onePass = p.m <= TokensPerPass(p.msd, mTile);
    const uint64_t groupsWithRows = std::min<uint64_t>(p.groups, std::max<uint64_t>(p.m, 1));
    const uint32_t floor = p.weightKind == kWeightInt8NK ? 16 : 64;
    const bool spread = groupsWithRows * CeilDiv(p.n, c) >= aiCores || c <= floor;
    if ((resident || onePass) && spread) break;
  }
  // Decode of one matrix (no groups or a single row, one pass): the column tiles alone share the work, so cut N into
  // a multiple of `aiCores` tiles of whole `gran` units (widths differ by one unit at most) rather
  // than ceil(N / nTile) equal tiles: 24 tiles on 20 cores would leave 16 of them idle for half the
  // time, when the 4 that hold two tiles stream alone, far below the HBM bandwidth.
  uint32_t nTiles = CeilDiv(p.n, nTile), nGran = nTile;
  const uint32_t units = CeilDiv(p.n, gran);
  const bool oneGroup = (!p.hasGroupList && p.groups == 1) || p.m == 1;  // at most one group has rows
  if (oneGroup && nTiles % aiCores != 0 && units >= aiCores &&
      p.m <= TokensPerPass(p.msd, MTileFor(nTile))) {
    uint32_t count = aiCores;
    while (CeilDiv(units, count) * gran > candidates[0]) count += aiCores;
    if (count <= units) {
      const uint32_t widest = CeilDiv(units, count) * gran;
      uint32_t fit = candidates[0];  // the narrowest candidate tile that holds the widest range
      for (uint32_t c : candidates)
        if (c % gran == 0 && c >= widest) fit = c;
      // Two or more tiles a core only pay when a tile's weights are large (o_proj: 2.5 MB): each
      // tile costs its own A reads, handoff and epilogue (measured on the model: 2048 x 6144 int4
      // at one row, 40 tiles of 128 / 192 columns, took 9.4 us against 8.1 us with 24 of 256).
      const uint64_t tileBytes = uint64_t(p.k) * widest / (int4 ? 2 : 1);
      if (p.m <= TokensPerPass(p.msd, MTileFor(fit)) && (count == aiCores || tileBytes >= (1u << 20))) {
        nTile = fit;
        nTiles = count;
        nGran = gran;
        resident = uint64_t(chunks) * nTile * kQGemmStepBytes <= kQGemmRingBytes;
      }
    }
  }
  // Prefill of one matrix: rows beyond one pass of the widest L0C tile take the compute-bound tiles.
  const bool prefill = !p.msd && !p.hasGroupList && p.groups == 1 && p.m > kQGemmMaxMTile;
  PrefillTiles pre;
  uint32_t mTile = MTileFor(nTile);
  ChunkLayout chunked;
  uint32_t longestRun = 0;
  if (prefill) {
    // K-chunked when a block has runs of tiles on the same rows (two accumulators: a chunk's fixpipe
    // runs under the next one's Mmads); else the full-L0C tiles, each streaming its K.
    pre = ChoosePrefillTiles(p.m, p.n, gran, aiCores, true);
    const uint32_t rows = kQGemmMaxMTile / 2;
    const uint64_t items = ((p.m + rows - 1) / rows) * pre.nTiles;
    longestRun = LongestPrefillRun(p.m, rows, pre.nTiles, uint32_t(std::min<uint64_t>(aiCores, items)));
    if (longestRun >= 2) chunked = ChooseChunkLayout(chunks, pre.width * kQGemmStepBytes, rows * kQGemmStepBytes);
    if (chunked.steps == 0) pre = ChoosePrefillTiles(p.m, p.n, gran, aiCores, false);
    nTile = pre.width;
    nTiles = pre.nTiles;
    nGran = gran;
    mTile = pre.mTile;
    resident = false;
  }
  // Grouped MSD (MoE prefill) whose groups' average rows fit one pass of a 128 x 256 tile (the full
  // L0C): each expert's weights then stream once per 256 columns, and its hi / lo rows are read
  // half as often as with 128-column tiles (a group with more rows takes more passes, each
  // streaming its weights again).
  const bool wideMsd = p.msd && p.hasGroupList && p.m > TokensPerPass(true, mTile) &&
                       CeilDiv(p.m, p.groups) <= TokensPerPass(true, kQGemmL0cElems / 256) &&
                       uint64_t(p.groups) * CeilDiv(p.n, 256) >= aiCores && AlignUp(p.n, gran) >= 256;
  if (wideMsd) {
    nTile = 256;
    nTiles = CeilDiv(p.n, nTile);
    nGran = nTile;
    mTile = kQGemmL0cElems / nTile;
    resident = uint64_t(chunks) * nTile * kQGemmStepBytes <= kQGemmRingBytes;
  }
  // Split-K (one group, one pass): when the column tiles do not split evenly over the cores (e.g.
  // 24 tiles of 256 on 20 cores: 4 cores stream a second tile alone), or when each tile re-reads
  // rows nearly as large as its weights (every core reads all M x K rows once per tile), the steps
  // of all tiles are cut evenly over the cores instead, a tile's K then shared by 2-3 cores.
  bool splitK = false;
  if (oneGroup && !prefill && !wideMsd && p.m >= 1 && p.m <= TokensPerPass(p.msd, mTile)) {
    const uint64_t rowBytes = uint64_t(p.msd ? 2 * p.m + 1 : p.m) * kLen / (int4 ? 2 : 1);
    const uint32_t half = CeilDiv(aiCores, 2), halfWidth = CeilDiv(units, half) * gran;
    const uint64_t tileBytes = uint64_t(p.k) * (CeilDiv(units, nTiles) * gran) / (int4 ? 2 : 1);
    if (nTiles % aiCores == 0 && units >= half && halfWidth <= candidates[0] && 2 * rowBytes >= tileBytes) {
      uint32_t fit = candidates[0];
      for (uint32_t c : candidates)
        if (c % gran == 0 && c >= halfWidth) fit = c;
      if (p.m <= TokensPerPass(p.msd, MTileFor(fit))) {
        nTile = fit;
        nTiles = half;
        nGran = gran;
        mTile = MTileFor(nTile);
      }
    }
    splitK = nTiles % aiCores != 0 && uint64_t(nTiles) * chunks >= 2 * aiCores;
    if (splitK) resident = false;
  }
  // Split-K with a long partial fixpipe (int8 rows x a tile's columns in int32): each block's last
  // units load in two column halves, so that half the fixpipe runs while the second halves stream.
  const uint64_t partialBytes = p.m * uint64_t(CeilDiv(units, nTiles) * gran) * sizeof(int32_t);
  const bool cutLast = splitK && !p.msd && partialBytes >= kQGemmCutPartialBytes;
  const bool fullL0c = prefill || wideMsd;  // items of one pass, one output tile each (expected)
  QGemmTiling t{};
  t.nTiles = nTiles;
  t.nGran = static_cast<uint16_t>(nGran);
  t.m = static_cast<uint32_t>(p.m);
  t.n = p.n;
  t.k = p.k;
  t.groups = p.groups;
  t.hasGroupList = p.hasGroupList ? 1 : 0;
  t.msd = p.msd ? 1 : 0;
  t.weightKind = static_cast<uint16_t>(p.weightKind);
  t.nTile = static_cast<uint16_t>(nTile);
  t.mTile = mTile;
  t.accSlots = t.mTile * nTile > kQGemmL0cSlotElems ? 1 : 2;
  t.splitK = splitK ? 1 : 0;
  t.tokensPerPass = static_cast<uint16_t>(TokensPerPass(p.msd, t.mTile));
  t.kStep = kStep;
  t.kPad = kLen;
  t.chunksPerPass = chunks;
  // A slots hold the rows of the largest pass (rounded to whole fractals).
  const uint64_t tokensMax = std::min<uint64_t>(std::max<uint64_t>(p.m, 1), t.tokensPerPass);
  t.aRows = AlignUp(static_cast<uint32_t>(p.msd ? 2 * tokensMax + 1 : tokensMax), 16);
  const uint32_t chunkBytes = nTile * kQGemmStepBytes, aStepBytes = t.aRows * kQGemmStepBytes;
  // One pass (decode): every weight chunk is read once, so residency does not matter, and several
  // K steps go in one copy (about kQGemmUnitBytes of weights): fewer copies, each paying its fixed
  // cost once, while every core takes its copies' costs at the same moments. Otherwise a step a copy.
  const bool onePass = p.m <= t.tokensPerPass;
  uint32_t unit = onePass ? std::max<uint32_t>(1, std::min<uint32_t>(chunks, kQGemmUnitBytes / chunkBytes)) : 1;
  if (unit > 1) resident = false;
  uint32_t ringUnits = 0, aDepth = 0;
  if (fullL0c && !resident) {
    // Prefill: L1 holds three units of weights and of A rows, each unit as many K steps as fit: fewer
    // copies (each pays its fixed cost) while the loads still run two units ahead of the cube
    // (measured on o_proj S = 1024: a step a copy 501 us, 2-step units 479, 3-step 472).
    unit = std::max<uint32_t>(1, std::min<uint32_t>(chunks, kQGemmL1Bytes / (kPrefillUnits * (chunkBytes + aStepBytes))));
    ringUnits = std::min<uint32_t>(CeilDiv(chunks, unit), kPrefillUnits);
    aDepth = std::min<uint32_t>(kQGemmMaxADepth, (kQGemmL1Bytes - ringUnits * unit * chunkBytes) / (unit * aStepBytes));
  } else {
    for (;; unit = unit / 2) {
      const uint32_t units = CeilDiv(chunks, unit);
      ringUnits = resident ? units : std::min<uint32_t>(units, std::max<uint32_t>(1, kQGemmRingBytes / (unit * chunkBytes)));
      // The A ring: each unit's A rows are loaded aDepth units ahead of their use, in the same MTE2
      // queue as the weights, so the weight loads always have a few units in flight.
      aDepth = std::min<uint32_t>(kQGemmMaxADepth, (kQGemmL1Bytes - ringUnits * unit * chunkBytes) / (unit * aStepBytes));
      if (aDepth >= 2 || unit == 1) break;
    }
  }
  if (chunked.steps) {  // K-chunked prefill: a block's tiles on the same rows share each K chunk's rows in L1
    unit = chunked.unit;
    ringUnits = chunked.ringUnits;
    aDepth = chunked.aDepth;
  }
  t.chunkSteps = static_cast<uint8_t>(chunked.steps);
  t.resident = resident ? 1 : 0;
  t.unitSteps = static_cast<uint16_t>(unit);  // a handful of steps (L1 holds at least two units)
  // One pass (decode): odd blocks start half a unit later in their row copies (QGemmCube), so the
  // cores' row copies, which read L2, do not all fall at the moments the HBM would idle.
  t.unitShift = static_cast<uint8_t>(onePass && !fullL0c ? unit / 2 : 0);
  t.ringChunks = ringUnits * unit;
  t.aDepth = aDepth;
  if (t.aDepth < 2) throw std::logic_error("qgemm: the A ring needs two slots of L1");
  // The cut: about m / 16 K steps (twice those whose second halves stream while the first half's
  // fixpipe runs, at a core's share of the HBM); the cut units' A rows all stay in the A ring.
  if (cutLast) t.cutUnits = static_cast<uint16_t>(std::min<uint32_t>(aDepth, CeilDiv(CeilDiv(static_cast<uint32_t>(p.m), 16), unit)));
  t.aZz = AZzPays(t) ? 1 : 0;
  t.outDtype = static_cast<uint16_t>(p.outDtype);
  t.biasKind = static_cast<uint16_t>(p.biasKind);
  t.hasPertoken = p.hasPertoken ? 1 : 0;
  // Items: groups x column tiles (an upper bound with a group list). Without groups, when the
  // column tiles alone leave cores idle, rows are cut into blocks of whole passes too (each
  // block re-reads its weight tile).
  t.itemRows = prefill ? t.tokensPerPass : 0;  // prefill: an item is one output tile
  if (!prefill && !p.hasGroupList && nTiles < aiCores && p.m > t.tokensPerPass) {
    const uint64_t passes = (p.m + t.tokensPerPass - 1) / t.tokensPerPass;
    const uint64_t blocks = std::min<uint64_t>(passes, std::max<uint32_t>(1, aiCores / nTiles));
    t.itemRows = static_cast<uint32_t>((passes + blocks - 1) / blocks) * t.tokensPerPass;
  }
  const uint64_t maxItems = uint64_t(p.groups) * nTiles *
                            (t.itemRows ? (p.m + t.itemRows - 1) / t.itemRows : 1);
  t.blockDim = static_cast<uint16_t>(std::max<uint64_t>(1, std::min<uint64_t>(aiCores, maxItems)));
  t.wsSlotBytes = t.mTile * t.nTile * sizeof(int32_t);
  t.slotsPerBlock = chunked.steps ? longestRun + 1 : 2;  // K-chunked: a run's tiles wait for their last chunk
  if (splitK) {  // every block has steps; its slots: one per column tile its range touches
    t.blockDim = static_cast<uint16_t>(aiCores);
    t.slotsPerBlock = 0;
    for (uint32_t b = 0; b < aiCores; ++b) {
      const uint64_t first = QGemmSplitStart(t, b) / chunks, last = (QGemmSplitStart(t, b + 1) - 1) / chunks;
      t.slotsPerBlock = std::max<uint32_t>(t.slotsPerBlock, uint32_t(last - first + 1));
    }
  }
  uint64_t ws = uint64_t(t.blockDim) * t.slotsPerBlock * t.wsSlotBytes;
  if (p.msd) {
    const uint64_t matrix = p.m * kLen / 2;  // int4 bytes
    const uint64_t hi = AlignUp64(ws, 512), lo = AlignUp64(hi + matrix, 512), ones = AlignUp64(lo + matrix, 512);
    t.wsHiOffsetLo = uint32_t(hi), t.wsHiOffsetHi = uint32_t(hi >> 32);
    t.wsLoOffsetLo = uint32_t(lo), t.wsLoOffsetHi = uint32_t(lo >> 32);
    t.wsOnesOffsetLo = uint32_t(ones), t.wsOnesOffsetHi = uint32_t(ones >> 32);
    ws = ones + AlignUp64(kLen / 2, 32);
    t.splitChunk = 4096;
    t.splitRowsPerCore = static_cast<uint32_t>((p.m + 2 * t.blockDim - 1) / (2 * t.blockDim));
  }
  QGemmPlan plan;
  plan.tiling = t;
  plan.workspaceBytes = ws;
  return plan;
}

}  // namespace ascend_glm5
