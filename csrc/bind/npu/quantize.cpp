// _npu binding of quantize: tensors in (validated and normalised by the Python op: contiguous x, fp32
// scales / zero_points of 1 or K elements), a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/quantize/quantize_host.h"

namespace {

using namespace ascend_glm5::bind;

at::Tensor Quantize(const at::Tensor& x, const at::Tensor& scales, const c10::optional<at::Tensor>& offsets,
                    bool divMode) {
  const c10::DeviceGuard guard(x.device());
  RequirePlainFormat("x", x);
  RequirePlainFormat("scales", scales);
  RequirePlainFormat("zero_points", offsets);
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(at::kChar));
  const int64_t cols = x.dim() ? x.size(-1) : 1;
  const int64_t rows = cols ? x.numel() / cols : 0;
  if (rows == 0) return y;
  const uint32_t dtype = x.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16
                         : x.scalar_type() == at::kFloat  ? ascend_glm5::kFloat32
                                                          : ascend_glm5::kFloat16;
  const bool perChannel = scales.numel() > 1;
  // A vector-only kernel: two AIV per AI core.
  const auto tiling = ascend_glm5::host::MakeQuantizeTiling(rows, static_cast<uint32_t>(cols), dtype, perChannel,
                                                            offsets.has_value(), divMode, 2 * AiCores(x.device()));
  at::Tensor tilingDev = TilingOnDevice(tiling, x.device());
  const uint32_t blockDim = tiling.blockDim;
  const at::Tensor xc = x, s = scales, o = offsets.value_or(at::Tensor());
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_quantize", [blockDim, xc, s, o, y, tilingDev](void* stream) {
    return ascend_glm5::host::QuantizeNpu(stream, blockDim, xc.data_ptr(), s.data_ptr(), DataPtrOrNull(o), y.data_ptr(),
                                          tilingDev.data_ptr());
  });
  return y;
}

}  // namespace

void BindNpuOp_quantize(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("quantize", &Quantize, py::arg("x"), py::arg("scales"), py::arg("zero_points") = py::none(),
        py::arg("div_mode") = true);
}
