// DataCopy / DataCopyPad between GM and local memory, and local to local (A2/A3 forms).
#pragma once

#include <algorithm>

#include "atomic.h"
#include "tensor.h"

namespace AscendC {

// blockLen and the gaps in 32-byte blocks.
struct DataCopyParams {
  uint16_t blockCount = 1;
  uint16_t blockLen = 0;
  union { uint16_t srcGap = 0; uint16_t srcStride; };
  union { uint16_t dstGap = 0; uint16_t dstStride; };
  DataCopyParams() = default;
  DataCopyParams(uint16_t count, uint16_t len, uint16_t srcStrideIn, uint16_t dstStrideIn)
      : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn) {}
};

// blockLen in bytes; the GM-side stride in bytes, the local-side stride in 32-byte blocks.
struct DataCopyExtParams {
  uint16_t blockCount = 1;
  uint32_t blockLen = 0;
  uint32_t srcStride = 0;
  uint32_t dstStride = 0;
  uint32_t rsv = 0;
  DataCopyExtParams() = default;
  DataCopyExtParams(uint16_t count, uint32_t len, uint32_t srcStrideIn, uint32_t dstStrideIn, uint32_t rsvIn)
      : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn), rsv(rsvIn) {}
};

// Padding in elements, each side at most 32 bytes.
template <typename T>
struct DataCopyPadExtParams {
  bool isPad = false;
  uint8_t leftPadding = 0;
  uint8_t rightPadding = 0;
  T paddingValue = 0;
  DataCopyPadExtParams() = default;
  DataCopyPadExtParams(bool isPadValue, uint8_t leftPadValue, uint8_t rightPadValue, T padValue)
      : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
};

struct DataCopyPadParams {
  bool isPad = false;
  uint8_t leftPadding = 0;
  uint8_t rightPadding = 0;
  uint64_t paddingValue = 0;
  DataCopyPadParams() = default;
  DataCopyPadParams(bool isPadValue, uint8_t leftPadValue, uint8_t rightPadValue, uint64_t padValue)
      : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
};

namespace emu {
// Counts a copy, issues it to the happens-before check and, when tracing, records it: `gm` is the GM
// address of its first byte (null for local copies), `bursts` contiguous runs whose starts are
// `pitch` bytes apart on the GM side. `noteGm` false: the caller noted the GM bytes itself.
void CountCopy(Mem from, Mem to, uint64_t bytes, const char* api = "copy", const void* gm = nullptr,
               uint32_t bursts = 1, uint64_t pitch = 0, bool noteGm = true);
void Poison(uint8_t* p, uint32_t bytes);

// The count form moves whole 32-byte blocks. The NPU silently drops a partial tail; that
// is almost always a bug, so the emulator refuses it and points at DataCopyPad.
template <typename T>
uint64_t CountFormBytes(const char* api, uint32_t count) {
  const uint64_t bytes = ElemBytes<T>(count);
  EMU_REQUIRE(bytes % 32 == 0, api, "datacopy-count",
              "count %u x %u bits = %llu bytes is not a multiple of 32: the NPU would copy only %llu bytes "
              "(use DataCopyPad for unaligned lengths)",
              count, kBits<T>, (unsigned long long)bytes, (unsigned long long)(bytes / 32 * 32));
  return bytes;
}

// Notes `count` bursts of `len` bytes, `pitch` apart, as read (written) by the copy (emu/hazard.h).
template <typename T>
void NoteBursts(const LocalTensor<T>& t, uint32_t count, uint64_t len, uint64_t pitch, bool write) {
  for (uint32_t i = 0; i < count; ++i) NoteAccess(t.EmuMem(), t.EmuAddr() + i * pitch, t.EmuAddr() + i * pitch + len, write);
}

inline void CheckBlocks(const char* api, uint32_t blockCount) {
  EMU_REQUIRE(blockCount <= 4095, api, "param-range", "blockCount %u exceeds 4095", blockCount);
}
}  // namespace emu

