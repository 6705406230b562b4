// The matmul of CANN's basic-API matmul best-practice example (asc-devkit
// examples/01_simd_cpp_api/05_best_practices/01_matrix_compute/matmul_basic_api_high_performance,
// scenario 1 on A2), written for the emulator so that the timing model's cube side can be set
// against the per-pipe times Huawei measured for it (calibration_matmul.py).
//
// C [m, n] half = A [m, k] half x B^T, B stored [n, k] (the example's isTrans B), fp32 in L0C. Cores
// form a grid of m / singleM x n / singleN blocks (block b: rows (b % mBlocks) * singleM, columns
// (b / mBlocks) * singleN). A core walks its 128 x 256 output tiles, n outer, m inner; for each tile
// the k loop runs in 64-deep steps. L1 holds A and B in ping-pong "packets" of stepKa = 8 (A: 128 x 512)
// and stepKb = 4 (B: 256 x 256) steps, fetched one packet ahead (B's before A's); L0A / L0B ping-pong
// one step. Flags as the example: forward MTE2 -> MTE1 per packet, MTE1 -> M per step; reverse
// MTE1 -> MTE2 and M -> MTE1 preset.
//
// A's step goes L1 -> L0A as the example's one LoadData3D (a 1 x 1 filter over a feature map of
// H = 1, W = 128 rows, C = the step's 64 k), B's as its 4 LoadData2D (one per 16-deep k block).
//
// Where this differs from the example, and why:
// - Mmad and Fixpipe meet through M -> FIX / FIX -> M flags, not unitFlag (which the emulator does not
//   model): the tile's write-back waits for its last Mmad, the next tile's first Mmad for the write-back.
// - `mTiles` / `nTiles` cap the tiles a core runs, so the calibration emulates a cut of the launch.
#include <algorithm>
#include <cstdio>
#include <exception>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

constexpr uint32_t kBaseM = 128, kBaseK = 64, kBaseN = 256, kStepKa = 8, kStepKb = 4;
constexpr uint32_t kPacketBytes = 128 * 1024;  // one L1 packet: 128 x 512 of A or 256 x 256 of B, half
constexpr uint32_t kL0PingPongBytes = 32 * 1024;

struct MatmulJob {
  uint32_t m, n, k, singleM, singleN, mTiles, nTiles;
};

