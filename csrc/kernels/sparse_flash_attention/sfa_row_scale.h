// Sparse Flash Attention, vector side (AIV): an output chunk's rows scaled by a value per row, as
// the normalisation (sfa_vector.h Finalize) and a finished row (sfa_finish.h) scale them. A vector
// core's heads go in chunks of kSfaStageRows rows of 512 floats.
#pragma once

#include "kernel_operator.h"
#include "sparse_flash_attention_tiling.h"

namespace ascend_glm5 {

// Rows of chunk c of h heads (kSfaStageRows each, the last one the rest).
__aicore__ inline uint32_t SfaChunkRows(uint32_t h, uint32_t c) {
  return h - c * kSfaStageRows < kSfaStageRows ? h - c * kSfaStageRows : kSfaStageRows;
}

// d[r, :] *= v[r] for n <= kSfaStageRows rows of 512 floats: one Mul per kSfaScaleLaneRows rows,
// over each row's 64-column strips in turn (a repeat every 256 bytes: consecutive repeats read the
// two halves of the bank groups and miss the previous one's writes), v[r] read at the same 256-byte
// step in the other half of the groups from `lanes` (SfaScaleBcastBlocks: bank 1 at GLM-5, P's
// buffer, free between the softmaxes): a Brcb of v (each value 8 times), which a second Brcb
// spreads 8 blocks apart, 64 blocks a row; the second lane one block on. One beat a repeat where d
// is in another bank than `lanes` (8 Muls of a 64-column strip each took two: row r's reads met
// row r-1's writes), and 2 Muls where that took 8.
struct SfaRowScale {
  // lanes: the broadcast span; lane0: the first lane's block in it (8 groups past acc's).
  __aicore__ inline void Init(const AscendC::LocalTensor<float>& lanes, uint32_t lane0) {
    lanes_ = lanes;
    lane0_ = lane0;
  }
  __aicore__ inline void Apply(const AscendC::LocalTensor<float>& d, const AscendC::LocalTensor<float>& v, uint32_t n) {
    using namespace AscendC;
    const uint32_t len = lanes_.GetSize();
    const LocalTensor<float> x = lanes_[len - 64];
    PipeBarrier<PIPE_V>();
    Brcb(x, v, 1, BrcbRepeatParams(1, 8));
    PipeBarrier<PIPE_V>();
    for (uint32_t r = 0, lane = lane0_; r < n; r += kSfaScaleLaneRows, ++lane) {
      const uint32_t k = n - r < kSfaScaleLaneRows ? n - r : kSfaScaleLaneRows;
      Brcb(lanes_[lane * 8], x[r * 8], uint8_t(k), BrcbRepeatParams(8, 64));
    }
    PipeBarrier<PIPE_V>();
    for (uint32_t r = 0, lane = lane0_; r < n; r += kSfaScaleLaneRows, ++lane) {
      const uint32_t k = n - r < kSfaScaleLaneRows ? n - r : kSfaScaleLaneRows;
      Mul(d[r * kSfaLatentDim], d[r * kSfaLatentDim], lanes_[lane * 8], 64, uint8_t(k * kSfaLatentDim / 64),
          BinaryRepeatParams(1, 1, 0, 8, 8, 8));
    }
    PipeBarrier<PIPE_V>();
  }

 private:
  AscendC::LocalTensor<float> lanes_;
  uint32_t lane0_ = 0;
};

}  // namespace ascend_glm5
