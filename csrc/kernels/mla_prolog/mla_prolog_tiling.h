// Tiling of the MLA prolog kernel (MLAPO), shared by host and kernel.
//
// Tokens are processed in groups of up to groupTokens rows (the cube's M): kMlapGroupTokens (64) in
// decode, kMlapPrefillGroupTokens (128) in prefill when the group's c^Q fits L1 (every weight is
// streamed once per group, so larger groups halve the weight traffic). Per group every AI core takes
// part:
//   MM1  [x] @ [W_dq | W_dkv_kr]: the fractal-wide column units of the concatenated weight are
//        spread evenly over the AI cores (each weight byte read once per group) -> the MM1 ring.
//        Decode (one group): every core's W_dq columns first, then its W_dkv_kr ones, which
//        stream while the vector cores normalize c^Q (only the cache rows need them).
//   After a barrier of the vector cores, the group's rows are spread over all vector cores:
//   RMSNorm(c^Q) [-> int8] into the c^Q ring (a second barrier: every cube needs every row), and
//   the latent / rope-key rows to the caches.
//   MM2 / MM3 run per head, heads spread evenly over the AI cores: q = c^Q @ W_uq_qr[:, head] ->
//   the AI core's vector cores rope q_pe (and dequantize q_nope in the int8 modes) while the cube
//   computes query[:, head] = q_nope @ W_uk[head] straight into the output. In decode (one group)
//   the last N mod (AI cores) heads are split heads: every AI core takes a share of their q columns
//   (MM2) and, after a barrier of the vector cores, of their query columns (MM3), so every cube
//   streams the same head bytes.
// The cube runs MM1 two groups ahead: MM1 of groups 0 and 1, then the heads of group g with MM1 of
// group g+2 before the last head's MM3; the vector cores rope group g's heads as the cube produces
// them, then normalize group g+1 while the cube finishes group g (and MM1 of group g+2): the
// vector work of one group overlaps the cube work of the next. While it
// waits for c^Q (or, modes 1 and 2, for dequantized q_nope), the cube already streams the next
// weight chunks into L1. See docs/ops/mla_prolog.md.
#pragma once

#include <cstdint>

#include "../common/host_device.h"

