// _C binding of moe_finalize_routing (the weighted MoE combine): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/moe_finalize_routing/moe_finalize_routing_host.h"

void BindCpuOp_moe_finalize_routing(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("moe_finalize_routing",
        [](uintptr_t rows, uintptr_t skip1, uintptr_t skip2, uintptr_t bias, uintptr_t scales, uintptr_t dst,
           uintptr_t expertIds, uintptr_t out, uint64_t tokens, uint32_t topK, uint32_t hidden, uint32_t dtype,
           bool rowOrder, uint32_t experts) {
          py::gil_scoped_release release;
          ascend_glm5::host::MoeFinalizeRoutingCpu(Ptr<const void>(rows), Ptr<const void>(skip1), Ptr<const void>(skip2),
                                                   Ptr<const void>(bias), Ptr<const float>(scales),
                                                   Ptr<const int32_t>(dst), Ptr<const int32_t>(expertIds),
                                                   Ptr<void>(out), tokens, topK, hidden, dtype, rowOrder, experts);
        },
        py::arg("rows"), py::arg("skip1"), py::arg("skip2"), py::arg("bias"), py::arg("scales"), py::arg("dst"),
        py::arg("expert_ids"), py::arg("out"), py::arg("tokens"), py::arg("top_k"), py::arg("hidden"), py::arg("dtype"),
        py::arg("row_order"), py::arg("experts"));
  m.attr("MOE_FINALIZE_MAX_TOP_K") = ascend_glm5::kMoeFinalizeMaxTopK;
}
