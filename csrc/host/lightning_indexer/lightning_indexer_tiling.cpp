#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "../../kernels/common/host_device.h"
#include "lightning_indexer_host.h"

namespace ascend_glm5::host {

namespace {

// Pieces of at least 512 keys (128 KB; its query re-read costs <= 6 %): one decode row of 8K keys
// then streams on 16 AI cores (HBM-bound) instead of 8 (each core's DMA path-bound).
constexpr uint32_t kSplitMinKeys = 512;
constexpr uint32_t kArenaBytes = 180 * 1024;  // must match LiVector::kArenaBytes
constexpr uint32_t kPairWords = 2;            // a (score, index) pair
constexpr uint32_t kRunPairs = 32;            // pairs per GatherMask / Extract repeat
// A part of a final merge writes at least one GatherMask repeat of ranks (smaller parts not measured:
// each pays the quantiles' merge and the window's reads whatever its band).
constexpr uint32_t kMinOutChunk = kRunPairs;

// UB bytes phase 1 of the vector side needs for `groupRows` rows (mirrors LiVector::CarvePhase1).
uint32_t VectorPhase1Bytes(uint32_t groupRows, uint32_t heads, uint32_t bestPairs, uint32_t tileBuffers, bool rowSplit) {
  const uint32_t m = groupRows * heads, rows = rowSplit ? LiRowsOfCore(groupRows, 1) : groupRows;
  const uint32_t tile = rowSplit ? 2 * rows * heads * kLiHalfKeys * 4 : AlignUp(m * kLiHalfKeys * 4, 32);
  const uint32_t weighted = rowSplit ? std::max(m, 2 * rows * heads) : m;  // weights broadcast (twice: rowSplit)
  uint32_t bytes = tileBuffers * tile + 2 * AlignUp(m * 4, 32) + AlignUp(weighted, 8) * 8 * 4;
  if (rowSplit) bytes += 2 * rows * kLiHalfKeys * 4 + 2 * bestPairs * 4 + kLiHalfKeys * 4;  // summed scores, EmitRow's outputs, key indices
  bytes += 3 * kLiHalfKeys * 4 + 3 * 32 + kLiQuantiles * 8;  // key indices, survivors; header, mask, quantile pattern, quantiles
  const uint32_t mergePairs = bestPairs + kLiCandPairs + kLiCandSparePairs;
  bytes += 2 * mergePairs * 8;
  bytes += rows * ((rowSplit ? bestPairs : mergePairs) + kLiCandPairs + kLiCandSparePairs) * 8;  // LiVector::BestListPairs
  return bytes;
}

// Pairs of list `keys` (keys it saw) a cut merge loads with the list headers, before its cut is
// known: its expected share of the k best (by keys seen) plus three standard deviations, a quantile
// step and 32, at most what the list can hold, rounded up to 16.
uint32_t ExpectedCutPairs(uint32_t keys, const LiRow& row, uint32_t k) {
  const double share = double(k) * keys / double(row.visible);
  const double want = share + 3 * std::sqrt(share) + LiQuantileStep(k, uint32_t(row.partials)) + 32;
  const uint32_t most = std::min(k, keys);
  return AlignUp(static_cast<uint32_t>(std::min<double>(want, most)), 16);
}

// LiMerge::spec of a cut merge: up to 4 lists, each list's ExpectedCutPairs in units of 16, one byte
// each (LiSpecPairs); more (a wide merge, one strided copy): the largest, if the lists fit in UB so.
// A row's lists written in two parts (`inParts`, up to 4 lists): no further than their head, as their
// tails may be on their way.
int32_t SpeculativePairs(const LiMerge& m, const LiRow& row, const std::vector<uint32_t>& listKeys, uint32_t k,
                         uint32_t bestPairs, bool inParts) {
  if (m.count < 2 || row.visible <= 0) return 0;
  if (m.count <= 4) {
    const uint32_t head = inParts ? LiListHead(k, uint32_t(row.partials)) : k;
    uint32_t packed = 0;
    for (int32_t i = 0; i < m.count; ++i)
      packed |= (std::min(ExpectedCutPairs(listKeys[m.src + i], row, k), head) / 16) << (8 * i);
    return static_cast<int32_t>(packed);
  }
  uint32_t spec = 0;
  for (int32_t i = 0; i < m.count; ++i) spec = std::max(spec, ExpectedCutPairs(listKeys[m.src + i], row, k));
  if (uint64_t(spec) * uint32_t(m.count) > 4 * uint64_t(bestPairs)) return 0;
  return static_cast<int32_t>(spec);
}

// Whether a row of up to 4 lists has them go in two parts (kLiSplitInParts in its items' split): only
// when its merge is expected to need no list's tail, which every merge reading a list past its head
// would wait for, i.e. when no list is expected to hold `head` entries at or above the threshold T.
// T is the ranks-th best of the lists' first quantiles, each list bringing a run in proportion to its
// length (LiCut::CutAtThreshold). A list brings f N / step quantiles above N entries of the row when it
// saw a share f of the row's keys, unless its run is shorter: lists that saw many more keys than
// others of the same length (all hold k) then bring too few, T drops to N > k entries of the row, and
// such a list holds f N of them (B = 16 x 32K: +0.7 % with those rows in parts). N is found by
// filling the rank sought with the lists whose runs run out first.
bool FewListsInParts(const LiRow& row, const std::vector<uint32_t>& listKeys, uint32_t k, uint32_t rowSplit) {
  if (!LiFewListsMayGoInParts(row.visible, row.partials, k, rowSplit)) return false;
  const uint32_t lists = uint32_t(row.partials), step = LiQuantileStep(k, lists), head = LiListHead(k, lists);
  const uint64_t ranks = CeilDiv(k, step);
  uint64_t total = 0;
  for (uint32_t i = 0; i < lists; ++i) total += std::min(k, listKeys[row.partialBase + i]);
  double share[4], run[4];
  for (uint32_t i = 0; i < lists; ++i) {
    const uint32_t keys = listKeys[row.partialBase + i];
    share[i] = double(keys) / double(row.visible);
    const uint64_t quants = (5 * ranks * std::min(k, keys) + 4 * total - 1) / (4 * total);  // as CutAtThreshold
    run[i] = double(std::min<uint64_t>(kLiQuantiles, (quants + 3) / 4 * 4));
  }
  bool capped[4] = {false, false, false, false};  // the list brings its whole run
  double entries = double(ranks * step);          // N
  for (bool changed = true; changed;) {
    changed = false;
    double sharesLeft = 0, fromRuns = 0;
    for (uint32_t i = 0; i < lists; ++i) {
      if (capped[i]) {
        fromRuns += run[i];
      } else {
        sharesLeft += share[i];
      }
    }
    if (sharesLeft <= 0 || fromRuns >= double(ranks)) break;
    entries = (double(ranks) - fromRuns) * step / sharesLeft;
    for (uint32_t i = 0; i < lists; ++i) {
      if (capped[i] || share[i] * entries / step <= run[i]) continue;
      capped[i] = true;
      changed = true;
    }
  }
  for (uint32_t i = 0; i < lists; ++i) {
    const double above = share[i] * entries;
    if (above + 3 * std::sqrt(above) + step > double(head)) return false;
  }
  return true;
}

// Level 0's merges, placed so that a vector core's first merge (record v of the level: vector core v)
// is one of the row its AI core's last item covers, when that row's lists go in two parts with up to
// 4 lists (FewListsInParts): the core then learns from the merge's cut whether its list's tail is
// needed at all (rarely: the threshold keeps a list whole), instead of merging and writing it after
// SyncAll before its merge (LiMerger::ResolveTail). Both vector cores of an AI core hold such a list
// of the same row, so a row's two parts go to them. The other merges fill the records left, cores
// still without one get an empty record (count 0, skipped); the order is kept otherwise. tailRow:
// per AI core, the row of its last item when that row's lists may go in parts (FewListsInParts), or -1.
std::vector<LiMerge> PlaceMergesByTails(const std::vector<LiMerge>& level, const std::vector<int32_t>& tailRow,
                                        uint32_t vectorCores) {
  std::vector<LiMerge> placed(vectorCores, LiMerge{0, 0, 0, 0, 0, 0, 0, 0});
  std::vector<bool> used(level.size(), false), filled(vectorCores, false);
  for (uint32_t v = 0; v < vectorCores; ++v) {
    for (size_t i = 0; tailRow[v / 2] >= 0 && i < level.size() && !filled[v]; ++i) {
      if (used[i] || level[i].row != tailRow[v / 2]) continue;
      placed[v] = level[i];
      used[i] = filled[v] = true;
    }
  }
  // The others: first to cores without such a list, then to those whose row another core merges.
  size_t i = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t v = 0; v < vectorCores; ++v) {
      if (filled[v] || (pass == 0 && tailRow[v / 2] >= 0)) continue;
      while (i < level.size() && used[i]) ++i;
      if (i == level.size()) break;
      placed[v] = level[i];
      used[i] = filled[v] = true;
    }
  }
  for (; i < level.size(); ++i)
    if (!used[i]) placed.push_back(level[i]);
  // Cores still without one whose list goes in parts: a copy of a merge of its row that only decides
  // on the tail (kLiTailDecision).
  for (uint32_t v = 0; v < vectorCores; ++v) {
    for (size_t j = 0; !filled[v] && tailRow[v / 2] >= 0 && j < level.size(); ++j) {
      if (level[j].row != tailRow[v / 2]) continue;
      placed[v] = level[j];
      placed[v].dst = kLiTailDecision;
      filled[v] = true;
    }
  }
  while (!placed.empty() && placed.back().count == 0) placed.pop_back();
  return placed;
}

