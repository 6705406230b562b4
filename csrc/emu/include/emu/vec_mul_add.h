// MulAddDst: dst = src0 * src1 + dst, the count form and the two mask / repeat forms of
// include/basic_api/kernel_operator_vec_binary_intf.h (lines 187-226), with the A2/A3 behaviour of
// impl/basic_api/dav_c220/kernel_operator_vec_binary_impl.h (lines 765-820, vmla).
#pragma once

#include "vec_ternary_scalar.h"

namespace AscendC {
namespace emu {

// The (dst, src) pairs vmla has on A2/A3 (MulAddDst.md table 3; c220 impl line 772): half <- half,
// float <- float, float <- half. The mask forms static_assert the pair; the count form only
// ASCENDC_ASSERTs it, but the vmla intrinsic of the CPU-debug stubs (tests/unit/basic_api/ut/stub/
// stub_fun.h) has no overload for any other pair, so CANN refuses every form at compile time.
template <typename T, typename U>
inline constexpr bool kMulAddDstPair = kAxpyPair<T, U>;

// dst is read and written, src0 and src1 read, lane by lane under the plan; one lane as Axpy's
// (the product rounded to the dst type, then the sum: MulAddDst.md gives only the formula).
template <typename T, typename U>
void MulAddDstLanes(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1, const LanePlan& p,
                    const BinaryRepeatParams& rp) {
  const char* api = "MulAddDst";
  RequireVectorCore(api);
  const Layout ld{sizeof(T), rp.dstBlkStride, rp.dstRepStride};
  const Layout l0{sizeof(U), rp.src0BlkStride, rp.src0RepStride};
  const Layout l1{sizeof(U), rp.src1BlkStride, rp.src1RepStride};
  uint8_t* d = PrepareWrite(api, "dst", dst, p, ld);
  const uint8_t* s0 = PrepareRead(api, "src0", src0, p, l0);
  const uint8_t* s1 = PrepareRead(api, "src1", src1, p, l1);
  CountVector(p, api);
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    uint8_t* di = d + ld.Offset(r, lane);
    Store<T>(di, AxpyValue<T, U>(Load<U>(s0 + l0.Offset(r, lane)), Load<U>(s1 + l1.Offset(r, lane)), Load<T>(di)));
  });
}

// Lanes per repeat: the dst type's (c220 impl lines 785, 795: SetMask<T>), which is the wider one.
template <typename T, typename U, typename M>
void MulAddDstRepeat(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1, M mask,
                     uint8_t repeatTime, const BinaryRepeatParams& rp, bool isSetMask) {
  MulAddDstLanes(dst, src0, src1, PlanMask("MulAddDst", LanesFor(sizeof(T)), mask, repeatTime, isSetMask), rp);
}
}  // namespace emu

#define EMU_MULADDDST_REQUIRE \
  static_assert(emu::kMulAddDstPair<T, U>, "MulAddDst: (dst, src) must be (half, half), (float, float) or (float, half) on A2/A3")

// Level 0, bit mask (c220 impl lines 780-788; the header's mask[] is const).
template <typename T, typename U, bool isSetMask = true>
void MulAddDst(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1, const uint64_t mask[],
               const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
  EMU_MULADDDST_REQUIRE;
  emu::MulAddDstRepeat(dst, src0, src1, mask, repeatTime, repeatParams, isSetMask);
}
// Level 0, continuous mask (c220 impl lines 790-798: the mask counts lanes of the dst type).
template <typename T, typename U, bool isSetMask = true>
void MulAddDst(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1, uint64_t mask,
               const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
  EMU_MULADDDST_REQUIRE;
  emu::MulAddDstRepeat(dst, src0, src1, mask, repeatTime, repeatParams, isSetMask);
}
// Level 2 (c220 impl lines 800-820): counter mode with `count` elements, contiguous operands (the
// src repeat stride halves for float <- half), then normal mode with a full mask.
template <typename T, typename U>
void MulAddDst(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1, const int32_t& count) {
  EMU_MULADDDST_REQUIRE;
  const emu::LanePlan p = emu::PlanCountForm("MulAddDst", emu::LanesFor(sizeof(T)), count);
  const uint8_t dstRep = uint8_t(p.lanes * sizeof(T) / 32), srcRep = uint8_t(p.lanes * sizeof(U) / 32);
  emu::MulAddDstLanes(dst, src0, src1, p, BinaryRepeatParams(1, 1, 1, dstRep, srcRep, srcRep));
}
#undef EMU_MULADDDST_REQUIRE

}  // namespace AscendC
