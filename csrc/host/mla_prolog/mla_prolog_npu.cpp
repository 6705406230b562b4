// NPU launch of the MLA prolog (built only with CANN).
#include "aclrtlaunch_mla_prolog.h"
#include "mla_prolog_host.h"

namespace ascend_glm5::host {

uint32_t MlaPrologNpu(void* stream, uint32_t blockDim, void* const* a, void* workspace, void* tiling) {
  return ACLRT_LAUNCH_KERNEL(mla_prolog)(blockDim, stream, a[kMlapTokenX], a[kMlapWeightDq], a[kMlapWeightUqQr],
                                         a[kMlapWeightUk], a[kMlapWeightDkvKr], a[kMlapGammaCq], a[kMlapGammaCkv],
                                         a[kMlapRopeSin], a[kMlapRopeCos], a[kMlapCacheIndex], a[kMlapKvCache],
                                         a[kMlapKrCache], a[kMlapScaleX], a[kMlapScaleWDq], a[kMlapScaleWUqQr],
                                         a[kMlapScaleWDkvKr], a[kMlapSmooth], a[kMlapGammaX], a[kMlapQuery],
                                         a[kMlapQueryRope], a[kMlapQueryNorm], a[kMlapQueryNormScale], workspace, tiling);
}

}  // namespace ascend_glm5::host
