#include "grouped_matmul_a8w4_host.h"

namespace ascend_glm5::host {

QGemmPlan MakeGroupedMatmulA8W4Plan(uint64_t m, uint32_t n, uint32_t k, uint32_t experts, uint32_t outDtype,
                                    uint32_t aiCores) {
  if (n % 8 != 0) throw std::invalid_argument("grouped_matmul_a8w4: N must be a multiple of 8");
  QGemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.groups = experts;
  p.hasGroupList = true;
  p.msd = true;
  p.weightKind = kWeightInt4KN;
  p.outDtype = outDtype;
  p.hasPertoken = true;
  return MakeQGemmPlan(p, aiCores);
}

}  // namespace ascend_glm5::host
