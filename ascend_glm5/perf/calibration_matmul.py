"""The model's cube side against Huawei's basic-API matmul example, measured on an A2 part.

`MATMUL_SOURCE` multiplies half [8192, 8192] x [8192, 8192] (B transposed) on 24 AIC, 128 x 256 output
tiles, 64-deep k steps, L1 / L0 ping-pong, and publishes the task time and the average core's busy
time of each cube pipe (mac = M, MTE1, MTE2, fixpipe, scalar). `calibration_matmul.cpp` runs the same
loops on the emulator (see its header for where it differs) on a cut of the launch: every
core, every k step, but `m_tiles` x `n_tiles` of its output tiles. Busy times are compared per 64-deep
step (one `Mmad` of 128 x 256 x 64, its two loads and its share of the copies), fixpipe per tile, so
the cut does not matter; the cut keeps the sharing of L2 (cores in one grid row read the same A rows,
cores in one grid column the same B rows, at the same time) and the reuse of B over m tiles.

    python -m ascend_glm5.perf.calibration_matmul       # the table (about 10 s)
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import CLOCK_HZ, SOC, command  # the measured part: 24 AI cores (48 AIV) at 1.85 GHz

MATMUL_SOURCE = ("CANN asc-devkit examples/01_simd_cpp_api/05_best_practices/01_matrix_compute/"
                 "matmul_basic_api_high_performance/README_en.md (CANN 9.0 and later; Atlas A2, scenario 1); fixpipe: "
                 "matmul_high_performance/README_en.md Case 7 (the same shape and tiles through the Matmul API, no unitFlag)")
KERNEL = Path(__file__).resolve().parent / "calibration_matmul.cpp"
M = N = K = 8192
SINGLE_M, SINGLE_N, CORES = 2048, 1536, 24  # the example's 4 x 6 grid on A2
TILE_M, TILE_N, STEP_K = 128, 256, 64
PIPES = ("M", "MTE1", "MTE2", "FIX", "S")


@dataclass(frozen=True)
class Measured:
    """Scenario 1 of the example (no L2 split), us: the task and the average core's busy times.

    Fixpipe comes from the Matmul-API example's Case 7, which writes the same 128 x 256 half tiles
    without unitFlag, as the emulated kernel does: with unitFlag the fixpipe drains each 512 B as the
    last Mmad makes it, and its busy time holds that Mmad (Case 8, the same with unitFlag: 272.576 us;
    the basic example: 160.405 us)."""

    task: float = 4121.16
    core: float = 3670.7
    M: float = 3081.664  # aic_mac_time
    S: float = 337.343  # aic_scalar_time
    MTE1: float = 2538.348
    MTE2: float = 3552.248
    FIX: float = 45.76  # Case 7's aic_fixpipe_time

    @staticmethod
    def steps_per_core() -> float:
        return (M // TILE_M) * (N // TILE_N) * (K // STEP_K) / CORES

    def per_unit(self, pipe: str) -> float:
        """The average core's busy cycles per k step (fixpipe: per output tile)."""
        cycles = getattr(self, pipe) * 1e-6 * CLOCK_HZ
        steps = self.steps_per_core()
        return cycles / (steps / (K // STEP_K)) if pipe == "FIX" else cycles / steps

    def step_cycles(self) -> float:
        """Cycles per k step of a core with a full share (6 x 16 tiles), from the task time."""
        full = (SINGLE_M // TILE_M) * (SINGLE_N // TILE_N) * (K // STEP_K)
        return self.task * 1e-6 * CLOCK_HZ / full


@dataclass
class MatmulResult:
    measured: dict[str, float]  # per step (FIX per tile) and "step" (a full core's cycles per step)
    modeled: dict[str, float]

    def ratio(self, key: str) -> float:
        return self.modeled[key] / self.measured[key]


class MatmulKernel:
    """calibration_matmul.cpp compiled against the installed emulator."""

    def __init__(self, out_dir: Path):
        from ascend_glm5 import emu

        self.lib = ctypes.CDLL(str(emu.compile_library([KERNEL], out_dir)))
        self.lib.calib_matmul.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_uint32] * 8 + [ctypes.c_char_p, ctypes.c_int]

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, m_tiles: int, n_tiles: int,
                 single_m: int = SINGLE_M, single_n: int = SINGLE_N, cores: int = CORES) -> None:
        err = ctypes.create_string_buffer(2048)
        (m, k), n = a.shape, b.shape[0]
        if self.lib.calib_matmul(a.ctypes.data, b.ctypes.data, c.ctypes.data, m, n, k, single_m, single_n, m_tiles,
                                 n_tiles, cores, err, len(err)):
            raise RuntimeError(err.value.decode())


def expected(a: np.ndarray, b: np.ndarray, c_rows: slice, c_cols: slice) -> np.ndarray:
    """One output tile as the kernel computes it: fp32 sums of half products, rounded to half once."""
    return (a[c_rows].astype(np.float32) @ b[c_cols].astype(np.float32).T).astype(np.float16)


def run_matmul(kernel: MatmulKernel, m_tiles: int = 4, n_tiles: int = 1, soc: str = SOC,
               param_overrides: dict[str, float] | None = None) -> MatmulResult:
    """Emulates the cut (`m_tiles` x `n_tiles` tiles a core, every core, all of K), checks two of its
    tiles against numpy and replays it on `soc`."""
    from ascend_glm5 import perf

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (M, K)).astype(np.float16)
    b = rng.uniform(-1, 1, (N, K)).astype(np.float16)
    c = np.zeros((M, N), np.float16)
    with perf.tracing() as traces:
        kernel(a, b, c, m_tiles, n_tiles)
    (trace,) = traces
    last_row, last_col = 3 * SINGLE_M + (m_tiles - 1) * TILE_M, 5 * SINGLE_N + (n_tiles - 1) * TILE_N  # core 23
    for r, col in ((0, 0), (last_row, last_col)):
        rows, cols = slice(r, r + TILE_M), slice(col, col + TILE_N)
        if not np.allclose(c[rows, cols], expected(a, b, rows, cols), rtol=2e-3, atol=2e-2):
            raise RuntimeError(f"the emulated matmul is wrong at tile ({r}, {col})")
    rep = perf.replay(trace, soc, param_overrides=param_overrides)
    steps = m_tiles * n_tiles * (K // STEP_K)
    per_core = {p: rep.busy(p, "AIC") / CORES for p in PIPES}
    modeled = {p: per_core[p] / (m_tiles * n_tiles) if p == "FIX" else per_core[p] / steps for p in PIPES}
    modeled["step"] = rep.cycles / steps
    m = Measured()
    return MatmulResult({**{p: m.per_unit(p) for p in PIPES}, "step": m.step_cycles()}, modeled)


LABELS = {"step": "launch, per k step of a full core (task time)", "M": "M (aic_mac_time), per step",
          "MTE1": "MTE1 (L1 -> L0A / L0B), per step", "MTE2": "MTE2 (GM -> L1), per step",
          "FIX": "fixpipe, per 128 x 256 half tile (no unitFlag)", "S": "scalar, per step"}


def markdown_matmul(r: MatmulResult) -> str:
    lines = ["| basic-API matmul 8192^3 half, 24 AIC | measured cycles | modeled cycles | modeled / measured |",
             "|---|---|---|---|"]
    for key in ("step", "M", "MTE1", "MTE2", "FIX", "S"):
        lines.append(f"| {LABELS[key]} | {r.measured[key]:,.1f} | {r.modeled[key]:,.1f} | {r.ratio(key):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    command(__doc__, argv, "l1_to_l0_overhead=8", MatmulKernel,
            lambda kernel, args, overrides: run_matmul(kernel, args.m_tiles, args.n_tiles, args.soc, overrides),
            markdown_matmul, MATMUL_SOURCE,
            (("--m-tiles", dict(type=int, default=4, help="output tiles a core runs, along m")),
             ("--n-tiles", dict(type=int, default=1, help="output tiles a core runs, along n"))))

if __name__ == "__main__":
    main()