// ---- GM -> local -------------------------------------------------------------------------
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyParams& p) {
  const char* api = "DataCopy(GM->local)";
  emu::CheckBlocks(api, p.blockCount);
  dst.CheckAlign(api, "dst", 32);
  const uint64_t blk = uint64_t(p.blockLen) * 32;
  const uint64_t srcPitch = blk + uint64_t(p.srcStride) * 32, dstPitch = blk + uint64_t(p.dstStride) * 32;
  if (p.blockCount == 0 || blk == 0) return;
  const uint64_t srcSpan = (p.blockCount - 1) * srcPitch + blk, dstSpan = (p.blockCount - 1) * dstPitch + blk;
  src.Check(api, 0, srcSpan * 8 / emu::kBits<T>);
  dst.CheckBytes(api, "dst", 0, dstSpan);
  emu::NoteBursts(dst, p.blockCount, blk, dstPitch, true);
  const uint8_t* s = reinterpret_cast<const uint8_t*>(src.EmuPtr());
  uint8_t* d = dst.Data();
  for (uint32_t i = 0; i < p.blockCount; ++i) emu::ReadGm(d + i * dstPitch, s + i * srcPitch, blk);
  emu::CountCopy(emu::Mem::kCount, dst.EmuMem(), blk * p.blockCount, api, s, p.blockCount, srcPitch);
}

template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const uint32_t count) {
  const uint64_t bytes = emu::CountFormBytes<T>("DataCopy(GM->local)", count);
  DataCopy(dst, src, DataCopyParams(1, static_cast<uint16_t>(bytes / 32), 0, 0));
}

// ---- local -> GM -------------------------------------------------------------------------
template <typename T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& p) {
  const char* api = "DataCopy(local->GM)";
  emu::CheckBlocks(api, p.blockCount);
  src.CheckAlign(api, "src", 32);
  const uint64_t blk = uint64_t(p.blockLen) * 32;
  const uint64_t srcPitch = blk + uint64_t(p.srcStride) * 32, dstPitch = blk + uint64_t(p.dstStride) * 32;
  if (p.blockCount == 0 || blk == 0) return;
  const uint64_t srcSpan = (p.blockCount - 1) * srcPitch + blk, dstSpan = (p.blockCount - 1) * dstPitch + blk;
  src.CheckBytes(api, "src", 0, srcSpan);
  emu::NoteBursts(src, p.blockCount, blk, srcPitch, false);
  dst.Check(api, 0, dstSpan * 8 / emu::kBits<T>);
  const uint8_t* s = src.Data();
  uint8_t* d = reinterpret_cast<uint8_t*>(dst.EmuPtr());
  for (uint32_t i = 0; i < p.blockCount; ++i) emu::WriteGm(api, d + i * dstPitch, s + i * srcPitch, blk);
  emu::CountCopy(src.EmuMem(), emu::Mem::kCount, blk * p.blockCount, api, d, p.blockCount, dstPitch);
}

template <typename T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
  const uint64_t bytes = emu::CountFormBytes<T>("DataCopy(local->GM)", count);
  DataCopy(dst, src, DataCopyParams(1, static_cast<uint16_t>(bytes / 32), 0, 0));
}

