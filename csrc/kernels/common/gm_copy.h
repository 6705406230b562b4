// Moving one contiguous run of elements between GM and UB, and writing out a filled VECOUT tile.
// DataCopyPad moves exact byte counts (DataCopyPad.md), so a run needs no 32-byte multiple: row
// tails and odd widths go through the same call. Nothing is padded on the way in.
#pragma once

#include "kernel_operator.h"

namespace ascend_glm5 {

// GM -> UB: `len` elements of src into dst.
template <typename T>
__aicore__ inline void CopyGmToUb(const AscendC::LocalTensor<T>& dst, const AscendC::GlobalTensor<T>& src, uint32_t len) {
  AscendC::DataCopyPad(dst, src, AscendC::DataCopyExtParams(1, len * sizeof(T), 0, 0, 0),
                       AscendC::DataCopyPadExtParams<T>(false, 0, 0, T(0.0f)));
}

// UB -> GM: `len` elements of src into dst.
template <typename T>
__aicore__ inline void CopyUbToGm(const AscendC::GlobalTensor<T>& dst, const AscendC::LocalTensor<T>& src, uint32_t len) {
  AscendC::DataCopyPad(dst, src, AscendC::DataCopyExtParams(1, len * sizeof(T), 0, 0, 0));
}

// A tile of `que` (a VECOUT queue) that the vector unit has just filled: hand it to MTE3, write
// its first `len` elements to dst, give the buffer back to the queue.
template <typename T, typename Que>
__aicore__ inline void WriteOutTile(Que& que, AscendC::LocalTensor<T> tile, const AscendC::GlobalTensor<T>& dst,
                                    uint32_t len) {
  que.EnQue(tile);
  tile = que.template DeQue<T>();
  CopyUbToGm(dst, tile, len);
  que.FreeTensor(tile);
}

}  // namespace ascend_glm5
