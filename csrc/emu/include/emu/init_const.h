// InitConstValue: fill cube-side local memory (L1 as A1/B1, L0A as A2, L0B as B2) with a constant.
//
// A2/A3 form: repeatTimes repeats, each writing blockNum blocks (32 B in L1, 512 B in L0A/L0B),
// then skipping dstGap blocks. The two-argument constructor exists for products whose form has
// no blockNum; on A2/A3 it leaves blockNum 0, which writes nothing, so that is refused.
// No GM bytes move, so no MTE counter changes.
#pragma once

#include "tensor.h"

namespace AscendC {

template <typename T>
struct InitConstValueParams {
  uint16_t repeatTimes = 0;
  uint16_t blockNum = 0;
  uint16_t dstGap = 0;
  T initValue = 0;
  InitConstValueParams() = default;
  InitConstValueParams(uint16_t repeatTimesIn, uint16_t blockNumIn, uint16_t dstGapIn, T initValueIn)
      : repeatTimes(repeatTimesIn), blockNum(blockNumIn), dstGap(dstGapIn), initValue(initValueIn) {}
  InitConstValueParams(uint16_t repeatTimesIn, T initValueIn) : repeatTimes(repeatTimesIn), initValue(initValueIn) {}
};

namespace emu {
void RequireCubeCore(const char* api);
}  // namespace emu

// include/basic_api/kernel_operator_mm_intf.h
template <typename T, typename U = T, typename std::enable_if<std::is_same<T, U>::value, bool>::type = true>
void InitConstValue(const LocalTensor<T>& dst, const InitConstValueParams<U>& p) {
  const char* api = "InitConstValue";
  // dav_c220 kernel_operator_mm_impl.h refuses another type with an ASCENDC_ASSERT(false): it compiles.
  EMU_REQUIRE((std::is_same_v<T, half> || std::is_same_v<T, bfloat16_t> || std::is_same_v<T, float> ||
               std::is_same_v<T, int16_t> || std::is_same_v<T, uint16_t> || std::is_same_v<T, int32_t> ||
               std::is_same_v<T, uint32_t>),
              api, "dtype", "half/bf16/float/int16/uint16/int32/uint32 on A2/A3");
  emu::RequireCubeCore(api);
  const emu::Mem m = dst.EmuMem();
  EMU_REQUIRE(m == emu::Mem::L1 || m == emu::Mem::L0A || m == emu::Mem::L0B, api, "position",
              "dst must be in L1 (A1/B1), L0A (A2) or L0B (B2), it is in %s", emu::Spec(m).name);
  const uint32_t block = m == emu::Mem::L1 ? 32 : 512;
  dst.CheckAlign(api, "dst", block);
  EMU_REQUIRE(p.repeatTimes <= 32767 && p.blockNum <= 32767 && p.dstGap <= 32767, api, "param-range",
              "repeatTimes %u / blockNum %u / dstGap %u exceed 32767", p.repeatTimes, p.blockNum, p.dstGap);
  EMU_REQUIRE(p.repeatTimes == 0 || p.blockNum > 0, api, "param-range",
              "blockNum 0 writes nothing on A2/A3 (the two-argument form is for products without blockNum)");
  if (p.repeatTimes == 0) return;
  const uint64_t pitch = (uint64_t(p.blockNum) + p.dstGap) * block, run = uint64_t(p.blockNum) * block;
  dst.CheckBytes(api, "dst", 0, (p.repeatTimes - 1) * pitch + run);
  for (uint32_t r = 0; r < p.repeatTimes; ++r)  // each repeat's run, where it lies (emu/hazard.h)
    emu::NoteAccess(m, dst.EmuAddr() + r * pitch, dst.EmuAddr() + r * pitch + run, true);
  uint8_t* d = dst.Data();
  for (uint32_t r = 0; r < p.repeatTimes; ++r)
    for (uint64_t off = 0; off < run; off += sizeof(T)) std::memcpy(d + r * pitch + off, &p.initValue, sizeof(T));
  // create_cbuf_matrix (an L1 fill) runs on MTE2: CANN's own code orders it before an MTE3 read of
  // the filled L1 with SetFlag<MTE2_MTE3> (dav_c220/kfc/kfc_comm.h), and conv3d fills L1 pads in its
  // MTE2 stage (conv3d_mte2_sub_api.h). create_ca/cb_matrix (L0A / L0B) run on MTE1, as LoadData.
  emu::TraceRaw(emu::TraceOp::kCopy, m == emu::Mem::L1 ? PIPE_MTE2 : PIPE_MTE1, api, static_cast<uint32_t>(p.repeatTimes * run), p.repeatTimes, 0,
                static_cast<uint8_t>(emu::kTraceFill << 4 | uint8_t(m)));
}

}  // namespace AscendC