// ---- local -> local ----------------------------------------------------------------------
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& p) {
  const char* api = "DataCopy(local->local)";
  emu::CheckBlocks(api, p.blockCount);
  src.CheckAlign(api, "src", 32);
  // Into the bias table (C2) blocks are 64 B, into the fixpipe buffer (C2PIPE2GM) 128 B, and so is
  // dst's alignment (基础数据搬运.md, WriteSpmBuffer.md). Their gap semantics are not emulated.
  const bool special = dst.EmuMem() == emu::Mem::BT || dst.EmuMem() == emu::Mem::FB;
  const uint64_t unit = dst.EmuMem() == emu::Mem::BT ? 64 : dst.EmuMem() == emu::Mem::FB ? 128 : 32;
  dst.CheckAlign(api, "dst", static_cast<uint32_t>(unit));
  EMU_REQUIRE(!special || p.blockCount <= 1 || (p.srcStride == 0 && p.dstStride == 0), api, "not-emulated",
              "gaps when copying into %s are not emulated", emu::Spec(dst.EmuMem()).name);
  const uint64_t blk = uint64_t(p.blockLen) * unit;
  const uint64_t srcPitch = blk + uint64_t(p.srcStride) * 32, dstPitch = blk + uint64_t(p.dstStride) * 32;
  if (p.blockCount == 0 || blk == 0) return;
  src.CheckBytes(api, "src", 0, (p.blockCount - 1) * srcPitch + blk);
  dst.CheckBytes(api, "dst", 0, (p.blockCount - 1) * dstPitch + blk);
  emu::NoteBursts(dst, p.blockCount, blk, dstPitch, true);
  emu::NoteBursts(src, p.blockCount, blk, srcPitch, false);
  const uint8_t* s = src.Data();
  uint8_t* d = dst.Data();
  for (uint32_t i = 0; i < p.blockCount; ++i) std::memmove(d + i * dstPitch, s + i * srcPitch, blk);
  emu::CountCopy(src.EmuMem(), dst.EmuMem(), blk * p.blockCount, api, nullptr, p.blockCount);
}

template <typename T>
void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
  const uint64_t bytes = emu::CountFormBytes<T>("DataCopy(local->local)", count);
  DataCopy(dst, src, DataCopyParams(1, static_cast<uint16_t>(bytes / 32), 0, 0));
}

// ---- DataCopyPad: byte-granular GM side, 32-byte blocks on the local side ----------------
template <typename T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                 const DataCopyPadExtParams<T>& pad) {
  const char* api = "DataCopyPad(GM->local)";
  if constexpr (emu::kBits<T> == 4) {
    // int4b_t (one byte per sizeof) runs the b8 instruction: blockLen and strides in bytes, i.e. pairs
    // of values (dav_c220 DataCopyPadGm2UBImpl dispatches on sizeof(T)).
    EMU_REQUIRE(pad.leftPadding == 0 && pad.rightPadding == 0, api, "not-emulated", "padding int4b_t rows is not emulated");
    return DataCopyPad(dst.template ReinterpretCast<int8_t>(), emu::GmAs<int8_t>(src), p,
                       DataCopyPadExtParams<int8_t>());
  }
  emu::CheckBlocks(api, p.blockCount);
  dst.CheckAlign(api, "dst", 32);
  EMU_REQUIRE(pad.leftPadding * sizeof(T) <= 32 && pad.rightPadding * sizeof(T) <= 32, api, "param-range",
              "left/right padding %u/%u elements exceed 32 bytes", pad.leftPadding, pad.rightPadding);
  EMU_REQUIRE(p.blockLen % sizeof(T) == 0, api, "param-range", "blockLen %u bytes is not a whole number of elements", p.blockLen);
  if (p.blockCount == 0) return;
  const uint64_t left = pad.leftPadding * sizeof(T), right = pad.rightPadding * sizeof(T);
  const uint64_t ubBlock = (left + p.blockLen + right + 31) / 32 * 32;
  const uint64_t srcPitch = uint64_t(p.blockLen) + p.srcStride, dstPitch = ubBlock + uint64_t(p.dstStride) * 32;
  src.Check(api, 0, ((p.blockCount - 1) * srcPitch + p.blockLen) / sizeof(T));
  dst.CheckBytes(api, "dst", 0, (p.blockCount - 1) * dstPitch + ubBlock);
  emu::NoteBursts(dst, p.blockCount, ubBlock, dstPitch, true);
  const uint8_t* s = reinterpret_cast<const uint8_t*>(src.EmuPtr());
  for (uint32_t i = 0; i < p.blockCount; ++i) {
    uint8_t* d = dst.Data() + i * dstPitch;
    emu::Poison(d, static_cast<uint32_t>(ubBlock));  // undefined unless padded below
    if (pad.isPad) {  // the padding and, when there is padding, the dummy after it (DataCopyPad(ISASI).md)
      for (uint64_t j = 0; j < left; j += sizeof(T)) std::memcpy(d + j, &pad.paddingValue, sizeof(T));
      const uint64_t end = left + right ? ubBlock : left + p.blockLen + right;
      for (uint64_t j = left + p.blockLen; j < end; j += sizeof(T)) std::memcpy(d + j, &pad.paddingValue, sizeof(T));
    }
    emu::ReadGm(d + left, s + i * srcPitch, p.blockLen);
    // Without padding, the dummy bytes up to the 32-byte boundary repeat the block's first element
    // (DataCopyPad(ISASI).md, GM->VECIN/VECOUT: "leftPadding、rightPadding都为0：dummy会默认填充待搬运数据块的
    // 第一个元素值"); catlass's CopyPerTokenScale2Ub builds a row's broadcast block this way.
    if (left == 0 && right == 0)
      for (uint64_t j = p.blockLen; j < ubBlock; j += sizeof(T)) std::memcpy(d + j, d, sizeof(T));
  }
  emu::CountCopy(emu::Mem::kCount, dst.EmuMem(), uint64_t(p.blockLen) * p.blockCount, api, s, p.blockCount, srcPitch);
}