namespace ascend_glm5 {

constexpr uint32_t kMlapGroupTokens = 64;         // tokens per group (cube M) in decode (T <= 64)
constexpr uint32_t kMlapPrefillGroupTokens = 128;  // in prefill, when L1 holds the group's c^Q
constexpr uint32_t kMlapRopeDim = 64;      // Dr
constexpr uint32_t kMlapKvLoraDim = 512;   // Hckv
constexpr uint32_t kMlapKvRopeDim = kMlapKvLoraDim + kMlapRopeDim;
constexpr uint32_t kMlapMaxHidden = 8192;  // He
constexpr uint32_t kMlapMaxQLora = 2048;   // Hcq: c^Q of a whole group stays in L1
constexpr uint32_t kMlapMaxNope = 256;     // D
constexpr uint32_t kMlapMaxHeads = 128;    // N
constexpr uint32_t kMlapColTile = 128;     // output columns per cube tile (MM2, MM3)
constexpr uint32_t kMlapMaxColTile = 256;  // MM1: up to this many, so that x is read once per chunk
constexpr uint32_t kMlapMaxRopeRows = kMlapGroupTokens / 2;  // rows one vector core ropes at a time

// weight_quant_mode
enum MlapMode : uint32_t { kMlapBf16 = 0, kMlapInt8Uq = 1, kMlapW8A8 = 2 };

struct MlaPrologTiling {
  uint32_t tokens;       // T
  uint32_t groupTokens;  // tokens per group: kMlapGroupTokens or kMlapPrefillGroupTokens
  uint32_t groups;       // ceil(T / groupTokens)
  uint32_t hidden;       // He
  uint32_t qLora;        // Hcq
  uint32_t heads;        // N
  uint32_t nope;         // D
  uint32_t mode;         // MlapMode
  uint32_t dtype;        // DTypeId of the float tensors: bf16 or fp16
  uint32_t hasGammaX;    // 1: fused input RMSNorm of token_x with rmsnorm_gamma_x
  uint32_t hasSmooth;    // 1: smooth_scales_cq given (modes 1, 2)
  uint32_t queryNorm;    // 1: write query_norm (and its scale in modes 1, 2)
  uint32_t paged;        // 1: PA_BSND, cache rows from cache_index; else token order
  uint32_t combined;     // 1: one cache, rows of 576 (c^KV 512 then roped k 64); 0: kv_cache + kr_cache
  uint32_t blockDim;     // AI cores used (1 AIC + 2 AIV each)
  float epsX, epsCq, epsCkv;
  float qcQrScale, kcScale;
  // Workspace (bytes): rings of 2 slots (MM1: MlapMm1Slots). MM1, x and c^Q are shared by all AI
  // cores; q and q_nope belong to one AI core.
  uint32_t mm1SlotBytes;  // groupTokens x (Hcq + 576) of the MM1 output type
  uint32_t xSlotBytes;    // fused input norm: groupTokens x He of x's type (+ fp32 scales in mode 2)
  uint32_t cqSlotBytes;   // groupTokens x Hcq of c^Q's type (+ fp32 scales in modes 1, 2)
  uint32_t qSlotBytes;    // groupTokens x (D + Dr) of the MM2 output type
  uint32_t qnSlotBytes;   // modes 1, 2: groupTokens x D in the float dtype
  uint32_t coreBytes;     // per AI core: 2 slots each of q and q_nope
  // Split heads: the last splitHeads heads (N mod AI cores) are shared by all AI cores by columns
  // (MM2: their W_uq_qr columns, MM3: their query columns), so every cube streams the same head
  // bytes; the other heads are whole heads, N / AI cores per core.
  uint32_t splitHeads;
  uint32_t qsSlotBytes;   // groupTokens x splitHeads x (D + Dr) of the MM2 output type (shared)
  uint32_t qnsSlotBytes;  // modes 1, 2: groupTokens x splitHeads x D in the float dtype (shared)
  // Decode, mode 2, split heads, at most 16 tokens: MM1 splits W_dkv_kr by rows (K) instead of by
  // columns, each AI core streams whole contiguous rows and adds its int32 partial sums of all 576
  // columns into the MM1 ring (a GM atomic add; the vector cores zero those columns first).
  uint32_t kvByRows;
  // With kvByRows, when the split heads' q columns make one 16-row int32 tile of at most an L0C slot
  // (<= 1024 columns): their MM2 splits W_uq_qr by rows (K) too, each AI core adds its partial sums
  // of all split q columns into the split q ring (zeroed by the vector cores), and the vector cores
  // dequantize q_nope after a barrier of their own (every cube's sums are in).
  uint32_t uqByRows;
};

// Slots of the MM1 ring: 3 with three or more groups (prefill), else 2. MM1(g + 2) runs inside the
// heads of group g; with 2 slots it overwrote group g's slot, which the vector cores release only
// after the heads of g (the barrier ahead of norm g + 1), so the cube waited for all of their head
// work before MM1(g + 2) and the last MM3 of g. With 3 it takes group g - 1's slot, long released.
__aicore__ inline uint32_t MlapMm1Slots(const MlaPrologTiling& t) { return t.groups >= 3 ? 3 : 2; }

// Cross-core flags (mode 2: between an AI core's cube and its two vector cores; ids 0-9).
constexpr uint16_t kMlapFlagXReady = 0;   // AIV -> AIC: every row of a group's fused-norm x is in its slot
constexpr uint16_t kMlapFlagMm1Done = 1;  // AIC -> AIV: this core's MM1 columns of a group (decode: its W_dq ones) are written
constexpr uint16_t kMlapFlagMm1Free = 2;  // AIV -> AIC: every vector core is done with an MM1 slot
constexpr uint16_t kMlapFlagCqReady = 3;  // AIV -> AIC: every row of a group's c^Q is in its slot
constexpr uint16_t kMlapFlagQReady = 4;   // AIC -> AIV: q of one head is in its slot
constexpr uint16_t kMlapFlagQFree = 5;    // AIV -> AIC: the q slot was read
constexpr uint16_t kMlapFlagQnReady = 6;  // AIV -> AIC (modes 1, 2): dequantized q_nope is in its slot
constexpr uint16_t kMlapFlagSplitQReady = 7;  // AIC -> AIV: this core's columns of the split heads' q are written
constexpr uint16_t kMlapFlagSplitReady = 8;   // AIV -> AIC: every core's split q_nope is in GM (after a barrier)
constexpr uint16_t kMlapFlagMm1KvDone = 9;    // AIC -> AIV (decode): this core's W_dkv_kr columns are written

}  // namespace ascend_glm5
