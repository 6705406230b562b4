// Shared by the per-op files of the torch-free _C module (csrc/bind/cpu/<op>.cpp). Each op file
// defines BindCpuOp_<op>(module); cpu_module.cpp calls them for every op in op_list.inc, which CMake
// generates from ASCEND_GLM5_OPS (csrc/kernels/kernel_sources.cmake).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>

namespace ascend_glm5::bind {

// Python passes tensors as data_ptr() integers; 0 means "absent".
template <typename T>
T* Ptr(uintptr_t p) { return reinterpret_cast<T*>(p); }

}  // namespace ascend_glm5::bind

#define ASCEND_GLM5_OP(name) void BindCpuOp_##name(pybind11::module_& m);
#include "bind/op_list.inc"
#undef ASCEND_GLM5_OP
