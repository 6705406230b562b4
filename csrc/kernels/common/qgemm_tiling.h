// Tiling of the quantized GEMM engine shared by grouped_matmul_a8w4 (int8 x int4, MSD split) and
// quant_matmul (int8 x int8), shared by host and kernel. See docs/ops/grouped_matmul_a8w4.md.
//
// Work: the activation rows form groups (experts; quant_matmul has one). An item is
// (group, up to `itemRows` of its rows, one nTile-wide column tile). The cube runs an item as
// passes of up to `tokensPerPass` rows; each pass accumulates A [mTile, K] x W [K, nTile] in L0C
// over K in kStep steps and hands the int32 tile to the block's two vector cores through a
// workspace slot, which dequantise it into the output.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace ascend_glm5 {

enum QGemmWeightKind : uint32_t {
  kWeightInt8KN = 0,  // int8 [K, N] row-major: transposed on its way to L0B
  kWeightInt8NK = 1,  // int8 [N, K] row-major (x2 passed as w.t()): already L0B's order
  kWeightInt4KN = 2,  // int4 [K, N] row-major, two per byte along N: transposed on its way to L0B
};

enum QGemmBiasKind : uint32_t { kBiasNone = 0, kBiasInt32 = 1, kBiasFloat = 2 };

constexpr uint32_t kQGemmStepBytes = 128;         // bytes of a row per K step: 256 int4 or 128 int8
constexpr uint32_t kQGemmL0cSlotElems = 16384;    // mTile x nTile int32: half of L0C (two slots)
constexpr uint32_t kQGemmL0cElems = 32768;        // all of L0C (128 KiB of int32): a prefill tile's one slot
constexpr uint32_t kQGemmRingBytes = 384 * 1024;  // L1 for weight chunks
constexpr uint32_t kQGemmMaxMTile = 256;          // A rows per pass (L1 A buffers: 2 x 256 x 128 B)
constexpr uint32_t kQGemmKPadMsd = 64;            // MSD hi/lo rows are padded with zeros to a multiple of 64
// L1 a kernel may use: 512 KiB less the 128 B CANN reserves at its top (KFC_L1_RESERVER_SIZE,
// impl/basic_api/utils/kernel_utils_constants.h of asc-devkit v8.5.0). The A ring takes what the
// weight ring leaves.
constexpr uint32_t kQGemmL1Bytes = 512 * 1024 - 128;
constexpr uint32_t kQGemmMaxADepth = 8;  // A slots = in-core event ids 0..7 of MTE2_MTE1 (one per slot)
constexpr uint32_t kQGemmUnitBytes = 64 * 1024;  // one-pass decode: weight bytes per copy to aim for
// Relative cost of an item for the work split, in cube rows: the time a core spends streaming an
// nTile x K weight tile at its share of HBM bandwidth is about that of 224 A rows on the cube
// (both scale with K x nTile), so cost = max(224, A rows issued).
constexpr uint32_t kQGemmWeightCostRows = 224;
// K-chunked prefill: tiles a run shares its rows among at most (each holds a handoff slot until the
// run's last chunk; with the one spare, at most 15 READY / FREE signals pend, the flags' limit).
constexpr uint32_t kQGemmMaxRunTiles = 14;

// The tiling's first 64-byte line (kQGemmHeadWords words) is the stream head: every field the cube
// needs to issue its first weight loads (the schedule of its items or split-K pieces, the weight
// addresses, the ring). The cube reads that line alone, issues the loads, and only then the rest
// (its scalar unit reads GM through its DataCache, a miss per line; the cube has no UB to copy the
// tiling through). Small fields are 16-bit halves of a word to fit the line.
constexpr uint32_t kQGemmHeadWords = 16;

