"""Per-SoC constants of the timing model, each with its public source (or marked assumed).

docs/performance.md prints this table (``python -m ascend_glm5.perf.soc`` regenerates it) and a
test checks that the two agree. Sources, abbreviated in the table:

- ``ini``: CANN's platform configs ``Ascend910B{1,2,3,4}.ini`` / ``Ascend910_9391.ini``
  (``[SoCInfo]``, ``[AICoreSpec]``, ``[AICoreMemoryRates]`` in B/cycle/core), as transcribed in
  ``/work/shared/reference/ascendc_api.md`` §6; key names in asc-devkit
  ``tools/build/asc_op_compile_base/c_api/asc_platform.h``.
- ``pto``: Huawei's public A2/A3 cost model of the PTO ISA (gitcode cann/pto-isa, mirrored at
  github zouzias/pto-isa-mirror ``include/pto/costmodel/``): ``arch_config.hpp`` (per-path
  bandwidths in GiB/s at 1.85 GHz), ``a2a3/cce_costmodel/*.hpp`` and ``cce_cycle_profiles.csv``
  (per-instruction startup + per-repeat cycles).
- ``guide``: CANN's Ascend C programming guide (hiascend.com, CANN 8.5): "Hardware Constraints"
  (A2/A3: a DataCopy reaches its best bandwidth from 16 KB), "Scalar读写数据" (the scalar unit's
  DataCache, 64-byte lines).
- ``anchors``: ``/work/shared/reference/perf_anchors.md`` §1 (HBM bandwidth, a public estimate).
- ``measured``: times Huawei measured on an A2/A3 part (24 AI cores at 1.85 GHz) for the copies of
  CANN's DataCopy best-practice example and the cases of its Add example, which ``calibration.py``
  replays on the model (``python -m ascend_glm5.perf.calibration``; docs/performance.md "## Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class Constant:
    key: str  # parameter name of the replay (csrc/perf/replay.h SocParams)
    value: float
    unit: str
    source: str  # where the number comes from; "assumed: <why>" when no public source exists
    meaning: str

    @property
    def assumed(self) -> bool:
        return self.source.startswith("assumed")


# name: (AIC cores (AIV = 2x), clock MHz, L2 MiB, source) of the SoCs the model knows.
_SOCS = {
    "Ascend910B1": (24, 1850, 192, "ini"),
    "Ascend910B2": (24, 1800, 192, "ini"),
    "Ascend910B3": (20, 1800, 192, "ini"),
    "Ascend910B4": (20, 1500, 96, "ini"),
    "Ascend910_9391": (24, 1850, 192, "ini"),
    # Other A3 dies: no platform config in our references; assumed to be the 9391's.
    "Ascend910_9381": (24, 1850, 192, "assumed: as Ascend910_9391 (no .ini in the references)"),
    "Ascend910_9382": (24, 1850, 192, "assumed: as Ascend910_9391 (no .ini in the references)"),
    "Ascend910_9392": (24, 1850, 192, "assumed: as Ascend910_9391 (no .ini in the references)"),
}

HBM_TBPS = 1.6  # per 910B / per A3 die: the roofline's bandwidth (a public estimate)
# What the cores' GM reads get together on the hardware: 48 AIV read 1208 MB in 816.0 us (calibration.py,
# "UB: tiles [64, 1024], the matrix 4 times"), 92.5 % of HBM_TBPS. The model's HBM pool runs at this rate.
HBM_SUSTAINED_TBPS = 1.48


def names() -> list[str]:
    return list(_SOCS)


def constants(soc: str) -> list[Constant]:
    """Every constant of the model for `soc`, in the order of the docs table."""
    if soc not in _SOCS:
        raise ValueError(f"soc must be one of {', '.join(_SOCS)}; got {soc!r}")
    aic, mhz, l2_mib, core_src = _SOCS[soc]
    ghz = mhz / 1000
    pto_rate = lambda gib_s: gib_s * GIB / 1.85e9  # noqa: E731  pto-isa GiB/s at its 1.85 GHz -> B/cycle
    hbm_src = (f"measured: 48 AIV read 1208 MB in 816.0 us (calibration.py), {HBM_SUSTAINED_TBPS / HBM_TBPS:.1%} of "
               f"the roofline's {HBM_TBPS} TB/s (anchors: 3.2 TB/s per 910C package = 2 dies)")
    if soc == "Ascend910B4":
        hbm_src = "assumed: as the other 910B (no public number for the 910B4)"
    return [
        Constant("clock_ghz", ghz, "GHz", f"{core_src}: cube_freq", "core clock"),
        Constant("aic_cores", aic, "cores", f"{core_src}: ai_core_cnt", "cube cores (AIC)"),
        Constant("aiv_cores", 2 * aic, "cores", f"{core_src}: vector_core_cnt", "vector cores (AIV)"),
        Constant("hbm_bytes_per_cycle", HBM_SUSTAINED_TBPS * 1e12 / (ghz * 1e9), "B/cycle", hbm_src,
                 f"HBM bandwidth shared by all cores ({HBM_SUSTAINED_TBPS} TB/s sustained)"),
        Constant("l2_bytes", l2_mib * 2**20, "B", f"{core_src}: l2_size", "L2 cache shared by all cores"),
        Constant("l2_bytes_per_cycle", 110 * aic, "B/cycle", f"assumed: the ini's per-core l2_rate (110) x {aic} AI cores "
                 "(an AI core = 1 AIC + 2 AIV); no aggregate L2 bandwidth is published",
                 "L2 bandwidth shared by all cores (read hits, writes that stay in L2)"),
        Constant("l2_line_bytes", 128, "B", "assumed: L2 line size not published", "L2 model granularity (FIFO replacement)"),
        Constant("l2_dirty_at_start", 0, "share", "assumed: a launch finds no dirty lines in L2 (Huawei's Add example, one "
                 "launch on 48 cores, models closest so: 0.88-1.08x at 0, 1.24-1.39x at 0.67; calibration.py)",
                 "share of the L2 lines a launch finds written by earlier launches (their write-back when pushed out)"),
        Constant("gm_to_ub_rate", round(pto_rate(100.9), 1), "B/cycle/core", "pto: arch_config.hpp GM_TO_UB 100.9 GiB/s",
                 "MTE2 GM -> UB of one core (DMA path limit)"),
        Constant("gm_to_l1_rate", round(pto_rate(135.0), 1), "B/cycle/core", "pto: arch_config.hpp GM_TO_L1 135 GiB/s",
                 "MTE2 GM -> L1 of one core (DMA path limit)"),
        Constant("gm_read_l2_rate", 110, "B/cycle/core", "ini: [AICoreMemoryRates] l2_rate",
                 "GM read hitting L2, per core (also capped by the path)"),
        Constant("ub_to_gm_rate", 27, "B/cycle/core", "measured: the Add example's UB -> GM copies take 295 cycles for 8 KB "
                 "on one core and 1,244 for 32 KB on each of 48 (calibration.py), 26-28 B/cycle after the fixed cost; "
                 "pto's UB_TO_GM 188.46 GiB/s (109 B/cycle) gave a third of the measured MTE3 time",
                 "MTE3 UB -> GM of one core"),
        Constant("fix_write_rate", 86, "B/cycle/core", "ini: [AICoreMemoryRates] l2 write rate 86. measured: Huawei's Matmul-API "
                 "example (Case 7, no unitFlag) writes a 128 x 256 half tile in 992 cycles; the model takes 992-1,150 "
                 "(calibration_matmul.py; the pool share with the other cores' reads bounds it); pto's L0C_TO_GM "
                 "70 GiB/s (40.6) took 1,632-1,650", "Fixpipe L0C -> GM, per core"),
        Constant("l1_to_l0a_rate", 256, "B/cycle/core", "asc-devkit tests/perf/load_data_perf README: A2 / A3 theoretical "
                 "bandwidth of LoadData L1 -> L0A (the ini's l1_to_l0_a_rate says 512; the measured MTE1 time of "
                 "the basic-API matmul example fits 256 / 128, calibration_matmul.py)", "MTE1 L1 -> L0A"),
        Constant("l1_to_l0b_rate", 128, "B/cycle/core", "asc-devkit tests/perf/load_data_perf README: A2 / A3 theoretical "
                 "bandwidth of LoadData L1 -> L0B (the ini says 256)", "MTE1 L1 -> L0B"),
        Constant("l1_to_ub_rate", 128, "B/cycle/core", "ini: [AICoreMemoryRates] l1_to_ub_rate", "MTE1 L1 -> UB"),
        Constant("ub_to_l1_rate", 128, "B/cycle/core", "assumed: as l1_to_ub (ub_to_l1_rate not transcribed)", "MTE3 UB -> L1"),
        Constant("ub_to_ub_rate", 256, "B/cycle/core", "pto: cce_cycle_profiles.csv kVcopyProfile, 1 cycle per 256 B repeat",
                 "vector-side UB -> UB copy"),
        Constant("fill_rate", round(pto_rate(32.0), 1), "B/cycle/core", "pto: arch_config.hpp L1_FILL 32 GiB/s",
                 "InitConstValue into L1 / L0"),
        Constant("gm_copy_overhead", 18, "cycles", "measured: 48 AIV, each 49,152 DataCopyPad of 128 B back to back, "
                 "20.6 cycles a copy (calibration.py), less 128 B at gm_to_ub_rate (a 16 KB copy then runs at 94 % "
                 "of it: guide 'Hardware Constraints', best bandwidth from 16 KB)",
                 "fixed cost of each GM copy instruction"),
        Constant("local_copy_overhead", 8, "cycles", "assumed: no public number",
                 "fixed cost of each local copy but an L1 -> L0A / L0B load"),
        Constant("l1_to_l0_overhead", 22, "cycles", "measured: the basic-API matmul example's MTE1 time, 430 cycles a step "
                 "for 5 loads of 48 KiB, less their bytes at the rates above (calibration_matmul.py); load_data_perf "
                 "states 28 cycles of latency for one 2D load alone (50 for the 3D form)",
                 "fixed cost of each L1 -> L0A / L0B load"),
        Constant("gm_read_latency", 400, "cycles", "assumed: GM latency not published", "GM read: last byte to its consumer"),
        Constant("cube_head", 6, "cycles", "pto: cce_costmodel_cube.hpp kDefaultHeadCycles", "Mmad startup when M was idle"),
        Constant("cube_fractals_per_cycle", 1, "16x16xk0 per cycle",
                 "ini: cube_m/n/k_size 16 and [DtypeMKN] (fp16/bf16 k0 16 = 4096 MAC/cycle, int8 k0 32, int4 k0 64); "
                 "pto: mad (fp32 k0 8 at 2 cycles = 1/4 rate)", "cube throughput by A's dtype"),
        Constant("vec_head_when_busy", 1, "share", "measured for Add: the UB bank example's 1,000 back-to-back float Adds "
                 "of 64 repeats take 88 cycles each without conflicts and 154 with (64 and 128 beats), so each pays "
                 "~22 cycles however busy the pipe (calibration.py); every other API assumed alike. pto's "
                 "EstimateLinearCycles pays the head only when the pipe queue is empty (0)",
                 "share of a vector instruction's head paid when it follows another without a gap"),
        Constant("ub_beat_cycles", 1, "cycles", "measured: Huawei's Add example (half, 128 repeats an Add) takes "
                 "12.85 us of vector time with x and y in one UB bank group and 6.95 us with y 256 B further "
                 "(calibration.py); the bank_conflict_ub example's 1,000 float Adds of 64 repeats take 2,390 / 4,167 "
                 "system ticks (50 MHz) without / with a read-read conflict: +1.03 cycles a repeat",
                 "one UB bank beat of an element-wise vector instruction (a repeat without conflicts takes one)"),
        Constant("vec_barrier_drain", 16, "cycles", "pto: pipe_barrier (tilesim 910B1), only with vector work outstanding",
                 "PipeBarrier<PIPE_V>"),
        Constant("flag_latency", 1, "cycles", "pto: set_flag / wait_flag EstimateConstCycles", "SetFlag -> WaitFlag"),
        Constant("cross_core_latency", 200, "cycles", "assumed: FFTS latency not published (pto-isa leaves it open)",
                 "CrossCoreSetFlag -> CrossCoreWaitFlag"),
        Constant("issue_cycles", 2, "cycles", "assumed: scalar cost of issuing one instruction (pto-isa charges 1 per "
                 "scalar register write; an API issues about two)", "scalar unit, per instruction issued"),
        Constant("scalar_local_cycles", 11, "cycles", "measured: the Add example's scalar case takes 34.0 cycles an element "
                 "for two GetValue, a SetValue, the conversions and the add (calibration.py); the model records the "
                 "three accesses, so each carries a third", "scalar GetValue/SetValue on UB"),
        Constant("scalar_gm_hit_cycles", 4, "cycles", "assumed: not published", "scalar GM access hitting the DataCache"),
        Constant("scalar_gm_miss_cycles", 300, "cycles", "assumed: not published", "scalar GM access missing the DataCache"),
        Constant("scalar_cache_lines", 256, "64-B lines", "guide: 'Scalar读写数据' (64-byte lines); 256 lines assumed",
                 "scalar DataCache (direct mapped)"),
        Constant("queue_depth", 32, "instructions", "MTE1: 32, asc-devkit matmul_basic_api_high_performance README, "
                 "section 6 (A2 / A3); the other pipes' depths assumed the same",
                 "how far the scalar unit may run ahead of a pipe"),
        Constant("turn_cycles", 256, "cycles", "model granularity, not a hardware constant",
                 "how far the replay runs one core before it turns to the next (L2 lines fill in roughly time order); "
                 "the pools themselves are shared in exact modeled time"),
    ]


def params(soc: str) -> dict[str, float]:
    """The replay's SoC parameters (csrc/perf/replay.h) for `soc`."""
    out = {c.key: c.value for c in constants(soc) if c.key != "cube_fractals_per_cycle"}
    out["name"] = soc
    return out


def peak(soc: str) -> dict[str, float]:
    """Dense peaks of the whole SoC: cube MAC/s by A's element bits, HBM bytes/s."""
    p = params(soc)
    hz = p["clock_ghz"] * 1e9
    per_core = {4: 16384, 8: 8192, 16: 4096, 32: 1024}  # MAC/cycle/AIC
    return {
        "macs_per_s": {bits: p["aic_cores"] * m * hz for bits, m in per_core.items()},
        "hbm_bytes_per_s": HBM_TBPS * 1e12,
        "clock_hz": hz,
    }


def markdown(soc: str = "Ascend910B3") -> str:
    """The constants table of docs/performance.md."""
    rows = ["| constant | value | unit | meaning | source |", "|---|---|---|---|---|"]
    for c in constants(soc):
        value = f"{c.value:g}" if not float(c.value).is_integer() else f"{int(c.value)}"
        src = f"**{c.source}**" if c.assumed else c.source
        rows.append(f"| `{c.key}` | {value} | {c.unit} | {c.meaning} | {src} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
