// _npu binding of sparse_flash_attention (Sparse Flash Attention): tensors in, a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/attention_problem.h"
#include "host/sparse_flash_attention/sparse_flash_attention_host.h"
#include "host/plan_time.h"

namespace {

using namespace ascend_glm5::bind;

// Outputs come allocated from Python; every row is written (zeros for rows that attend nothing).
void SparseFlashAttention(const at::Tensor& query, const at::Tensor& queryRope, const at::Tensor& key,
                          const at::Tensor& value, const c10::optional<at::Tensor>& keyRope, const at::Tensor& sparseIndices,
                          const c10::optional<at::Tensor>& blockTable, const at::Tensor& out,
                          const c10::optional<at::Tensor>& softmaxMax, const c10::optional<at::Tensor>& softmaxSum,
                          std::vector<int64_t> queryStart, std::vector<int64_t> queryLen, std::vector<int64_t> keyStart,
                          std::vector<int64_t> keyLen, int64_t numRows, int64_t sparseMode, int64_t blockSize,
                          double scale, bool deterministic) {
  const c10::DeviceGuard guard(query.device());
  RequirePlainFormat("query", query);
  RequirePlainFormat("query_rope", queryRope);
  RequirePlainFormat("key", key);
  RequirePlainFormat("value", value);
  RequirePlainFormat("key_rope", keyRope);
  RequirePlainFormat("sparse_indices", sparseIndices);
  RequirePlainFormat("block_table", blockTable);
  ascend_glm5::host::SparseFlashAttentionProblem p;
  const bool paged = blockTable.has_value();
  ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen),
                               static_cast<uint32_t>(numRows), static_cast<uint32_t>(query.size(-2)),
                               static_cast<uint32_t>(sparseIndices.size(-1)), static_cast<uint32_t>(sparseMode), paged,
                               static_cast<uint32_t>(blockSize), paged ? static_cast<uint32_t>(blockTable->size(1)) : 0);
  p.dtype = query.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  p.scale = static_cast<float>(scale);
  p.returnLse = softmaxMax.has_value();
  // value viewing key's very elements is key (MLA's absorbed cache): V then comes from the key rows.
  p.separateValue = !value.is_same(key) && !(value.data_ptr() == key.data_ptr() && value.sizes() == key.sizes() &&
                                             value.strides() == key.strides());
  p.combinedKv = !keyRope.has_value();  // a key row holds its rope columns (576 wide)
  p.deterministic = deterministic;      // torch.are_deterministic_algorithms_enabled()
  const auto plan = ascend_glm5::host::TimedPlan(
      [&] { return ascend_glm5::host::MakeSparseFlashAttentionPlan(p, AiCores(query.device())); });
  if (plan.tiling.numRows == 0) return;
  const DevicePlan dev = PlanOnDevice(plan, query);
  at::Tensor q = query.contiguous(), qr = queryRope.contiguous(), k = key.contiguous();
  at::Tensor kr = p.combinedKv ? at::Tensor() : keyRope->contiguous();
  at::Tensor v = p.separateValue ? value.contiguous() : k;
  at::Tensor idx = sparseIndices.contiguous();
  at::Tensor bt = p.paged ? blockTable->contiguous() : at::Tensor();
  at::Tensor o = out, mx = p.returnLse ? *softmaxMax : at::Tensor(), sm = p.returnLse ? *softmaxSum : at::Tensor();
  const uint32_t blockDim = plan.tiling.blockDim;
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_sparse_flash_attention",
                        [blockDim, q, qr, k, v, kr, idx, bt, o, mx, sm, dev](void* stream) {
                          return ascend_glm5::host::SparseFlashAttentionNpu(
                              stream, blockDim, q.data_ptr(), qr.data_ptr(), k.data_ptr(), v.data_ptr(), DataPtrOrNull(kr),
                              idx.data_ptr(), DataPtrOrNull(bt), dev.table.data_ptr(), o.data_ptr(), DataPtrOrNull(mx),
                              DataPtrOrNull(sm), dev.workspace.data_ptr(), dev.tiling.data_ptr());
                        });
}

}  // namespace

void BindNpuOp_sparse_flash_attention(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("sparse_flash_attention", &SparseFlashAttention, py::arg("query"), py::arg("query_rope"),
        py::arg("key"), py::arg("value"), py::arg("key_rope"), py::arg("sparse_indices"), py::arg("block_table"),
        py::arg("out"), py::arg("softmax_max"), py::arg("softmax_sum"), py::arg("query_start"),
        py::arg("query_len"), py::arg("key_start"), py::arg("key_len"), py::arg("num_rows"),
        py::arg("sparse_mode"), py::arg("block_size"), py::arg("scale"), py::arg("deterministic"));
}
