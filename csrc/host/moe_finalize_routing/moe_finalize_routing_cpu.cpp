#include "../cpu_launch.h"
#include "../../kernels/common/host_device.h"
#include "moe_finalize_routing_host.h"

extern "C" void moe_finalize_routing(GM_ADDR rows, GM_ADDR skip1, GM_ADDR skip2, GM_ADDR bias, GM_ADDR scales,
                                     GM_ADDR dst, GM_ADDR experts, GM_ADDR out, GM_ADDR workspace, GM_ADDR tiling);

namespace ascend_glm5::host {

void MoeFinalizeRoutingCpu(const void* rows, const void* skip1, const void* skip2, const void* bias, const float* scales,
                           const int32_t* dst, const int32_t* expertIds, void* out, uint64_t tokens, uint32_t topK,
                           uint32_t hidden, uint32_t dtype, bool rowOrder, uint32_t experts) {
  const MoeFinalizeRoutingTiling t =
      MakeMoeFinalizeRoutingTiling(tokens, topK, hidden, dtype, rowOrder, skip1 != nullptr, skip2 != nullptr, experts,
                                   bias != nullptr, scales != nullptr, AscendC::emu::Soc().aivNum);
  if (tokens == 0) return;
  const uint64_t elem = dtype == kFloat32 ? 4 : 2, pairs = tokens * topK, tokenBytes = tokens * hidden * elem;
  AscendC::emu::Launch(
      "moe_finalize_routing", AscendC::KernelMode::AIV_MODE, t.blockDim,
      [&] {
        moe_finalize_routing(GmArg(rows), GmArg(skip1), GmArg(skip2), GmArg(bias), GmArg(scales), GmArg(dst),
                             GmArg(expertIds), GmArg(out), nullptr, GmArg(&t));
      },
      {{rows, pairs * hidden * elem},
       {skip1, skip1 ? tokenBytes : 0},
       {skip2, skip2 ? tokenBytes : 0},
       {bias, bias ? uint64_t(experts) * hidden * elem : 0},
       {scales, scales ? pairs * 4 : 0},
       {dst, pairs * 4},
       {expertIds, expertIds ? pairs * 4 : 0},
       {out, tokenBytes},
       {&t, sizeof(t)}});
}

}  // namespace ascend_glm5::host
