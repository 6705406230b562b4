// Sparse Flash Attention: the vector cores' share of the row gather.
//
// Every selected row costs two small GM copies (its 512 latent and 64 rope values; one with a
// combined 576-wide cache row); issued by the
// cube alone, their fixed cost per copy makes the cube's MTE2 the bottleneck of decode. So each
// tile's rows are shared (TileShares): the cube copies the first ones straight into L1, and each
// vector core copies its share into UB, one copy per run of contiguous cache rows, then as one
// block into a gather slot in GM (L2-resident); the cube moves the slot into L1 with one ND2NZ
// copy. Three slots per AI core, filled two tiles ahead of the softmax: a vector core fills slot
// g % 3 once the cube has taken tile g - 3 out of it.
#pragma once

#include "kernel_operator.h"
#include "../common/host_device.h"
#include "../common/scalar_read.h"
#include "sfa_plan.h"

namespace ascend_glm5 {

template <typename T>
class SfaVectorGather {
 public:
  // rowIdx: kSfaMaxSparseCount int32 (an item's list); keys: maxRows() x 576, values: maxRows() x 512
  // (separate value only).
  __aicore__ inline void Init(GM_ADDR key, GM_ADDR value, GM_ADDR keyRope, GM_ADDR workspace,
                              const SparseFlashAttentionTiling& t, uint32_t block, const AscendC::LocalTensor<int32_t>& rowIdx,
                              const AscendC::LocalTensor<T>& keys, const AscendC::LocalTensor<T>& values) {
    t_ = &t;
    sub_ = AscendC::GetSubBlockIdx();
    key_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(key));
    value_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(value));
    keyRope_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(keyRope));
    slots_.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(workspace + t.wsGatherOffset + uint64_t(block) * kSfaGatherSlots * t.gatherSlotBytes),
                           kSfaGatherSlots * t.gatherSlotBytes / sizeof(T));
    rowIdx_ = rowIdx;
    bufs_[0] = keys;
    values_ = values;
  }
  // Rows one vector core gathers of a tile at most (aivRows: the launch's larger share).
  __aicore__ inline static uint32_t MaxRows(uint32_t aivRows) { return (aivRows + 1) / 2; }

  // This core's rows of `tile` -> UB (MTE2), one copy per run of evenly spaced cache rows (CopyRun). `list`: this
  // core's copy of the tile's item list (`count` rows), read into UB at its first tile. Store then
  // moves them to the gather slot: the rows are issued as soon as the scores have arrived, the slot
  // write after the softmax's P (the vector core's MTE3 posts P first).
  // listInUb: the caller has already put the item's list in rowIdx (SfaVector::NextItem).
  __aicore__ inline void Load(const SfaTile& tile, uint32_t count, const AscendC::GlobalTensor<int32_t>& list, bool listInUb) {
    using namespace AscendC;
    const SfaShares s = TileShares(tile, t_->tileRows);
    const uint32_t n = sub_ == 0 ? s.v0 : s.v1, first = s.cube + (sub_ == 0 ? 0 : s.v0);
    if (tile.first && !listInUb) {
      SetFlag<HardEvent::MTE3_MTE2>(0);  // this core's list is in GM
      WaitFlag<HardEvent::MTE3_MTE2>(0);
      DataCopyPad(rowIdx_, list, DataCopyExtParams(1, count * 4, 0, 0, 0), DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
      SetFlag<HardEvent::MTE2_S>(0);
      WaitFlag<HardEvent::MTE2_S>(0);
    }
    loadedRows_ = n;
    loadedFirst_ = first;
    if (n == 0) return;
    // The spare buffer takes every other tile while it is lent (Lend): a tile's rows then load
    // while the tile before leaves the other buffer.
    loadedBuf_ = spareLent_ && !lastSpare_ ? 1 : 0;
    TakeBuffer(loadedBuf_);  // the previous tile in it has left UB
    lastSpare_ = loadedBuf_ == 1;
    SfaRun run;
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t row = uint32_t(rowIdx_.GetValue(tile.start + first + i));
      if (run.Extend(row, kMaxStep)) continue;
      CopyRun(run);
      run = SfaRun{i, 1, 1, row};
    }
    CopyRun(run);
    VectorAfterScalar();  // rowIdx_ is written again by the vector unit (SfaVector::KeepList)
  }

  // The rows Load brought in -> gather slot g % 3 (g: the global tile index); then tells the cube.
  __aicore__ inline void Store(uint32_t g) {
    using namespace AscendC;
    if (g >= kSfaGatherSlots) CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagGatherFree);  // the cube took the slot's last tile
    const uint32_t n = loadedRows_, first = loadedFirst_;
    if (n > 0) {
      SetFlag<HardEvent::MTE2_MTE3>(0);
      WaitFlag<HardEvent::MTE2_MTE3>(0);
      const uint64_t slot = uint64_t(g % kSfaGatherSlots) * (t_->gatherSlotBytes / sizeof(T));
      DataCopy(slots_[slot + first * kSfaQkDim], bufs_[loadedBuf_], n * kSfaQkDim);
      if (t_->separateValue)
        DataCopy(slots_[slot + t_->tileRows * kSfaQkDim + first * kSfaLatentDim], values_, n * kSfaLatentDim);
      // Set right after the copy out (not before the next gather): it then does not also wait for
      // the vector core's later MTE3 work (the softmax's P).
      SetFlag<HardEvent::MTE3_MTE2>(kEvUbFree + int32_t(loadedBuf_));
      busy_[loadedBuf_] = true;
    }
    CrossCoreSetFlag<2, PIPE_MTE3>(kSfaFlagGathered);
  }

  // A second UB buffer for the next tiles' rows (keys only, at least MaxRows rows), free until
  // Return: the launch's first tiles load while the one before is written out.
  __aicore__ inline void Lend(const AscendC::LocalTensor<T>& spare) {
    bufs_[1] = spare;
    spareLent_ = true;
  }
  // The spare buffer back: its last rows' copy out is ordered before the MTE2 work issued after
  // this (its owner writes it with MTE2 copies first).
  __aicore__ inline void Return() {
    TakeBuffer(1);
    spareLent_ = lastSpare_ = false;
  }

  // Takes back the cube's last "free" signals (tiles: how many this core gathered).
  __aicore__ inline void Drain(uint32_t tiles) {
    Return();
    TakeBuffer(0);
    for (uint32_t i = 0; i < (tiles < kSfaGatherSlots ? tiles : kSfaGatherSlots); ++i)
      AscendC::CrossCoreWaitFlag<2, PIPE_MTE3>(kSfaFlagGatherFree);
  }

 private:
  // The largest step between a run's rows: its byte gap (CopyRun's srcStride) is a uint32 (a cache of
  // 8M rows, GLM-5 B = 64 x 128K, holds rows 9.7 GB apart).
  static constexpr uint32_t kMaxStep = 0xFFFFFFFFu / (kSfaQkDim * sizeof(T));
  // MTE3 -> MTE2 kEvUbFree + b: buffer b's gathered rows have left UB (b = 1: Lend's; 0 is the list's event).
  static constexpr int32_t kEvUbFree = 1;

  // Buffer b for new rows: waits for its last rows' copy out, if one is pending.
  __aicore__ inline void TakeBuffer(uint32_t b) {
    if (busy_[b]) AscendC::WaitFlag<AscendC::HardEvent::MTE3_MTE2>(kEvUbFree + int32_t(b));
    busy_[b] = false;
  }

  // Cache rows run.row + i run.step -> UB rows run.start + i (i < run.len) of 576 (latent, then
  // rope), and of 512 (value): one copy of n blocks, the blocks' GM gap (srcStride) in bytes
  // (DataCopyPad(ISASI).md: blockLen up to 2097151 B, srcStride a uint32 of bytes from GM), so any
  // step of a sorted list's rising rows goes in one copy.
  __aicore__ inline void CopyRun(const SfaRun& run) {
    using namespace AscendC;
    const uint32_t at = run.start, n = run.len, step = run.step;
    const uint64_t row = run.row;
    if (n == 0) return;
    const LocalTensor<T> keys = bufs_[loadedBuf_];  // Load's buffer
    constexpr uint32_t latentBytes = kSfaLatentDim * sizeof(T), ropeBytes = kSfaRopeDim * sizeof(T);
    if (t_->combinedKv) {  // latent and rope of a row side by side: a contiguous run is one block
      constexpr uint32_t rowBytes = latentBytes + ropeBytes;
      if (step == 1)
        DataCopyPad(keys[at * kSfaQkDim], key_[row * kSfaQkDim], DataCopyExtParams(1, n * rowBytes, 0, 0, 0),
                    DataCopyPadExtParams<T>());
      else
        DataCopyPad(keys[at * kSfaQkDim], key_[row * kSfaQkDim], DataCopyExtParams(uint16_t(n), rowBytes, (step - 1) * rowBytes, 0, 0),
                    DataCopyPadExtParams<T>());
      if (t_->separateValue)  // value in key's layout: the latent part of each 576-wide row
        DataCopyPad(values_[at * kSfaLatentDim], value_[row * kSfaQkDim],
                    DataCopyExtParams(uint16_t(n), latentBytes, step * rowBytes - latentBytes, 0, 0), DataCopyPadExtParams<T>());
      return;
    }
    DataCopyPad(keys[at * kSfaQkDim], key_[row * kSfaLatentDim],
                DataCopyExtParams(uint16_t(n), latentBytes, (step - 1) * latentBytes, ropeBytes / 32, 0), DataCopyPadExtParams<T>());
    DataCopyPad(keys[at * kSfaQkDim + kSfaLatentDim], keyRope_[row * kSfaRopeDim],
                DataCopyExtParams(uint16_t(n), ropeBytes, (step - 1) * ropeBytes, latentBytes / 32, 0), DataCopyPadExtParams<T>());
    if (t_->separateValue)
      DataCopyPad(values_[at * kSfaLatentDim], value_[row * kSfaLatentDim],
                  DataCopyExtParams(uint16_t(n), latentBytes, (step - 1) * latentBytes, 0, 0), DataCopyPadExtParams<T>());
  }

  const SparseFlashAttentionTiling* t_ = nullptr;
  uint32_t sub_ = 0, loadedRows_ = 0, loadedFirst_ = 0;
  // The rows' UB buffers (0: the gather's own, 1: Lend's) and whether each has rows not yet written out.
  AscendC::LocalTensor<T> bufs_[2];
  bool busy_[2] = {false, false};
  bool spareLent_ = false, lastSpare_ = false;  // Lend's buffer lent; the last tile loaded into it
  uint32_t loadedBuf_ = 0;  // the buffer of the rows Load brought in
  AscendC::GlobalTensor<T> key_, value_, keyRope_, slots_;
  AscendC::LocalTensor<int32_t> rowIdx_;
  AscendC::LocalTensor<T> values_;
};

}  // namespace ascend_glm5