class CubeMatmul {
 public:
  CubeMatmul(GM_ADDR a, GM_ADDR b, GM_ADDR c, const MatmulJob& j) : j_(j) {
    const uint32_t mBlocks = (j.m + j.singleM - 1) / j.singleM, block = GetBlockIdx();
    row0_ = (block % mBlocks) * j.singleM;
    col0_ = (block / mBlocks) * j.singleN;
    a_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), uint64_t(j.m) * j.k);
    b_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), uint64_t(j.n) * j.k);
    c_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(c), uint64_t(j.m) * j.n);
  }

  void Run() {
    if (row0_ >= j_.m || col0_ >= j_.n) return;
    const uint32_t mLoop = std::min(std::min(j_.singleM, j_.m - row0_) / kBaseM, j_.mTiles);
    const uint32_t nLoop = std::min(std::min(j_.singleN, j_.n - col0_) / kBaseN, j_.nTiles);
    for (uint32_t e = 0; e < 4; ++e) SetFlag<HardEvent::MTE1_MTE2>(e);  // L1: A ping / pong, B ping / pong free
    SetFlag<HardEvent::M_MTE1>(0);
    SetFlag<HardEvent::M_MTE1>(1);
    SetFlag<HardEvent::FIX_M>(0);  // L0C free
    for (uint32_t nb = 0; nb < nLoop; ++nb)
      for (uint32_t mb = 0; mb < mLoop; ++mb) Tile(row0_ + mb * kBaseM, col0_ + nb * kBaseN);
    WaitFlag<HardEvent::M_MTE1>(0);
    WaitFlag<HardEvent::M_MTE1>(1);
    for (uint32_t e = 0; e < 4; ++e) WaitFlag<HardEvent::MTE1_MTE2>(e);
    WaitFlag<HardEvent::FIX_M>(0);
  }

 private:
  // L1 packet p (0 / 1) of A or B; events 0 / 1 for A, 2 / 3 for B, as the example.
  static LocalTensor<half> PacketA(uint32_t p) { return LocalTensor<half>(TPosition::A1, p * kPacketBytes, kPacketBytes / 2); }
  static LocalTensor<half> PacketB(uint32_t p) {
    return LocalTensor<half>(TPosition::B1, (2 + p) * kPacketBytes, kPacketBytes / 2);
  }

  void CopyInA(uint32_t p, uint32_t row, uint32_t step) {
    WaitFlag<HardEvent::MTE1_MTE2>(p);
    DataCopy(PacketA(p), a_[uint64_t(row) * j_.k + step * kBaseK],
             Nd2NzParams(1, kBaseM, kBaseK * kStepKa, 0, uint16_t(j_.k), kBaseM, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(p);
  }

  void CopyInB(uint32_t p, uint32_t col, uint32_t step) {
    WaitFlag<HardEvent::MTE1_MTE2>(2 + p);
    DataCopy(PacketB(p), b_[uint64_t(col) * j_.k + step * kBaseK],
             Nd2NzParams(1, kBaseN, kBaseK * kStepKb, 0, uint16_t(j_.k), kBaseN, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(2 + p);
  }

  void Tile(uint32_t row, uint32_t col) {
    const uint32_t steps = j_.k / kBaseK;
    uint32_t nextA = 0, nextB = 0, packetA = 0, packetB = 0;  // next step to fetch, L1 packet it goes to
    CopyInA(packetA, row, nextA);
    nextA += kStepKa, packetA ^= 1;
    CopyInB(packetB, col, nextB);
    nextB += kStepKb, packetB ^= 1;
    const LocalTensor<float> acc(TPosition::CO1, 0, kBaseM * kBaseN);
    for (uint32_t s = 0; s < steps; ++s) {
      const uint32_t inA = s % kStepKa, inB = s % kStepKb, readA = (s / kStepKa) % 2, readB = (s / kStepKb) % 2;
      const LocalTensor<half> a2(TPosition::A2, l0_ * kL0PingPongBytes, kBaseM * kBaseK);
      const LocalTensor<half> b2(TPosition::B2, l0_ * kL0PingPongBytes, kBaseK * kBaseN);
      WaitFlag<HardEvent::M_MTE1>(l0_);
      if (inA == 0) WaitFlag<HardEvent::MTE2_MTE1>(readA);
      if (inB == 0) WaitFlag<HardEvent::MTE2_MTE1>(2 + readB);
      // L1 Nz (16-wide k column blocks of 128 / 256 rows) -> L0A Zz (row blocks) / L0B (k blocks of n).
      const LocalTensor<half> a1 = PacketA(readA)[inA * kBaseK * kBaseM], b1 = PacketB(readB)[inB * kBaseK * kBaseN];
      LoadData3DParamsV2<half> loadA;
      loadA.l1H = 1, loadA.l1W = kBaseM, loadA.channelSize = kBaseK;
      loadA.kExtension = kBaseK, loadA.mExtension = kBaseM, loadA.kStartPt = 0, loadA.mStartPt = 0;
      LoadData(a2, a1, loadA);
      for (uint32_t kb = 0; kb < kBaseK / 16; ++kb)
        LoadData(b2[kb * kBaseN * 16], b1[kb * kBaseN * 16], LoadData2DParams(0, kBaseN / 16, 1, 0, 0, false, 0));
      if (inA + 1 == kStepKa) SetFlag<HardEvent::MTE1_MTE2>(readA);
      if (inB + 1 == kStepKb) SetFlag<HardEvent::MTE1_MTE2>(2 + readB);
      SetFlag<HardEvent::MTE1_M>(l0_);
      WaitFlag<HardEvent::MTE1_M>(l0_);
      if (s == 0) WaitFlag<HardEvent::FIX_M>(0);
      Mmad(acc, a2, b2, MmadParams(kBaseM, kBaseN, kBaseK, 0, false, s == 0));  // unitFlag 0: flags, as above
      SetFlag<HardEvent::M_MTE1>(l0_);
      l0_ ^= 1;
      if ((s == 0 || inB + 1 == kStepKb) && nextB < steps) {  // B first: its packets turn over sooner
        CopyInB(packetB, col, nextB);
        nextB += kStepKb, packetB ^= 1;
      }
      if ((s == 0 || inA + 1 == kStepKa) && nextA < steps) {
        CopyInA(packetA, row, nextA);
        nextA += kStepKa, packetA ^= 1;
      }
    }
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    FixpipeParamsV220 fp;
    fp.nSize = kBaseN;
    fp.mSize = kBaseM;
    fp.srcStride = kBaseM;
    fp.dstStride = j_.n;
    fp.quantPre = QuantMode_t::F322F16;
    Fixpipe(c_[uint64_t(row) * j_.n + col], acc, fp);
    SetFlag<HardEvent::FIX_M>(0);
  }

  MatmulJob j_;
  uint32_t row0_ = 0, col0_ = 0, l0_ = 0;
  GlobalTensor<half> a_, b_, c_;
};

}  // namespace

extern "C" {

// a: half [m, k]; b: half [n, k]; c: half [m, n]. Returns 0, or 1 with `err` set.
int calib_matmul(void* a, void* b, void* c, uint32_t m, uint32_t n, uint32_t k, uint32_t singleM, uint32_t singleN,
                 uint32_t mTiles, uint32_t nTiles, uint32_t cores, char* err, int errLen) {
  try {
    const MatmulJob j{m, n, k, singleM, singleN, mTiles, nTiles};
    emu::Launch("calib_matmul", KernelMode::AIC_MODE, cores,
                [&] {
                  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
                  CubeMatmul(reinterpret_cast<GM_ADDR>(a), reinterpret_cast<GM_ADDR>(b), reinterpret_cast<GM_ADDR>(c), j)
                      .Run();
                },
                {{a, uint64_t(m) * k * 2}, {b, uint64_t(n) * k * 2}, {c, uint64_t(m) * n * 2}});
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, static_cast<size_t>(errLen), "%s", e.what());
  }
  return 1;
}

}  // extern "C"
