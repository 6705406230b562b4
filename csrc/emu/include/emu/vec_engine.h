// The vector unit's addressing model, shared by every vector instruction.
//
// A repeat processes 256 bytes as 8 blocks of 32 bytes. Which lanes of a repeat run is set by
// the mask: a continuous count, a 128-bit lane mask, or (counter mode) a total element count.
// Operands are placed by blkStride (between blocks of a repeat) and repStride (between
// repeats), both in 32-byte units. Count forms are the contiguous special case.
#pragma once

#include <algorithm>
#include <type_traits>

#include "tensor.h"

namespace AscendC {

// Fields, defaults and constructors as include/basic_api/kernel_struct_binary.h (strides in 32-byte
// blocks; blockNumber, repeatStrideMode and strideSizeMode are carried but not used on A2/A3).
struct BinaryRepeatParams {
  BinaryRepeatParams() {}
  BinaryRepeatParams(const uint8_t dstBlkStrideIn, const uint8_t src0BlkStrideIn, const uint8_t src1BlkStrideIn,
                     const uint8_t dstRepStrideIn, const uint8_t src0RepStrideIn, const uint8_t src1RepStrideIn)
      : dstBlkStride(dstBlkStrideIn), src0BlkStride(src0BlkStrideIn), src1BlkStride(src1BlkStrideIn),
        dstRepStride(dstRepStrideIn), src0RepStride(src0RepStrideIn), src1RepStride(src1RepStrideIn) {}
  uint32_t blockNumber = 8;
  uint8_t dstBlkStride = 1;
  uint8_t src0BlkStride = 1;
  uint8_t src1BlkStride = 1;
  uint8_t dstRepStride = 8;
  uint8_t src0RepStride = 8;
  uint8_t src1RepStride = 8;
  bool repeatStrideMode = false;
  bool strideSizeMode = false;
};

// As include/basic_api/kernel_struct_unary.h.
struct UnaryRepeatParams {
  UnaryRepeatParams() {}
  UnaryRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t srcBlkStrideIn, const uint8_t dstRepStrideIn,
                    const uint8_t srcRepStrideIn)
      : dstBlkStride(dstBlkStrideIn), srcBlkStride(srcBlkStrideIn), dstRepStride(dstRepStrideIn),
        srcRepStride(srcRepStrideIn) {}
  UnaryRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t srcBlkStrideIn, const uint8_t dstRepStrideIn,
                    const uint8_t srcRepStrideIn, const bool halfBlockIn)
      : dstBlkStride(dstBlkStrideIn), srcBlkStride(srcBlkStrideIn), dstRepStride(dstRepStrideIn),
        srcRepStride(srcRepStrideIn), halfBlock(halfBlockIn) {}
  uint32_t blockNumber = 8;
  uint16_t dstBlkStride = 1;
  uint16_t srcBlkStride = 1;
  uint8_t dstRepStride = 8;
  uint8_t srcRepStride = 8;
  bool repeatStrideMode = false;
  bool strideSizeMode = false;
  bool halfBlock = false;
};

enum class MaskMode : uint8_t { NORMAL = 0, COUNTER };

// Mask arguments of isSetMask=false calls, which take the mask from the registers instead
// (impl/basic_api/kernel_reg.h).
constexpr uint64_t MASK_PLACEHOLDER = 0;
constexpr uint64_t MASK_PLACEHOLDER_LIST[2] = {0, 0};

