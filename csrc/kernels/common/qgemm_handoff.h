// Cube -> vector handoff of the quantized GEMM engine: each block owns a ring of slotsPerBlock
// int32 [mTile, nTile] slots in the workspace (2; K-chunked prefill: a run's tiles and one more).
// The cube writes pass i to slot i % slotsPerBlock and signals READY; both vector cores of the block
// read their rows and signal FREE. The cube waits for FREE before reusing a slot (mode-2 flags: the
// cube's wait needs both vector cores). K-chunked (PutChunk): a tile's first chunk writes its slot,
// the later chunks add into it, the last one signals READY.
// Split-K (t.splitK): a block owns slotsPerBlock slots, one per piece; the cube writes each piece's
// partial to its slot and sets kQGemmFlagPartials to its two vector cores after each piece's
// fixpipe; they wait for all of them, meet in a vector-only SyncAll (every cube's partials are then
// in GM) and read the partials.
#pragma once

#include "kernel_operator.h"
#include "qgemm_schedule.h"
#include "qgemm_tiling.h"

namespace ascend_glm5 {

constexpr uint16_t kQGemmFlagReady = 1;  // cross-core flag ids: 0-10 are the kernel's (11-14 SyncAll's)
constexpr uint16_t kQGemmFlagFree = 2;
constexpr uint16_t kQGemmFlagPartials = 4;  // split-K: the block's partials are in GM (3 is grouped_matmul_a8w4's)

class QGemmHandoff {
 public:
  // block: the AI core (block) index, shared by the cube core and its two vector cores.
  __aicore__ inline void Init(GM_ADDR workspace, const QGemmTiling& t, uint32_t block) {
    t_ = &t;
    workspace_ = workspace;
    slots_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + uint64_t(block) * t.slotsPerBlock * t.wsSlotBytes),
                           uint64_t(t.slotsPerBlock) * t.wsSlotBytes / sizeof(int32_t));
  }

  // Split-K, cube: L0C tile c -> this block's slot `slot`, `rows` rows of columns [col0, col0 + cols)
  // (col0 a multiple of 16: a whole L0C column block).
  __aicore__ inline void PutPartial(const AscendC::LocalTensor<int32_t>& c, uint32_t rows, uint32_t mPad, uint32_t col0,
                                    uint32_t cols, uint32_t slot) {
    WriteColumns(c, rows, mPad, col0, cols, slot);
  }

  // Split-K, vector: slot `slot` of block `block` (row-major [rows, nTile] int32).
  __aicore__ inline AscendC::GlobalTensor<int32_t> BlockSlot(uint32_t block, uint32_t slot) const {
    AscendC::GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace_ +
                                                        (uint64_t(block) * t_->slotsPerBlock + slot) * t_->wsSlotBytes));
    return g;
  }

  // Cube: L0C tile c ([mPad rows, nTile] Nz) -> the next slot, `rows` rows row-major.
  __aicore__ inline void Put(const AscendC::LocalTensor<int32_t>& c, uint32_t rows, uint32_t mPad) {
    if (count_ >= t_->slotsPerBlock) WaitFree();  // the slot's last pass was read
    WriteColumns(c, rows, mPad, 0, t_->nTile, count_ % t_->slotsPerBlock);
    SignalReady();
  }

  // Cube, K-chunked: chunk it.kChunk of the block's tile it.slot (slot it.slot % slotsPerBlock), its
  // first `cols` columns. The first chunk waits for the slot to be free (the tiles start in slot
  // order) and writes it; the later ones add into it (exact int32 adds, on the same FIX queue, so
  // after the write); the last one signals READY (the tiles of a run end in slot order too).
  __aicore__ inline void PutChunk(const AscendC::LocalTensor<int32_t>& c, uint32_t rows, uint32_t mPad, uint32_t cols,
                                  const QGemmItem& it) {
    if (it.kChunk == 0 && started_++ >= t_->slotsPerBlock) WaitFree();
    if (it.kChunk > 0) AscendC::SetAtomicAdd<int32_t>();
    WriteColumns(c, rows, mPad, 0, cols, it.slot % t_->slotsPerBlock);
    if (it.kChunk > 0) AscendC::SetAtomicNone();
    if (it.kChunk + 1 == it.kChunks) SignalReady();
  }

  // Cube, at the end: takes back the FREE signals of the last passes.
  __aicore__ inline void DrainCube() {
    const uint32_t pending = count_ < t_->slotsPerBlock ? count_ : t_->slotsPerBlock;
    for (uint32_t i = 0; i < pending; ++i) WaitFree();
  }

  // Vector: waits for the next pass and returns its slot.
  __aicore__ inline AscendC::GlobalTensor<int32_t> Get() {
    AscendC::CrossCoreWaitFlag<2, PIPE_MTE2>(kQGemmFlagReady);
    return Slot(count_ % t_->slotsPerBlock);
  }
  // Vector: done reading the slot returned by Get.
  __aicore__ inline void Release() {
    AscendC::CrossCoreSetFlag<2, PIPE_MTE2>(kQGemmFlagFree);
    ++count_;
  }

 private:
  // L0C tile c ([mPad rows, nTile] Nz), `rows` rows of columns [col0, col0 + cols) -> slot `slot`, row-major.
  __aicore__ inline void WriteColumns(const AscendC::LocalTensor<int32_t>& c, uint32_t rows, uint32_t mPad, uint32_t col0,
                                      uint32_t cols, uint32_t slot) {
    using namespace AscendC;
    FixpipeParamsV220 p(uint16_t(cols), uint16_t(rows), uint16_t(mPad), t_->nTile, false);
    Fixpipe<int32_t, int32_t, CFG_ROW_MAJOR>(Slot(slot)[col0], c[col0 * mPad], p);
  }
  __aicore__ inline void WaitFree() { AscendC::CrossCoreWaitFlag<2, PIPE_FIX>(kQGemmFlagFree); }
  // A tile is in its slot: the block's vector cores may read it.
  __aicore__ inline void SignalReady() {
    AscendC::CrossCoreSetFlag<2, PIPE_FIX>(kQGemmFlagReady);
    ++count_;
  }

  __aicore__ inline AscendC::GlobalTensor<int32_t> Slot(uint32_t s) const {
    return slots_[uint64_t(s) * (t_->wsSlotBytes / sizeof(int32_t))];
  }

  const QGemmTiling* t_ = nullptr;
  GM_ADDR workspace_ = nullptr;
  AscendC::GlobalTensor<int32_t> slots_;
  uint32_t count_ = 0;
  uint32_t started_ = 0;  // K-chunked: tiles whose first chunk was written
};

}  // namespace ascend_glm5