// LiItem::split's kLiSplitInParts flags of AI core c's last item, whose row is `tailRow` (-1: none to
// mark): vector core v's list goes in two parts when its first merge (record v of level 0, placed by
// PlaceMergesByTails) reads it or it has none; else the core would run the list's full merge and
// write its tail after SyncAll, before its own merge.
int32_t ListsInPartsFlags(const std::vector<LiMerge>& level, int32_t tailRow, uint32_t c) {
  int32_t flags = 0;
  for (uint32_t s = 0; tailRow >= 0 && s < 2; ++s) {
    const uint32_t v = 2 * c + s;
    const bool none = v >= level.size() || level[v].count == 0;
    if (none || level[v].row == tailRow) flags |= kLiSplitInParts << s;
  }
  return flags;
}

// LiMerge::visible of a wide merge: its lists' quantile run (LiWideQuantRun), from their lengths.
uint32_t WideQuantRun(const LiMerge& m, const std::vector<uint32_t>& listKeys, uint32_t k) {
  uint32_t longest = 0, total = 0;
  for (int32_t i = 0; i < m.count; ++i) {
    const uint32_t len = std::min(k, listKeys[m.src + i]);
    longest = std::max(longest, len);
    total += len;
  }
  return LiWideQuantRun(k, uint32_t(m.count), longest, total);
}

// The band edges of a final merge in parts (LiPackEdge), per edge p of `parts` (0 .. parts; part p
// takes [edge p + 1, edge p)) its code and, for a wide merge, the entries expected above it (the
// threshold's at p = parts) and whether it lies above the first merged quantile.
struct BandEdges {
  std::vector<int32_t> code;
  std::vector<double> rank;
  std::vector<bool> top;
};

// An edge's coefficient c in units of 1 / kLiEdgeCoefScale (int16; between merged quantiles c is -1 .. 0).
int32_t EdgeCoef(double c) {
  return static_cast<int32_t>(std::lround(std::clamp(c, -1.0, 31.0) * kLiEdgeCoefScale));
}

