// Shared by the per-op files of the _npu module (csrc/bind/npu/<op>.cpp), built only with CANN +
// torch_npu. Each op file defines BindNpuOp_<op>(module); npu_module.cpp calls them for every op in
// op_list.inc and implements the helpers declared here, so that only it includes torch_npu's headers.
// Validation happens in Python before these are called.
//
// What an op function does, in order: guard the inputs' device, check their format, plan on the
// host, copy the plan to the device, then LaunchOnCurrentStream with a handler that captures by
// value every tensor the kernel touches.
#pragma once

// Only the ATen pieces used (per-operator headers) and torch's pybind11 casters: op files compile in
// half the time torch/extension.h (all of ATen and the C++ frontend) takes. An op file that needs
// another ATen function includes its <ATen/ops/<name>.h>.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <c10/core/DeviceGuard.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>  // type casters for at::Tensor, optional<at::Tensor>, ...

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "kernels/common/host_device.h"

namespace ascend_glm5::bind {

// AI cores (1 AIC + 2 AIV each on A2/A3) of `device`, read from the runtime as torch_npu's device
// properties do (aclGetDeviceCapability), not from the SoC the module was built for: a launch that
// synchronises its cores (SyncAll) must not use more blocks than the chip it runs on has.
uint32_t AiCores(const at::Device& device);

// Kernels read plain row-major memory: rejects tensors whose NPU storage format is private (e.g.
// FRACTAL_NZ after torch_npu.npu_format_cast) with a ValueError naming the argument.
void RequirePlainFormat(const char* name, const at::Tensor& t);
inline void RequirePlainFormat(const char* name, const c10::optional<at::Tensor>& t) {
  if (t.has_value()) RequirePlainFormat(name, *t);
}

// The device address of an optional input (an undefined tensor: none).
inline void* DataPtrOrNull(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

// Enqueues `launch` through torch_npu's OpCommand, in order with torch_npu's own queued work. The
// caller's current stream is read here, on the calling thread, and handed to `launch`, which runs later
// on torch_npu's task-queue thread (whose own current stream is not the caller's). `launch` returns the
// aclrtlaunch_<kernel> status; non-zero is reported by torch_npu as a failed op.
void LaunchOnCurrentStream(const std::string& name, std::function<uint32_t(void* stream)> launch);

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
