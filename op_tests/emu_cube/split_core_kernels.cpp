// g_coreType and the split build: this file is compiled three times, with -DSPLIT_CORE_CUBE (the AIC
// build), -DSPLIT_CORE_VEC (the AIV build) and with neither (CPU-debug form: g_coreType read at run
// time). split_launch runs one build on the AIC cores and one on the AIV cores of a MIX launch.
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

#if defined(SPLIT_CORE_CUBE)
#define SPLIT_NAME(n) n##_aic
#elif defined(SPLIT_CORE_VEC)
#define SPLIT_NAME(n) n##_aiv
#else
#define SPLIT_NAME(n) n##_cpu
#endif
#define SPLIT_EXPORT extern "C" __attribute__((visibility("default")))

using namespace AscendC;

// out[3 * block + 0] from the AIC, out[3 * block + 1 + sub] from the AIVs: 100 * g_coreType + 10 * (the
// ASCEND_IS_* branch taken: 1 AIC, 2 AIV).
SPLIT_EXPORT void SPLIT_NAME(split_kernel)(GM_ADDR out) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
#if defined(SPLIT_CORE_CUBE) || defined(SPLIT_CORE_VEC)
  constexpr int32_t built = g_coreType;  // a constant expression, as catlass needs
  static_assert(built == AIC || built == AIV, "g_coreType");
#else
  const int32_t built = g_coreType;
#endif
  int32_t branch = 0;
  if ASCEND_IS_AIC {
    branch = 1;
  }
  if ASCEND_IS_AIV {
    branch = 2;
  }
  GlobalTensor<int32_t> o;
  o.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out));
  const int64_t slot = built == AIC ? 3 * GetBlockIdx() : 3 * (GetBlockIdx() / 2) + 1 + GetSubBlockIdx();
  o.SetValue(slot, 100 * built + 10 * branch);
}

using KernelFn = void (*)(GM_ADDR);

SPLIT_EXPORT int SPLIT_NAME(split_launch)(void* aic, void* aiv, uint32_t blockDim, int32_t* out, char* err, int errLen) {
  try {
    const auto fa = reinterpret_cast<KernelFn>(aic), fv = reinterpret_cast<KernelFn>(aiv);
    auto* p = reinterpret_cast<GM_ADDR>(out);
    emu::Launch("split_kernel", KernelMode::MIX_MODE, blockDim,
                [&] { (emu::Core().coreType == AIC ? fa : fv)(p); }, {{out, blockDim * 3 * sizeof(int32_t)}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
    return 1;
  }
}
