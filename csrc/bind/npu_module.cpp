// ascend_glm5._npu: NPU implementations of the ops (built only with CANN + torch_npu).
// Launches go through torch_npu's OpCommand so they stay ordered with torch_npu's own queued
// work on the current stream. Validation happens in Python before these are called.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include "host/attention_problem.h"
#include "host/dynamic_quant/dynamic_quant_host.h"
#include "host/lightning_indexer/lightning_indexer_host.h"
#include "host/sparse_flash_attention/sparse_flash_attention_host.h"
#include "kernels/common/host_device.h"
#include "torch_npu/csrc/core/npu/NPUStream.h"
#include "torch_npu/csrc/framework/OpCommand.h"

namespace {

// AI cores of the SoC this module was built for (CMake sets it from SOC_VERSION). A launch that
// synchronises its cores must not use more blocks than exist.
constexpr uint32_t kAiCores = ASCEND_GLM5_AI_CORES;

// Copies a tiling struct to the device; the returned tensor keeps it alive until the kernel ran.
template <typename T>
at::Tensor TilingOnDevice(const T& tiling, const at::Device& device) {
  at::Tensor host = at::empty({static_cast<int64_t>(sizeof(T))}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(host.data_ptr(), &tiling, sizeof(T));
  return host.to(device);
}

// A host-made plan (int32 table, tiling struct, workspace size) in device memory; the tensors
// keep it alive until the kernel ran.
struct DevicePlan {
  at::Tensor table, tiling, workspace;
};
template <typename Plan>
DevicePlan PlanOnDevice(const Plan& plan, const at::Tensor& like) {
  at::Tensor table = at::from_blob(const_cast<int32_t*>(plan.table.data()), {static_cast<int64_t>(plan.table.size())},
                                   at::TensorOptions().dtype(at::kInt));
  return DevicePlan{table.to(like.device()), TilingOnDevice(plan.tiling, like.device()),
                    at::empty({static_cast<int64_t>(plan.workspaceBytes)}, like.options().dtype(at::kByte))};
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
  const auto tiling =
      ascend_glm5::host::MakeDynamicQuantTiling(rows, static_cast<uint32_t>(cols), dtype, sm.defined(), 2 * kAiCores);
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

// Outputs are pre-filled by the caller (-1 / -inf): rows without visible keys are not written.
void LightningIndexer(const at::Tensor& query, const at::Tensor& key, const at::Tensor& weights,
                      const c10::optional<at::Tensor>& blockTable, const at::Tensor& indices,
                      const c10::optional<at::Tensor>& values, std::vector<int64_t> queryStart,
                      std::vector<int64_t> queryLen, std::vector<int64_t> keyStart, std::vector<int64_t> keyLen,
                      int64_t numRows, int64_t sparseCount, int64_t sparseMode, int64_t blockSize) {
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
  const auto plan = ascend_glm5::host::MakeLightningIndexerPlan(p, kAiCores);
  if (plan.tiling.numItems == 0) return;
  const DevicePlan dev = PlanOnDevice(plan, query);
  at::Tensor q = query.contiguous(), k = key.contiguous(), w = weights.contiguous();
  at::Tensor bt = p.paged ? blockTable->contiguous() : at::Tensor();
  at::Tensor vals = p.returnValue ? *values : at::Tensor();
  const uint32_t blockDim = plan.tiling.blockDim;
  at_npu::native::OpCommand cmd;
  cmd.Name("ascend_glm5_lightning_indexer");
  cmd.SetCustomHandler([=]() -> int {
    void* stream = c10_npu::getCurrentNPUStream().stream(false);
    ascend_glm5::host::LightningIndexerNpu(stream, blockDim, q.data_ptr(), k.data_ptr(), w.data_ptr(),
                                           bt.defined() ? bt.data_ptr() : nullptr, dev.table.data_ptr(),
                                           indices.data_ptr(), vals.defined() ? vals.data_ptr() : nullptr,
                                           dev.workspace.data_ptr(), dev.tiling.data_ptr());
    return 0;
  });
  cmd.Run();
}

// Outputs come allocated from Python; every row is written (zeros for rows that attend nothing).
void SparseFlashAttention(const at::Tensor& query, const at::Tensor& queryRope, const at::Tensor& key,
                          const at::Tensor& keyRope, const at::Tensor& sparseIndices,
                          const c10::optional<at::Tensor>& blockTable, const at::Tensor& out,
                          const c10::optional<at::Tensor>& softmaxMax, const c10::optional<at::Tensor>& softmaxSum,
                          std::vector<int64_t> queryStart, std::vector<int64_t> queryLen, std::vector<int64_t> keyStart,
                          std::vector<int64_t> keyLen, int64_t numRows, int64_t sparseMode, int64_t blockSize,
                          double scale) {
  ascend_glm5::host::SparseFlashAttentionProblem p;
  const bool paged = blockTable.has_value();
  ascend_glm5::host::SetCommon(p, std::move(queryStart), std::move(queryLen), std::move(keyStart), std::move(keyLen),
                               static_cast<uint32_t>(numRows), static_cast<uint32_t>(query.size(-2)),
                               static_cast<uint32_t>(sparseIndices.size(-1)), static_cast<uint32_t>(sparseMode), paged,
                               static_cast<uint32_t>(blockSize), paged ? static_cast<uint32_t>(blockTable->size(1)) : 0);
  p.dtype = query.scalar_type() == at::kBFloat16 ? ascend_glm5::kBFloat16 : ascend_glm5::kFloat16;
  p.scale = static_cast<float>(scale);
  p.returnLse = softmaxMax.has_value();
  const auto plan = ascend_glm5::host::MakeSparseFlashAttentionPlan(p, kAiCores);
  if (plan.tiling.numRows == 0) return;
  const DevicePlan dev = PlanOnDevice(plan, query);
  at::Tensor q = query.contiguous(), qr = queryRope.contiguous(), k = key.contiguous(), kr = keyRope.contiguous();
  at::Tensor idx = sparseIndices.contiguous();
  at::Tensor bt = p.paged ? blockTable->contiguous() : at::Tensor();
  at::Tensor mx = p.returnLse ? *softmaxMax : at::Tensor(), sm = p.returnLse ? *softmaxSum : at::Tensor();
  const uint32_t blockDim = plan.tiling.blockDim;
  at_npu::native::OpCommand cmd;
  cmd.Name("ascend_glm5_sparse_flash_attention");
  cmd.SetCustomHandler([=]() -> int {
    void* stream = c10_npu::getCurrentNPUStream().stream(false);
    ascend_glm5::host::SparseFlashAttentionNpu(stream, blockDim, q.data_ptr(), qr.data_ptr(), k.data_ptr(), kr.data_ptr(),
                                               idx.data_ptr(), bt.defined() ? bt.data_ptr() : nullptr, dev.table.data_ptr(),
                                               out.data_ptr(), mx.defined() ? mx.data_ptr() : nullptr,
                                               sm.defined() ? sm.data_ptr() : nullptr, dev.workspace.data_ptr(),
                                               dev.tiling.data_ptr());
    return 0;
  });
  cmd.Run();
}

}  // namespace

PYBIND11_MODULE(_npu, m) {
  m.doc() = "ascend_glm5 kernels on Ascend NPUs";
  m.def("dynamic_quant", &DynamicQuant, pybind11::arg("x"), pybind11::arg("smooth_scales") = pybind11::none());
  m.def("lightning_indexer", &LightningIndexer, pybind11::arg("query"), pybind11::arg("key"), pybind11::arg("weights"),
        pybind11::arg("block_table"), pybind11::arg("indices"), pybind11::arg("values"), pybind11::arg("query_start"),
        pybind11::arg("query_len"), pybind11::arg("key_start"), pybind11::arg("key_len"), pybind11::arg("num_rows"),
        pybind11::arg("sparse_count"), pybind11::arg("sparse_mode"), pybind11::arg("block_size"));
  m.def("sparse_flash_attention", &SparseFlashAttention, pybind11::arg("query"), pybind11::arg("query_rope"),
        pybind11::arg("key"), pybind11::arg("key_rope"), pybind11::arg("sparse_indices"), pybind11::arg("block_table"),
        pybind11::arg("out"), pybind11::arg("softmax_max"), pybind11::arg("softmax_sum"), pybind11::arg("query_start"),
        pybind11::arg("query_len"), pybind11::arg("key_start"), pybind11::arg("key_len"), pybind11::arg("num_rows"),
        pybind11::arg("sparse_mode"), pybind11::arg("block_size"), pybind11::arg("scale"));
}
