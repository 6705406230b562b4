#include "quant_matmul_host.h"

namespace ascend_glm5::host {

QGemmPlan MakeQuantMatmulPlan(const QuantMatmulShape& s, uint32_t aiCores) {
  QGemmProblem p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.groups = 1;
  p.weightKind = s.weightNK ? kWeightInt8NK : kWeightInt8KN;
  p.outDtype = s.outDtype;
  p.biasKind = s.biasKind;
  p.hasPertoken = s.hasPertoken;
  return MakeQGemmPlan(p, aiCores);
}

}  // namespace ascend_glm5::host
