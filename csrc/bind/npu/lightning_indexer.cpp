// _npu binding of lightning_indexer (Lightning Indexer): tensors in, a launch on torch_npu's stream.
#include "bind/npu_bind.h"
#include "host/attention_problem.h"
#include "host/lightning_indexer/lightning_indexer_host.h"
#include "host/plan_time.h"

namespace {

using namespace ascend_glm5::bind;

// Outputs are pre-filled by the caller (-1 / -inf): rows without visible keys are not written.
void LightningIndexer(const at::Tensor& query, const at::Tensor& key, const at::Tensor& weights,
                      const c10::optional<at::Tensor>& blockTable, const at::Tensor& indices,
                      const c10::optional<at::Tensor>& values, std::vector<int64_t> queryStart,
                      std::vector<int64_t> queryLen, std::vector<int64_t> keyStart, std::vector<int64_t> keyLen,
                      int64_t numRows, int64_t sparseCount, int64_t sparseMode, int64_t blockSize) {
  const c10::DeviceGuard guard(query.device());
  RequirePlainFormat("query", query);
  RequirePlainFormat("key", key);
  RequirePlainFormat("weights", weights);
  RequirePlainFormat("block_table", blockTable);
  ascend_glm5::host::LightningIndexerProblem p;
  const bool paged = blockTable.has_value();
  ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen),
                               static_cast<uint32_t>(numRows), static_cast<uint32_t>(query.size(-2)),
                               static_cast<uint32_t>(sparseCount), static_cast<uint32_t>(sparseMode), paged,
                               static_cast<uint32_t>(blockSize), paged ? static_cast<uint32_t>(blockTable->size(1)) : 0);
  p.queryDtype = query.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  p.weightDtype = weights.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16
                  : weights.scalar_type() == at::kHalf  ? ascend_glm5::kFloat16
                                                        : ascend_glm5::kFloat32;
  p.returnValue = values.has_value();
  const auto plan =
      ascend_glm5::host::TimedPlan([&] { return ascend_glm5::host::MakeLightningIndexerPlan(p, AiCores(query.device())); });
  if (plan.tiling.numItems == 0) return;
  const DevicePlan dev = PlanOnDevice(plan, query);
  at::Tensor q = query.contiguous(), k = key.contiguous(), w = weights.contiguous();
  at::Tensor bt = p.paged ? blockTable->contiguous() : at::Tensor();
  at::Tensor idx = indices, vals = p.returnValue ? *values : at::Tensor();
  const uint32_t blockDim = plan.tiling.blockDim;
  // Captured by value: every tensor the kernel touches stays allocated until the launch ran.
  LaunchOnCurrentStream("ascend_glm5_lightning_indexer", [blockDim, q, k, w, bt, idx, vals, dev](void* stream) {
    return ascend_glm5::host::LightningIndexerNpu(stream, blockDim, q.data_ptr(), k.data_ptr(), w.data_ptr(),
                                                  DataPtrOrNull(bt), dev.table.data_ptr(), idx.data_ptr(),
                                                  DataPtrOrNull(vals), dev.workspace.data_ptr(), dev.tiling.data_ptr());
  });
}

}  // namespace

void BindNpuOp_lightning_indexer(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("lightning_indexer", &LightningIndexer, py::arg("query"), py::arg("key"), py::arg("weights"),
        py::arg("block_table"), py::arg("indices"), py::arg("values"), py::arg("query_start"),
        py::arg("query_len"), py::arg("key_start"), py::arg("key_len"), py::arg("num_rows"),
        py::arg("sparse_count"), py::arg("sparse_mode"), py::arg("block_size"));
}