// The rank rule (a merge of up to 4 lists): edge p at merged quantile p x ranks / parts, less an
// allowance for the entries each list holds between its last quantile above the edge and the edge.
constexpr uint32_t kEdgeListsDiv = 4;
// The last part's band reaches down to the threshold, a bound below the k-th best by up to a quantile
// step per list, so it held the most entries (~180 at B = 1 x 8K, about twice a middle part's) and its
// window the most pairs: its upper edge sits this many merged quantiles lower, part of its band going
// to the part before it (B = 1 x 8K, the last part 7,513 -> 7,396 cycles; 0 / 1 / 2 / 3 / 4: 7,513 /
// 7,465 / 7,465 / 7,465 / 7,536, the limit then another part; 32K and 128K unchanged).
constexpr uint32_t kLastBandLower = 2;
// Not in 2 parts (decode B = 16: rows of 4 lists on 40 vector cores): there part 0's band, above the
// edge, held ~1,270 of the 2,048 ranks and ended ~350 cycles after the last part (its merge, index
// extraction and output copy grow with the band); the allowance alone leaves it ~1,090.
constexpr uint32_t kLastBandLowerFromParts = 2;
uint32_t BandRank(uint32_t part, uint32_t ranks, uint32_t parts, uint32_t lists) {
  const uint32_t r = part * ranks / parts, below = 1 + lists / kEdgeListsDiv;
  const uint32_t j = r > below ? r - below : 0;
  if (part + 1 != parts || parts <= kLastBandLowerFromParts) return j;
  // the last part's edge lowered, no lower than the rank sought's next-to-last quantile (the edge
  // reads quantiles j and j + 1 of the merged ones, at least `ranks` of them), and never above j
  const uint32_t lowest = ranks > 1 ? ranks - 2 : 0;
  const uint32_t lowered = r + kLastBandLower > below ? r + kLastBandLower - below : 0;
  return std::max(j, std::min(lowered, lowest));
}
// Halfway between two merged quantiles; the first parts, whose edges the allowance puts at or above
// the first merged quantile, above it by kTopAlpha of its gap to the second per quantile of allowance
// left over: they split the entries above every list's first quantile (up to 15 per list) instead of
// part 0 merging them alone while the next ones stay empty (B = 1 x 8K 5.17 -> 5.14 us, 32K 9.89 ->
// 9.85 at a tenth; a half since the band windows, li-decode2: 8,625 -> 8,532 cycles, 32K 17,077 ->
// 16,965). kTopAlpha 0.1 / 0.2 / 0.3 / 0.8: B = 1 x 8K 8,625 / 8,604 / 8,570 / 8,532 cycles; with the
// window in chunks (li-b1c) 0.5 / 0.8 / 1.0 / 1.2 / 1.4: 7,718 / 7,645 / 7,589 / 7,556 / 7,552, 32K
// 15,712 at 1.2.
constexpr double kEdgeAlpha = 0.5, kTopAlpha = 1.2;
BandEdges RankRuleEdges(uint32_t ranks, uint32_t parts, uint32_t lists) {
  BandEdges e;
  for (uint32_t p = 0; p <= parts; ++p) {
    const uint32_t j = p < parts ? BandRank(p, ranks, parts, lists) : ranks - 1;
    const int32_t over = int32_t(1 + lists / kEdgeListsDiv) - int32_t(p * ranks / parts);
    const bool top = j == 0 && over > 0;
    e.code.push_back(top ? LiPackEdge(0, 1, EdgeCoef(kTopAlpha * over)) : LiPackEdge(j, j + 1, EdgeCoef(-kEdgeAlpha)));
  }
  return e;
}

// A wide merge's lists as the edges' model sees them: lists of one length (and so one share of the
// row's keys) in one class, the quantile step and the quantiles each list brings to the merge
// (LiWideQuantRun). A row's lists differ by a block at most, so a merge has two or three classes.
struct ListClass {
  double share;
  uint32_t len, count;
};
struct WideLists {
  std::vector<ListClass> classes;
  uint32_t step = 0, run = 0, ranks = 0, keys = 0;
};

// Expected merged quantiles among a wide merge's best r entries (n) and its slope in r, keys
// exchangeable: a list holds about X ~ Poisson(r x its share) of them, and its quantile q (from 1) is
// its (step x q)-th entry, among them with P(X >= step x q), whose slope in lambda is
// P(X = step x q - 1). It does not depend on the scores' distribution, and it is not linear in r:
// flat over the best few hundred (no list has its first quantile yet), steep where most lists reach
// it together.
struct QuantileCount {
  double n = 0, slope = 0;
};
constexpr double kTinyLog = 690;  // e^-690 = 1e-300: P(X = e) below it is counted as 0
QuantileCount QuantilesAmongBest(const WideLists& w, double r) {
  QuantileCount out;
  for (const ListClass& c : w.classes) {
    const double lambda = r * c.share;
    const uint32_t last = std::min(w.step * w.run, c.len);
    if (lambda <= 0 || last < w.step) continue;
    // P(X < last) below 1e-20 (over 10 standard deviations): every quantile is among them.
    if (lambda > last + 10 * std::sqrt(lambda) + 10) {
      out.n += double(c.count) * (last / w.step);
      continue;
    }
    // pmf = P(X = e) by P(X = e) = P(X = e - 1) x lambda / e, below = P(X < e + 1); while P(X = e)
    // is below 1e-300 (e^-lambda underflows past lambda ~ 708), counted as 0 and followed in logs.
    bool tiny = lambda > kTinyLog;
    double pmf = tiny ? 0 : std::exp(-lambda), logPmf = -lambda, below = 0;
    for (uint32_t e = 0, toQuantile = w.step; e < last; ++e) {
      below += pmf;
      if (--toQuantile == 0) {  // quantile (e + 1) / step
        toQuantile = w.step;
        out.n += c.count * std::max(0.0, 1.0 - below);
        out.slope += c.count * c.share * pmf;
      }
      if (!tiny) {
        pmf *= lambda / (e + 1);
      } else if ((logPmf += std::log(lambda / (e + 1))) > -kTinyLog) {
        tiny = false;
        pmf = std::exp(logPmf);
      }
    }
  }
  return out;
}
// The rank r at which QuantilesAmongBest reaches x: Newton steps kept inside a bisection's bracket
// (it grows with r; a few passes where a bisection to the same precision takes 40); all the keys
// where they hold fewer than x.
double RankOfQuantiles(const WideLists& w, double x) {
  if (QuantilesAmongBest(w, w.keys).n < x) return w.keys;
  double lo = 0, hi = w.keys, r = std::min(hi, x * w.step);
  for (int it = 0; it < 100 && hi - lo > 1e-9 * w.keys; ++it) {
    const QuantileCount f = QuantilesAmongBest(w, r);
    (f.n < x ? lo : hi) = r;
    const double newton = f.slope > 0 ? r - (f.n - x) / f.slope : lo;
    const double next = newton > lo && newton < hi ? newton : (lo + hi) / 2;
    if (std::abs(next - r) < 1e-9 * w.keys) return next;
    r = next;
  }
  return hi;
}

// A wide merge's edges at equal expected ranks: edge p at rank p x R_T / parts (R_T: the
// threshold's, where the merged quantiles reach the rank sought), at x = QuantilesAmongBest there
// merged quantiles: between merged quantiles floor(x) - 1 and floor(x), by x's fraction. Above the
// first merged quantile (x < 1) the quantiles say nothing: extrapolated from the gap of merged
// quantiles 0 and 8 with scores taken linear in the log of the rank (a tail; fitted to the test inputs
// at 8K the coefficients were 4.1 / 2.4 / 1.1 for the first three edges, this gives 4.0 / 2.1 / 0.9).
constexpr uint32_t kTopGapQuantile = 8;
BandEdges ExpectedRankEdges(const WideLists& w, uint32_t parts) {
  BandEdges e;
  const double rT = RankOfQuantiles(w, w.ranks);
  const uint32_t far = std::min(kTopGapQuantile, w.ranks - 1);
  const double r0 = RankOfQuantiles(w, 1), rFar = RankOfQuantiles(w, far + 1);
  for (uint32_t p = 0; p <= parts; ++p) {
    const double r = rT * p / parts, x = p < parts ? QuantilesAmongBest(w, r).n : w.ranks;
    e.rank.push_back(r);
    e.top.push_back(x < 1);
    if (x < 1) {  // (p = 0: no edge)
      const double c = p == 0 ? 0 : std::log(r0 / r) / std::log(rFar / r0);
      e.code.push_back(LiPackEdge(0, far, EdgeCoef(c)));
      continue;
    }
    const uint32_t j = std::min(static_cast<uint32_t>(x), w.ranks) - 1;
    e.code.push_back(LiPackEdge(j, std::min(j + 1, w.ranks - 1), EdgeCoef(-(x - std::floor(x)))));
  }
  return e;
}

