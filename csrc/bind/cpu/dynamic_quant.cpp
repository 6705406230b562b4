// _C binding of dynamic_quant (per-token int8 quantization): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/dynamic_quant/dynamic_quant_host.h"

void BindCpuOp_dynamic_quant(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("dynamic_quant",
        [](uintptr_t x, uintptr_t smooth, uintptr_t y, uintptr_t scale, uint64_t rows, uint32_t cols, uint32_t dtype) {
          py::gil_scoped_release release;
          ascend_glm5::host::DynamicQuantCpu(Ptr<const void>(x), Ptr<const void>(smooth), Ptr<void>(y), Ptr<float>(scale),
                                             rows, cols, dtype);
        },
        py::arg("x"), py::arg("smooth"), py::arg("y"), py::arg("scale"), py::arg("rows"), py::arg("cols"), py::arg("dtype"));
  m.attr("DYNAMIC_QUANT_MAX_COLS") = ascend_glm5::kDynamicQuantMaxCols;
}
