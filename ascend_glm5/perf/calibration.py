"""The timing model against times measured on the hardware.

Huawei's DataCopy best-practice example (CANN asc-devkit, `SOURCE`) reads a half matrix
[12288, 12288] from GM on every core of an A2/A3 part, tile by tile with nothing else to do, and
publishes the measured times: tile sizes, an unaligned row width, L2 reuse. Its Add example
(`ADD_SOURCE`) adds two half [8192, 8192] matrices: element by element on the scalar unit, with
`Add` on one core, on 48 cores in small and large chunks, double buffered, and publishes each
case's core time and per-pipe times. Its UB bank example (`BANK_SOURCE`) times 1,000 float Adds
with their operands placed to meet or miss in UB's bank groups. `calibration_kernels.cpp` makes the
same copies and adds on the emulator; `run()`, `run_add()` and `run_bank()` replay them on the model
and set each against the measurement, so a model constant that disagrees with the hardware shows here.

    python -m ascend_glm5.perf.calibration            # the three tables (about a minute)

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
ADD_SOURCE = ("CANN asc-devkit examples/01_simd_cpp_api/05_best_practices/00_vector_compute/add_high_performance/"
              "README_en.md (CANN 9.0 and later; Atlas A2, cases 0-4)")
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


@dataclass(frozen=True)
class AddScenario:
    """One case of the Add example: how it adds, and its measured per-core times (us)."""

    name: str
    cores: int
    chunk: int  # elements a copy moves and an add takes
    mode: int  # calibration_kernels.cpp AddMode: 0 scalar, 1 one buffer set, 2 double buffer
    aiv_us: float  # aiv_time: a core's time, what the model's launch time compares with
    vec_us: float  # aiv_vec_time
    scalar_us: float  # aiv_scalar_time
    mte2_us: float  # aiv_mte2_time
    mte3_us: float  # aiv_mte3_time
    rows: int  # rows emulated of the 8192 (the model's times are scaled back by 8192 / rows)

    m = n = 8192


# Cases 5 and 6 are left out: they turn L2 allocation off for x and y with a cache-mode hint
# (SetL2CacheHint), which the model does not know; case 6 also places y 256 B after x in UB to avoid
# bank conflicts, which the model does not know either (docs/performance.md "## Calibration").
ADD_SCENARIOS = [
    AddScenario("Add: scalar, 1 core, chunks of 4096", 1, 4096, 0, 1239688.63, 0.015, 1233742.494, 5916.341, 2485.465, 64),
    AddScenario("Add: 1 core, chunks of 4096", 1, 4096, 1, 6909.14, 761.65, 231.166, 6208.762, 2613.205, 1024),
    AddScenario("Add: 48 cores, chunks of 4096", 48, 4096, 1, 297.14, 15.885, 8.219, 215.485, 54.33, 2048),
    AddScenario("Add: 48 cores, chunks of 16384", 48, 16384, 1, 261.5, 12.845, 2.833, 184.369, 57.354, 2048),
    AddScenario("Add: 48 cores, chunks of 16384, double buffer", 48, 16384, 2, 257.56, 12.846, 2.796, 250.528, 84.988,
                2048),
]
ADD_PIPES = {"core": "aiv_us", "V": "vec_us", "S": "scalar_us", "MTE2": "mte2_us", "MTE3": "mte3_us"}


@dataclass(frozen=True)
class AddResult:
    scenario: AddScenario
    modeled: dict[str, float]  # ADD_PIPES key -> modeled us (the cores' average busy time; "core": the launch)

    def ratio(self, key: str) -> float:
        """Modeled over measured for `key` (an ADD_PIPES key)."""
        return self.modeled[key] / getattr(self.scenario, ADD_PIPES[key])


def _lane_index(rep_stride: int, blk_stride: int, length: int) -> np.ndarray:
    """The float element each lane of 64-lane repeats reads or writes (strides in 32-B blocks)."""
    lane = np.arange(length)
    return (lane // 64) * rep_stride * 8 + ((lane % 64) // 8) * blk_stride * 8 + lane % 8


@dataclass(frozen=True)
class BankScenario:
    """One scenario of the UB bank example: where x (src0), y (src1) and z (dst) sit in UB, src0's
    strides, and the measured time of 1,000 float Adds of 64 repeats in system ticks (50 MHz)."""

    name: str
    src0: int
    src1: int
    dst: int
    ticks: int  # 0: not measured (the guide's examples, which give beats a repeat instead)
    src0_blk_stride: int = 1
    src0_rep_stride: int = 8
    dst_blk_stride: int = 1
    times: int = 1000

    length = 4096  # floats: 64 repeats of 64

    @property
    def src0_index(self) -> np.ndarray:
        """The x element each lane reads."""
        return _lane_index(self.src0_rep_stride, self.src0_blk_stride, self.length)

    @property
    def dst_index(self) -> np.ndarray:
        """The z element each lane writes."""
        return _lane_index(8, self.dst_blk_stride, self.length)

    @property
    def measured_us(self) -> float:
        return self.ticks / 50  # GetSystemCycle counts at 50 MHz (GetSystemCycle(ISASI).md)


BANK_SOURCE = ("asc-devkit examples/01_simd_cpp_api/05_best_practices/04_memory_access/bank_conflict_ub/"
               "README_en.md, Atlas A2/A3, GetSystemCycle ticks at 50 MHz")
BANK_SCENARIOS = [
    BankScenario("1: no conflict", 0x0, 0x10100, 0x20000, 2390),
    BankScenario("2: src0, src1 in one bank (read-read)", 0x0, 0x4000, 0x10000, 4167),
    BankScenario("3: src0, src1 in one bank group (read-read)", 0x0, 0x10000, 0x14100, 4167),
    BankScenario("4: src0, dst in one bank, rows aligned (write a repeat later)", 0x0, 0x10100, 0x4000, 2389),
    BankScenario("5: src0, dst in one bank, dst a row on (read-write)", 0x0, 0x10100, 0x4020, 3751),
    BankScenario("6: dst over src1", 0x0, 0x10100, 0x10100, 2390),
    BankScenario("7: dst over src1, src0 one block a repeat, repeat stride 1 (read-read)", 0x0, 0x10100, 0x10100,
                 3584, 0, 1),
    BankScenario("8: dst over src1, src0 one block a repeat, repeat stride 8", 0x0, 0x10100, 0x10100, 2389, 0, 8),
]


# The examples of CANN's guide "避免bank冲突（NPU架构版本2201）" (asc-devkit docs/zh/guide, SIMD算子性能优化 /
# 内存访问 / 避免UB的bank冲突), with the beats a repeat it gives: a block stride of 16 rows puts an operand's 8
# blocks in one bank group (8 beats), a stride of 8 two by two (4). One Add each, src1 kept out of those
# groups (the guide's read example is a one-source instruction; with Add's second source the stride-8
# read case meets src1 in one of its two groups, so it is left out).
GUIDE_BANK_CASES = [
    (BankScenario("guide table 2: dst block stride 16 (write-write)", 0x0, 0x10100, 0x1FE00, 0, dst_blk_stride=16,
                  times=1), 8),
    (BankScenario("guide table 2: dst block stride 8 (write-write)", 0x0, 0x10100, 0x1FE00, 0, dst_blk_stride=8,
                  times=1), 4),
    (BankScenario("guide table 4: src0 block stride 16 (read-read)", 0x0, 0x10100, 0x20000, 0, src0_blk_stride=16,
                  times=1), 8),
]


@dataclass(frozen=True)
class BankResult:
    scenario: BankScenario
    modeled_us: float  # the vector pipe's busy time
    conflict_cycles: float  # of it, what the UB bank conflicts took (LaunchReport.bank_conflict_cycles)

    @property
    def ratio(self) -> float:
        return self.modeled_us / self.scenario.measured_us


class Kernels:
    """calibration_kernels.cpp compiled against the installed emulator."""

    def __init__(self, out_dir: Path):
        from ascend_glm5 import emu

        self.lib = ctypes.CDLL(str(emu.compile_library([KERNELS], out_dir)))
        self.lib.calib_tile_copy.argtypes = [ctypes.c_void_p] + [ctypes.c_uint32] * 8 + [ctypes.c_char_p, ctypes.c_int]
        self.lib.calib_add.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_uint32] * 5 + [ctypes.c_char_p, ctypes.c_int]
        self.lib.calib_bank_add.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_uint32] * 10 + [ctypes.c_char_p, ctypes.c_int]

    def add(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, s: AddScenario) -> None:
        err = ctypes.create_string_buffer(2048)
        m, n = x.shape
        if self.lib.calib_add(x.ctypes.data, y.ctypes.data, z.ctypes.data, m, n, s.cores, s.chunk, s.mode, err, len(err)):
            raise RuntimeError(err.value.decode())

    def bank_add(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, s: BankScenario) -> None:
        err = ctypes.create_string_buffer(2048)
        if self.lib.calib_bank_add(x.ctypes.data, y.ctypes.data, z.ctypes.data, s.length, x.size, z.size, s.src0, s.src1,
                                   s.dst,
                                   s.dst_blk_stride, s.src0_blk_stride, s.src0_rep_stride, s.times, err, len(err)):
            raise RuntimeError(err.value.decode())

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


def run_add(kernels: Kernels, scenarios: list[AddScenario] = ADD_SCENARIOS, soc: str = SOC,
            param_overrides: dict[str, float] | None = None) -> list[AddResult]:
    """Emulates each Add case on `rows` of the 8192 rows (the model's L2 cut in proportion), replays it
    on `soc` and scales the times back."""
    from ascend_glm5 import perf
    from ascend_glm5.perf import soc as socs

    out = []
    for s in scenarios:
        scale = s.m / s.rows
        overrides = {"l2_bytes": socs.params(soc)["l2_bytes"] / scale, **(param_overrides or {})}
        rng = np.random.default_rng(0)
        x, y = (rng.standard_normal((s.rows, s.n)).astype(np.float16) for _ in range(2))
        z = np.zeros_like(x)
        with perf.tracing() as traces:
            kernels.add(x, y, z, s)
        (trace,) = traces
        if not np.array_equal(z, x + y):  # numpy adds half in float and rounds once, as the kernel
            raise RuntimeError(f"{s.name}: the emulated add is wrong")
        rep = perf.replay(trace, soc, param_overrides=overrides)
        per_core = {p: rep.busy(p, "AIV") / s.cores / rep.clock_hz * 1e6 * scale for p in ADD_PIPES if p != "core"}
        out.append(AddResult(s, {"core": rep.time_us * scale, **per_core}))
    return out


def bank_expected(x: np.ndarray, y: np.ndarray, s: BankScenario) -> np.ndarray:
    """What the scenario's Adds leave in z: x as src0 reads it added to y, once, or `times` times when
    z is y's buffer (float adds one at a time, as the kernel); with a dst block stride the repeats
    write in order, later ones over earlier ones (z holds what the strides reach)."""
    src0 = x[s.src0_index]
    if s.dst == s.src1:
        z = y.copy()
        for _ in range(s.times):
            z = z + src0
        return z
    z = np.zeros(s.dst_index.max() + 1, np.float32)
    for r in range(s.length // 64):
        lanes = slice(64 * r, 64 * (r + 1))
        z[s.dst_index[lanes]] = (src0 + y)[lanes]
    return z


def run_bank(kernels: Kernels, scenarios: list[BankScenario] = BANK_SCENARIOS, soc: str = SOC,
             param_overrides: dict[str, float] | None = None) -> list[BankResult]:
    """Emulates each UB bank scenario and replays it on `soc`: the vector pipe's busy time."""
    from ascend_glm5 import perf

    out = []
    for s in scenarios:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(s.src0_index.max() + 1).astype(np.float32)
        y = rng.standard_normal(s.length).astype(np.float32)
        expected = bank_expected(x, y, s)
        z = np.zeros_like(expected)
        with perf.tracing() as traces:
            kernels.bank_add(x, y, z, s)
        (trace,) = traces
        written = np.unique(s.dst_index)  # a dst block stride leaves rows between its blocks alone
        if not np.array_equal(z[written], expected[written]):
            raise RuntimeError(f"{s.name}: the emulated adds are wrong")
        rep = perf.replay(trace, soc, param_overrides=param_overrides)
        out.append(BankResult(s, rep.busy("V", "AIV") / rep.clock_hz * 1e6, rep.bank_conflict_cycles.get("Add", 0.0)))
    return out


def markdown(results: list[Result]) -> str:
    lines = ["| copy (48 AIV to UB, 24 AIC to L1) | GM read | measured: task / core us | modeled us | modeled / measured |",
             "|---|---|---|---|---|"]
    for r in results:
        s = r.scenario
        lines.append(f"| {s.name} | {s.gm_bytes / 1e6:.0f} MB | {s.task_us:.1f} / {s.core_us:.1f} | "
                     f"{r.modeled_us:.1f} | {r.ratio:.2f} |")
    return "\n".join(lines)


def markdown_add(results: list[AddResult]) -> str:
    lines = ["| Add case | measured us: core / vec / scalar / MTE2 / MTE3 | modeled us | modeled / measured |",
             "|---|---|---|---|"]
    for r in results:
        s = r.scenario
        measured = " / ".join(f"{getattr(s, ADD_PIPES[k]):.1f}" for k in ADD_PIPES)
        modeled = " / ".join(f"{r.modeled[k]:.1f}" for k in ADD_PIPES)
        ratios = " / ".join("-" if k == "V" and not s.mode else f"{r.ratio(k):.2f}" for k in ADD_PIPES)  # scalar: no vector
        lines.append(f"| {s.name} | {measured} | {modeled} | {ratios} |")
    return "\n".join(lines)


def markdown_bank(results: list[BankResult]) -> str:
    lines = ["| UB bank scenario (1,000 float Adds of 64 repeats) | measured us | modeled us | modeled / measured |",
             "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.scenario.name} | {r.scenario.measured_us:.1f} | {r.modeled_us:.1f} | {r.ratio:.2f} |")
    return "\n".join(lines)


def cli(doc: str, argv: list[str] | None, example: str,
        extra: tuple[tuple[str, dict], ...] = ()) -> tuple[argparse.Namespace, dict[str, float]]:
    """The options every calibration command takes (--soc, --set CONSTANT=VALUE, and `extra` as
    (flag, add_argument keywords)); returns the parsed arguments and the constants to override."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, kw in extra:
        ap.add_argument(flag, **kw)
    ap.add_argument("--soc", default=SOC)
    ap.add_argument("--set", action="append", default=[], metavar="CONSTANT=VALUE",
                    help=f"replay with a model constant changed (soc.constants), e.g. {example}")
    args = ap.parse_args(argv)
    return args, {k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)}


def command(doc: str, argv: list[str] | None, example: str, build, run, show, source: str,
            extra: tuple[tuple[str, dict], ...] = ()) -> None:
    """A calibration module's command: `build(dir)` compiles its kernel, `run(kernel, args, overrides)`
    replays it, `show(result)` is its table; the measurement's source is printed under it."""
    args, overrides = cli(doc, argv, example, extra)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(build(Path(tmp)), args, overrides)
    print(show(result))
    print(f"\nmeasured: {source}")


def main(argv: list[str] | None = None) -> None:
    args, overrides = cli(__doc__, argv, "gm_copy_overhead=18",
                          (("--scale", dict(type=int, default=4, help="emulate 1/scale of the rows (and of L2)")),))
    with tempfile.TemporaryDirectory() as tmp:
        kernels = Kernels(Path(tmp))
        results = run(kernels, scale=args.scale, soc=args.soc, param_overrides=overrides)
        adds = run_add(kernels, soc=args.soc, param_overrides=overrides)
        banks = run_bank(kernels, soc=args.soc, param_overrides=overrides)
    print(markdown(results))
    print(f"\nmeasured: {SOURCE}\n")
    print(markdown_add(adds))
    print(f"\nmeasured: {ADD_SOURCE}\n")
    print(markdown_bank(banks))
    print(f"\nmeasured: {BANK_SOURCE}")


if __name__ == "__main__":
    main()
