// Fixpipe configuration registers (include/basic_api/kernel_operator_fixpipe_intf.h).
#pragma once

#include "cube.h"

namespace AscendC {

// SetFixPipeConfig loads the per-channel (tensor) quantization parameters for the V* quant modes.
// Declared with CANN's signatures so that code using it compiles; calling it is refused: the
// per-channel quant modes are not emulated yet.
template <typename T>
void SetFixPipeConfig(const LocalTensor<T>& reluPre, const LocalTensor<T>& quantPre, bool isUnitFlag = false) {
  (void)reluPre, (void)quantPre, (void)isUnitFlag;
  emu::Fail("SetFixPipeConfig", "not-emulated", "per-channel (tensor) quantization in Fixpipe is not emulated");
}
template <typename T, bool setRelu = false>
void SetFixPipeConfig(const LocalTensor<T>& preData, bool isUnitFlag = false) {
  (void)preData, (void)isUnitFlag;
  emu::Fail("SetFixPipeConfig", "not-emulated", "per-channel (tensor) quantization in Fixpipe is not emulated");
}

}  // namespace AscendC
