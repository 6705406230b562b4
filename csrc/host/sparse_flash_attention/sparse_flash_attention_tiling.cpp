#include <algorithm>
#include <stdexcept>

#include "../../kernels/common/host_device.h"
#include "sparse_flash_attention_host.h"

namespace ascend_glm5::host {

namespace {

constexpr uint32_t kMaxPieces = 64;      // pieces of one split row (SfaMerge::kMaxPieces)
constexpr uint32_t kRowsPerCoreNoSplit = 4;  // with this many rows per core, whole rows balance well enough
// The fixed cost of a whole row beside its tiles, in hundredths of a tile: its selection, the
// chain of its first tile, its finalize. GLM-5 prefill gives each core a run of rows in order, so
// the cores with the early rows (one or two tiles each) hold the most rows: by tiles alone, core 0
// of S = 1024 (180 rows, 231 tiles) ended at 1,395K cycles and the others at 1,001-1,078K. A cost of
// 0.35 / 0.4 / 0.45 / 0.5 / 0.6 tile: S = 1024 622.0 / 611.7 / 610.7 / 622.8 / 622.6 us, S = 2048
// 2,241.7 / 2,264.6 / 2,270.0 / 2,263.8 / 2,269.4 us (by tiles, before sfa-sel: 775.2 / 2,337.8 us;
// sfa-balance).
constexpr uint64_t kSfaRowCost = 40;
// Pieces of a split row start at multiples of this many positions: a piece's ids then start on a
// 64-lane boundary of the selector's scratch (SfaSelector: the compares run on whole 64-lane groups).
constexpr uint32_t kSfaPieceGrain = 64;
// With fewer tiles than cores: a piece's ids then start on a 32-byte boundary of the scratch, and its
// in-place writes of whole 64-lane groups past a row's 2,048 ids stay within the scratch's mask after
// them (SfaSelector: all_, allEq_), which the selection no longer reads by then.
constexpr uint32_t kSfaFineGrain = 8;

void Push(std::vector<int32_t>& table, int32_t a, int32_t b, int32_t c, int32_t d) {
  table.insert(table.end(), {a, b, c, d});
}

// A whole row is sorted into runs when it sees at most this many keys per selected one: it then
// selects at least a quarter of them, and in cache order they form runs and pairs of evenly spaced
// rows (SfaRow::sorted; a copy each). Sparser rows formed short runs that the sort did not pay for
// before pairs shared a copy (GLM-5 prefill S = 8192, us: every row sorted 20139, up to 3K keys
// 18859, up to 2K 17557; none 18742); with pairs (sfa-stride) up to 4 x K: S = 8192 16,383.2 ->
// 16,103.1 us (every row sorted; S = 4096's rows see at most 2 x K either way).
constexpr uint32_t kSortMaxKeysPerSelected = 4;
bool SortsRow(int32_t end, uint32_t sparseCount) {
  return end > 0 && uint64_t(end) <= uint64_t(kSortMaxKeysPerSelected) * sparseCount;
}
// Every row of a split launch (decode) that selects something is sorted in steps (kSfaSortSteps):
// sorted, a tile's rows rise, and the gathers copy evenly spaced ones (a pair at any gap up to the
// cube's 113-row stride, a run of contiguous rows) in one copy (sfa-stride). Before strided copies
// only contiguous runs merged, and rows sparser than 1 in 4 were sorted without early rows or not
// at all (sfa-sort32). GLM-5 decode, cycles, with the vector cores' share at 2 x 28 (below): 32K's
// rows sorted without early rows 230,291, with them 229,072 (B = 64); 128K's (before: unsorted)
// sorted without early rows 231,407, with them 230,917.
int32_t StepSortMark(int32_t end) { return end > 0 ? kSfaSortSteps : 0; }

// The merge of split rows (SfaMerge::Combine) gives vector core v the (split, head) units
// [bounds[v], bounds[v + 1]). A unit's merge costs about its row's pieces (each loaded and weighed)
// plus a fixed part (its output), so the units are split by that weight rather than by count
// (GLM-5 decode B = 16, 32K, cycles: by count 83,615; weight pieces 83,425, + 1 83,365, + 2 83,405).
constexpr uint64_t kMergeUnitWeight = 1;
std::vector<int32_t> MergeBounds(const std::vector<SfaSplit>& splits, uint32_t heads, uint32_t vectorCores) {
  const uint64_t fixed = kMergeUnitWeight;
  uint64_t total = 0;
  for (const SfaSplit& s : splits) total += (uint64_t(s.pieces) + fixed) * heads;
  std::vector<int32_t> bounds(vectorCores + 1, int32_t(splits.size() * heads));
  bounds[0] = 0;
  uint64_t before = 0;  // weight of the rows before split j
  uint32_t v = 1;
  for (size_t j = 0; j < splits.size() && v < vectorCores; ++j) {
    const uint64_t w = uint64_t(splits[j].pieces) + fixed;
    // Vector core v starts at the first unit whose weight before it reaches total * v / vectorCores.
    while (v < vectorCores && total * v <= (before + w * heads) * vectorCores) {
      const uint64_t target = (total * v + vectorCores - 1) / vectorCores;  // ceil
      const uint64_t inRow = target > before ? (target - before + w - 1) / w : 0;
      bounds[v++] = int32_t(j * heads + std::min<uint64_t>(inRow, heads));
    }
    before += w * heads;
  }
  return bounds;
}

// The merge units of the merged split rows (the first `merged`) over the vector cores: over every
// one, or where some cores finish a row (their last item a finishing piece, SfaSplit::finisher:
// that core's vector cores write the row after their items) over the others only, so that no vector
// core does both. Returns bounds per vector core as MergeBounds does.
std::vector<int32_t> MergeUnits(const std::vector<SfaSplit>& splits, size_t merged,
                                const std::vector<std::vector<SfaItem>>& perCore, uint32_t unitsPerSplit, uint32_t blockDim) {
  const std::vector<SfaSplit> rows(splits.begin(), splits.begin() + merged);
  std::vector<bool> finishes(blockDim, false);
  for (size_t j = merged; j < splits.size(); ++j) {
    if (splits[j].finisher <= 0) continue;
    const int32_t slot = splits[j].firstPiece + splits[j].finisher - 1;
    for (uint32_t c = 0; c < blockDim && c < perCore.size(); ++c)
      if (!perCore[c].empty() && perCore[c].back().piece == slot) finishes[c] = true;
  }
  const uint32_t free = 2 * uint32_t(std::count(finishes.begin(), finishes.end(), false));
  if (free == 0 || free == 2 * blockDim) return MergeBounds(rows, unitsPerSplit, 2 * blockDim);
  const std::vector<int32_t> bounds = MergeBounds(rows, unitsPerSplit, free);
  std::vector<int32_t> out(2 * blockDim + 1);
  uint32_t k = 0;
  for (uint32_t v = 0; v < 2 * blockDim; ++v) {
    out[v] = bounds[k];
    if (!finishes[v / 2]) ++k;
  }
  out[2 * blockDim] = bounds[free];
  return out;
}

// Gives split j the piece slots [j G, j G + pieces) with G the most pieces of a split row, so that a
// piece's slot alone places its statistics in its row's group (SfaStatAt). Each split's firstPiece
// is on entry the number its first piece got in cut order (the items' piece), on return its slot.
// Returns G.
uint32_t GroupPieces(std::vector<SfaSplit>& splits, std::vector<std::vector<SfaItem>>& perCore) {
  uint32_t group = 0, count = 0;
  for (const SfaSplit& s : splits) {
    group = std::max(group, uint32_t(s.pieces));
    count += uint32_t(s.pieces);
  }
  std::vector<int32_t> slot(count);  // by the pieces' numbers in cut order
  for (size_t j = 0; j < splits.size(); ++j) {
    for (int32_t i = 0; i < splits[j].pieces; ++i) slot[size_t(splits[j].firstPiece + i)] = int32_t(j * group) + i;
    splits[j].firstPiece = int32_t(j * group);
  }
  for (auto& items : perCore)
    for (SfaItem& it : items)
      if (it.piece >= 0) it.piece = slot[size_t(it.piece)];
  return group;
}

// Which split rows are seeded (SfaSeeded, sparse_flash_attention_tiling.h): two pieces (numbered in
// cut order: the earlier positions first), the later one B its core's first item and the earlier
// one A the last of another core, after items of at least twice B's positions (A's first tile
// waits for B to be done, and the cores go through positions at about the same pace). At GLM-5
// decode B = 64 every split row is such a pair (A follows 2-3 whole rows); at B = 16 a core holds
// two pieces and none is (seeding them regardless made A wait for B: 72.9K -> 105.3K cycles).
template <typename Positions>
std::vector<bool> SeededSplits(const std::vector<SfaSplit>& splits, const std::vector<std::vector<SfaItem>>& perCore,
                               const Positions& positions) {
  std::vector<bool> seeded(splits.size(), false);
  for (size_t j = 0; j < splits.size(); ++j) {
    if (splits[j].pieces != 2) continue;
    const int32_t a = splits[j].firstPiece, b = a + 1;
    uint64_t before = 0, later = 0;  // positions before A on its core; B's positions
    int32_t coreA = -1, coreB = -1;
    for (size_t c = 0; c < perCore.size(); ++c) {
      const auto& items = perCore[c];
      if (items.size() >= 2 && items.back().piece == a) {
        coreA = int32_t(c);
        for (size_t i = 0; i + 1 < items.size(); ++i) before += positions(items[i]);
      }
      if (!items.empty() && items.front().piece == b) {
        coreB = int32_t(c);
        later = positions(items.front());
      }
    }
    seeded[j] = coreA >= 0 && coreB >= 0 && coreA != coreB && before >= 2 * later;
  }
  return seeded;
}

// Which split rows are finished by their late piece (SfaSplit::finisher; sfa-finish): the row's one
// piece L that is the last item of a core ending with the launch (its core's positions within two
// tiles of the most a core has), while every other piece ends, on its own core, at least two tiles
// of positions before L's core ends. L's vector cores then weigh the other pieces in while L's last
// tile is still on the cube, and write the row. Returns per split the index of L among its pieces,
// or -1. The cores are taken to go through positions at about the same pace (as SeededSplits).
template <typename Positions>
std::vector<int32_t> FinishedSplits(const std::vector<SfaSplit>& splits, const std::vector<std::vector<SfaItem>>& perCore,
                                    const Positions& positions, uint32_t tileRows) {
  std::vector<uint64_t> total(perCore.size(), 0);
  uint64_t most = 0;
  for (size_t c = 0; c < perCore.size(); ++c) {
    for (const SfaItem& it : perCore[c]) total[c] += positions(it);
    most = std::max(most, total[c]);
  }
  const uint64_t margin = 2 * uint64_t(tileRows);
  // Per piece number (cut order): its core and the positions its core has done when it ends.
  std::vector<int32_t> coreOf;
  std::vector<uint64_t> endOf;
  std::vector<bool> lastOf;
  for (size_t c = 0; c < perCore.size(); ++c) {
    uint64_t done = 0;
    for (size_t i = 0; i < perCore[c].size(); ++i) {
      const SfaItem& it = perCore[c][i];
      done += positions(it);
      if (it.piece < 0) continue;
      if (coreOf.size() <= size_t(it.piece)) {
        coreOf.resize(size_t(it.piece) + 1, -1);
        endOf.resize(size_t(it.piece) + 1, 0);
        lastOf.resize(size_t(it.piece) + 1, false);
      }
      coreOf[size_t(it.piece)] = int32_t(c);
      endOf[size_t(it.piece)] = done;
      lastOf[size_t(it.piece)] = i + 1 == perCore[c].size();
    }
  }
  std::vector<int32_t> finisher(splits.size(), -1);
  for (size_t j = 0; j < splits.size(); ++j) {
    int32_t late = -1, lates = 0;
    if (uint32_t(splits[j].pieces) > kSfaFinishPieces) continue;
    for (int32_t i = 0; i < splits[j].pieces; ++i) {
      const size_t piece = size_t(splits[j].firstPiece + i);
      if (piece >= coreOf.size() || coreOf[piece] < 0) break;
      if (lastOf[piece] && total[size_t(coreOf[piece])] + margin >= most) {
        late = i;
        ++lates;
      }
    }
    if (lates != 1) continue;
    const uint64_t lateEnd = total[size_t(coreOf[size_t(splits[j].firstPiece + late)])];
    bool early = true;
    for (int32_t i = 0; i < splits[j].pieces; ++i)
      if (i != late) early = early && endOf[size_t(splits[j].firstPiece + i)] + margin <= lateEnd;
    if (early) finisher[j] = late;
  }
  return finisher;
}

}  // namespace

// Whether the split rows' pieces share one reference max (SfaOneRef, sparse_flash_attention_tiling.h):
// an early-merge launch whose every piece is one tile with a row to spare for the row's first key,
// whose vector cores' heads are whole row blocks of the cube's output (N1 32 or 64), from a paged
// combined cache (the cube copies that key's row in one copy), with a row's pieces within the
// normalise's statistics buffer. Not when the caller asks for bit-identical runs: the pieces' fp32
// adds into the row sum land in whatever order the cores reach them.
template <typename Positions>
bool OneRefFits(const SparseFlashAttentionProblem& p, const SparseFlashAttentionTiling& t,
                const std::vector<SfaSplit>& splits, const std::vector<std::vector<SfaItem>>& perCore,
                const Positions& positions) {
  if (p.deterministic || !SfaEarlyMerge(t) || !p.paged || !p.combinedKv || p.separateValue || (p.heads != 32 && p.heads != 64)) return false;
  for (const SfaSplit& s : splits)
    if (uint32_t(s.pieces) > kSfaOneRefMaxPieces) return false;
  // A vector core zeroes its share of the row sums from its scores buffer ([N1 / 2, tileRows] fp32),
  // with the count's 8 words after it (SfaOneRef::ZeroShare).
  const uint64_t sums = uint64_t(splits.size()) * p.heads * kSfaLatentDim, cores = 2 * uint64_t(t.blockDim);
  if ((sums + cores - 1) / cores + 16 > uint64_t(p.heads / 2) * t.tileRows) return false;
  for (const auto& items : perCore)
    for (const SfaItem& it : items)
      if (it.piece >= 0 && positions(it) > t.tileRows - 1) return false;
  return true;
}

SparseFlashAttentionPlan MakeSparseFlashAttentionPlan(const SparseFlashAttentionProblem& p, uint32_t aiCores) {
  if (p.heads == 0 || p.heads > kSfaMaxHeads || (p.heads & (p.heads - 1)))
    throw std::invalid_argument("sparse_flash_attention: heads must be one of 1, 2, 4, ..., 128");
  if (p.sparseCount == 0 || p.sparseCount > kSfaMaxSparseCount)
    throw std::invalid_argument("sparse_flash_attention: sparse_count must be in [1, 2048]");
  if (p.dtype != kFloat16 && p.dtype != kBFloat16)
    throw std::invalid_argument("sparse_flash_attention: dtype must be fp16 or bf16");
  if (p.sparseMode != 0 && p.sparseMode != 3)
    throw std::invalid_argument("sparse_flash_attention: sparse_mode must be 0 or 3");
  if (p.paged && p.blockSize == 0) throw std::invalid_argument("sparse_flash_attention: block_size must be positive");
  if (aiCores == 0 || aiCores > kMaxPieces) throw std::invalid_argument("sparse_flash_attention: unsupported AI core count");
  const size_t batches = p.queryStart.size();
  if (p.queryLen.size() != batches || p.keyStart.size() != batches || p.keyLen.size() != batches)
    throw std::invalid_argument("sparse_flash_attention: per-batch spans must have one entry per batch");

  SparseFlashAttentionPlan plan;
  SparseFlashAttentionTiling& t = plan.tiling;
  t.numRows = p.numRows;
  t.heads = p.heads;
  t.sparseCount = p.sparseCount;
  t.dtype = p.dtype;
  t.paged = p.paged ? 1 : 0;
  t.blockSize = p.blockSize;
  t.maxBlocks = p.maxBlocks;
  t.returnLse = p.returnLse ? 1 : 0;
  t.scale = p.scale;
  t.separateValue = p.separateValue ? 1 : 0;
  t.combinedKv = p.combinedKv ? 1 : 0;
  const uint32_t tileRows = SfaTileRows(p.heads);
  t.tileRows = tileRows;

  // Rows: outside every batch they keep batch -1 and end 0 (they attend nothing).
  std::vector<int32_t>& table = plan.table;
  table.assign(size_t(p.numRows) * kSfaRecordWords, 0);
  for (uint32_t r = 0; r < p.numRows; ++r) table[size_t(r) * kSfaRecordWords] = -1;
  for (size_t b = 0; b < batches; ++b) {
    const int64_t nq = p.queryLen[b], nk = p.keyLen[b];
    if (p.queryStart[b] < 0 || nq < 0 || p.queryStart[b] + nq > p.numRows || nk < 0 || nk > INT32_MAX)
      throw std::invalid_argument("sparse_flash_attention: a batch's query rows or key length are out of range");
    if (nk > int64_t(kSfaMaxKvLen))
      throw std::invalid_argument("sparse_flash_attention: actual_seq_lengths_kv must be at most 2^24 per batch");
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t end = p.sparseMode == 3 ? nk - nq + i + 1 : nk;  // right-down causal
      int32_t* row = &table[size_t(p.queryStart[b] + i) * kSfaRecordWords];
      row[0] = static_cast<int32_t>(b);
      row[1] = p.paged ? 0 : static_cast<int32_t>(p.keyStart[b]);
      row[2] = static_cast<int32_t>(std::max<int64_t>(end, 0));
    }
  }

