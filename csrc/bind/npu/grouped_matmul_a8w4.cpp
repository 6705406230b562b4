// _npu binding of grouped_matmul_a8w4: tensors in, a launch on torch_npu's stream.
// Validation (and the int64 scale decode) happened in Python; group_list stays on the device.
#include "bind/npu_bind.h"
#include "host/grouped_matmul_a8w4/grouped_matmul_a8w4_host.h"
#include "host/plan_time.h"

namespace {

using namespace ascend_glm5::bind;

at::Tensor GroupedMatmulA8W4(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                             const at::Tensor& perTokenScale, const at::Tensor& groupList, int64_t outDtype) {
  const c10::DeviceGuard guard(x.device());
  RequirePlainFormat("x", x);
  RequirePlainFormat("weight", weight);  // the kernel reads packed int4 rows, not a FRACTAL_NZ weight
  RequirePlainFormat("scale", scale);
  RequirePlainFormat("per_token_scale", perTokenScale);
  RequirePlainFormat("group_list", groupList);
  const int64_t m = x.size(0), k = x.size(1), experts = weight.size(0), n = 8 * weight.size(2);
  const at::ScalarType outType = outDtype == ascend_glm5::kBFloat16 ? at::kBFloat16
                                 : outDtype == ascend_glm5::kFloat16 ? at::kHalf
                                 : outDtype == ascend_glm5::kFloat32 ? at::kFloat
                                                                     : at::kInt;
  at::Tensor y = at::empty({m, n}, x.options().dtype(outType));
  if (m == 0) return y;
  const auto plan = ascend_glm5::host::TimedPlan([&] {
    return ascend_glm5::host::MakeGroupedMatmulA8W4Plan(m, static_cast<uint32_t>(n), static_cast<uint32_t>(k),
                                                        static_cast<uint32_t>(experts), static_cast<uint32_t>(outDtype),
                                                        AiCores(x.device()));
  });
  at::Tensor tilingDev = TilingOnDevice(plan.tiling, x.device());
  at::Tensor workspace = at::empty({static_cast<int64_t>(plan.workspaceBytes)}, x.options().dtype(at::kByte));
  const uint32_t blockDim = plan.tiling.blockDim;
  const at::Tensor xc = x, w = weight, s = scale, pts = perTokenScale, groups = groupList;
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_grouped_matmul_a8w4",
                        [blockDim, xc, w, s, pts, groups, y, workspace, tilingDev](void* stream) {
                          return ascend_glm5::host::GroupedMatmulA8W4Npu(
                              stream, blockDim, xc.data_ptr(), w.data_ptr(), s.data_ptr(), pts.data_ptr(),
                              groups.data_ptr(), y.data_ptr(), workspace.data_ptr(), tilingDev.data_ptr());
                        });
  return y;
}

}  // namespace

void BindNpuOp_grouped_matmul_a8w4(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("grouped_matmul_a8w4", &GroupedMatmulA8W4, py::arg("x"), py::arg("weight"), py::arg("scale"),
        py::arg("per_token_scale"), py::arg("group_list"), py::arg("out_dtype"));
}