namespace emu {
// ---- the vector mask register ----------------------------------------------------------------
// CANN's dav_c220 implementation (impl/basic_api/dav_c220/*_impl.h, kernel_utils_base.h) drives it so:
//  - a mask form with isSetMask = true writes the mask into MASK (AscendCUtils::SetMask) and leaves
//    it there; the instruction then runs under MASK in the current mode;
//  - isSetMask = false runs under whatever MASK holds;
//  - a count form (Level 2) switches to counter mode with MASK = count, runs, then leaves normal
//    mode with a full mask (set_mask_norm + set_vector_mask(-1, -1));
//  - some APIs leave a mask of their own (listed where they are emulated).
// In counter mode an instruction runs MASK-low elements in total whatever its repeat count.
void WriteMask(uint64_t high, uint64_t low);   // set_vector_mask
void WriteMaskLen(uint32_t lanes, int64_t len);  // AscendCUtils::SetMask<T>(len), `lanes` = 256 B / sizeof(T)
void UndefineMask(const char* api);            // `api` leaves a mask the emulator does not model
void EndCountForm();                           // normal mode, full mask
}  // namespace emu

// SetVectorMask writes MASK only; the mode comes from SetMaskCount / SetMaskNorm
// (include/basic_api/kernel_common.h, impl/basic_api/kernel_reg.h).
template <typename T, MaskMode mode = MaskMode::NORMAL>
static inline void SetVectorMask(const uint64_t maskHigh, const uint64_t maskLow) {
  emu::WriteMask(maskHigh, maskLow);
}
template <typename T, MaskMode mode = MaskMode::NORMAL>
static inline void SetVectorMask(int32_t len) {
  if constexpr (mode == MaskMode::COUNTER) emu::WriteMask(0, static_cast<uint64_t>(len));
  else emu::WriteMaskLen(256 / sizeof(T), len);
}
inline void SetMaskCount() { emu::Core().maskCounterMode = true; }
inline void SetMaskNorm() { emu::Core().maskCounterMode = false; }
inline void ResetMask() { emu::WriteMask(~0ull, ~0ull); }

