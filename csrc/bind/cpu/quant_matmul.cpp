// _C binding of quant_matmul (W8A8 linear): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "emu/runtime.h"
#include "host/quant_matmul/quant_matmul_host.h"

namespace {
ascend_glm5::host::QuantMatmulShape Shape(uint64_t rows, uint32_t n, uint32_t k, bool weightNK, uint32_t biasKind,
                                          bool hasPertoken, uint32_t outDtype) {
  ascend_glm5::host::QuantMatmulShape s;
  s.m = rows;
  s.n = n;
  s.k = k;
  s.weightNK = weightNK;
  s.biasKind = biasKind;
  s.hasPertoken = hasPertoken;
  s.outDtype = outDtype;
  return s;
}
}  // namespace

void BindCpuOp_quant_matmul(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("quant_matmul",
        [](uintptr_t x1, uintptr_t x2, uintptr_t scale, uintptr_t pertoken, uintptr_t bias, uintptr_t out, uint64_t rows,
           uint32_t n, uint32_t k, bool weightNK, uint32_t biasKind, uint32_t outDtype) {
          const auto s = Shape(rows, n, k, weightNK, biasKind, pertoken != 0, outDtype);
          py::gil_scoped_release release;
          ascend_glm5::host::QuantMatmulCpu(s, Ptr<const void>(x1), Ptr<const void>(x2), Ptr<const float>(scale),
                                            Ptr<const float>(pertoken), Ptr<const void>(bias), Ptr<void>(out));
        },
        py::kw_only(), py::arg("x1"), py::arg("x2"), py::arg("scale"), py::arg("pertoken_scale"), py::arg("bias"),
        py::arg("out"), py::arg("m"), py::arg("n"), py::arg("k"), py::arg("weight_nk"), py::arg("bias_kind"),
        py::arg("out_dtype"));
  m.def("quant_matmul_plan",
        [](uint64_t rows, uint32_t n, uint32_t k, bool weightNK, uint32_t outDtype) {
          const auto plan = ascend_glm5::host::MakeQuantMatmulPlan(Shape(rows, n, k, weightNK, 0, true, outDtype),
                                                                   AscendC::emu::Soc().aicNum);
          const auto& t = plan.tiling;
          py::dict d;
          d["block_dim"] = t.blockDim;
          d["n_tile"] = t.nTile;
          d["m_tile"] = t.mTile;
          d["tokens_per_pass"] = t.tokensPerPass;
          d["item_rows"] = t.itemRows;
          d["k_step"] = t.kStep;
          d["resident"] = bool(t.resident);
          d["ring_chunks"] = t.ringChunks;
          d["workspace_bytes"] = plan.workspaceBytes;
          return d;
        },
        py::arg("m"), py::arg("n"), py::arg("k"), py::arg("weight_nk"), py::arg("out_dtype"));
}
