"""The model's vector costs against the GELU of Huawei's matmul + GELU fusion example, measured on A2.

`GELU_SOURCE` (scenario 1 on Atlas A2: 24 AIC + 48 AIV, the 8192^3 matmul of the basic-API example, each
128 x 256 float output tile handed to its core's two AIVs through GM) runs, per AIV and half tile of
64 x 256 floats, 8 vector instructions behind PipeBarriers: Mul, Mul, Muls, Add, Muls, Exp, Adds, Div
(GELU by its tanh form). The README publishes the AIV's vector busy time: 174.327 us for 85.33 half
tiles (2,048 tiles over 24 cores), 3,779 cycles a half tile at 1.85 GHz. `calibration_gelu.cpp` runs the
same instructions on the same UB layout, checks the result against numpy, and `run_gelu()` replays it.

    python -m ascend_glm5.perf.calibration_gelu          # the table (a few seconds)
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibration import CLOCK_HZ, SOC, command  # the measured part: 24 AI cores (48 AIV) at 1.85 GHz

GELU_SOURCE = ("CANN asc-devkit examples/01_simd_cpp_api/05_best_practices/03_fusion_compute/"
               "matmul_gelu_high_performance/README_en.md (CANN 9.0 and later; Atlas A2, scenario 1: aiv_vec_time)")
KERNEL = Path(__file__).resolve().parent / "calibration_gelu.cpp"
VEC_US = 174.327  # the average AIV's vector busy time
HALF_TILES = 8192 // 128 * (8192 // 256) / 24  # per AIV: each of a core's tiles, half of it
TILE = (64, 256)


@dataclass(frozen=True)
class GeluResult:
    measured: float  # vector cycles a half tile
    modeled: float
    per_api: dict[str, float]  # modeled V cycles a half tile, by API
    conflict: float  # of `modeled`, what UB bank conflicts took

    @property
    def ratio(self) -> float:
        return self.modeled / self.measured


class GeluKernel:
    """calibration_gelu.cpp compiled against the installed emulator."""

    def __init__(self, out_dir: Path):
        from ascend_glm5 import emu

        self.lib = ctypes.CDLL(str(emu.compile_library([KERNEL], out_dir)))
        self.lib.calib_gelu.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_uint32] * 2 + [ctypes.c_char_p, ctypes.c_int]

    def __call__(self, x: np.ndarray, y: np.ndarray, cores: int, tiles: int) -> None:
        err = ctypes.create_string_buffer(2048)
        if self.lib.calib_gelu(x.ctypes.data, y.ctypes.data, cores, tiles, err, len(err)):
            raise RuntimeError(err.value.decode())


def gelu(x: np.ndarray) -> np.ndarray:
    """The example's formula in float32."""
    x = x.astype(np.float32)
    with np.errstate(over="ignore"):  # exp overflows to inf for x far below 0, and x / inf is the kernel's -0
        return x / (np.float32(1) + np.exp(np.float32(-1.595769) * (x + np.float32(0.044715) * x * x * x)))


def run_gelu(kernel: GeluKernel, cores: int = 48, tiles: int = 4, soc: str = SOC,
             param_overrides: dict[str, float] | None = None) -> GeluResult:
    from ascend_glm5 import perf

    x = np.random.default_rng(0).standard_normal((cores * tiles * TILE[0], TILE[1])).astype(np.float32) * 3
    y = np.zeros_like(x)
    with perf.tracing() as traces:
        kernel(x, y, cores, tiles)
    (trace,) = traces
    if not np.allclose(y, gelu(x), rtol=1e-5, atol=1e-6):
        raise RuntimeError("the emulated GELU is wrong")
    rep = perf.replay(trace, soc, param_overrides=param_overrides)
    computes = cores * tiles
    per_api = {name: busy / computes for name, pipe, busy, _ in rep.apis if pipe == "V"}
    return GeluResult(VEC_US * 1e-6 * CLOCK_HZ / HALF_TILES, rep.busy("V", "AIV") / computes, per_api,
                      sum(rep.bank_conflict_cycles.values()) / computes)


def markdown_gelu(r: GeluResult) -> str:
    apis = ", ".join(f"{name} {c:,.0f}" for name, c in sorted(r.per_api.items(), key=lambda kv: -kv[1]))
    return ("| GELU of a 64 x 256 float half tile (8 instructions) | measured cycles | modeled cycles | modeled / measured |\n"
            "|---|---|---|---|\n"
            f"| vector busy time | {r.measured:,.1f} | {r.modeled:,.1f} | {r.ratio:.2f} |\n\n"
            f"modeled by API: {apis}; UB bank conflicts {r.conflict:,.0f}")


def main(argv: list[str] | None = None) -> None:
    command(__doc__, argv, "ub_beat_cycles=0", GeluKernel,
            lambda kernel, args, overrides: run_gelu(kernel, soc=args.soc, param_overrides=overrides),
            markdown_gelu, GELU_SOURCE)

if __name__ == "__main__":
    main()
