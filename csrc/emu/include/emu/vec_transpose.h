// TransDataTo5HD (the vnchwconv scatter): each repeat reads 16 32-byte blocks from 16 UB addresses
// and writes 16 blocks to 16 more, transposing across them (TransDataTo5HD.md):
// - 16-bit: destination block j = element j of each of the 16 source blocks (a 16 x 16 transpose);
// - 32-bit: element j of the 16 source blocks fills destination blocks 2j (sources 0-7) and 2j + 1
//   (sources 8-15): [16, 8] -> [8, 16] (the pairing is the one pto-isa's TTRANS relies on, its
//   destination list `((j >> 1) + i * 8) * TS + (j & 1) * block`);
// - 8-bit: element j of the 16 sources' low or high 16 bytes (srcHighHalf) fills the low or high
//   half (dstHighHalf) of destination block j; the other half is left as it was.
// Repeat r moves every address by r x the repeat stride (32-byte blocks); with repeatTimes 1 the one
// repeat is at list + stride (TransDataTo5HD.md, "注意事项"). Only the LocalTensor-list form is
// emulated: the address forms (uint64_t lists of GetPhyAddr values) need UB addresses, which the
// emulator's GetPhyAddr does not return, and fail to compile here.
// dav_c220 kernel_operator_vec_transpose_impl.h: scatter_vnchwconv_b8 / b16 / b32 on the vector core.
#pragma once

#include <cstring>

#include "emu/vec_engine.h"

namespace AscendC {

constexpr int32_t NCHW_CONV_ADDR_LIST_SIZE = 16;  // kernel_utils_constants.h

// kernel_struct_transpose.h
struct TransDataTo5HDParams {
  constexpr TransDataTo5HDParams() = default;
  constexpr TransDataTo5HDParams(const bool dstHighHalfIn, const bool srcHighHalfIn, const uint8_t repeatTimesIn,
                                 const uint16_t dstRepStrideIn, const uint16_t srcRepStrideIn)
      : dstHighHalf(dstHighHalfIn),
        srcHighHalf(srcHighHalfIn),
        repeatTimes(repeatTimesIn),
        dstRepStride(dstRepStrideIn),
        srcRepStride(srcRepStrideIn) {}
  bool dstHighHalf = false;
  bool srcHighHalf = false;
  uint8_t repeatTimes = 1;
  uint16_t dstRepStride = 0;
  uint16_t srcRepStride = 0;
};

namespace emu {
// The 32-byte block `list[i]` addresses in repeat r (bounds and alignment checked).
template <typename T>
uint8_t* TransposeBlock(const char* api, const char* name, const LocalTensor<T>& t, uint64_t offset, bool write) {
  t.CheckAlign(api, name, 32);
  if (write) t.Writes(api, name, offset, offset + 32);
  else t.Reads(api, name, offset, offset + 32);
  return t.Data() + offset;
}
}  // namespace emu

template <typename T>
void TransDataTo5HD(const LocalTensor<T> (&dstList)[NCHW_CONV_ADDR_LIST_SIZE],
                    const LocalTensor<T> (&srcList)[NCHW_CONV_ADDR_LIST_SIZE], const TransDataTo5HDParams& params) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4,
                "TransDataTo5HD: int8_t/uint8_t, int16_t/uint16_t/half, int32_t/uint32_t/float");
  constexpr uint32_t kBlocks = NCHW_CONV_ADDR_LIST_SIZE;
  const char* api = sizeof(T) == 1 ? "TransDataTo5HDB8" : "TransDataTo5HD";  // b8 is its own instruction (cost)
  emu::RequireVectorCore(api);
  const uint32_t repeats = params.repeatTimes;
  for (uint32_t r = 0; r < repeats; ++r) {
    const uint64_t step = repeats == 1 ? 1 : r;
    uint8_t in[kBlocks][32], out[kBlocks][32];
    uint8_t* dst[kBlocks];
    for (uint32_t i = 0; i < kBlocks; ++i) {  // every source block is read before any is written
      std::memcpy(in[i], emu::TransposeBlock(api, "srcList", srcList[i], step * params.srcRepStride * 32, false), 32);
      dst[i] = emu::TransposeBlock(api, "dstList", dstList[i], step * params.dstRepStride * 32, true);
      std::memcpy(out[i], dst[i], 32);
    }
    for (uint32_t j = 0; j < 32 / sizeof(T) && j < kBlocks; ++j) {
      for (uint32_t i = 0; i < kBlocks; ++i) {
        if constexpr (sizeof(T) == 2) {
          std::memcpy(out[j] + 2 * i, in[i] + 2 * j, 2);
        } else if constexpr (sizeof(T) == 4) {
          std::memcpy(out[2 * j + i / 8] + 4 * (i % 8), in[i] + 4 * j, 4);
        } else {
          out[j][(params.dstHighHalf ? 16 : 0) + i] = in[i][(params.srcHighHalf ? 16 : 0) + j];
        }
      }
    }
    for (uint32_t i = 0; i < kBlocks; ++i) std::memcpy(dst[i], out[i], 32);
  }
  // Priced by repeats (pto's scatter_vnchwconv profiles); no UB bank beats are modeled for it.
  const uint64_t elems = uint64_t(repeats) * (sizeof(T) == 1 ? kBlocks * 16 : kBlocks * 32 / sizeof(T));
  auto& c = emu::Core().counters;
  c.vecCalls++;
  c.vecElemOps += elems;
  emu::TraceVector(api, repeats, elems, sizeof(T));
}

}  // namespace AscendC
