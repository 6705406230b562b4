// _C binding of quantize (static int8 quantization, npu_quantize): pointers and sizes in, the emulated kernel runs.
#include "bind/cpu_bind.h"
#include "host/quantize/quantize_host.h"

void BindCpuOp_quantize(pybind11::module_& m) {
  namespace py = pybind11;
  using ascend_glm5::bind::Ptr;
  m.def("quantize",
        [](uintptr_t x, uintptr_t scales, uintptr_t offsets, uintptr_t y, uint64_t rows, uint32_t cols, uint32_t dtype,
           bool perChannel, bool divMode) {
          py::gil_scoped_release release;
          ascend_glm5::host::QuantizeCpu(Ptr<const void>(x), Ptr<const float>(scales), Ptr<const float>(offsets),
                                         Ptr<void>(y), rows, cols, dtype, perChannel, divMode);
        },
        py::arg("x"), py::arg("scales"), py::arg("offsets"), py::arg("y"), py::arg("rows"), py::arg("cols"),
        py::arg("dtype"), py::arg("per_channel"), py::arg("div_mode"));
}