  // Work of a row, in tiles: its selected ids are at most min(K, end) in the form the indexer
  // writes (valid ids first). Whole rows go to cores in order; with few rows (decode) the cores
  // take equal shares of the tiles instead, cutting rows into pieces (stream-K).
  std::vector<uint32_t> work(p.numRows, 0);
  uint64_t total = 0;
  uint32_t busyRows = 0;
  for (uint32_t r = 0; r < p.numRows; ++r) {
    const int32_t end = table[size_t(r) * kSfaRecordWords + 2];
    if (end <= 0) continue;
    work[r] = CeilDiv(std::min<uint32_t>(p.sparseCount, uint32_t(end)), tileRows);
    total += work[r];
    ++busyRows;
  }
  const bool split = busyRows < kRowsPerCoreNoSplit * aiCores;
  // Whole rows balance by cost: a row's tiles and a fixed kSfaRowCost of work (its selection and
  // sort, the chain of its first tile, its finalize), in hundredths of a tile.
  const uint64_t share = std::max<uint64_t>(1, (total * 100 + uint64_t(busyRows) * kSfaRowCost + aiCores - 1) / aiCores);
  // Rows whose selected cache rows lie densely among the keys they see are sorted into runs
  // (SfaRow::sorted): whole rows (no split launch) where the vector core's scratch holds the sort.
  if (!split && SfaSortFits(p.heads)) {
    for (uint32_t r = 0; r < p.numRows; ++r) {
      const int32_t end = table[size_t(r) * kSfaRecordWords + 2];
      table[size_t(r) * kSfaRecordWords + 3] = SortsRow(end, p.sparseCount) ? kSfaSortWhole : 0;
    }
  }
  // A split launch shares out the selected positions in grains of kSfaPieceGrain rows rather than
  // whole tiles: with 1024 tiles over 20 cores (GLM-5 B = 64) whole tiles give 19 cores 52 and the
  // last 36, grains 51.5 each. A launch with at most a tile per core keeps whole tiles.
  // With fewer tiles than cores (decode B = 1) a grain of kSfaFineGrain positions lets every core
  // take a piece (GLM-5: 20 pieces of 104 rows instead of 16 of 128): each core's chain of gather,
  // scores and P . V is shorter.
  const uint32_t grain = !split ? tileRows : total > aiCores ? kSfaPieceGrain : total < aiCores ? kSfaFineGrain : tileRows;
  std::vector<uint32_t> grains(p.numRows, 0);
  uint64_t totalGrains = 0;
  for (uint32_t r = 0; r < p.numRows; ++r) {
    if (work[r] == 0) continue;
    const int32_t end = table[size_t(r) * kSfaRecordWords + 2];
    grains[r] = CeilDiv(std::min<uint32_t>(p.sparseCount, uint32_t(end)), grain);
    totalGrains += grains[r];
  }
  const uint64_t grainShare = std::max<uint64_t>(1, (totalGrains + aiCores - 1) / aiCores);
  std::vector<std::vector<SfaItem>> perCore(aiCores);
  std::vector<SfaSplit> splits;
  uint32_t core = 0, pieces = 0;
  uint64_t filled = 0, done = 0;  // grains on the current core; the cost placed before this row
  for (uint32_t r = 0; r < p.numRows; ++r) {
    if (work[r] == 0) {
      perCore[core].push_back(SfaItem{int32_t(r), 0, 0, -1});
      continue;
    }
    if (!split) {  // the core that holds the row's middle (by cost)
      const uint64_t cost = uint64_t(work[r]) * 100 + kSfaRowCost;
      core = static_cast<uint32_t>(std::min<uint64_t>(aiCores - 1, (2 * done + cost) / (2 * share)));
      perCore[core].push_back(SfaItem{int32_t(r), 0, int32_t(p.sparseCount), -1});
      done += cost;
      continue;
    }
    std::vector<std::pair<uint32_t, SfaItem>> cut;
    for (uint32_t g = 0; g < grains[r];) {
      if (filled == grainShare && core + 1 < aiCores) {
        ++core;
        filled = 0;
      }
      const uint32_t take = static_cast<uint32_t>(std::min<uint64_t>(grains[r] - g, std::max<uint64_t>(grainShare - filled, 1)));
      const bool last = g + take == grains[r];
      cut.push_back({core, SfaItem{int32_t(r), int32_t(g * grain), int32_t(last ? p.sparseCount : (g + take) * grain), -1}});
      g += take;
      filled += take;
    }
    if (cut.size() > 1) {
      splits.push_back(SfaSplit{int32_t(r), int32_t(pieces), int32_t(cut.size()), 0});
      for (auto& c : cut) c.second.piece = int32_t(pieces++);
    }
    for (const auto& c : cut) perCore[c.first].push_back(c.second);
  }
  // A core that holds only pieces (decode B <= the core count) takes its shortest first: its switch
  // to the next row then falls among the launch's first tiles, where the cube waits for the vector
  // cores' first gathers anyway; later, the new row's query and first tile cost the cube's MTE2
  // (the bound) up to ~3,800 cycles (GLM-5 B = 16: 48.6 -> 47.1 us). Cores with whole rows keep
  // their order (B = 64 with the shortest first: 149.4 -> 158.1 us).
  const auto positions = [&](const SfaItem& it) {  // 0 for a row that attends nothing
    return it.posEnd > 0 ? std::min<uint32_t>(uint32_t(it.posEnd), grains[it.row] * grain) - uint32_t(it.posBegin) : 0u;
  };
  if (split) {
    for (auto& items : perCore) {
      if (std::any_of(items.begin(), items.end(), [&](const SfaItem& it) { return it.piece < 0 && positions(it) > 0; })) continue;
      std::stable_sort(items.begin(), items.end(), [&](const SfaItem& a, const SfaItem& b) { return positions(a) < positions(b); });
    }
  }
  while (aiCores > 1 && perCore.size() > 1 && perCore.back().empty()) perCore.pop_back();
  t.blockDim = static_cast<uint32_t>(perCore.size());
  t.numSplits = static_cast<uint32_t>(splits.size());
  size_t numItems = 0;
  for (const auto& items : perCore) numItems += items.size();
  t.numItems = static_cast<uint32_t>(numItems);
  // The split rows in order: merged, finished (by their late piece), seeded; only the merged ones
  // have merge units. An early-merge launch (decode B = 1, one row in many pieces) seeds and
  // finishes none: its pieces' posts interleave with its merge. Nor does a launch whose whole rows
  // sum O^T (B = 64, whose split rows are all seeded): a finished row ends in O form.
  const bool early = SfaEarlyMerge(t);
  const std::vector<bool> seeded = early ? std::vector<bool>(splits.size(), false) : SeededSplits(splits, perCore, positions);
  std::vector<int32_t> finisher = early || SfaOutT(t) || p.heads > kSfaFinishHeads ? std::vector<int32_t>(splits.size(), -1)
                                                      : FinishedSplits(splits, perCore, positions, tileRows);
  for (size_t j = 0; j < splits.size(); ++j)
    if (seeded[j]) finisher[j] = -1;
  std::vector<SfaSplit> ordered;
  for (int pass = 0; pass < 3; ++pass)
    for (size_t j = 0; j < splits.size(); ++j) {
      const int kind = seeded[j] ? 2 : finisher[j] >= 0 ? 1 : 0;
      if (kind != pass) continue;
      ordered.push_back(splits[j]);
      ordered.back().finisher = finisher[j] + 1;
    }
  const size_t unseeded = splits.size() - size_t(std::count(seeded.begin(), seeded.end(), true));
  const size_t merged = unseeded - size_t(std::count_if(finisher.begin(), finisher.end(), [](int32_t f) { return f >= 0; }));
  splits = std::move(ordered);
  const uint32_t group = GroupPieces(splits, perCore);
  t.numPieces = static_cast<uint32_t>(splits.size()) * group;
  t.oneRef = OneRefFits(p, t, splits, perCore, positions) ? 1 : 0;
  if (t.oneRef != 0 && splits.size() == 1 && perCore.size() == t.blockDim &&
      std::all_of(perCore.begin(), perCore.end(), [](const std::vector<SfaItem>& items) {
        return items.size() == 1 && items[0].piece >= 0;
      }))
    t.oneRef = kSfaOneRefAllCores;  // every vector core holds a piece of the one row: an all-AIV flag
  for (size_t j = unseeded; j < splits.size(); ++j)  // A (slot j G) sums into B's acc (slot j G + 1)
    for (auto& items : perCore)
      if (!items.empty() && items.back().piece == splits[j].firstPiece) items.back().piece = SfaSeedPiece(splits[j].firstPiece + 1);