struct QGemmTiling {
  // ---- the stream head (one 64-byte line) ----
  uint32_t m;              // activation rows (x / x1)
  uint32_t n;
  uint32_t k;
  uint32_t groups;         // E; 1 without a group list
  uint32_t nTiles;         // column tiles: N cut into nTiles ranges of whole nGran units, as even as can be
  uint32_t chunksPerPass;  // ceil(K / kStep)
  uint32_t ringChunks;     // weight chunk slots in L1 (== chunksPerPass when resident)
  uint32_t itemRows;       // max activation rows per item; 0: all rows of a group
  uint16_t nTile;          // output columns of the widest item (L1 / L0 / handoff tiles are this wide)
  uint16_t nGran;          // column tile width unit; nTile (the widest tile) when the tiles are nTile wide
  uint16_t tokensPerPass;  // activation rows per pass: (mTile - 1) / 2 with MSD (hi, lo, one ones row)
  uint16_t blockDim;
  uint16_t unitSteps;      // K steps per load (one weight copy and one A copy): ringChunks and the A slots hold whole units
  uint8_t unitShift;       // odd blocks' first load unit is this many steps short (desynchronises the row copies)
  // Prefill, K-chunked (QGemmChunkWalk): a block runs each run of its tiles that share rows chunk by
  // chunk of this many K steps; 0: every tile streams its whole K.
  uint8_t chunkSteps;
  uint16_t hasGroupList;   // 1: group g has group_list[g] rows (int64 counts), clamped to what is left of m
  uint16_t weightKind;     // QGemmWeightKind
  uint16_t resident;       // 1: an item's weights are loaded once and serve all its passes
  // Split-K (decode of one group, one pass): the nTiles x chunksPerPass steps are cut into blockDim
  // equal ranges; a block runs its range as pieces (a column tile's K steps inside the range), writes
  // each piece's int32 partial to its own workspace slot, and after a SyncAll the vector cores of
  // the blocks that hold a tile's pieces add them up and dequantise the sum.
  uint16_t splitK;
  uint16_t msd;            // 1: int8 activations are split into int4 hi/lo rows (A8W4); 0: used as they are
  // Split-K: how many of each block's last load units load in two column halves (the first half's
  // Mmads and partial fixpipe run while the second half's weights stream; QGemmCube::CutUnits).
  uint16_t cutUnits;
  // ---- the rest (its first words share the head's line) ----
  uint32_t mTile;          // L0C rows per pass, multiple of 16
  uint32_t kStep;          // K elements per L0 step (256 int4 or 128 int8: kQGemmStepBytes of a row)
  uint32_t kPad;           // length of a hi/lo workspace row (MSD); K otherwise
  uint16_t outDtype;       // DTypeId: kFloat16, kBFloat16, kFloat32 or kInt32
  uint16_t biasKind;       // QGemmBiasKind
  uint16_t hasPertoken;    // 1: per-row scale given
  uint16_t aZz;            // 1: A rows lie in L1 in L0A's order (CopyGmToZz), a K step to L0A in one load
  uint32_t wsSlotBytes;    // one handoff slot: mTile x nTile int32
  uint32_t wsHiOffsetLo;   // MSD workspace: hi rows [m, kPad] int4, lo rows, then one ones row
  uint32_t wsHiOffsetHi;
  uint32_t wsLoOffsetLo;
  uint32_t wsLoOffsetHi;
  uint32_t wsOnesOffsetLo;
  uint32_t wsOnesOffsetHi;
  uint32_t splitRowsPerCore;  // MSD pre-pass: x rows per vector core
  uint32_t splitChunk;        // MSD pre-pass: elements per UB chunk (multiple of 64)
  uint32_t aRows;             // A rows of the largest pass (rounded to 16): one A ring slot is aRows x 128 B
  uint32_t aDepth;            // A ring slots (2..kQGemmMaxADepth): how many K steps the loads run ahead
  uint32_t accSlots;          // L0C accumulators (2 of kQGemmL0cSlotElems, or 1 of kQGemmL0cElems for a prefill tile)
  uint32_t slotsPerBlock;     // workspace slots of wsSlotBytes per block: the handoff ring (2; K-chunked: a run's
                              // tiles and one more) or a split block's pieces
};
static_assert(sizeof(QGemmTiling) % sizeof(uint32_t) == 0, "the tiling is read as 32-bit words");
static_assert(sizeof(QGemmTiling) <= 2 * kQGemmHeadWords * sizeof(uint32_t), "the rest is one more 64-byte line");
static_assert(__builtin_offsetof(QGemmTiling, cutUnits) + sizeof(uint16_t) <= kQGemmHeadWords * sizeof(uint32_t),
              "the stream head fits the tiling's first 64-byte line");

// First column of tile j (j = nTiles: N): tile widths differ by at most one nGran unit.
__aicore__ inline uint32_t QGemmColumnStart(const QGemmTiling& t, uint32_t j) {
  const uint64_t units = CeilDiv(t.n, t.nGran);
  const uint64_t col = uint64_t(j) * units / t.nTiles * t.nGran;
  return col < t.n ? uint32_t(col) : t.n;
}

// Split-K: first step of block b's range of the nTiles x chunksPerPass steps (b = blockDim: the end).
__aicore__ inline uint64_t QGemmSplitStart(const QGemmTiling& t, uint32_t b) {
  return uint64_t(b) * t.nTiles * t.chunksPerPass / t.blockDim;
}
// Split-K: the block whose range holds step s.
__aicore__ inline uint32_t QGemmSplitBlock(const QGemmTiling& t, uint64_t s) {
  return uint32_t(((s + 1) * t.blockDim - 1) / (uint64_t(t.nTiles) * t.chunksPerPass));
}

// Split-K: block b's workspace slot of its piece of column tile j (its pieces are consecutive tiles).
__aicore__ inline uint32_t QGemmSplitSlot(const QGemmTiling& t, uint32_t b, uint32_t j) {
  return j - uint32_t(QGemmSplitStart(t, b) / t.chunksPerPass);
}

__aicore__ inline uint64_t Join64(uint32_t lo, uint32_t hi) { return (uint64_t(hi) << 32) | lo; }

}  // namespace ascend_glm5
