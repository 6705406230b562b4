// _C binding of moe_init_routing_v2 (sort (token, slot) pairs by expert, count, gather rows): pointers and sizes in.
#include "bind/cpu_bind.h"
#include "host/moe_init_routing_v2/moe_init_routing_v2_host.h"

void BindCpuOp_moe_init_routing_v2(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("moe_init_routing_v2",
        [](uintptr_t x, uintptr_t expertIdx, uintptr_t scale, uintptr_t expandedX, uintptr_t expandedRowIdx,
           uintptr_t expertTokens, uintptr_t expandedScale, uint64_t pairs, uint32_t topK, uint64_t rowBytes,
           uint32_t expertStart, uint32_t experts, uint32_t rowIdxType, uint32_t countType) {
          py::gil_scoped_release release;
          ascend_glm5::host::MoeInitRoutingCpu(Ptr<const void>(x), Ptr<const int32_t>(expertIdx),
                                               Ptr<const float>(scale), Ptr<void>(expandedX),
                                               Ptr<int32_t>(expandedRowIdx), Ptr<int64_t>(expertTokens),
                                               Ptr<float>(expandedScale), pairs, topK, rowBytes, expertStart,
                                               experts, rowIdxType, countType);
        },
        py::arg("x"), py::arg("expert_idx"), py::arg("scale"), py::arg("expanded_x"), py::arg("expanded_row_idx"),
        py::arg("expert_tokens"), py::arg("expanded_scale"), py::arg("pairs"), py::arg("top_k"), py::arg("row_bytes"),
        py::arg("expert_start"), py::arg("experts"), py::arg("row_idx_type"), py::arg("count_type"));
  m.attr("MOE_ROUTING_MAX_EXPERTS") = ascend_glm5::kMoeRoutingMaxExperts;
}
