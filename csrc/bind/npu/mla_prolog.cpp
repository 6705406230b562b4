// _npu binding of mla_prolog (the fused MLA front end): tensors in, a launch on torch_npu's stream.
// Validation (dtypes, shapes, cache_index range and uniqueness) happened in Python.
#include "bind/npu_bind.h"  // first: the NPU glue test precompiles it

#include <array>
#include <vector>

#include "host/mla_prolog/mla_prolog_host.h"
#include "host/plan_time.h"

namespace {

using namespace ascend_glm5::bind;
using namespace ascend_glm5::host;

// Argument names in MlaPrologArg order, for the format check's errors.
constexpr const char* kArgNames[kMlapArgCount] = {
    "token_x", "weight_dq", "weight_uq_qr", "weight_uk", "weight_dkv_kr", "rmsnorm_gamma_cq", "rmsnorm_gamma_ckv",
    "rope_sin", "rope_cos", "cache_index", "kv_cache", "kr_cache", "dequant_scale_x", "dequant_scale_w_dq",
    "dequant_scale_w_uq_qr", "dequant_scale_w_dkv_kr", "smooth_scales_cq", "rmsnorm_gamma_x", "query", "query_rope",
    "query_norm", "dequant_scale_q_norm"};

// `tensors`: one per kernel argument in MlaPrologArg order (None = absent), contiguous; outputs and
// caches come allocated from Python and are written in place (kr_cache absent with `combined`).
void MlaProlog(const std::vector<c10::optional<at::Tensor>>& tensors, int64_t tokens, int64_t hidden, int64_t qLora,
               int64_t heads, int64_t nope, int64_t mode, bool hasGammaX, bool hasSmooth, bool queryNorm, bool paged,
               bool combined, double epsX, double epsCq, double epsCkv, double qcQrScale, double kcScale) {
  TORCH_CHECK(tensors.size() == kMlapArgCount, "mla_prolog: expected ", int(kMlapArgCount), " tensor arguments");
  const at::Tensor like = *tensors[kMlapWeightUk];
  const c10::DeviceGuard guard(like.device());
  for (uint32_t i = 0; i < kMlapArgCount; ++i) RequirePlainFormat(kArgNames[i], tensors[i]);
  MlaPrologProblem p;
  p.tokens = static_cast<uint32_t>(tokens);
  p.hidden = static_cast<uint32_t>(hidden);
  p.qLora = static_cast<uint32_t>(qLora);
  p.heads = static_cast<uint32_t>(heads);
  p.nope = static_cast<uint32_t>(nope);
  p.mode = static_cast<uint32_t>(mode);
  p.dtype = like.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  p.hasGammaX = hasGammaX;
  p.hasSmooth = hasSmooth;
  p.queryNorm = queryNorm;
  p.paged = paged;
  p.combined = combined;
  p.epsX = static_cast<float>(epsX);
  p.epsCq = static_cast<float>(epsCq);
  p.epsCkv = static_cast<float>(epsCkv);
  p.qcQrScale = static_cast<float>(qcQrScale);
  p.kcScale = static_cast<float>(kcScale);
  const MlaPrologPlan plan = TimedPlan([&] { return MakeMlaPrologPlan(p, AiCores(like.device())); });
  if (plan.tiling.tokens == 0) return;
  at::Tensor tiling = TilingOnDevice(plan.tiling, like.device());
  at::Tensor workspace = at::empty({static_cast<int64_t>(plan.workspaceBytes)}, like.options().dtype(at::kByte));
  std::vector<at::Tensor> args;
  for (const auto& t : tensors) args.push_back(t.value_or(at::Tensor()));
  const uint32_t blockDim = plan.tiling.blockDim;
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_mla_prolog", [blockDim, args, workspace, tiling](void* stream) {
    std::array<void*, kMlapArgCount> ptrs{};
    for (uint32_t i = 0; i < kMlapArgCount; ++i) ptrs[i] = DataPtrOrNull(args[i]);
    return MlaPrologNpu(stream, blockDim, ptrs.data(), workspace.data_ptr(), tiling.data_ptr());
  });
}

}  // namespace

void BindNpuOp_mla_prolog(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("mla_prolog", &MlaProlog, py::arg("tensors"), py::arg("tokens"), py::arg("hidden"), py::arg("q_lora"),
        py::arg("heads"), py::arg("nope"), py::arg("mode"), py::arg("has_gamma_x"), py::arg("has_smooth"),
        py::arg("query_norm"), py::arg("paged"), py::arg("combined"), py::arg("eps_x"), py::arg("eps_cq"),
        py::arg("eps_ckv"), py::arg("qc_qr_scale"), py::arg("kc_scale"));
}
