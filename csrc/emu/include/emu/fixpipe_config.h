// Fixpipe configuration registers (include/basic_api/kernel_operator_fixpipe_intf.h).
#pragma once

#include "cube.h"

namespace AscendC {

namespace emu {
// The per-channel quant tensor (VDEQF16: one uint64_t word per output column) must sit in the
// fixpipe buffer (SetFixPipeConfig.md: "quantPre和reluPre必须是Fixpipe Buffer上的Tensor").
template <typename T>
void SetFixPipeQuant(const char* api, const LocalTensor<T>& quantPre) {
  RequireCubeCore(api);
  RequirePosition(api, "quantPre", quantPre, Mem::FB);
  quantPre.CheckAlign(api, "quantPre", 128);
  const uint64_t bytes = ElemBytes<T>(quantPre.GetSize());
  quantPre.Reads(api, "quantPre", 0, bytes);
  Core().fpcQuantAddr = quantPre.EmuAddr();
  Core().fpcQuantBytes = static_cast<uint32_t>(bytes);
}
}  // namespace emu

// SetFixPipeConfig loads the per-channel (tensor) parameters of the V* quant modes; the relu tensor
// form is not emulated (CANN: "当前仅支持传入quant Tensor" for the one-tensor form).
template <typename T>
void SetFixPipeConfig(const LocalTensor<T>& reluPre, const LocalTensor<T>& quantPre, bool isUnitFlag = false) {
  (void)isUnitFlag;  // reserved (SetFixPipeConfig.md)
  EMU_REQUIRE(reluPre.GetSize() == 0, "SetFixPipeConfig", "not-emulated", "a relu tensor is not emulated");
  emu::SetFixPipeQuant("SetFixPipeConfig", quantPre);
}
template <typename T, bool setRelu = false>
void SetFixPipeConfig(const LocalTensor<T>& preData, bool isUnitFlag = false) {
  // CANN compiles setRelu = true (dav_c220 kernel_operator_fixpipe_impl.h loads a relu tensor then); not emulated.
  EMU_REQUIRE(!setRelu, "SetFixPipeConfig", "not-emulated", "setRelu = true (a relu tensor) is not emulated");
  (void)isUnitFlag;
  emu::SetFixPipeQuant("SetFixPipeConfig", preData);
}

}  // namespace AscendC
