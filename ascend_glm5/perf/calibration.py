"""The timing model against copy times measured on the hardware.

Huawei's DataCopy best-practice example (CANN asc-devkit, `SOURCE`) reads a half matrix
[12288, 12288] from GM on every core of an A2/A3 part, tile by tile with nothing else to do, and
publishes the measured times: tile sizes, an unaligned row width, L2 reuse. `calibration_kernels.cpp`
makes the same copies on the emulator; `run()` replays them on the model and sets each against the
measurement, so a model constant that disagrees with the hardware shows here.

    python -m ascend_glm5.perf.calibration            # the table (about a minute)

The measured part runs 24 AI cores (48 AIV) at 1.85 GHz (every row's total cycles over its time),
as the model's Ascend910B1. A case is emulated with 1/`scale` of the rows and 1/`scale` of the L2,
so the working sets keep their size against L2, and its modeled time is multiplied by `scale`. The
two same-address rows of the example are left out: they turn L2 allocation off with a cache-mode
hint, which the model does not know.
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCE = ("CANN asc-devkit examples/01_simd_cpp_api/05_best_practices/04_memory_access/data_copy/README_en.md "
          "(CANN 9.0 and later; tables 'GM to UB' / 'GM to L1' of each optimisation point)")
CLOCK_HZ = 1.85e9
SOC = "Ascend910B1"
KERNELS = Path(__file__).resolve().parent / "calibration_kernels.cpp"


@dataclass(frozen=True)
class Scenario:
    """One measured row: the copy pattern and what the hardware took."""

    name: str
    to_l1: bool  # GM -> L1 (ND2NZ) on the AICs; else GM -> UB (DataCopyPad) on the AIVs
    tile_m: int
    tile_n: int
    task_us: float  # the example's Task Duration
    total_cycles: int  # aiv_total_cycles / aic_total_cycles: summed over the cores
    n: int = 12288
    slices: int = 1
    repeats: int = 1
    m: int = 12288

    @property
    def cores(self) -> int:
        return 24 if self.to_l1 else 48

    @property
    def core_us(self) -> float:
        """The average core's time: what the model's launch time compares with (no launch overhead)."""
        return self.total_cycles / self.cores / CLOCK_HZ * 1e6

    @property
    def gm_bytes(self) -> int:
        return self.m * self.n * 2 * self.repeats


SCENARIOS = [
    Scenario("UB: 128-B tiles [1, 64]", False, 1, 64, 564.84, 49222116),
    Scenario("UB: tiles [64, 64]", False, 64, 64, 233.54, 20167322),
    Scenario("UB: tiles [64, 1024]", False, 64, 1024, 215.82, 18563430),
    Scenario("UB: tiles [64, 1024], n = 12287", False, 64, 1024, 275.3, 23648813, n=12287),
    Scenario("UB: tiles [64, 1024], the matrix 4 times", False, 64, 1024, 828.06, 72465129, repeats=4),
    Scenario("UB: tiles [64, 1024], 4 column slices 4 times each", False, 64, 1024, 365.74, 31484525, slices=4,
             repeats=4),
    Scenario("L1: tiles [64, 64]", True, 64, 64, 300.7, 12870910),
    Scenario("L1: tiles [64, 256]", True, 64, 256, 230.24, 9795512),
    Scenario("L1: tiles [64, 256], n = 12287", True, 64, 256, 438.76, 19020328, n=12287),
    Scenario("L1: tiles [64, 1024], the matrix 4 times", True, 64, 1024, 899.34, 38725327, repeats=4),
    Scenario("L1: tiles [64, 1024], 4 column slices 4 times each", True, 64, 1024, 414.96, 17662155, slices=4,
             repeats=4),
]


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    modeled_us: float

    @property
    def ratio(self) -> float:
        """Modeled over measured (the average core's time)."""
        return self.modeled_us / self.scenario.core_us


class Kernels:
    """calibration_kernels.cpp compiled against the installed emulator."""

    def __init__(self, out_dir: Path):
        from ascend_glm5 import emu

        self.lib = ctypes.CDLL(str(emu.compile_library([KERNELS], out_dir)))
        self.lib.calib_tile_copy.argtypes = [ctypes.c_void_p] + [ctypes.c_uint32] * 8 + [ctypes.c_char_p, ctypes.c_int]

    def tile_copy(self, src: np.ndarray, s: Scenario, cores: int) -> None:
        m, n = src.shape
        err = ctypes.create_string_buffer(2048)
        if self.lib.calib_tile_copy(src.ctypes.data, m, n, cores, s.tile_m, s.tile_n, s.slices, s.repeats, int(s.to_l1),
                                    err, len(err)):
            raise RuntimeError(err.value.decode())


def run(kernels: Kernels, scenarios: list[Scenario] = SCENARIOS, scale: int = 4, soc: str = SOC,
        param_overrides: dict[str, float] | None = None) -> list[Result]:
    """Emulates each scenario with 1/`scale` of its rows (and the model's L2 cut to 1/`scale`) and
    replays it on `soc` (with `param_overrides`, as perf.replay)."""
    from ascend_glm5 import perf
    from ascend_glm5.perf import soc as socs

    overrides = {"l2_bytes": socs.params(soc)["l2_bytes"] / scale, **(param_overrides or {})}
    out = []
    for s in scenarios:
        rows = s.m // scale
        if rows % (s.cores * s.tile_m):
            raise ValueError(f"{s.name}: {rows} rows do not split into {s.cores} cores x {s.tile_m}-row tiles")
        src = np.zeros((rows, s.n), np.float16)
        with perf.tracing() as traces:
            kernels.tile_copy(src, s, s.cores)
        (trace,) = traces
        rep = perf.replay(trace, soc, param_overrides=overrides)
        out.append(Result(s, rep.time_us * scale))
    return out


def markdown(results: list[Result]) -> str:
    lines = ["| copy (48 AIV to UB, 24 AIC to L1) | GM read | measured: task / core us | modeled us | modeled / measured |",
             "|---|---|---|---|---|"]
    for r in results:
        s = r.scenario
        lines.append(f"| {s.name} | {s.gm_bytes / 1e6:.0f} MB | {s.task_us:.1f} / {s.core_us:.1f} | "
                     f"{r.modeled_us:.1f} | {r.ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=4, help="emulate 1/scale of the rows (and of L2)")
    ap.add_argument("--soc", default=SOC)
    ap.add_argument("--set", action="append", default=[], metavar="CONSTANT=VALUE",
                    help="replay with a model constant changed (soc.constants), e.g. gm_copy_overhead=18")
    args = ap.parse_args(argv)
    overrides = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    with tempfile.TemporaryDirectory() as tmp:
        results = run(Kernels(Path(tmp)), scale=args.scale, soc=args.soc, param_overrides=overrides)
    print(markdown(results))
    print(f"\nmeasured: {SOURCE}")


if __name__ == "__main__":
    main()
