// Host side of the MLA prolog: tiling, the CPU-emulator launch, the NPU launch. No Python, no torch.
#pragma once

#include <cstdint>

#include "../../kernels/mla_prolog/mla_prolog_tiling.h"

namespace ascend_glm5::host {

struct MlaPrologProblem {
  uint32_t tokens = 0;  // T (B * S)
  uint32_t hidden = 0, qLora = 0, heads = 0, nope = 0;
  uint32_t mode = 0;   // weight_quant_mode
  uint32_t dtype = 0;  // DTypeId of the float tensors (bf16 / fp16)
  bool hasGammaX = false, hasSmooth = false, queryNorm = false, paged = false;
  bool combined = false;  // one cache of 576-wide rows (c^KV then roped k); krCache absent
  float epsX = 1e-5f, epsCq = 1e-5f, epsCkv = 1e-5f, qcQrScale = 1.0f, kcScale = 1.0f;
};

struct MlaPrologPlan {
  MlaPrologTiling tiling{};
  uint64_t workspaceBytes = 0;
};

// Tiling over up to `aiCores` AI cores. Throws std::invalid_argument for shapes the kernel does
// not support. tiling.tokens == 0: nothing to launch.
MlaPrologPlan MakeMlaPrologPlan(const MlaPrologProblem& p, uint32_t aiCores);

// The kernel's GM arguments, in its parameter order (null = absent).
enum MlaPrologArg : uint32_t {
  kMlapTokenX, kMlapWeightDq, kMlapWeightUqQr, kMlapWeightUk, kMlapWeightDkvKr, kMlapGammaCq, kMlapGammaCkv,
  kMlapRopeSin, kMlapRopeCos, kMlapCacheIndex, kMlapKvCache, kMlapKrCache, kMlapScaleX, kMlapScaleWDq,
  kMlapScaleWUqQr, kMlapScaleWDkvKr, kMlapSmooth, kMlapGammaX, kMlapQuery, kMlapQueryRope, kMlapQueryNorm,
  kMlapQueryNormScale, kMlapArgCount
};
struct MlaPrologBuffers {
  void* ptr[kMlapArgCount] = {};
  uint64_t bytes[kMlapArgCount] = {};  // for the emulator's GM bounds checks
};

// Runs on the CPU emulator; outputs and caches are written in place.
void MlaPrologCpu(const MlaPrologProblem& p, const MlaPrologBuffers& b);

// NPU: enqueue on `stream`; tiling and workspace already in device memory. args: kMlapArgCount pointers.
// Returns the aclrtlaunch status.
uint32_t MlaPrologNpu(void* stream, uint32_t blockDim, void* const* args, void* workspace, void* tiling);

}  // namespace ascend_glm5::host