WideLists ListsOf(const LiMerge& m, const LiRow& row, const std::vector<uint32_t>& listKeys, uint32_t k) {
  WideLists w;
  w.step = LiQuantileStep(k, uint32_t(m.count));
  w.ranks = CeilDiv(k, w.step);
  w.run = std::min<uint32_t>(kLiQuantiles, WideQuantRun(m, listKeys, k));
  if (w.run * uint32_t(m.count) < w.ranks) w.run = kLiQuantiles;  // (LiCut::WideRun)
  for (int32_t i = 0; i < m.count; ++i) {
    const ListClass c{listKeys[m.src + i] / double(row.visible), std::min(k, listKeys[m.src + i]), 1};
    w.keys += c.len;
    const auto same = std::find_if(w.classes.begin(), w.classes.end(),
                                   [&](const ListClass& o) { return o.share == c.share && o.len == c.len; });
    if (same != w.classes.end()) same->count++;
    else w.classes.push_back(c);
  }
  return w;
}

// LiMerge::spec of part `part` of `parts` of a wide band merge (LiWindowEnd / LiWindowSkip): pairs
// [skip, end) of every list, around where its band is expected (each list's share of the entries
// above the band's edges, by keys seen, three standard deviations and 4 pairs out, in whole 32-pair
// words); the last part ends where its list reaches the threshold (entries below it are past rank
// k). The kernel checks every list's band against the window (LiCut::WindowBand) and loads
// all lists from their first pair when one misses.
// A window's first pair: a multiple of 4 (32 bytes) below the lists' lowest expected band start,
// not of 32 (li-decode3: B = 1 x 32K 16,671 -> 16,591 cycles, 128K 46,535 -> 46,298; 16: 16,643 /
// 46,511; 8: 16,591 / 46,298).
constexpr uint32_t kWindowSkipPairs = 4;
int32_t WideBandWindow(const LiMerge& m, const LiRow& row, const std::vector<uint32_t>& listKeys, uint32_t k,
                       uint32_t spec, uint32_t part, const BandEdges& edges, uint32_t bestPairs, uint32_t head) {
  const uint32_t lists = uint32_t(m.count);
  const auto near = [&](double above, double sigmas) {  // the bound of the lists' positions of that edge
    double bound = sigmas < 0 ? 1e9 : 0;
    for (int32_t i = 0; i < m.count; ++i) {
      if (i > 0 && listKeys[m.src + i] == listKeys[m.src + i - 1]) continue;  // (a row's lists: runs of one length)
      const double mean = above * listKeys[m.src + i] / double(row.visible);
      const double at = mean + sigmas * (std::sqrt(mean) + 4 / 3.0);
      bound = sigmas < 0 ? std::min(bound, at) : std::max(bound, at);
    }
    return bound;
  };
  // An edge above the first merged quantile is extrapolated: its part loads from pair 0.
  const double skip = edges.top[part] ? 0.0 : std::max(0.0, near(edges.rank[part], -3));
  // Whole 32-pair words of compare bits, within the lists' heads (a tail may be on its way), from
  // a multiple of kWindowSkipPairs.
  const uint32_t s = static_cast<uint32_t>(skip) / kWindowSkipPairs * kWindowSkipPairs;
  const uint32_t low = static_cast<uint32_t>(near(edges.rank[part + 1], 3)) + 1;
  const uint32_t e = std::min(std::min(AlignUp(spec, 32), head), s + AlignUp(low > s ? low - s : 32, 32));
  if (e <= s || (e - s) * lists > 4 * bestPairs) return static_cast<int32_t>(spec);
  return static_cast<int32_t>(e | s << 16);
}

// LightningIndexerTiling::wideHeadQuantiles: the most quantiles per list any wide merge loads
// (LiCut::LoadQuantiles), from each wide row's quantile run (all 16 without one).
uint32_t WideHeadQuantiles(const std::vector<LiRow>& rows, const std::vector<uint32_t>& listKeys, uint32_t k) {
  uint32_t most = 0;
  for (const LiRow& row : rows) {
    if (!LiWideMerge(row.visible, row.partials, k)) continue;
    const LiMerge m{static_cast<int32_t>(&row - rows.data()), row.partialBase, row.partials, -1, 0, 0, 0, 0};
    most = std::max(most, LiLoadedQuantiles(LiWideRun(k, uint32_t(row.partials), int32_t(WideQuantRun(m, listKeys, k)))));
  }
  return most > 0 ? most : kLiQuantiles;
}

// The band edges of merge m, part of a row's final merge in parts (a wide one: ExpectedRankEdges).
BandEdges EdgesOf(const LiMerge& m, const LiRow& row, const std::vector<uint32_t>& listKeys, uint32_t k, uint32_t parts) {
  const uint32_t lists = uint32_t(row.partials);
  if (m.count > 4) return ExpectedRankEdges(ListsOf(m, row, listKeys, k), parts);
  return RankRuleEdges(CeilDiv(k, LiQuantileStep(k, lists)), parts, lists);
}

struct Group {
  uint32_t row0, rows, keys;
};

// Estimated cost of an item of `rows` rows and `keys` keys, in key-steps: the cube loads each key
// once and the vector cores work per key and row; each row also pays a fixed cost per item (its
// top-k's last merge, its list written and merged in phase 2), about that of kRowOverheadKeys keys.
constexpr uint32_t kRowOverheadKeys = 256;
uint64_t ItemCost(uint32_t keys, uint32_t rows) {
  return uint64_t(AlignUp(keys, kLiStepKeys)) * (rows + 1) + uint64_t(rows) * kRowOverheadKeys;
}

