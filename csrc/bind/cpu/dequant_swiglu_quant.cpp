// _C binding of dequant_swiglu_quant (dequant -> SwiGLU -> per-token int8): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/dequant_swiglu_quant/dequant_swiglu_quant_host.h"

void BindCpuOp_dequant_swiglu_quant(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("dequant_swiglu_quant",
        [](uintptr_t x, uintptr_t weightScale, uintptr_t activationScale, uintptr_t quantScale, uintptr_t groupIndex,
           uintptr_t y, uintptr_t scale, uint64_t rows, uint32_t half, uint32_t dtype, uint32_t groupCount,
           uint32_t weightScaleRows, uint32_t quantScaleRows, bool activateLeft) {
          py::gil_scoped_release release;
          ascend_glm5::host::DequantSwigluQuantCpu(
              Ptr<const void>(x), Ptr<const float>(weightScale), Ptr<const float>(activationScale),
              Ptr<const float>(quantScale), Ptr<const int64_t>(groupIndex), Ptr<void>(y), Ptr<float>(scale), rows, half,
              dtype, groupCount, weightScaleRows, quantScaleRows, activateLeft);
        },
        py::arg("x"), py::arg("weight_scale"), py::arg("activation_scale"), py::arg("quant_scale"),
        py::arg("group_index"), py::arg("y"), py::arg("scale"), py::arg("rows"), py::arg("half"), py::arg("dtype"),
        py::arg("group_count"), py::arg("weight_scale_rows"), py::arg("quant_scale_rows"), py::arg("activate_left"));
  m.attr("DEQUANT_SWIGLU_QUANT_MAX_HALF") = ascend_glm5::kDequantSwigluQuantMaxHalf;
}
