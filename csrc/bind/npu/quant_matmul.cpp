// _npu binding of quant_matmul: tensors in, a launch on torch_npu's stream.
// Validation (scale decode, x2 layout, bias kind) happened in Python.
#include "bind/npu_bind.h"
#include "host/quant_matmul/quant_matmul_host.h"
#include "host/plan_time.h"

namespace {

using namespace ascend_glm5::bind;

// x2: the weight buffer, [K, N] or (weight_nk) [N, K] row-major; scale fp32 [N]; bias int32 or fp32 [N].
at::Tensor QuantMatmul(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& scale,
                       const c10::optional<at::Tensor>& pertoken, const c10::optional<at::Tensor>& bias, bool weightNK,
                       int64_t outDtype) {
  const c10::DeviceGuard guard(x1.device());
  RequirePlainFormat("x1", x1);
  RequirePlainFormat("x2", x2);  // the kernel reads a row-major weight, not a FRACTAL_NZ one
  RequirePlainFormat("scale", scale);
  RequirePlainFormat("pertoken_scale", pertoken);
  RequirePlainFormat("bias", bias);
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
  const auto plan = ascend_glm5::host::TimedPlan([&] { return ascend_glm5::host::MakeQuantMatmulPlan(s, AiCores(x1.device())); });
  at::Tensor tilingDev = TilingOnDevice(plan.tiling, x1.device());
  at::Tensor workspace = at::empty({static_cast<int64_t>(plan.workspaceBytes)}, x1.options().dtype(at::kByte));
  const uint32_t blockDim = plan.tiling.blockDim;
  const at::Tensor a = x1, w = x2, sc = scale, pts = pertoken.value_or(at::Tensor()), b = bias.value_or(at::Tensor());
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_quant_matmul", [blockDim, a, w, sc, pts, b, y, workspace, tilingDev](void* stream) {
    return ascend_glm5::host::QuantMatmulNpu(stream, blockDim, a.data_ptr(), w.data_ptr(), sc.data_ptr(),
                                             DataPtrOrNull(pts), DataPtrOrNull(b), y.data_ptr(), workspace.data_ptr(),
                                             tilingDev.data_ptr());
  });
  return y;
}

}  // namespace

void BindNpuOp_quant_matmul(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("quant_matmul", &QuantMatmul, py::arg("x1"), py::arg("x2"), py::arg("scale"), py::arg("pertoken_scale"),
        py::arg("bias"), py::arg("weight_nk"), py::arg("out_dtype"));
}