LiItem MakeItem(const Group& g, uint32_t kb, uint32_t ke, uint32_t split) {
  return LiItem{static_cast<int32_t>(g.row0), static_cast<int32_t>(g.rows), static_cast<int32_t>(kb),
                static_cast<int32_t>(ke), static_cast<int32_t>(AlignUp(CeilDiv(ke - kb, 2), kLiHalfKeys)),
                static_cast<int32_t>(split), 0, 0};
}

struct Assignment {
  std::vector<LiItem> items;
  std::vector<std::vector<uint32_t>> perCore;  // item numbers per core, in row order
  std::vector<uint32_t> groupItems;            // items per group
  uint64_t makespan = 0;                       // the most loaded core's estimated cost
};

// One item per group, biggest first, each to the least loaded core (prefill: many groups).
Assignment WholeGroupsLongestFirst(const std::vector<Group>& groups, uint32_t aiCores) {
  Assignment a;
  a.perCore.resize(aiCores);
  a.groupItems.assign(groups.size(), 1);
  std::vector<uint32_t> order(groups.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  auto cost = [&](uint32_t i) { return ItemCost(groups[i].keys, groups[i].rows); };
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return cost(x) > cost(y); });
  std::vector<uint64_t> load(aiCores, 0);
  for (uint32_t i : order) {
    const uint32_t c = static_cast<uint32_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[c] += cost(i);
    a.perCore[c].push_back(i);
  }
  for (const Group& g : groups) a.items.push_back(MakeItem(g, 0, g.keys, 0));
  for (auto& core : a.perCore) std::sort(core.begin(), core.end());  // each core's items in row order
  a.makespan = *std::max_element(load.begin(), load.end());
  return a;
}

// The groups' key ranges, one after the other, cut into one stretch of equal cost per core, so that
// every core streams the same share of the keys (decode: few groups, one row over several cores);
// a group cut at a core boundary becomes several items. Core c's stretch ends where the cumulative
// cost reaches (c + 1) x `perCoreCost`, rounded to the nearest whole step, so the cores' shares
// differ by at most a step (a fill rounded up per core left B = 1 x 128K's last core 36 steps against
// the others' 52). Pieces are at least kSplitMinKeys long, except a group shorter than that; the
// last core takes what is left. `placed(core, group, kb, ke)` is called for each piece in order; the
// result is the last core's load and the most loaded core's.
struct Loads {
  uint64_t last = 0, most = 0;
};
template <typename Placed>
Loads CutContiguous(const std::vector<Group>& groups, uint32_t aiCores, uint64_t perCoreCost, Placed&& placed) {
  Loads loads;
  uint64_t coreLoad = 0, done = 0;  // the current core's cost, and all cores' up to it
  uint32_t core = 0;
  const auto nextCore = [&] {
    loads.most = std::max(loads.most, coreLoad);
    coreLoad = 0;
    core++;
  };
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const Group& g = groups[gi];
    for (uint32_t kb = 0; kb < g.keys;) {
      const uint64_t fixed = uint64_t(g.rows) * kRowOverheadKeys, target = (core + 1) * perCoreCost;
      const uint64_t room = target > done + fixed ? target - done - fixed : 0;
      const uint32_t left = g.keys - kb;
      // Keys that fill this core up to its target, to the nearest step (the last core takes
      // whatever is left).
      const uint64_t want = (room + (g.rows + 1) * uint64_t(kLiStepKeys / 2)) / (g.rows + 1) / kLiStepKeys * kLiStepKeys;
      uint32_t n = core + 1 == aiCores ? left : static_cast<uint32_t>(std::min<uint64_t>(want, left));
      if (n < kSplitMinKeys && n < left && coreLoad > 0) {
        nextCore();  // too little room left here for a piece of this group: start it on the next core
        continue;
      }
      n = std::max(n, kSplitMinKeys);
      uint32_t ke = std::min(g.keys, kb + n);
      if (g.keys - ke < kSplitMinKeys) ke = g.keys;  // no short tail piece: this core takes it
      placed(core, gi, kb, ke);
      const uint64_t cost = ItemCost(ke - kb, g.rows);
      coreLoad += cost;
      done += cost;
      kb = ke;
      if (done + (g.rows + 1) * uint64_t(kLiStepKeys / 2) >= target && core + 1 < aiCores) nextCore();
    }
  }
  loads.most = std::max(loads.most, coreLoad);
  loads.last = core + 1 == aiCores ? coreLoad : 0;
  return loads;
}

// CutContiguous's pieces as items.
Assignment SplitContiguous(const std::vector<Group>& groups, uint32_t aiCores, uint64_t perCoreCost) {
  Assignment a;
  a.perCore.resize(aiCores);
  a.groupItems.assign(groups.size(), 0);
  const Loads loads = CutContiguous(groups, aiCores, perCoreCost, [&](uint32_t core, size_t gi, uint32_t kb, uint32_t ke) {
    a.items.push_back(MakeItem(groups[gi], kb, ke, a.groupItems[gi]++));
    a.perCore[core].push_back(static_cast<uint32_t>(a.items.size() - 1));
  });
  // A core's shortest piece first: the top-k flush and list write at the end of each piece before
  // its last then come while the vector cores still have time to catch up with the cube (a short
  // last piece after a long one left them holding the score ring full near the stream's end, which
  // stalled the core's last tiles).
  auto keys = [&](uint32_t i) { return a.items[i].keyEnd - a.items[i].keyBegin; };
  for (auto& core : a.perCore) {
    auto shortest = std::min_element(core.begin(), core.end(), [&](uint32_t x, uint32_t y) { return keys(x) < keys(y); });
    if (shortest != core.end()) std::rotate(core.begin(), shortest, shortest + 1);
  }
  a.makespan = loads.most;
  return a;
}

// SplitContiguous with the smallest fill per core that leaves the last core no more than that
// (cutting groups adds their rows' fixed costs, so the fill is above the average cost). The search
// only adds up loads (a plan's host time: building the items at every step of it took a third).
Assignment SplitContiguousBalanced(const std::vector<Group>& groups, uint32_t aiCores) {
  uint64_t total = 0;
  for (const Group& g : groups) total += ItemCost(g.keys, g.rows);
  const auto nothing = [](uint32_t, size_t, uint32_t, uint32_t) {};
  const auto fits = [&](uint64_t fill) { return CutContiguous(groups, aiCores, fill, nothing).last <= fill; };
  uint64_t lo = std::max<uint64_t>(1, (total + aiCores - 1) / aiCores), hi = total + 1;
  // The last core's load falls as the fill rises, though not strictly (a search bracketing from below
  // found other fills at 3 of 336 test shapes, one of them worse): this search picks the plans.
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return SplitContiguous(groups, aiCores, lo);
}

}  // namespace

