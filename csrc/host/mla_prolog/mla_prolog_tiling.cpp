#include <algorithm>
#include <stdexcept>
#include <string>

#include "../../kernels/common/host_device.h"
#include "mla_prolog_host.h"

namespace ascend_glm5::host {

namespace {
void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("mla_prolog: " + what);
}
uint32_t Slot(uint64_t bytes) { return static_cast<uint32_t>(AlignUp(static_cast<uint32_t>(bytes), 512)); }

// Tokens per group. Every group streams all weights once, so prefill takes groups of 128 when the
// cube's L1 holds one: its A and B chunk slots (2 x 32 KiB, 2 x 64 KiB, mlap_gemm.h) and the
// group's c^Q and q_nope (modes 1, 2 at GLM-5 dims: 496 KiB; mode 0 there needs 512 KiB of c^Q
// alone and keeps 64). Decode (T <= 64) keeps groups of 64: one group either way.
uint32_t GroupTokens(const MlaPrologProblem& p) {
  constexpr uint64_t kL1Bytes = 512 * 1024 - 128, kChunkSlots = 2 * 32 * 1024 + 2 * 64 * 1024;
  const uint64_t g = kMlapPrefillGroupTokens, cqSize = p.mode == kMlapBf16 ? 2 : 1;
  const bool fits = kChunkSlots + g * p.qLora * cqSize + g * p.nope * 2 <= kL1Bytes;
  return p.tokens > kMlapGroupTokens && fits ? kMlapPrefillGroupTokens : kMlapGroupTokens;
}
}  // namespace

MlaPrologPlan MakeMlaPrologPlan(const MlaPrologProblem& p, uint32_t aiCores) {
  Require(p.mode <= kMlapW8A8, "weight_quant_mode must be 0, 1 or 2");
  Require(p.dtype == kBFloat16 || p.dtype == kFloat16, "the float tensors must be bf16 or fp16");
  Require(p.hidden >= 64 && p.hidden <= kMlapMaxHidden && p.hidden % 64 == 0,
          "He must be a multiple of 64 in [64, " + std::to_string(kMlapMaxHidden) + "]");
  Require(p.qLora >= 64 && p.qLora <= kMlapMaxQLora && p.qLora % 64 == 0,
          "Hcq must be a multiple of 64 in [64, " + std::to_string(kMlapMaxQLora) + "]");
  Require(p.nope >= 16 && p.nope <= kMlapMaxNope && p.nope % 16 == 0,
          "D must be a multiple of 16 in [16, " + std::to_string(kMlapMaxNope) + "]");
  Require(p.heads >= 1 && p.heads <= kMlapMaxHeads, "N must be in [1, " + std::to_string(kMlapMaxHeads) + "]");
  Require(aiCores >= 1, "no AI cores");

  MlaPrologPlan plan;
  MlaPrologTiling& t = plan.tiling;
  t.tokens = p.tokens;
  t.groupTokens = GroupTokens(p);
  t.groups = CeilDiv(p.tokens, t.groupTokens);
  t.hidden = p.hidden;
  t.qLora = p.qLora;
  t.heads = p.heads;
  t.nope = p.nope;
  t.mode = p.mode;
  t.dtype = p.dtype;
  t.hasGammaX = p.hasGammaX;
  t.hasSmooth = p.hasSmooth;
  t.queryNorm = p.queryNorm;
  t.paged = p.paged;
  t.combined = p.combined;
  t.blockDim = aiCores;
  t.epsX = p.epsX;
  t.epsCq = p.epsCq;
  t.epsCkv = p.epsCkv;
  t.qcQrScale = p.qcQrScale;
  t.kcScale = p.kcScale;
  const uint64_t g = t.groupTokens;
  const bool w8a8 = p.mode == kMlapW8A8, floatCq = p.mode == kMlapBf16;
  t.mm1SlotBytes = Slot(g * (p.qLora + kMlapKvRopeDim) * (w8a8 ? 4 : 2));
  t.xSlotBytes = p.hasGammaX ? Slot(AlignUp(static_cast<uint32_t>(g * p.hidden * (w8a8 ? 1 : 2)), 32) + (w8a8 ? g * 4 : 0)) : 0;
  t.cqSlotBytes = Slot(AlignUp(static_cast<uint32_t>(g * p.qLora * (floatCq ? 2 : 1)), 32) + (floatCq ? 0 : g * 4));
  t.qSlotBytes = Slot(g * (p.nope + kMlapRopeDim) * (floatCq ? 2 : 4));
  t.qnSlotBytes = floatCq ? 0 : Slot(g * p.nope * 2);
  t.coreBytes = 2 * (t.qSlotBytes + t.qnSlotBytes);
  // Split heads in decode (one group) only: there every core's heads wait for the barrier after
  // MM1, so the cores with a head more finish last. With several groups the cube streams MM1(g + 1)
  // and the heads of g back to back, the MM1 split already evens out the bytes, and splitting
  // would only add a barrier per group and narrower weight tiles (prefill S=1024: 524.7 -> 549.2 us).
  t.splitHeads = t.groups == 1 ? p.heads % aiCores : 0;
  t.qsSlotBytes = t.splitHeads ? Slot(g * t.splitHeads * (p.nope + kMlapRopeDim) * (floatCq ? 2 : 4)) : 0;
  t.qnsSlotBytes = t.splitHeads && !floatCq ? Slot(g * t.splitHeads * p.nope * 2) : 0;
  // W_dkv_kr by rows: a core's 32-byte column slice of every 576-byte row costs whole GM lines, its
  // whole rows do not. The partial sums add exactly in int32 (mode 2 only: fp32 atomic adds would
  // make modes 0, 1 depend on the cores' order), and all 576 columns of 16 rows share L0C with the
  // heads' tiles (mlap_cube.h KvHalf).
  t.kvByRows = w8a8 && t.splitHeads > 0 && p.tokens <= 16 ? 1 : 0;
  // The split heads' W_uq_qr likewise (a core's 32 or 64 bytes of every row cost whole lines too):
  // all their q columns in one L0C slot (64 x 256 int32) as 16 rows (mlap_cube.h Mm2Split).
  const uint32_t splitCols = AlignUp(t.splitHeads * (p.nope + kMlapRopeDim), 32);
  t.uqByRows = t.kvByRows && t.splitHeads == p.heads && splitCols * 16 <= kMlapGroupTokens * kMlapMaxColTile ? 1 : 0;
  plan.workspaceBytes = uint64_t(MlapMm1Slots(t)) * t.mm1SlotBytes +
                        2ull * (t.xSlotBytes + t.cqSlotBytes + t.qsSlotBytes + t.qnsSlotBytes) +
                        uint64_t(t.blockDim) * t.coreBytes;
  return plan;
}

}  // namespace ascend_glm5::host
