// ascend_glm5._npu: NPU implementations of the ops (built only with CANN + torch_npu). Each op's
// binding lives in csrc/bind/npu/<op>.cpp.
#include "bind/npu_bind.h"

PYBIND11_MODULE(_npu, m) {
  m.doc() = "ascend_glm5 kernels on Ascend NPUs";
#define ASCEND_GLM5_OP(name) BindNpuOp_##name(m);
#include "bind/op_list.inc"
#undef ASCEND_GLM5_OP
}
