// _C binding of grouped_matmul_a8w4 (W4A8 grouped MoE matmul): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "emu/runtime.h"
#include "host/grouped_matmul_a8w4/grouped_matmul_a8w4_host.h"

void BindCpuOp_grouped_matmul_a8w4(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("grouped_matmul_a8w4",
        [](uintptr_t x, uintptr_t weight, uintptr_t scale, uintptr_t perTokenScale, uintptr_t groupList, uintptr_t out,
           uint64_t rows, uint32_t n, uint32_t k, uint32_t experts, uint32_t outDtype) {
          py::gil_scoped_release release;
          ascend_glm5::host::GroupedMatmulA8W4Cpu(Ptr<const void>(x), Ptr<const void>(weight), Ptr<const float>(scale),
                                                  Ptr<const float>(perTokenScale), Ptr<const int64_t>(groupList),
                                                  Ptr<void>(out), rows, n, k, experts, outDtype);
        },
        py::kw_only(), py::arg("x"), py::arg("weight"), py::arg("scale"), py::arg("per_token_scale"), py::arg("group_list"),
        py::arg("out"), py::arg("m"), py::arg("n"), py::arg("k"), py::arg("experts"), py::arg("out_dtype"));
  m.def("grouped_matmul_a8w4_plan",
        [](uint64_t rows, uint32_t n, uint32_t k, uint32_t experts, uint32_t outDtype) {
          const auto plan = ascend_glm5::host::MakeGroupedMatmulA8W4Plan(rows, n, k, experts, outDtype,
                                                                         AscendC::emu::Soc().aicNum);
          const auto& t = plan.tiling;
          py::dict d;
          d["block_dim"] = t.blockDim;
          d["n_tile"] = t.nTile;
          d["m_tile"] = t.mTile;
          d["tokens_per_pass"] = t.tokensPerPass;
          d["k_step"] = t.kStep;
          d["resident"] = bool(t.resident);
          d["ring_chunks"] = t.ringChunks;
          d["workspace_bytes"] = plan.workspaceBytes;
          return d;
        },
        py::arg("m"), py::arg("n"), py::arg("k"), py::arg("experts"), py::arg("out_dtype"));
}
