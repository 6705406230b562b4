// _npu binding of dequant_swiglu_quant: tensors in (validated and normalised by the Python op: contiguous,
// fp32 scales, int64 group_index), a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/dequant_swiglu_quant/dequant_swiglu_quant_host.h"

namespace {

using namespace ascend_glm5::bind;

std::tuple<at::Tensor, at::Tensor> DequantSwigluQuant(const at::Tensor& x, const c10::optional<at::Tensor>& weightScale,
                                                      const c10::optional<at::Tensor>& activationScale,
                                                      const c10::optional<at::Tensor>& quantScale,
                                                      const c10::optional<at::Tensor>& groupIndex, bool activateLeft) {
  const c10::DeviceGuard guard(x.device());
  RequirePlainFormat("x", x);
  RequirePlainFormat("weight_scale", weightScale);
  RequirePlainFormat("activation_scale", activationScale);
  RequirePlainFormat("quant_scale", quantScale);
  RequirePlainFormat("group_index", groupIndex);
  const int64_t rows = x.size(0);
  const int64_t half = x.size(1) / 2;
  at::Tensor y = at::empty({rows, half}, x.options().dtype(at::kChar));
  at::Tensor scale = at::empty({rows}, x.options().dtype(at::kFloat));
  if (rows == 0) return {y, scale};
  const uint32_t dtype = x.scalar_type() == at::kInt      ? ascend_glm5::kInt32
                         : x.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16
                                                            : ascend_glm5::kFloat16;
  const uint32_t groups = groupIndex.has_value() ? static_cast<uint32_t>(groupIndex->numel()) : 0;
  const uint32_t wsRows = weightScale.has_value() ? static_cast<uint32_t>(weightScale->numel() / (2 * half)) : 0;
  const uint32_t qsRows = quantScale.has_value() ? static_cast<uint32_t>(quantScale->numel() / half) : 0;
  // A vector-only kernel: two AIV per AI core.
  const auto tiling = ascend_glm5::host::MakeDequantSwigluQuantTiling(
      rows, static_cast<uint32_t>(half), dtype, groups, wsRows, qsRows, activateLeft, 2 * AiCores(x.device()));
  at::Tensor tilingDev = TilingOnDevice(tiling, x.device());
  const uint32_t blockDim = tiling.blockDim;
  // Split rows exchange their cores' maxima here (written before read within the launch: no zeroing).
  const uint64_t workspaceBytes = ascend_glm5::host::DequantSwigluQuantWorkspaceBytes(tiling);
  at::Tensor workspace = workspaceBytes ? at::empty({static_cast<int64_t>(workspaceBytes)}, x.options().dtype(at::kByte))
                                        : at::Tensor();
  const at::Tensor xc = x, ws = weightScale.value_or(at::Tensor()), as = activationScale.value_or(at::Tensor()),
                   qs = quantScale.value_or(at::Tensor()), gi = groupIndex.value_or(at::Tensor());
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_dequant_swiglu_quant",
                        [blockDim, xc, ws, as, qs, gi, y, scale, workspace, tilingDev](void* stream) {
                          return ascend_glm5::host::DequantSwigluQuantNpu(
                              stream, blockDim, xc.data_ptr(), DataPtrOrNull(ws), DataPtrOrNull(as),
                              DataPtrOrNull(qs), DataPtrOrNull(gi), y.data_ptr(), scale.data_ptr(),
                              DataPtrOrNull(workspace), tilingDev.data_ptr());
                        });
  return {y, scale};
}

}  // namespace

void BindNpuOp_dequant_swiglu_quant(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("dequant_swiglu_quant", &DequantSwigluQuant, py::arg("x"), py::arg("weight_scale") = py::none(),
        py::arg("activation_scale") = py::none(), py::arg("quant_scale") = py::none(),
        py::arg("group_index") = py::none(), py::arg("activate_left") = false);
}