  // The vector cores gather up to 2 x 21 of every 64 rows of a full tile (the cube the other 22:
  // about equal MTE2 time each), as many as their free UB holds. A combined key row is one copy
  // instead of two for the cube too, and the rows the vector cores gather cross L2 twice more (the
  // gather slot): the cube then takes 26 of every 64 (the vector cores 2 x 38 of 128; the modeled
  // optimum at GLM-5 decode B = 64 / 16 since half the P . V columns stay in L0C over an item,
  // sfa-tune6; 2 x 32 before).
  const uint32_t rowBytes = (kSfaQkDim + (p.separateValue ? kSfaLatentDim : 0)) * 2;
  const uint32_t used = SfaItemUbBytes(p.heads) + kSfaMaxSparseCount * 4;
  const uint32_t rowsPerCore = used < kSfaUbBytes ? (kSfaUbBytes - used) / rowBytes : 0;
  // With at most one tile per core (decode B = 1) the cube waits for the vector cores' rows of its
  // only tile with nothing to overlap: their smaller share of 2 x 28 keeps that chain shorter (2 x 32
  // until the vector cores kept their list in UB; GLM-5 B = 1, 32K, cycles: 2 x 32 19,571, 2 x 24
  // 19,529, 2 x 20 19,534, 2 x 38 19,925, 2 x 44 20,303; all 40 vector cores' and the cube's row
  // copies share the bandwidth, so more rows on the vector cores cost the cube's copies more).
  // Re-measured after sfa-head (sfa-b1s, 32K): 2 x 16 / 20 / 22 / 24 / 26 / 28 / 32 18,170.63 /
  // 18,098.87 / 18,042.44 / 17,989.77 / 17,985.42 / 17,973.57 / 18,000.76.
  // Rows sorted into runs (SfaRow::sorted: GLM-5 prefill rows that see up to 2K keys) cost few
  // copies each, so the bytes count: the cube's GM -> L1 path is the faster one, and the vector
  // cores' rows cross L2 twice more. The cube takes 40 of every 64 of them (measured at prefill
  // S = 1024 / 2048: 2 x 21 757 / 2591 us, 2 x 12 748 / 2544 us, 2 x 4 751 at 1024; S = 4096 /
  // 8192 with rows sorted up to 2K: 2 x 21 7278 / 17967 us, 2 x 12 7237 / 17557 us).
  // With fewer rows than cores (every row in pieces, two items a core: GLM-5 B = 16) the cube's
  // copies lean less on the vector cores' slots (B = 16, 8K, cycles, vector cores' rows of 128:
  // 2 x 34 82,026, 2 x 35 81,097, 2 x 36 80,851, 2 x 37 81,037, 2 x 38 81,113, 2 x 40 82,827);
  // with sfa-stride 2 x 32 (8K / 32K / 128K: 2 x 28 73,014 / 72,987 / 73,171, 2 x 32 72,779 / 72,725
  // / 72,880, 2 x 36 74,208 / 74,215 / 74,301, 2 x 40 75,921 / 75,947 / 75,979). The separate
  // key_rope (two copies a row, one a pair) likewise moved from 2 x 42 to 2 x 38 (B = 16, 32K: 2 x 34
  // 79,228, 2 x 36 77,496, 2 x 38 77,439, 2 x 40 78,190, 2 x 42 79,530; prefill S = 1024 unchanged:
  // its rows are sorted, sortAivRows); decode B = 1's 2 x 28 stayed (2 x 24 / 28 / 32: 17,999 /
  // 17,966 / 18,323 at 32K).
  // With 3 tiles gathered ahead (SfaGatherAhead: decode B = 64) the vector cores' slot write is off
  // the chain and the cube's copy of their slot leads it: a smaller share gains (sfa-rows, GLM-5
  // decode B = 64, cycles 8K / 32K: 2 x 38 245,463 / 244,269, 2 x 30 237,243 / 236,768, 2 x 32
  // 238,482 / 235,610, 2 x 34 239,797 / 238,181; 2 x 32 also best with HBM unlimited at 32K). With
  // evenly spaced rows in one copy (sfa-stride: about two rows a copy on the cube) the cube takes
  // more: 2 x 28 (8K / 32K, before 32K's early rows: 2 x 24 228,891 / 230,968, 2 x 28 228,980 /
  // 230,291, 2 x 32 230,550 / 231,374, 2 x 36 232,735 / 235,745, 2 x 40 252,995 / 254,200).
  const bool ahead3 = SfaGatherAhead(p.combinedKv, uint32_t(numItems), t.blockDim) == 3;
  const uint32_t aivPer64 = !p.combinedKv ? 19 : total <= aiCores ? 14 : busyRows < aiCores ? 16 : ahead3 ? 14 : 19;
  // A split launch's rows sorted in steps keep the vector cores' share (GLM-5 decode B = 64, 8K,
  // cycles: 2 x 38 249,970, 2 x 32 253,015; more does not fit their UB).
  const uint32_t sortedPer64 = split ? aivPer64 : std::min<uint32_t>(12, aivPer64);
  t.aivRows = rowsPerCore >= 2 ? 2 * std::min<uint32_t>(aivPer64 * tileRows / 64, rowsPerCore) : 0;
  t.sortAivRows = rowsPerCore >= 2 ? 2 * std::min<uint32_t>(sortedPer64 * tileRows / 64, rowsPerCore) : 0;
  t.gatherSlotBytes = tileRows * rowBytes;
  // A split launch's rows are sorted in steps on the vector cores that gather (both keep a list).
  if (split && SfaStepSortFits(p.heads) && t.aivRows > 0) {
    for (uint32_t r = 0; r < p.numRows; ++r) {
      const int32_t end = table[size_t(r) * kSfaRecordWords + 2];
      table[size_t(r) * kSfaRecordWords + 3] = StepSortMark(end);
    }
  }

