// _npu binding of moe_init_routing_v2: tensors in (validated and normalised by the Python op: contiguous x,
// int32 expert ids, fp32 per-token scale or none), a launch on torch_npu's stream.
#include "bind/npu_bind.h"  // first: the NPU glue test precompiles it

#include <ATen/ops/zeros.h>

#include "host/moe_init_routing_v2/moe_init_routing_v2_host.h"

namespace {

using namespace ascend_glm5::bind;

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> MoeInitRouting(const at::Tensor& x, const at::Tensor& expertIdx,
                                                                          const c10::optional<at::Tensor>& scale,
                                                                          int64_t expertStart, int64_t expertEnd,
                                                                          int64_t rowIdxType, int64_t countType) {
  const c10::DeviceGuard guard(x.device());
  RequirePlainFormat("x", x);
  RequirePlainFormat("expert_idx", expertIdx);
  RequirePlainFormat("scale", scale);
  const int64_t tokens = expertIdx.size(0), topK = expertIdx.size(1), pairs = tokens * topK;
  at::Tensor expandedX = at::empty({pairs, x.size(1)}, x.options());
  at::Tensor rowIdx = at::empty({pairs}, x.options().dtype(at::kInt));
  at::Tensor expertTokens = at::zeros({expertEnd - expertStart}, x.options().dtype(at::kLong));
  at::Tensor expandedScale = at::zeros({pairs}, x.options().dtype(at::kFloat));
  if (pairs == 0) return {expandedX, rowIdx, expertTokens, expandedScale};
  // A vector-only kernel: two AIV per AI core.
  const auto tiling = ascend_glm5::host::MakeMoeInitRoutingTiling(
      pairs, static_cast<uint32_t>(topK), x.size(1) * x.element_size(), static_cast<uint32_t>(expertStart),
      static_cast<uint32_t>(expertEnd - expertStart), static_cast<uint32_t>(rowIdxType),
      static_cast<uint32_t>(countType), scale.has_value(), 2 * AiCores(x.device()));
  at::Tensor tilingDev = TilingOnDevice(tiling, x.device());
  const uint32_t blockDim = tiling.blockDim;
  // Split counts meet here (each core's written before any core reads it: no zeroing).
  const uint64_t workspaceBytes = ascend_glm5::host::MoeInitRoutingWorkspaceBytes(tiling);
  at::Tensor workspace = workspaceBytes ? at::empty({static_cast<int64_t>(workspaceBytes)}, x.options().dtype(at::kByte))
                                        : at::Tensor();
  const at::Tensor xc = x, ids = expertIdx, s = scale.value_or(at::Tensor());
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_moe_init_routing_v2",
                        [blockDim, xc, ids, s, expandedX, rowIdx, expertTokens, expandedScale, workspace, tilingDev](void* stream) {
                          return ascend_glm5::host::MoeInitRoutingNpu(
                              stream, blockDim, xc.data_ptr(), ids.data_ptr(), DataPtrOrNull(s), expandedX.data_ptr(),
                              rowIdx.data_ptr(), expertTokens.data_ptr(), expandedScale.data_ptr(),
                              DataPtrOrNull(workspace), tilingDev.data_ptr());
                        });
  return {expandedX, rowIdx, expertTokens, expandedScale};
}

}  // namespace

void BindNpuOp_moe_init_routing_v2(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("moe_init_routing_v2", &MoeInitRouting, py::arg("x"), py::arg("expert_idx"), py::arg("scale"),
        py::arg("expert_start"), py::arg("expert_end"), py::arg("row_idx_type"), py::arg("count_type"));
}