LightningIndexerPlan MakeLightningIndexerPlan(const LightningIndexerProblem& p, uint32_t aiCores) {
  if (p.heads == 0 || p.heads > kLiMaxHeads) throw std::invalid_argument("lightning_indexer: heads must be in [1, 64]");
  if (p.sparseCount == 0 || p.sparseCount > kLiMaxSparseCount)
    throw std::invalid_argument("lightning_indexer: sparse_count must be in [1, 2048]");
  const size_t batches = p.queryStart.size();
  LightningIndexerPlan plan;
  LightningIndexerTiling& t = plan.tiling;
  t.numRows = p.numRows;
  t.heads = p.heads;
  t.sparseCount = p.sparseCount;
  t.bestPairs = AlignUp(p.sparseCount, 32);
  t.queryDtype = p.queryDtype;
  t.weightDtype = p.weightDtype;
  t.paged = p.paged ? 1 : 0;
  t.blockSize = p.blockSize;
  t.maxBlocks = p.maxBlocks;
  t.returnValue = p.returnValue ? 1 : 0;
  // Rows per item: fill the cube's M (<= 128) while the per-row top-k state fits in UB.
  t.groupRows = std::max<uint32_t>(1, std::min<uint32_t>(4, kLiMaxTileRows / p.heads));
  while (t.groupRows > 1 && VectorPhase1Bytes(t.groupRows, p.heads, t.bestPairs, 1, true) > kArenaBytes) t.groupRows--;

  // Rows and what each may see; groups of consecutive visible rows of one batch.
  std::vector<LiRow> rows(p.numRows, LiRow{-1, 0, 0, 0});
  std::vector<Group> groups;
  for (size_t b = 0; b < batches; ++b) {
    const int64_t nq = p.queryLen[b], nk = p.keyLen[b];
    for (int64_t i = 0; i < nq; ++i) {
      int64_t vis = nk;
      if (p.sparseMode == 3) vis = std::clamp<int64_t>(nk - nq + i + 1, 0, nk);
      const uint32_t r = static_cast<uint32_t>(p.queryStart[b] + i);
      rows[r] = LiRow{static_cast<int32_t>(b), static_cast<int32_t>(vis), 0, 0};
      if (vis <= 0) continue;
      if (groups.empty() || rows[groups.back().row0].batch != int32_t(b) || groups.back().rows == t.groupRows ||
          groups.back().row0 + groups.back().rows != r)
        groups.push_back(Group{r, 0, 0});
      groups.back().rows++;
      groups.back().keys = std::max<uint32_t>(groups.back().keys, static_cast<uint32_t>(vis));
    }
  }

  // Buffers sized for the largest group actually formed (decode: one row); the vector cores copy the
  // next score tiles ahead, up to two when three tiles fit in UB.
  uint32_t largest = 1;
  for (const Group& g : groups) largest = std::max(largest, g.rows);
  // Groups of several rows (prefill) are split between the two vector cores by rows: each core keeps
  // the whole top-k of its rows, so a row one item covers needs no merge after SyncAll. One row
  // (decode) is split by key halves, and its vector cores copy the next score tiles ahead.
  t.groupRows = largest;
  t.rowSplit = largest > 1 ? 1 : 0;
  t.tileBuffers = t.rowSplit ? 2 : kLiMaxTileBuffers;  // rowSplit: up to 2 (4 column blocks, LiVector::StepsRowSplit)
  while (t.tileBuffers > 1 && VectorPhase1Bytes(t.groupRows, p.heads, t.bestPairs, t.tileBuffers, t.rowSplit) > kArenaBytes)
    t.tileBuffers--;
  const int32_t listsPerItem = t.rowSplit ? 1 : 2;

  // Items and their cores: whole groups longest-first, or the groups' key ranges cut into equal
  // stretches per core, whichever finishes first by the cost estimate.
  Assignment plan1 = WholeGroupsLongestFirst(groups, aiCores), plan2 = SplitContiguousBalanced(groups, aiCores);
  Assignment& chosen = plan1.makespan <= plan2.makespan ? plan1 : plan2;
  std::vector<LiItem>& items = chosen.items;
  std::vector<std::vector<uint32_t>>& perCore = chosen.perCore;
  const std::vector<uint32_t>& groupItems = chosen.groupItems;
  int32_t partialSlot = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    for (uint32_t r = groups[gi].row0; r < groups[gi].row0 + groups[gi].rows; ++r) {
      rows[r].partialBase = partialSlot;
      rows[r].partials = listsPerItem * static_cast<int32_t>(groupItems[gi]);
      partialSlot += listsPerItem * static_cast<int32_t>(groupItems[gi]);
    }
  }
  t.numItems = static_cast<uint32_t>(items.size());
  t.numPartials = static_cast<uint32_t>(partialSlot);
  // Keys each partial list sees: vector core s of an item takes its key half s (rowSplit: the item's
  // keys), up to what the row sees.
  std::vector<uint32_t> listKeys(partialSlot, 0);
  for (const LiItem& it : items)
    for (int32_t r = it.row0; r < it.row0 + it.rows; ++r)
      for (int32_t half = 0; half < listsPerItem; ++half) {
        const int64_t lo = it.keyBegin + int64_t(half) * it.halfKeys;
        const int64_t hi = std::min<int64_t>({t.rowSplit ? it.keyEnd : lo + it.halfKeys, it.keyEnd, rows[r].visible});
        listKeys[rows[r].partialBase + listsPerItem * it.split + half] = static_cast<uint32_t>(std::max<int64_t>(0, hi - lo));
      }
  std::vector<bool> inParts(p.numRows, false);  // FewListsInParts
  for (uint32_t r = 0; r < p.numRows; ++r) inParts[r] = FewListsInParts(rows[r], listKeys, p.sparseCount, t.rowSplit);
  while (!perCore.empty() && perCore.back().empty()) perCore.pop_back();
  t.blockDim = std::max<uint32_t>(1, static_cast<uint32_t>(perCore.size()));
  perCore.resize(t.blockDim);

  // Tables: per core one 64-byte line (a line of the scalar DataCache, LiCoreRecord) with its item
  // range, the cube's tiling fields (filled below) and a copy of its first item, so that a core's
  // first plan reads miss once; then the items (grouped by core), the rows.
  t.coreOffset = 0;
  t.itemOffset = t.coreOffset + t.blockDim * kLiCoreWords;
  t.rowOffset = t.itemOffset + 8 * t.numItems;
  plan.table.reserve(t.rowOffset + 4 * t.numRows);
  plan.table.assign(t.itemOffset, 0);
  std::vector<int32_t> offsets{0};
  for (auto& core : perCore) {
    for (uint32_t i : core) {
      const LiItem& it = items[i];
      const int32_t batch = rows[it.row0].batch;
      plan.table.insert(plan.table.end(), {it.row0, it.rows, it.keyBegin, it.keyEnd, it.halfKeys, it.split, batch,
                                           static_cast<int32_t>(p.keyStart[batch])});
    }
    offsets.push_back(offsets.back() + static_cast<int32_t>(core.size()));
  }
  for (uint32_t c = 0; c < t.blockDim; ++c) {
    int32_t* core = plan.table.data() + t.coreOffset + c * kLiCoreWords;
    core[__builtin_offsetof(LiCoreRecord, first) / 4] = offsets[c];
    core[__builtin_offsetof(LiCoreRecord, last) / 4] = offsets[c + 1];
    if (offsets[c] < offsets[c + 1])
      std::copy_n(plan.table.data() + t.itemOffset + offsets[c] * 8, 8, core + __builtin_offsetof(LiCoreRecord, item) / 4);
  }
  for (const LiRow& r : rows) plan.table.insert(plan.table.end(), {r.batch, r.visible, r.partialBase, r.partials});

  // Phase 2: each row's lists merged 4 at a time, level by level, in balanced groups of
  // consecutive (key-ordered) lists, until a row's last merge (at most 4 lists) writes its output;
  // a row whose lists are cut at its threshold first (LiWideMerge) is merged in one step.
  struct Lists {
    int32_t first, count;
  };
  std::vector<Lists> pending(p.numRows);
  for (uint32_t r = 0; r < p.numRows; ++r)  // rowSplit: a row of one list wrote its indices in phase 1
    pending[r] = Lists{rows[r].partialBase, t.rowSplit && rows[r].partials == 1 ? 0 : rows[r].partials};
  int32_t nextSlot = partialSlot;
  std::vector<std::vector<LiMerge>> levels;
  for (bool more = true; more;) {
    more = false;
    std::vector<LiMerge> level;
    for (uint32_t r = 0; r < p.numRows; ++r) {
      const Lists l = pending[r];
      if (l.count <= 0) continue;
      // At most 4 lists, or a row merged in one step from all its (cut) partial lists.
      if (l.count <= 4 || (levels.empty() && LiWideMerge(rows[r].visible, rows[r].partials, p.sparseCount))) {
        level.push_back(LiMerge{static_cast<int32_t>(r), l.first, l.count, -1, 0, 0, 0, 0});
        pending[r].count = 0;
        continue;
      }
      const int32_t groups = (l.count + 3) / 4;
      pending[r] = Lists{nextSlot, groups};
      for (int32_t g = 0, at = l.first; g < groups; ++g) {
        const int32_t n = l.count / groups + (g < l.count % groups ? 1 : 0);
        level.push_back(LiMerge{static_cast<int32_t>(r), at, n, nextSlot++, 0, 0, 0, 0});
        at += n;
      }
      more = true;
    }
    if (!level.empty()) levels.push_back(std::move(level));
  }
  // A plan of one level (decode) with fewer final merges than vector cores repeats each final merge
  // on as many vector cores as it fits, each writing its own part of the k ranks: a cut merge merges only
  // its part's score band (LiMerger::BandMerge: about k / parts pairs instead of all), an uncut one
  // is redone in full and shares the index extraction (14 cycles per 32 pairs).
  t.outChunk = t.bestPairs;
  bool fewListsInParts = false;  // a list of a row of up to 4 goes in two parts
  if (levels.size() == 1) {
    const uint32_t vectorCores = 2 * t.blockDim, finals = static_cast<uint32_t>(levels[0].size());
    const uint32_t parts = vectorCores / finals;
    if (parts > 1) {
      // In ranks of 4 pairs (32 bytes in UB), not of GatherMask repeats: B = 1 x k = 2,048 on 40 vector
      // cores in 40 parts of 52 ranks, not 32 of 64 (a part's band ranks need no alignment, BandMerge).
      t.outChunk = std::max(kMinOutChunk, AlignUp(CeilDiv(p.sparseCount, parts), 4));
      const int32_t used = static_cast<int32_t>(CeilDiv(p.sparseCount, t.outChunk));
      std::vector<LiMerge> split;
      for (const LiMerge& m : levels[0])
        for (int32_t part = 0; part < used; ++part) {
          split.push_back(m);
          split.back().dst = -1 - part;
        }
      levels[0] = std::move(split);
    }
    // Batched rows of up to 4 lists (FewListsInParts): level 0's merges on the vector cores holding
    // their lists, which then go in two parts (the flags in each core's last item).
    std::vector<int32_t> tailRow(t.blockDim, -1);  // the row of each AI core's last item, if its lists go in parts
    bool byTails = false;
    for (uint32_t c = 0; c < t.blockDim; ++c) {
      if (perCore[c].empty()) continue;
      const int32_t r = items[perCore[c].back()].row0;
      if (!inParts[r]) continue;
      tailRow[c] = r;
      byTails = true;
    }
    if (byTails) levels[0] = PlaceMergesByTails(levels[0], tailRow, vectorCores);
    for (uint32_t c = 0; byTails && c < t.blockDim; ++c) {
      const int32_t flags = ListsInPartsFlags(levels[0], tailRow[c], c);
      if (flags == 0) continue;
      fewListsInParts = true;
      const int32_t last = offsets[c + 1] - 1;  // the core's last item, in the table and maybe in its record
      plan.table[t.itemOffset + 8 * last + __builtin_offsetof(LiItem, split) / 4] |= flags;
      if (last == offsets[c])
        plan.table[t.coreOffset + c * kLiCoreWords + (__builtin_offsetof(LiCoreRecord, item) + __builtin_offsetof(LiItem, split)) / 4] |= flags;
    }
  }

  // The level offsets, then the merges level after level, from a 64-byte line: a vector core's
  // first merge record of level 0 then shares the line of the level offsets (in decode the row's
  // final merge is read with one GM miss). A final merge in parts: each record of the (one) level
  // in the second half of its own line, its band's two edges in the first (LiPlan::BandEdges: no GM
  // miss of their own).
  const uint32_t parts = CeilDiv(p.sparseCount, t.outChunk);
  t.wideHeadQuantiles = WideHeadQuantiles(rows, listKeys, p.sparseCount);
  t.mergeWords = levels.size() == 1 && parts > 1 ? kLiMergeWordsWithEdges : 8;
  t.numLevels = static_cast<uint32_t>(levels.size());
  t.levelOffset = AlignUp(static_cast<uint32_t>(plan.table.size()), 16);
  t.mergeOffset = t.levelOffset + AlignUp(t.numLevels + 1, 8);
  plan.table.resize(t.mergeOffset, 0);
  int32_t merges = 0;
  std::vector<BandEdges> rowEdges(p.numRows);  // each row's computed once
  const auto edgesOf = [&](const LiMerge& m) -> const BandEdges& {
    if (rowEdges[m.row].code.empty()) rowEdges[m.row] = EdgesOf(m, rows[m.row], listKeys, p.sparseCount, parts);
    return rowEdges[m.row];
  };
  // A final merge in parts repeats one merge per part: what depends only on its lists is worked out
  // once (SpeculativePairs of 40 lists per part was a fifth of a B = 1 plan's host time).
  struct ListsFacts {
    int32_t row = -1, src = 0, count = 0, spec = 0, visible = 0;
  } facts;
  const auto factsOf = [&](const LiMerge& m, bool cut) -> const ListsFacts& {
    if (facts.row == m.row && facts.src == m.src && facts.count == m.count) return facts;
    facts = ListsFacts{m.row, m.src, m.count, 0, rows[m.row].visible};
    if (cut) facts.spec = SpeculativePairs(m, rows[m.row], listKeys, p.sparseCount, t.bestPairs, inParts[m.row]);
    if (m.count > 4) facts.visible = static_cast<int32_t>(WideQuantRun(m, listKeys, p.sparseCount));
    return facts;
  };
  for (const auto& level : levels) {
    plan.table[t.levelOffset + (&level - &levels.front())] = merges;
    facts = ListsFacts{};
    for (LiMerge m : level) {
      // A row's first merges (level 0) cut its lists at its threshold when they published quantiles.
      const bool cut =
          &level == &levels.front() && m.count > 0 && LiCutsLists(rows[m.row].visible, rows[m.row].partials, p.sparseCount);
      const ListsFacts& f = factsOf(m, cut);
      if (cut) {
        m.cutLists = rows[m.row].partials;
        m.cutBase = rows[m.row].partialBase;
        m.spec = m.dst == kLiTailDecision ? 0 : f.spec;  // (a tail's decision loads no list)
        if (m.count > 4 && m.spec > 0 && m.dst < 0 && parts > 1)
          m.spec = WideBandWindow(m, rows[m.row], listKeys, p.sparseCount, uint32_t(m.spec), uint32_t(-1 - m.dst), edgesOf(m),
                                  t.bestPairs, LiListHead(p.sparseCount, uint32_t(m.count), t.wideHeadQuantiles));
      }
      const int32_t visible = f.visible;
      plan.table.insert(plan.table.end(), {m.row, m.src, m.count, m.dst, m.cutLists, m.cutBase, visible, m.spec});
      if (t.mergeWords == kLiMergeWordsWithEdges && m.cutLists > 0 && m.dst < 0) {
        const uint32_t at = t.mergeOffset + merges * kLiMergeWordsWithEdges - kLiEdgeWordsBefore, part = uint32_t(-1 - m.dst);
        plan.table[at] = edgesOf(m).code[part];
        plan.table[at + 1] = edgesOf(m).code[part + 1];
      }
      if (t.mergeWords == kLiMergeWordsWithEdges) plan.table.resize(plan.table.size() + kLiMergeWordsWithEdges - 8, 0);
      merges++;
    }
  }
  plan.table[t.levelOffset + t.numLevels] = merges;
  // A row merged in one step, or cut from up to 4 lists (FewListsInParts), writes only the head of
  // each partial list before SyncAll (the part its cut can keep), the tail after it; a merge that
  // needs a tail waits on this counter (one add per vector core once its tails are written), 0 at
  // launch: the plan is written before every launch.
  // Only when a list of such a row can be longer than its head (it saw more keys than that).
  t.tailFlagOffset = 0;
  for (uint32_t r = 0; r < p.numRows; ++r) {
    const LiRow& row = rows[r];
    if (!LiWideMerge(row.visible, row.partials, p.sparseCount) && !(inParts[r] && fewListsInParts)) continue;
    for (int32_t i = 0; i < row.partials; ++i)
      if (listKeys[row.partialBase + i] > LiPartsHead(t, row.visible, row.partials))
        t.tailFlagOffset = AlignUp(static_cast<uint32_t>(plan.table.size()), 16);
  }
  if (t.tailFlagOffset > 0) plan.table.resize(t.tailFlagOffset + 16, 0);  // its own 64-byte line
  t.planWords = static_cast<uint32_t>(plan.table.size());

  t.ringSlots = t.rowSplit ? kLiRowSplitRingSlots : kLiRingSlots;
  t.wsRingBytes = LiRingBytes(t.groupRows, p.heads, t.ringSlots);
  // The cube's tiling fields in every core record (it reads nothing else before its first loads).
  for (uint32_t c = 0; c < t.blockDim; ++c) {
    int32_t* core = plan.table.data() + t.coreOffset + c * kLiCoreWords;
    core[__builtin_offsetof(LiCoreRecord, shape) / 4] = LiPackShape(t.heads, t.groupRows, t.queryDtype, t.ringSlots, t.rowSplit);
    core[__builtin_offsetof(LiCoreRecord, paged) / 4] = static_cast<int32_t>(t.paged);
    core[__builtin_offsetof(LiCoreRecord, blockSize) / 4] = static_cast<int32_t>(t.blockSize);
    core[__builtin_offsetof(LiCoreRecord, maxBlocks) / 4] = static_cast<int32_t>(t.maxBlocks);
    core[__builtin_offsetof(LiCoreRecord, itemOffset) / 4] = static_cast<int32_t>(t.itemOffset);
    core[__builtin_offsetof(LiCoreRecord, planWords) / 4] = static_cast<int32_t>(t.planWords);
  }
  t.wsListOffset = AlignUp(t.blockDim * t.wsRingBytes, 64);
  t.listSlotBytes = (kLiListHeaderFloats + t.bestPairs * kPairWords) * 4;
  t.numListSlots = static_cast<uint32_t>(nextSlot);
  const uint64_t quantOffset = uint64_t(t.wsListOffset) + uint64_t(t.numListSlots) * t.listSlotBytes;
  if (quantOffset + uint64_t(t.numPartials) * kLiQuantiles * kPairWords * 4 > UINT32_MAX)
    throw std::invalid_argument("lightning_indexer: too many query rows for one launch (workspace above 4 GiB)");
  t.wsQuantOffset = static_cast<uint32_t>(quantOffset);
  plan.workspaceBytes = uint64_t(t.wsQuantOffset) + uint64_t(t.numPartials) * kLiQuantiles * kPairWords * 4;
  return plan;
}

}  // namespace ascend_glm5::host