namespace emu {

// Which lanes run: `lanes` per repeat, `repeats` repeats; in counter mode the last repeat is partial.
struct LanePlan {
  uint32_t lanes = 0;        // lanes per repeat (256 B / element size of the widest operand)
  uint32_t repeats = 0;
  uint64_t bits[2] = {0, 0}; // active lanes of a full repeat (normal mode)
  uint64_t count = 0;        // counter mode: total elements
  bool counterMode = false;
  bool counter() const { return counterMode; }
  bool Active(uint32_t r, uint32_t lane) const {
    if (counter()) return uint64_t(r) * lanes + lane < count;
    return (bits[lane >> 6] >> (lane & 63)) & 1;
  }
  uint32_t MaxLane(uint32_t r) const;  // highest active lane of repeat r, or -1 if none
  uint64_t ActiveLanes() const;
};

// Placement of one operand: element size and strides in 32-byte units.
struct Layout {
  uint32_t eltBytes;
  uint32_t blkStride;
  uint32_t repStride;
  uint64_t Offset(uint32_t r, uint32_t lane) const {
    const uint32_t perBlock = 32 / eltBytes;
    return (uint64_t(r) * repStride + uint64_t(lane / perBlock) * blkStride) * 32 + uint64_t(lane % perBlock) * eltBytes;
  }
};

// The lanes an instruction with `repeats` repeats runs under the mask register (fails if undefined).
LanePlan PlanFromRegisters(const char* api, uint32_t lanes, uint32_t repeats);
// `count` elements in counter mode, independent of the register (internal building block).
LanePlan PlanCount(const char* api, uint32_t lanes, int64_t count);
// A count form (Level 2): the plan of PlanCount, and the register left as CANN leaves it.
LanePlan PlanCountForm(const char* api, uint32_t lanes, int64_t count);

// Mask forms: with isSetMask the mask is written to the register first; the plan always comes
// from the register, so isSetMask = false and counter mode behave as on the NPU.
LanePlan PlanMask(const char* api, uint32_t lanes, uint64_t mask, uint32_t repeats, bool isSetMask);
LanePlan PlanMask(const char* api, uint32_t lanes, const uint64_t mask[], uint32_t repeats, bool isSetMask);

// Vector instructions run on the AIV; a cube core has no vector unit.
void RequireVectorCore(const char* api);

// Bytes [0, extent) an operand touches under the plan (offsets grow with lane and repeat).
uint64_t Extent(const LanePlan& p, const Layout& l);

// Notes the 32-byte blocks an operand touches under the plan as read (written) by the instruction
// about to be issued (emu/hazard.h).
void NoteOperand(Mem m, uint32_t addr, const LanePlan& p, const Layout& l, bool write);

// Checks an operand (alignment, bounds), notes what it touches, and returns its base pointer.
template <typename T>
uint8_t* Prepare(const char* api, const char* name, const LocalTensor<T>& t, const LanePlan& p, const Layout& l,
                 bool write) {
  t.CheckAlign(api, name, 32);
  const uint64_t ext = Extent(p, l);
  if (ext) t.CheckBytes(api, name, 0, ext);
  NoteOperand(t.EmuMem(), t.EmuAddr(), p, l, write);
  return t.Data();
}
template <typename T>
const uint8_t* PrepareRead(const char* api, const char* name, const LocalTensor<T>& t, const LanePlan& p,
                           const Layout& l) {
  return Prepare(api, name, t, p, l, false);
}
template <typename T>
uint8_t* PrepareWrite(const char* api, const char* name, const LocalTensor<T>& t, const LanePlan& p, const Layout& l) {
  return Prepare(api, name, t, p, l, true);
}

// One operand of an element-wise instruction as the UB banks see it: its UB byte address and layout.
struct BankOperand {
  uint32_t ubAddr;
  Layout layout;
};
// The beats an element-wise instruction's UB accesses take over all its repeats, by the UB bank
// rules of A2/A3 (emu/runtime/ub_banks.cpp); `nReads` source operands, one destination.
uint64_t UbBankBeats(const LanePlan& p, const BankOperand* reads, uint32_t nReads, const BankOperand& write);

// Counts one vector instruction; returns its active lanes.
inline uint64_t CountLanes(const LanePlan& p) {
  auto& c = Core().counters;
  c.vecCalls++;
  const uint64_t active = p.ActiveLanes();
  c.vecElemOps += active;
  return active;
}

inline void CountVector(const LanePlan& p, const char* api = "vector") {
  TraceVector(api, p.repeats, CountLanes(p), p.lanes ? 256 / p.lanes : 4);
}

// An element-wise instruction: the trace also carries its UB bank beats, which the timing model
// prices (computed only while tracing).
inline void CountVector(const LanePlan& p, const char* api, const BankOperand* reads, uint32_t nReads,
                        const BankOperand& write) {
  const uint64_t active = CountLanes(p);
  TraceVector(api, p.repeats, active, p.lanes ? 256 / p.lanes : 4, ActiveTrace() ? UbBankBeats(p, reads, nReads, write) : 0);
}

template <typename T> inline T Load(const uint8_t* p) { T v; std::memcpy(&v, p, sizeof(T)); return v; }
template <typename T> inline void Store(uint8_t* p, T v) { std::memcpy(p, &v, sizeof(T)); }

// True when the plan runs whole repeats back to back over this operand, so lane i of repeat r is
// simply element r*lanes+i: the common count-form case, which then skips the address arithmetic.
inline bool Dense(const LanePlan& p, const Layout& l) {
  const bool allLanes = p.counter() || (p.bits[0] == ~0ull && (p.lanes <= 64 || p.bits[1] == ~0ull));
  return allLanes && l.blkStride == 1 && uint64_t(l.repStride) * 32 == uint64_t(p.lanes) * l.eltBytes;
}
inline uint64_t DenseCount(const LanePlan& p) { return p.counter() ? p.count : uint64_t(p.repeats) * p.lanes; }

// Applies `f(r, lane)` to every active lane.
template <typename F>
void ForEachLane(const LanePlan& p, F&& f) {
  for (uint32_t r = 0; r < p.repeats; ++r)
    for (uint32_t lane = 0; lane < p.lanes; ++lane)
      if (p.Active(r, lane)) f(r, lane);
}

// Lanes per repeat for an instruction whose widest operand has `bytes`-byte elements.
constexpr uint32_t LanesFor(uint32_t bytes) { return 256 / bytes; }

// Element-wise kernels: dst = f(src...) lane by lane. Arithmetic on half/bf16 runs in fp32 and
// rounds once to the element type, which is exact for +,-,*,/ and sqrt (fp32 has >= 2p+2 bits).
// UpdateLanes also hands f the lane's old dst value (Axpy reads and writes dst). `readsSrc` false: a
// fill (Duplicate), whose src is dst only for the plumbing: the UB banks see no read.
template <typename TD, typename TS, typename F>
void UpdateLanes(const char* api, const LocalTensor<TD>& dst, const LocalTensor<TS>& src, const LanePlan& p,
                 const Layout& ld, const Layout& ls, F&& f, bool readsSrc = true) {
  RequireVectorCore(api);
  uint8_t* d = PrepareWrite(api, "dst", dst, p, ld);
  const uint8_t* s = readsSrc ? PrepareRead(api, "src", src, p, ls) : src.Data();
  const BankOperand read{src.EmuAddr(), ls};
  CountVector(p, api, &read, readsSrc ? 1 : 0, BankOperand{dst.EmuAddr(), ld});
  if (Dense(p, ld) && Dense(p, ls)) {
    const uint64_t n = DenseCount(p);
    for (uint64_t i = 0; i < n; ++i) {
      uint8_t* di = d + i * sizeof(TD);
      Store<TD>(di, f(Load<TS>(s + i * sizeof(TS)), Load<TD>(di)));
    }
    return;
  }
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    uint8_t* di = d + ld.Offset(r, lane);
    Store<TD>(di, f(Load<TS>(s + ls.Offset(r, lane)), Load<TD>(di)));
  });
}

