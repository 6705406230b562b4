// ascend_glm5._npu: NPU implementations of the ops (built only with CANN + torch_npu).
// Launches go through torch_npu's OpCommand so they stay ordered with torch_npu's own queued
// work on the current stream. Validation happens in Python before these are called.
#include <pybind11/pybind11.h>
#include <torch/extension.h>

#include "host/dynamic_quant/dynamic_quant_host.h"
#include "kernels/common/host_device.h"
#include "torch_npu/csrc/core/npu/NPUStream.h"
#include "torch_npu/csrc/framework/OpCommand.h"

namespace {

// Copies a tiling struct to the device; the returned tensor keeps it alive until the kernel ran.
template <typename T>
at::Tensor TilingOnDevice(const T& tiling, const at::Device& device) {
  at::Tensor host = at::empty({static_cast<int64_t>(sizeof(T))}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(host.data_ptr(), &tiling, sizeof(T));
  return host.to(device);
}

std::tuple<at::Tensor, at::Tensor> DynamicQuant(const at::Tensor& x, const c10::optional<at::Tensor>& smooth) {
  const int64_t cols = x.size(-1);
  const int64_t rows = cols ? x.numel() / cols : 0;
  at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(at::kChar));
  std::vector<int64_t> scaleShape(x.sizes().begin(), x.sizes().end() - 1);
  at::Tensor scale = at::empty(scaleShape, x.options().dtype(at::kFloat));
  if (rows == 0) return {y, scale};
  const uint32_t dtype = x.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  at::Tensor sm = smooth.has_value() ? smooth->contiguous() : at::Tensor();
  // Ascend910B: 48 vector cores; the host code spreads rows over at most that many.
  const auto tiling = ascend_glm5::host::MakeDynamicQuantTiling(rows, static_cast<uint32_t>(cols), dtype, sm.defined(), 48);
  at::Tensor tilingDev = TilingOnDevice(tiling, x.device());
  at_npu::native::OpCommand cmd;
  cmd.Name("ascend_glm5_dynamic_quant");
  cmd.SetCustomHandler([=]() -> int {
    void* stream = c10_npu::getCurrentNPUStream().stream(false);
    ascend_glm5::host::DynamicQuantNpu(stream, tiling.blockDim, xc.data_ptr(), sm.defined() ? sm.data_ptr() : nullptr,
                                       y.data_ptr(), scale.data_ptr(), tilingDev.data_ptr());
    return 0;
  });
  cmd.Run();
  return {y, scale};
}

}  // namespace

PYBIND11_MODULE(_npu, m) {
  m.doc() = "ascend_glm5 kernels on Ascend NPUs";
  m.def("dynamic_quant", &DynamicQuant, pybind11::arg("x"), pybind11::arg("smooth_scales") = pybind11::none());
}
