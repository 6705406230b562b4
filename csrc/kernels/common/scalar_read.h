// The scalar unit reading one value the vector unit wrote.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

// t[i] once the vector unit has written it (V -> S), with the vector unit's next write of that UB
// held until the read is done (S -> V), as CANN brackets its own GetValue calls (adv_api
// broadcast_common_impl.h, layernorm_common_impl.h). Uses event id 0 of V_S and of S_V.
template <typename T>
__aicore__ inline T ReadVectorResult(const AscendC::LocalTensor<T>& t, uint32_t i) {
  AscendC::SetFlag<AscendC::HardEvent::V_S>(0);
  AscendC::WaitFlag<AscendC::HardEvent::V_S>(0);
  const T v = t.GetValue(i);
  AscendC::SetFlag<AscendC::HardEvent::S_V>(0);
  AscendC::WaitFlag<AscendC::HardEvent::S_V>(0);
  return v;
}

// The vector unit's next instructions wait for the scalar unit's reads and writes of UB so far (S -> V,
// event id 0): after a GetValue whose UB the vector unit overwrites later, or SetValues it reads.
__aicore__ inline void VectorAfterScalar() {
  AscendC::SetFlag<AscendC::HardEvent::S_V>(0);
  AscendC::WaitFlag<AscendC::HardEvent::S_V>(0);
}

}  // namespace ascend_glm5
