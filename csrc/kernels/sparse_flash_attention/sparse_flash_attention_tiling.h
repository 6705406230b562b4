// Tiling and work plan of the Sparse Flash Attention kernel, shared by host and kernel.
//
// A work item is one query row (token) with all its N1 heads (the cube's M). AI core b takes the
// rows SplitEvenly(numRows, blockDim, b). Per row, the selected latent rows are processed in
// tiles of kSfaTileRows; per tile the cube computes S = [q | q_rope] . [kv | k_rope]^T, the two
// vector cores (each half of the heads) update the online softmax and return P, the cube
// computes P . kv, and the vector cores rescale and accumulate it. See docs/ops/sparse_flash_attention.md.
#pragma once

#include <cstdint>

namespace ascend_glm5 {

constexpr uint32_t kSfaLatentDim = 512;   // D: latent (= value) width
constexpr uint32_t kSfaRopeDim = 64;      // Dr
constexpr uint32_t kSfaQkDim = kSfaLatentDim + kSfaRopeDim;
constexpr uint32_t kSfaMaxHeads = 128;    // N1 = cube M
constexpr uint32_t kSfaMaxSparseCount = 2048;
constexpr uint32_t kSfaTileRows = 64;     // selected rows per tile: one fp32 vector repeat per score row
constexpr uint32_t kSfaQkChunk = 128;     // q.k columns per Mmad (one L0A / L0B slot)
constexpr uint32_t kSfaOutChunk = 64;     // latent columns per P.V Mmad (one L0C output buffer)
constexpr uint32_t kSfaKvBuffers = 3;     // L1 tiles: gather i+1 while i is scored and i-1 multiplied by P

// Plan table (int32), one record per row of the flattened query tensor.
struct SfaRow {
  int32_t batch;    // -1: not a valid query row (padding of BSND, rows after the last TND batch)
  int32_t kvStart;  // first key row of the batch (BSND / TND); 0 when paged
  int32_t end;      // visible key tokens [0, end) after sparse_mode; <= 0: nothing to attend
  int32_t reserved;
};
constexpr uint32_t kSfaRowWords = 4;

struct SparseFlashAttentionTiling {
  uint32_t numRows;      // rows of the flattened query (B * S1 or T1)
  uint32_t heads;        // N1
  uint32_t sparseCount;  // K: entries per sparse_indices row
  uint32_t dtype;        // DTypeId: fp16 / bf16 (all inputs and the output)
  uint32_t paged;        // 1: key / key_rope are PA_BSND with a block table
  uint32_t blockSize;    // paged: tokens per block
  uint32_t maxBlocks;    // paged: block_table row length
  uint32_t blockDim;     // AI cores used (1 AIC + 2 AIV each)
  uint32_t returnLse;    // 1: write softmax_max / softmax_sum
  float scale;           // scale_value
  uint32_t wsSlotS;      // bytes of one S ring slot: heads x kSfaTileRows fp32
  uint32_t wsSlotP;      // one P slot: heads x kSfaTileRows in the input dtype
  uint32_t wsSlotO;      // one O slot: heads x kSfaLatentDim fp32
  uint32_t wsBlockBytes; // per AI core: 2 slots each of S, P, O
};

// Cube <-> vector handshakes over each AI core's workspace rings (cross-core mode 2).
constexpr uint16_t kSfaFlagScores = 0;     // AIC -> AIVs: S tile in its slot
constexpr uint16_t kSfaFlagScoresFree = 1; // each AIV -> AIC: S slot copied out
constexpr uint16_t kSfaFlagProbs = 2;      // each AIV -> AIC: its rows of P are in the P slot
constexpr uint16_t kSfaFlagOut = 3;        // AIC -> AIVs: P . V tile in its slot
constexpr uint16_t kSfaFlagOutFree = 4;    // each AIV -> AIC: O slot copied out

}  // namespace ascend_glm5
