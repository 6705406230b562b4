"""The model's UB bank rules for a vector instruction's writes against Huawei's bank_conflict_nd2nz example.

`ND2NZ_SOURCE` rearranges a half [8192, 8192] matrix into the Nz layout on 48 AIV of an A2/A3 part:
per 144 x 128 tile, one `Copy` of a repeat a row writes the row's 8 blocks to the tile's 8 column
blocks, `c0Stride` blocks apart. With 144 (case 1) the 8 writes of a repeat land in one UB bank group;
with 145 (case 2) in 8. The README publishes each case's core time and the busy time of each pipe.
`calibration_nd2nz.cpp` runs the same tiles on the emulator, checks the Nz image against numpy, and
`run_nd2nz()` replays them on the model.

    python -m ascend_glm5.perf.calibration_nd2nz         # the table (a few seconds)
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import SOC, command  # the measured part: 24 AI cores (48 AIV) at 1.85 GHz

ND2NZ_SOURCE = ("CANN asc-devkit examples/01_simd_cpp_api/05_best_practices/04_memory_access/bank_conflict_nd2nz/"
                "README_en.md (CANN 9.0 and later; Atlas A2/A3, 48 cores)")
KERNEL = Path(__file__).resolve().parent / "calibration_nd2nz.cpp"
M = N = 8192
PIPES = ("core", "V", "S", "MTE2", "MTE3")


@dataclass(frozen=True)
class Nd2NzCase:
    """One case of the example and its measured times, us: the average core's time and pipe busy times."""

    name: str
    c0_stride: int
    task: float
    core: float
    V: float
    S: float
    MTE2: float
    MTE3: float


CASES = [
    Nd2NzCase("1: C0 columns 144 blocks apart (8 writes in one bank group)", 144, 151.42, 138.00, 47.790, 6.586,
              113.856, 76.760),
    Nd2NzCase("2: C0 columns 145 blocks apart (8 groups)", 145, 144.00, 131.44, 7.133, 7.760, 115.405, 76.532),
]


@dataclass(frozen=True)
class Nd2NzResult:
    case: Nd2NzCase
    modeled: dict[str, float]  # us, as PIPES
    conflict_us: float  # of the vector time, what UB bank conflicts took (average core)

    def ratio(self, key: str) -> float:
        return self.modeled[key] / getattr(self.case, key)


class Nd2NzKernel:
    """calibration_nd2nz.cpp compiled against the installed emulator."""

    def __init__(self, out_dir: Path):
        from ascend_glm5 import emu

        self.lib = ctypes.CDLL(str(emu.compile_library([KERNEL], out_dir)))
        self.lib.calib_nd2nz.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_uint32] * 3 + [ctypes.c_char_p, ctypes.c_int]

    def __call__(self, x: np.ndarray, z: np.ndarray, c0_stride: int) -> None:
        err = ctypes.create_string_buffer(2048)
        m, n = x.shape
        if self.lib.calib_nd2nz(x.ctypes.data, z.ctypes.data, m, n, c0_stride, err, len(err)):
            raise RuntimeError(err.value.decode())


def nz(x: np.ndarray) -> np.ndarray:
    """The compact Nz image of x [m, n]: 16-column blocks of all m rows, one after the other."""
    m, n = x.shape
    return x.reshape(m, n // 16, 16).transpose(1, 0, 2).reshape(-1)


def run_nd2nz(kernel: Nd2NzKernel, cases: list[Nd2NzCase] = CASES, soc: str = SOC,
              param_overrides: dict[str, float] | None = None) -> list[Nd2NzResult]:
    from ascend_glm5 import perf

    x = np.random.default_rng(0).standard_normal((M, N)).astype(np.float16)
    want = nz(x)
    out = []
    for c in cases:
        z = np.zeros(M * N, np.float16)
        with perf.tracing() as traces:
            kernel(x, z, c.c0_stride)
        (trace,) = traces
        if not np.array_equal(z, want):
            raise RuntimeError(f"{c.name}: the emulated ND -> NZ is wrong")
        rep = perf.replay(trace, soc, param_overrides=param_overrides)
        cores = sum(1 for core in rep.cores if core["type"] == "AIV")
        us = 1e6 / rep.clock_hz
        modeled = {"core": rep.cycles * us, **{p: rep.busy(p, "AIV") / cores * us for p in PIPES if p != "core"}}
        out.append(Nd2NzResult(c, modeled, sum(rep.bank_conflict_cycles.values()) / cores * us))
    return out


def markdown_nd2nz(results: list[Nd2NzResult]) -> str:
    lines = ["| ND2NZ case (48 AIV, half 8192 x 8192) | measured us: core / vec / scalar / MTE2 / MTE3 | modeled us "
             "| modeled / measured |", "|---|---|---|---|"]
    for r in results:
        measured = " / ".join(f"{getattr(r.case, p):.1f}" for p in PIPES)
        modeled = " / ".join(f"{r.modeled[p]:.1f}" for p in PIPES)
        ratios = " / ".join(f"{r.ratio(p):.2f}" for p in PIPES)
        lines.append(f"| {r.case.name} | {measured} | {modeled} | {ratios} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    command(__doc__, argv, "ub_beat_cycles=0", Nd2NzKernel,
            lambda kernel, args, overrides: run_nd2nz(kernel, soc=args.soc, param_overrides=overrides),
            markdown_nd2nz, ND2NZ_SOURCE)

if __name__ == "__main__":
    main()
