// _npu binding of moe_finalize_routing: tensors in (validated and normalised by the Python op: contiguous rows,
// fp32 scales, int32 indices), a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/moe_finalize_routing/moe_finalize_routing_host.h"

namespace {

using namespace ascend_glm5::bind;

at::Tensor MoeFinalizeRouting(const at::Tensor& rows, const c10::optional<at::Tensor>& skip1,
                              const c10::optional<at::Tensor>& skip2, const c10::optional<at::Tensor>& bias,
                              const c10::optional<at::Tensor>& scales, const at::Tensor& dst,
                              const c10::optional<at::Tensor>& expertIds, int64_t tokens, bool rowOrder) {
  const c10::DeviceGuard guard(rows.device());
  RequirePlainFormat("rows", rows);
  RequirePlainFormat("skip1", skip1);
  RequirePlainFormat("skip2", skip2);
  RequirePlainFormat("bias", bias);
  RequirePlainFormat("scales", scales);
  RequirePlainFormat("dst", dst);
  RequirePlainFormat("expert_ids", expertIds);
  const int64_t hidden = rows.size(1);
  at::Tensor out = at::empty({tokens, hidden}, rows.options());
  if (tokens == 0) return out;
  const uint32_t dtype = rows.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16
                         : rows.scalar_type() == at::kFloat  ? ascend_glm5::kFloat32
                                                             : ascend_glm5::kFloat16;
  // A vector-only kernel: two AIV per AI core.
  const auto tiling = ascend_glm5::host::MakeMoeFinalizeRoutingTiling(
      tokens, static_cast<uint32_t>(rows.size(0) / tokens), static_cast<uint32_t>(hidden), dtype, rowOrder,
      skip1.has_value(), skip2.has_value(), bias.has_value() ? static_cast<uint32_t>(bias->size(0)) : 0,
      bias.has_value(), scales.has_value(), 2 * AiCores(rows.device()));
  at::Tensor tilingDev = TilingOnDevice(tiling, rows.device());
  const uint32_t blockDim = tiling.blockDim;
  const at::Tensor r = rows, s1 = skip1.value_or(at::Tensor()), s2 = skip2.value_or(at::Tensor()),
                   b = bias.value_or(at::Tensor()), w = scales.value_or(at::Tensor()), d = dst,
                   e = expertIds.value_or(at::Tensor());
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_moe_finalize_routing",
                        [blockDim, r, s1, s2, b, w, d, e, out, tilingDev](void* stream) {
                          return ascend_glm5::host::MoeFinalizeRoutingNpu(
                              stream, blockDim, r.data_ptr(), DataPtrOrNull(s1), DataPtrOrNull(s2), DataPtrOrNull(b),
                              DataPtrOrNull(w), d.data_ptr(), DataPtrOrNull(e), out.data_ptr(), tilingDev.data_ptr());
                        });
  return out;
}

}  // namespace

void BindNpuOp_moe_finalize_routing(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("moe_finalize_routing", &MoeFinalizeRouting, py::arg("rows"), py::arg("skip1"), py::arg("skip2"),
        py::arg("bias"), py::arg("scales"), py::arg("dst"), py::arg("expert_ids"), py::arg("tokens"),
        py::arg("row_order"));
}
