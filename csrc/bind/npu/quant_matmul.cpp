// _npu binding of quant_matmul: tensors in, an OpCommand launch on torch_npu's stream.
// Validation (scale decode, x2 layout, bias kind) happened in Python.
#include "bind/npu_bind.h"
#include "host/quant_matmul/quant_matmul_host.h"

namespace {

using namespace ascend_glm5::bind;

// x2: the weight buffer, [K, N] or (weight_nk) [N, K] row-major; scale fp32 [N]; bias int32 or fp32 [N].
at::Tensor QuantMatmul(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& scale,
                       const c10::optional<at::Tensor>& pertoken, const c10::optional<at::Tensor>& bias, bool weightNK,
                       int64_t outDtype) {
  ascend_glm5::host::QuantMatmulShape s;
  s.m = x1.size(0);
  s.k = static_cast<uint32_t>(x1.size(1));
  s.n = static_cast<uint32_t>(weightNK ? x2.size(0) : x2.size(1));
  s.weightNK = weightNK;
  s.hasPertoken = pertoken.has_value();
  s.biasKind = !bias.has_value()                            ? ascend_glm5::kBiasNone
               : bias->scalar_type() == at::kInt ? ascend_glm5::kBiasInt32
                                                            : ascend_glm5::kBiasFloat;
  s.outDtype = static_cast<uint32_t>(outDtype);
  const at::ScalarType outType = outDtype == ascend_glm5::kBFloat16 ? at::kBFloat16
                                 : outDtype == ascend_glm5::kFloat16 ? at::kHalf
                                 : outDtype == ascend_glm5::kFloat32 ? at::kFloat
                                                                     : at::kInt;
  at::Tensor y = at::empty({static_cast<int64_t>(s.m), static_cast<int64_t>(s.n)}, x1.options().dtype(outType));
  if (s.m == 0) return y;
  const auto plan = ascend_glm5::host::MakeQuantMatmulPlan(s, kAiCores);
  at::Tensor tilingDev = TilingOnDevice(plan.tiling, x1.device());
  at::Tensor workspace = at::empty({static_cast<int64_t>(plan.workspaceBytes)}, x1.options().dtype(at::kByte));
  at::Tensor pts = pertoken.has_value() ? *pertoken : at::Tensor();
  at::Tensor b = bias.has_value() ? *bias : at::Tensor();
  const uint32_t blockDim = plan.tiling.blockDim;
  at_npu::native::OpCommand cmd;
  cmd.Name("ascend_glm5_quant_matmul");
  cmd.SetCustomHandler([=]() -> int {
    void* stream = c10_npu::getCurrentNPUStream().stream(false);
    ascend_glm5::host::QuantMatmulNpu(stream, blockDim, x1.data_ptr(), x2.data_ptr(), scale.data_ptr(),
                                      pts.defined() ? pts.data_ptr() : nullptr, b.defined() ? b.data_ptr() : nullptr,
                                      y.data_ptr(), workspace.data_ptr(), tilingDev.data_ptr());
    return 0;
  });
  cmd.Run();
  return y;
}

}  // namespace

void BindNpuOp_quant_matmul(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("quant_matmul", &QuantMatmul, py::arg("x1"), py::arg("x2"), py::arg("scale"), py::arg("pertoken_scale"),
        py::arg("bias"), py::arg("weight_nk"), py::arg("out_dtype"));
}
