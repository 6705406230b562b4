// Lightning Indexer, vector side (AIV): the partial top-k lists in the workspace, written by phase 1
// (LiVector) and by phase 2's merges that are not a row's last (LiMerger), read by phase 2.
// A list slot holds a 32-byte header (word 0: the list's length, word 1: the pairs written before
// SyncAll) and then the list's sorted (score, index) pairs; a row merged over several levels also
// has kLiQuantiles quantile pairs per list (LiVector::WriteQuantiles, LiCut::CutAtThreshold).
#pragma once

#include "../common/topk.h"
#include "kernel_operator.h"
#include "lightning_indexer_tiling.h"

namespace ascend_glm5 {

struct LiLists {
  AscendC::GlobalTensor<float> pairs;   // the slots, as floats (the lists' pairs)
  AscendC::GlobalTensor<int32_t> words;  // the same, as 32-bit words (the headers)
  AscendC::GlobalTensor<float> quants;  // kLiQuantiles pairs per slot
  const LightningIndexerTiling* t = nullptr;

  __aicore__ inline void Init(GM_ADDR workspace, const LightningIndexerTiling& tiling) {
    t = &tiling;
    pairs.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + tiling.wsListOffset),
                          uint64_t(tiling.numListSlots) * tiling.listSlotBytes / sizeof(float));
    words.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace + tiling.wsListOffset),
                          uint64_t(tiling.numListSlots) * tiling.listSlotBytes / sizeof(int32_t));
    quants.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace + tiling.wsQuantOffset),
                           uint64_t(tiling.numPartials) * kLiQuantiles * kPairFloats);
  }

  // First float of list slot `slot`.
  __aicore__ inline uint64_t Slot(int32_t slot) const { return uint64_t(slot) * (t->listSlotBytes / sizeof(float)); }

  // A list slot: its length in the 32-byte header (UB buffer `header`, 8 words), then `count`
  // sorted pairs. With `wait` false the caller waits (MTE3_V) before it rewrites the list or the
  // header. Header words: 0 the list's length, 1 the pairs written (`written`, default all; the
  // rest: LiMerger::WriteTail). `withHeader` false: no header (the lengths go with the list's
  // quantiles, LiVector::WriteQuantiles).
  __aicore__ inline void WriteList(const AscendC::LocalTensor<int32_t>& header, int32_t slot,
                                   const AscendC::LocalTensor<float>& list, uint32_t count, bool wait = true,
                                   uint32_t written = 0xFFFFFFFFu, bool withHeader = true) {
    using namespace AscendC;
    if (written > count) written = count;
    if (withHeader) {
      Duplicate(header, int32_t(written), 8);
      if (written < count) {
        PipeBarrier<PIPE_V>();
        Duplicate(header, int32_t(count), 1);
      }
    }
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    if (withHeader) DataCopy(pairs[Slot(slot)], header.ReinterpretCast<float>(), kLiListHeaderFloats);
    if (written > 0)
      DataCopyPad(pairs[Slot(slot) + kLiListHeaderFloats], list, DataCopyExtParams(1, written * kPairFloats * 4, 0, 0, 0));
    if (!wait) return;
    SetFlag<HardEvent::MTE3_V>(0);  // the list and header buffers are rewritten next
    WaitFlag<HardEvent::MTE3_V>(0);
  }
};

}  // namespace ascend_glm5
