// _npu binding of dynamic_quant (per-token int8 quantization): tensors in, a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/dynamic_quant/dynamic_quant_host.h"

namespace {

using namespace ascend_glm5::bind;

std::tuple<at::Tensor, at::Tensor> DynamicQuant(const at::Tensor& x, const c10::optional<at::Tensor>& smooth) {
  const c10::DeviceGuard guard(x.device());
  RequirePlainFormat("x", x);
  RequirePlainFormat("smooth_scales", smooth);
  const int64_t cols = x.size(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(at::kChar));
  std::vector<int64_t> scaleShape(x.sizes().begin(), x.sizes().end() - 1);
  at::Tensor scale = at::empty(scaleShape, x.options().dtype(at::kFloat));
  if (rows == 0) return {y, scale};
  const uint32_t dtype = x.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  at::Tensor sm = smooth.has_value() ? smooth->contiguous() : at::Tensor();
  // A vector-only kernel: two AIV per AI core.
  const auto tiling = ascend_glm5::host::MakeDynamicQuantTiling(rows, static_cast<uint32_t>(cols), dtype, sm.defined(),
                                                                2 * AiCores(x.device()));
  at::Tensor tilingDev = TilingOnDevice(tiling, x.device());
  const uint32_t blockDim = tiling.blockDim;
  // Split rows exchange their cores' maxima here (written before read within the launch: no zeroing).
  const uint64_t workspaceBytes = ascend_glm5::host::DynamicQuantWorkspaceBytes(tiling);
  at::Tensor workspace = workspaceBytes ? at::empty({static_cast<int64_t>(workspaceBytes)}, x.options().dtype(at::kByte))
                                        : at::Tensor();
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_dynamic_quant", [blockDim, xc, sm, y, scale, workspace, tilingDev](void* stream) {
    return ascend_glm5::host::DynamicQuantNpu(stream, blockDim, xc.data_ptr(), DataPtrOrNull(sm), y.data_ptr(),
                                              scale.data_ptr(), DataPtrOrNull(workspace), tilingDev.data_ptr());
  });
  return {y, scale};
}

}  // namespace

void BindNpuOp_dynamic_quant(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("dynamic_quant", &DynamicQuant, py::arg("x"), py::arg("smooth_scales") = py::none());
}
