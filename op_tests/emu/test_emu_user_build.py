"""The user flow: a standalone CANN CPU-debug style program (kernel + main with GmAlloc / ICPU_RUN_KF),
compiled with g++ and the flags `python -m ascend_glm5 emu --cflags --libs` prints, then run."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = r"""
#include <cstdio>
#include "tikicpulib.h"
using namespace AscendC;

extern "C" __global__ __aicore__ void add_custom(GM_ADDR x, GM_ADDR y, GM_ADDR z) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
  TPipe pipe;
  TQue<TPosition::VECIN, 2> qx, qy;
  TQue<TPosition::VECOUT, 2> qz;
  pipe.InitBuffer(qx, 2, 128 * sizeof(half));
  pipe.InitBuffer(qy, 2, 128 * sizeof(half));
  pipe.InitBuffer(qz, 2, 128 * sizeof(half));
  GlobalTensor<half> gx, gy, gz;
  const int64_t base = GetBlockIdx() * 128;
  gx.SetGlobalBuffer((__gm__ half*)x + base, 128);
  gy.SetGlobalBuffer((__gm__ half*)y + base, 128);
  gz.SetGlobalBuffer((__gm__ half*)z + base, 128);
  LocalTensor<half> a = qx.AllocTensor<half>(), b = qy.AllocTensor<half>();
  DataCopy(a, gx, 128);
  DataCopy(b, gy, 128);
  qx.EnQue(a);
  qy.EnQue(b);
  a = qx.DeQue<half>();
  b = qy.DeQue<half>();
  LocalTensor<half> c = qz.AllocTensor<half>();
  Add(c, a, b, 128);
  qz.EnQue(c);
  qx.FreeTensor(a);
  qy.FreeTensor(b);
  c = qz.DeQue<half>();
  DataCopy(gz, c, 128);
  qz.FreeTensor(c);
}

int main(int argc, char**) {
  const int n = 4 * 128;
  half* x = (half*)GmAlloc(n * sizeof(half));
  half* y = (half*)GmAlloc(n * sizeof(half));
  half* z = (half*)GmAlloc(n * sizeof(half));
  for (int i = 0; i < n; ++i) { x[i] = half(float(i % 64)); y[i] = half(0.5f); }
  SetKernelMode(KernelMode::AIV_MODE);
  const int blocks = argc > 1 ? 5 : 4;  // with an argument, one block too many: reads past the inputs
  try {
    ICPU_RUN_KF(add_custom, blocks, (GM_ADDR)x, (GM_ADDR)y, (GM_ADDR)z);
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 3;
  }
  int bad = 0;
  for (int i = 0; i < n; ++i) bad += float(z[i]) != float(i % 64) + 0.5f;
  std::printf("bad=%d mte2=%llu\n", bad, (unsigned long long)AscendC::emu::LastLaunch().total.mte2Bytes);
  GmFree(x); GmFree(y); GmFree(z);
  return bad ? 1 : 0;
}
"""


def _flags(kind: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "ascend_glm5", "emu", kind], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_compile_and_run_a_standalone_program(tmp_path):
    src, exe = tmp_path / "add_custom.cpp", tmp_path / "add_custom"
    src.write_text(PROGRAM)
    subprocess.run(["g++", "-O1", str(src), *_flags("--cflags"), *_flags("--libs"), "-o", str(exe)], check=True)
    ok = subprocess.run([str(exe)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == f"bad=0 mte2={2 * 4 * 128 * 2}", ok.stdout + ok.stderr
    bad = subprocess.run([str(exe), "overrun"], capture_output=True, text=True)
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert "kernel 'add_custom', core AIV 4: DataCopy(GM->local): gm-bounds" in bad.stdout
