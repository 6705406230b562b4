// _C binding of mla_prolog (the fused MLA front end): pointers and sizes in, the emulated kernel runs.
#include <stdexcept>

#include "bind/cpu_bind.h"
#include "host/mla_prolog/mla_prolog_host.h"
#include "kernels/common/host_device.h"

namespace {
// The problem's shape fields, shared by the op and its plan binding.
ascend_glm5::host::MlaPrologProblem ShapeOf(uint32_t tokens, uint32_t hidden, uint32_t qLora, uint32_t heads,
                                            uint32_t nope, uint32_t mode) {
  ascend_glm5::host::MlaPrologProblem p;
  p.tokens = tokens;
  p.hidden = hidden;
  p.qLora = qLora;
  p.heads = heads;
  p.nope = nope;
  p.mode = mode;
  return p;
}
}  // namespace

void BindCpuOp_mla_prolog(pybind11::module_& m) {
  namespace py = pybind11;
  using namespace ascend_glm5::host;
  m.def("mla_prolog",
        [](std::vector<uintptr_t> ptrs, std::vector<uint64_t> bytes, uint32_t tokens, uint32_t hidden, uint32_t qLora,
           uint32_t heads, uint32_t nope, uint32_t mode, uint32_t dtype, bool hasGammaX, bool hasSmooth, bool queryNorm,
           bool paged, bool combined, float epsX, float epsCq, float epsCkv, float qcQrScale, float kcScale) {
          if (ptrs.size() != kMlapArgCount || bytes.size() != kMlapArgCount)
            throw std::invalid_argument("mla_prolog: expected one pointer and one size per kernel argument");
          MlaPrologProblem p = ShapeOf(tokens, hidden, qLora, heads, nope, mode);
          p.dtype = dtype;
          p.hasGammaX = hasGammaX;
          p.hasSmooth = hasSmooth;
          p.queryNorm = queryNorm;
          p.paged = paged;
          p.combined = combined;
          p.epsX = epsX;
          p.epsCq = epsCq;
          p.epsCkv = epsCkv;
          p.qcQrScale = qcQrScale;
          p.kcScale = kcScale;
          MlaPrologBuffers b;
          for (uint32_t i = 0; i < kMlapArgCount; ++i) {
            b.ptr[i] = reinterpret_cast<void*>(ptrs[i]);
            b.bytes[i] = bytes[i];
          }
          py::gil_scoped_release release;
          MlaPrologCpu(p, b);
        },
        py::kw_only(), py::arg("ptrs"), py::arg("bytes"), py::arg("tokens"), py::arg("hidden"), py::arg("q_lora"),
        py::arg("heads"), py::arg("nope"), py::arg("mode"), py::arg("dtype"), py::arg("has_gamma_x"),
        py::arg("has_smooth"), py::arg("query_norm"), py::arg("paged"), py::arg("combined"), py::arg("eps_x"),
        py::arg("eps_cq"), py::arg("eps_ckv"), py::arg("qc_qr_scale"), py::arg("kc_scale"));
  // The host tiling's work split (for tests and the benchmark's design model).
  m.def(
      "mla_prolog_plan",
      [](uint32_t tokens, uint32_t hidden, uint32_t qLora, uint32_t heads, uint32_t nope, uint32_t mode,
         uint32_t aiCores) {
        MlaPrologProblem p = ShapeOf(tokens, hidden, qLora, heads, nope, mode);
        p.dtype = ascend_glm5::kBFloat16;
        const MlaPrologPlan plan = MakeMlaPrologPlan(p, aiCores);
        py::dict d;
        d["group_tokens"] = plan.tiling.groupTokens;
        d["groups"] = plan.tiling.groups;
        d["split_heads"] = plan.tiling.splitHeads;
        d["kv_by_rows"] = plan.tiling.kvByRows;
        d["uq_by_rows"] = plan.tiling.uqByRows;
        d["workspace_bytes"] = plan.workspaceBytes;
        return d;
      },
      py::kw_only(), py::arg("tokens"), py::arg("hidden"), py::arg("q_lora"), py::arg("heads"), py::arg("nope"),
      py::arg("mode"), py::arg("ai_cores"));
  m.attr("MLA_PROLOG_GROUP_TOKENS") = ascend_glm5::kMlapGroupTokens;
  m.attr("MLA_PROLOG_PREFILL_GROUP_TOKENS") = ascend_glm5::kMlapPrefillGroupTokens;
}