template <typename TD, typename TS, typename F>
void UnaryLanes(const char* api, const LocalTensor<TD>& dst, const LocalTensor<TS>& src, const LanePlan& p,
                const Layout& ld, const Layout& ls, F&& f, bool readsSrc = true) {
  UpdateLanes(api, dst, src, p, ld, ls, [&f](TS a, TD) { return f(a); }, readsSrc);
}

template <typename T, typename F>
void BinaryLanes(const char* api, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                 const LanePlan& p, const BinaryRepeatParams& rp, F&& f) {
  RequireVectorCore(api);
  const Layout ld{sizeof(T), rp.dstBlkStride, rp.dstRepStride};
  const Layout l0{sizeof(T), rp.src0BlkStride, rp.src0RepStride};
  const Layout l1{sizeof(T), rp.src1BlkStride, rp.src1RepStride};
  uint8_t* d = PrepareWrite(api, "dst", dst, p, ld);
  const uint8_t* s0 = PrepareRead(api, "src0", src0, p, l0);
  const uint8_t* s1 = PrepareRead(api, "src1", src1, p, l1);
  const BankOperand reads[2] = {{src0.EmuAddr(), l0}, {src1.EmuAddr(), l1}};
  CountVector(p, api, reads, 2, BankOperand{dst.EmuAddr(), ld});
  if (Dense(p, ld) && Dense(p, l0) && Dense(p, l1)) {
    const uint64_t n = DenseCount(p);
    for (uint64_t i = 0; i < n; ++i)
      Store<T>(d + i * sizeof(T), f(Load<T>(s0 + i * sizeof(T)), Load<T>(s1 + i * sizeof(T))));
    return;
  }
  ForEachLane(p, [&](uint32_t r, uint32_t lane) {
    Store<T>(d + ld.Offset(r, lane), f(Load<T>(s0 + l0.Offset(r, lane)), Load<T>(s1 + l1.Offset(r, lane))));
  });
}

inline Layout Contiguous(uint32_t eltBytes, uint32_t laneBytes) {
  // Count forms: repeats sit back to back, so repStride covers the lanes of one repeat.
  return Layout{eltBytes, 1, laneBytes / 32 ? laneBytes / 32 : 1};
}

}  // namespace emu
}  // namespace AscendC