  // Items grouped by core, then the split rows, then the core heads (in front where they open the plan).
  t.itemOffset = p.numRows * kSfaRecordWords;
  std::vector<int32_t> offsets{0};
  for (const auto& items : perCore) {
    for (const SfaItem& it : items) Push(table, it.row, it.posBegin, it.posEnd, it.piece);
    offsets.push_back(offsets.back() + static_cast<int32_t>(items.size()));
  }
  t.numItems = static_cast<uint32_t>(offsets.back());
  t.splitOffset = static_cast<uint32_t>(table.size());
  for (const SfaSplit& s : splits) Push(table, s.row, s.firstPiece, s.pieces, s.finisher);
  table.resize(AlignUp(table.size(), size_t(kSfaHeadWords)), 0);
  t.headOffset = static_cast<uint32_t>(table.size());
  // Units of (split, head), or of (split, head, column chunk) in an early-merge launch.
  const std::vector<int32_t> merge = MergeUnits(splits, merged, perCore, p.heads * SfaMergeChunks(t), t.blockDim);
  for (uint32_t c = 0; c < t.blockDim; ++c) {
    const size_t head = table.size();
    table.resize(head + kSfaHeadWords, 0);
    table[head] = offsets[c];
    table[head + 1] = offsets[c + 1];
    std::copy_n(merge.begin() + 2 * c, 3, table.begin() + head + 2 + 2 * kSfaRecordWords);
    if (perCore[c].empty()) continue;
    const SfaItem& it = perCore[c].front();
    const int32_t item[kSfaRecordWords] = {it.row, it.posBegin, it.posEnd, it.piece};
    std::copy(item, item + kSfaRecordWords, table.begin() + head + 2);
    std::copy_n(table.begin() + size_t(it.row) * kSfaRecordWords, kSfaRecordWords, table.begin() + head + 2 + kSfaRecordWords);
  }
  // With at most 3 items a core (decode B <= 16) the core heads open the plan: a vector core reads
  // its head (SfaPlan::HeadLine) while its tiling copy is in flight, so the head's scalar miss
  // leaves its first selection's path (GLM-5 B = 1, 32K, cycles: 18,273 -> 17,990). With more
  // (B = 64, prefill) they stay last: the earlier start moved B = 64, 8K 243,319 -> 246,300 there.
  if (t.numItems <= 3 * t.blockDim) {
    std::rotate(table.begin(), table.begin() + t.headOffset, table.end());
    const uint32_t headWords = t.blockDim * kSfaHeadWords;
    t.headOffset = 0;
    t.itemOffset += headWords;
    t.splitOffset += headWords;
  }
  if (t.numSplits > 0) table.resize(SfaRowFlagOffset(t) + size_t(p.numRows) * kSfaRowFlagWords, 0);  // the row flags

