// Shared by the per-op files of the _npu module (csrc/bind/npu/<op>.cpp), built only with CANN +
// torch_npu. Each op file defines BindNpuOp_<op>(module); npu_module.cpp calls them for every op in
// op_list.inc. Launches go through torch_npu's OpCommand so they stay ordered with torch_npu's own
// queued work on the current stream. Validation happens in Python before these are called.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include <cstring>

#include "kernels/common/host_device.h"
#include "torch_npu/csrc/core/npu/NPUStream.h"
#include "torch_npu/csrc/framework/OpCommand.h"

namespace ascend_glm5::bind {

// AI cores of the SoC this module was built for (CMake sets it from SOC_VERSION). A launch that
// synchronises its cores must not use more blocks than exist.
inline constexpr uint32_t kAiCores = ASCEND_GLM5_AI_CORES;

// Copies a tiling struct to the device; the returned tensor keeps it alive until the kernel ran.
template <typename T>
inline at::Tensor TilingOnDevice(const T& tiling, const at::Device& device) {
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
inline DevicePlan PlanOnDevice(const Plan& plan, const at::Tensor& like) {
  at::Tensor table = at::from_blob(const_cast<int32_t*>(plan.table.data()), {static_cast<int64_t>(plan.table.size())},
                                   at::TensorOptions().dtype(at::kInt));
  return DevicePlan{table.to(like.device()), TilingOnDevice(plan.tiling, like.device()),
                    at::empty({static_cast<int64_t>(plan.workspaceBytes)}, like.options().dtype(at::kByte))};
}

}  // namespace ascend_glm5::bind

#define ASCEND_GLM5_OP(name) void BindNpuOp_##name(pybind11::module_& m);
#include "bind/op_list.inc"
#undef ASCEND_GLM5_OP