template <typename T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& p) {
  if constexpr (emu::kBits<T> == 4) {  // the b8 instruction, as above
    return DataCopyPad(emu::GmAs<int8_t>(dst), src.template ReinterpretCast<int8_t>(), p);
  }
  const char* api = "DataCopyPad(local->GM)";
  emu::CheckBlocks(api, p.blockCount);
  src.CheckAlign(api, "src", 32);
  EMU_REQUIRE(p.blockLen % sizeof(T) == 0, api, "param-range", "blockLen %u bytes is not a whole number of elements", p.blockLen);
  if (p.blockCount == 0) return;
  const uint64_t ubBlock = (uint64_t(p.blockLen) + 31) / 32 * 32;
  const uint64_t srcPitch = ubBlock + uint64_t(p.srcStride) * 32, dstPitch = uint64_t(p.blockLen) + p.dstStride;
  src.CheckBytes(api, "src", 0, (p.blockCount - 1) * srcPitch + p.blockLen);
  emu::NoteBursts(src, p.blockCount, p.blockLen, srcPitch, false);
  dst.Check(api, 0, ((p.blockCount - 1) * dstPitch + p.blockLen) / sizeof(T));
  uint8_t* d = reinterpret_cast<uint8_t*>(dst.EmuPtr());
  for (uint32_t i = 0; i < p.blockCount; ++i) emu::WriteGm(api, d + i * dstPitch, src.Data() + i * srcPitch, p.blockLen);
  emu::CountCopy(src.EmuMem(), emu::Mem::kCount, uint64_t(p.blockLen) * p.blockCount, api, d, p.blockCount, dstPitch);
}

// Older 16-bit parameter forms.
template <typename T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyParams& p, const DataCopyPadParams& pad) {
  T value;
  std::memcpy(&value, &pad.paddingValue, sizeof(T));
  DataCopyPad(dst, src, DataCopyExtParams(p.blockCount, p.blockLen, p.srcStride, p.dstStride, 0),
              DataCopyPadExtParams<T>(pad.isPad, pad.leftPadding, pad.rightPadding, value));
}
template <typename T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& p) {
  DataCopyPad(dst, src, DataCopyExtParams(p.blockCount, p.blockLen, p.srcStride, p.dstStride, 0));
}

}  // namespace AscendC