  // Workspace: per AI core the S / P / O rings; work slots; per item its row lists (one per vector
  // core); gather slots; per piece its partial result.
  t.wsSlotS = p.heads * tileRows * 4;
  t.wsSlotP = p.heads * tileRows * 2;
  t.wsSlotO = p.heads * kSfaLatentDim * 4;
  t.wsBlockBytes = AlignUp(2 * (t.wsSlotS + t.wsSlotP + t.wsSlotO), 512);
  t.listWords = AlignUp(p.sparseCount, 16);
  t.wsSlotOffset = t.blockDim * t.wsBlockBytes;
  t.wsListOffset = t.wsSlotOffset + (t.numItems + t.blockDim) * kSfaSlotWords * 4;
  const uint64_t listBytes = 2 * SfaListRegionBytes(t);
  t.wsGatherOffset = static_cast<uint32_t>((t.wsListOffset + listBytes + 511) / 512 * 512);
  const uint64_t gatherBytes = uint64_t(t.blockDim) * kSfaGatherSlots * t.gatherSlotBytes;
  t.pieceBytes = p.heads * kSfaLatentDim * 4;
  const uint64_t pieceOffset = (t.wsGatherOffset + gatherBytes + 511) / 512 * 512;
  if (pieceOffset + uint64_t(t.numPieces) * t.pieceBytes > UINT32_MAX)
    throw std::invalid_argument("sparse_flash_attention: too many query rows for one launch (workspace above 4 GiB)");
  t.wsPieceOffset = static_cast<uint32_t>(pieceOffset);
  // Then the kept columns' snapshots and corrections and the rebase words (SfaWorkspaceEnd).
  if (SfaWorkspaceEnd(t) > UINT32_MAX)
    throw std::invalid_argument("sparse_flash_attention: too many query rows for one launch (workspace above 4 GiB)");
  plan.workspaceBytes = SfaWorkspaceEnd(t);
  return plan;
}

}  // namespace ascend_glm5::host
