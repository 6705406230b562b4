// ascend_glm5._npu: NPU implementations of the ops (built only with CANN + torch_npu). Each op's
// binding lives in csrc/bind/npu/<op>.cpp; this file defines the module and the launch helpers the
// op files share (npu_bind.h), the only code here that talks to torch_npu and ACL directly.
#include "bind/npu_bind.h"  // first, as in every bind file: the NPU glue test precompiles it

#include <acl/acl.h>

#include <array>
#include <atomic>
#include <exception>
#include <utility>

#include "host/plan_time.h"
#include "torch_npu/csrc/core/npu/NPUFormat.h"
#include "torch_npu/csrc/core/npu/NPUStream.h"
#include "torch_npu/csrc/framework/OpCommand.h"

namespace ascend_glm5::bind {

uint32_t AiCores(const at::Device& device) {
  static std::array<std::atomic<uint32_t>, 64> cache{};  // per device index; 0 = not asked yet
  const int index = device.index();
  TORCH_CHECK(device.type() == c10::DeviceType::PrivateUse1 && index >= 0 && index < static_cast<int>(cache.size()),
              "ascend_glm5: expected an npu device with an index, got ", device);
  uint32_t cores = cache[index].load(std::memory_order_relaxed);
  if (cores == 0) {
    int64_t value = 0;
    const aclError rc = aclGetDeviceCapability(static_cast<uint32_t>(index), ACL_DEVICE_INFO_AI_CORE_NUM, &value);
    TORCH_CHECK(rc == ACL_SUCCESS && value > 0, "ascend_glm5: aclGetDeviceCapability(", index,
                ", ACL_DEVICE_INFO_AI_CORE_NUM) failed: error ", rc, ", value ", value);
    cores = static_cast<uint32_t>(value);
    cache[index].store(cores, std::memory_order_relaxed);
  }
  return cores;
}

void RequirePlainFormat(const char* name, const at::Tensor& t) {
  // torch_npu's base formats (framework/FormatHelper.cpp: FormatInfo whose baseFormat is itself) keep
  // the tensor's plain layout; every other storage format (NZ, NC1HWC0, ...) is a tiled private one.
  const int64_t format = at_npu::native::get_npu_format(t);
  TORCH_CHECK_VALUE(format == ACL_FORMAT_ND || format == ACL_FORMAT_NCHW || format == ACL_FORMAT_NHWC ||
                        format == ACL_FORMAT_NCDHW,
                    name, " must be stored in a plain NPU format (ND), got acl format ", format,
                    "; convert it with torch_npu.npu_format_cast(", name, ", 2)");
}

void LaunchOnCurrentStream(const std::string& name, std::function<uint32_t(void* stream)> launch) {
  void* stream = c10_npu::getCurrentNPUStream().stream(false);
  at_npu::native::OpCommand cmd;
  cmd.Name(name);
  cmd.SetCustomHandler([stream, launch = std::move(launch)]() -> int { return static_cast<int>(launch(stream)); });
  cmd.Run();
}

}  // namespace ascend_glm5::bind

PYBIND11_MODULE(_npu, m) {
  m.doc() = "ascend_glm5 kernels on Ascend NPUs";
  // c10 errors reach Python as torch raises them (TORCH_CHECK_VALUE: ValueError). torch registers its own
  // translator only with the pybind11 internals it was built with, which this module need not share
  // (torch 2.13 bundles pybind11 3.0, internals 11; pybind11 3.1 has 12): without this, RuntimeError.
  pybind11::register_local_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });
#define ASCEND_GLM5_OP(name) BindNpuOp_##name(m);
#include "bind/op_list.inc"
#undef ASCEND_GLM5_OP
  m.def("last_plan_us", [] { return ascend_glm5::host::lastPlanSeconds * 1e6; },
        "Host time, in microseconds, of the most recent launch's plan (Make*Plan, made before every launch; 0 "
        "before the first).");
}
