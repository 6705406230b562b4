"""Record an op's kernel launches on the emulator and replay them on the timing model of a SoC."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..ops._backend import cpu_module
from . import costs, soc as socs

PIPES = ("S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX")
# Which core kind has which pipe (utilisation is over the cores that have it).
_PIPE_CORES = {"S": ("AIC", "AIV"), "V": ("AIV",), "M": ("AIC",), "MTE1": ("AIC",), "MTE2": ("AIC", "AIV"),
               "MTE3": ("AIC", "AIV"), "FIX": ("AIC",)}


@contextlib.contextmanager
def emulated_soc(soc: str) -> Iterator[None]:
    """Host tilings see `soc`'s core counts while the block runs (910B3: 20 AIC + 40 AIV)."""
    c = cpu_module()
    p = socs.params(soc)
    before = c.emulator_limits()
    c.select_soc(soc, int(p["aic_cores"]), int(p["aiv_cores"]))
    try:
        yield
    finally:
        c.select_soc(before["soc"], before["aic_cores"], before["aiv_cores"])


@contextlib.contextmanager
def tracing(max_records: int = 0) -> Iterator[list]:
    """Records the instruction trace of every launch made inside the block into the yielded list."""
    c = cpu_module()
    was = c.trace_enabled()
    c.set_trace(True, max_records)
    c.take_traces()  # drop anything recorded before
    traces: list = []
    try:
        yield traces
    finally:
        traces.extend(c.take_traces())
        c.set_trace(was)


@dataclass
class LaunchReport:
    """The model's view of one kernel launch."""

    kernel: str
    soc: str
    cycles: float
    clock_hz: float
    cores: list[dict]
    apis: list[tuple[str, str, float, float]]  # (name, pipe, busy cycles over all cores, instructions)
    timeline: dict
    path: dict
    hbm_read_bytes: float
    hbm_write_bytes: float  # written to HBM during the launch (lines L2 pushed out, writes outside the buffers)
    l2_hit_bytes: float
    cube_macs: dict[int, float]  # by A's element bits
    records: int
    bandwidth_stall: float
    l2_dirty_bytes: float = 0.0  # written lines still in L2 at the end (written back after the launch)
    late_bytes: float = 0.0  # GM bytes the pools got after their clock passed the copy's start (should be 0)
    # Every GM read with bytes from HBM: {'end': cycles it ended, 'bytes': its bytes from HBM} (hbm_read_by).
    hbm_reads: dict = field(default_factory=dict)
    api_names: list[str] = field(default_factory=list)
    # per API: V cycles its UB bank conflicts took beyond its conflict-free rate, summed over the cores
    bank_conflict_cycles: dict[str, float] = field(default_factory=dict)
    # replay(detail_core=i): core i's records as replayed (api, pipe, issue, start, end; explore.py)
    detail: dict = field(default_factory=dict)

    @property
    def time_us(self) -> float:
        return self.cycles / self.clock_hz * 1e6

    def busy(self, pipe: str, core_type: str | None = None) -> float:
        """Busy cycles of `pipe` summed over the cores (of `core_type`, if given)."""
        i = PIPES.index(pipe)
        return sum(c["busy"][i] for c in self.cores if core_type in (None, c["type"]))

    def utilisation(self, pipe: str) -> float:
        """Busy share of `pipe` over the launch's time, averaged over the cores that have it."""
        cores = [c for c in self.cores if c["type"] in _PIPE_CORES[pipe]]
        if not cores or self.cycles <= 0:
            return 0.0
        return sum(c["busy"][PIPES.index(pipe)] for c in cores) / (len(cores) * self.cycles)

    def hbm_read_by(self, share: float) -> float:
        """Cycles by which the launch's GM reads had taken `share` (0-1] of their bytes from HBM (each read's
        bytes counted when it ends; 0 without any)."""
        end, nbytes = self.hbm_reads.get("end", []), self.hbm_reads.get("bytes", [])
        if not len(end):
            return 0.0
        order = np.argsort(end, kind="stable")
        done = np.cumsum(np.asarray(nbytes)[order])
        # The first read at which the bytes in reach the share (a hair under it: share 1 is the last read).
        at = int(np.searchsorted(done, share * done[-1] * (1 - 1e-12)))
        return float(np.asarray(end)[order][min(at, len(done) - 1)])

    def core_label(self, i: int) -> str:
        c = self.cores[i]
        return f"{c['type']} {c['block']}"

    def critical_path(self) -> list[tuple[str, str, str, float]]:
        """(core, pipe, api, share of the path's time), largest first. The path is walked back from
        the instruction that ends last, through whatever bounded each start; gaps between steps
        (latencies) are listed as pipe '-'."""
        p = self.path
        n = len(p["core"])
        if not n or self.cycles <= 0:
            return []
        spent: dict[tuple[str, str, str], float] = defaultdict(float)
        horizon = self.cycles
        for i in range(n):
            start, end = float(p["start"][i]), float(p["end"][i])
            end = min(end, horizon)
            if end > start:
                key = (self.core_label(int(p["core"][i])), PIPES[int(p["pipe"][i])], self.api_names[int(p["api"][i])])
                spent[key] += end - start
            nxt_end = float(p["end"][i + 1]) if i + 1 < n else 0.0
            gap = min(start, horizon) - max(nxt_end, 0.0)
            if gap > 0 and i + 1 < n:
                if PIPES[int(p["pipe"][i + 1])] == "MTE2":  # MTE2 always reads GM
                    what = "latency (GM read)"
                else:
                    what = f"latency ({p['reasons'][int(p['reason'][i])]})"
                spent[(self.core_label(int(p["core"][i])), "-", what)] += gap
            horizon = min(horizon, start)
        total = sum(spent.values()) or 1.0
        return sorted(((k[0], k[1], k[2], v / total) for k, v in spent.items()), key=lambda r: -r[3])

    def bound(self) -> str:
        """The pipe (or latency) that takes the largest share of the critical path, over all cores."""
        by_pipe: dict[str, float] = defaultdict(float)
        for core, pipe, api, share in self.critical_path():
            kind = core.split()[0]
            by_pipe[f"{kind} {pipe}" if pipe != "-" else api.split(" (")[0] + " " + api[api.find("("):]] += share
        if not by_pipe:
            return "-"
        name, share = max(by_pipe.items(), key=lambda kv: kv[1])
        return f"{name} ({share:.0%} of the critical path)"


def replay(trace, soc: str = "Ascend910B3", timeline_resolution: float = 50.0,
           cost_overrides: dict[str, tuple[float, float, float, float]] | None = None,
           param_overrides: dict[str, float] | None = None, detail_core: int = -1) -> LaunchReport:
    """Replays one LaunchTrace (from `tracing`) on `soc`'s constants. What-if experiments:
    `cost_overrides` replaces the cost (head, slope16, slope32, per_element) of the named vector
    APIs (the top-k's share of a launch is the time saved when its instructions cost nothing);
    `param_overrides` replaces SoC constants by name (soc.constants), e.g. an assumed latency.
    `detail_core`: also record that core's every instruction (LaunchReport.detail)."""
    if trace.truncated:
        raise RuntimeError(f"the trace of '{trace.kernel}' hit the record limit; raise ASCEND_GLM5_TRACE_MAX_RECORDS")
    params = socs.params(soc)
    for key, value in (param_overrides or {}).items():
        if key not in params:
            raise ValueError(f"param_overrides: unknown constant {key!r}; known: {', '.join(sorted(params))}")
        params[key] = value
    api_costs = costs.api_costs()
    api_costs.update(cost_overrides or {})
    r = cpu_module().perf_replay(trace, params, api_costs, timeline_resolution, detail_core)
    apis = list(r["apis"])
    return LaunchReport(
        kernel=r["kernel"], soc=soc, cycles=r["cycles"], clock_hz=params["clock_ghz"] * 1e9, cores=list(r["cores"]),
        apis=apis, timeline=dict(r["timeline"]), path=dict(r["path"]), hbm_read_bytes=r["hbm_read_bytes"],
        hbm_write_bytes=r["hbm_write_bytes"], l2_dirty_bytes=r["l2_dirty_bytes"], l2_hit_bytes=r["l2_hit_bytes"],
        cube_macs=dict(zip((4, 8, 16, 32), r["cube_macs"])), records=r["records"],
        bandwidth_stall=r["bandwidth_stall"], late_bytes=r["late_bytes"], hbm_reads=dict(r["hbm_reads"]),
        api_names=[a[0] for a in apis],
        bank_conflict_cycles=dict(r["bank_conflict_cycles"]), detail=dict(r.get("detail", {})))  # fmt: skip


def model(fn: Callable[[], object], soc: str = "Ascend910B3", emulate_soc: bool = True) -> list[LaunchReport]:
    """Runs `fn` (which launches kernels on the emulator) with tracing on, with the host tilings
    sized for `soc` (emulate_soc), and returns the model's report of each launch."""
    ctx = emulated_soc(soc) if emulate_soc else contextlib.nullcontext()
    with ctx, tracing() as traces:
        fn()
    return [replay(t, soc) for t in traces]


@dataclass
class Roofline:
    """The op's lower bound: max(bytes / HBM bandwidth, MACs / cube peak) on a SoC. `macs` at the
    peak of `mac_bits`; `more_macs` ({bits: MACs}) adds cube work of other dtypes (e.g. mla_prolog's
    int8 projections and bf16 W_UK), whose times add up."""

    bytes: float
    macs: float = 0.0
    mac_bits: int = 16  # element bits of the cube inputs (16: fp16/bf16, 8: int8, 4: int4)
    more_macs: dict[int, float] = field(default_factory=dict)
    written: float = 0.0  # of `bytes`, the outputs': the rest are reads any kernel takes from HBM (floors.any_kernel_us)

    @property
    def read_bytes(self) -> float:
        return self.bytes - self.written

    @property
    def total_macs(self) -> float:
        return self.macs + sum(self.more_macs.values())

    def cube_s(self, soc: str) -> float:
        per_s = socs.peak(soc)["macs_per_s"]
        return self.macs / per_s[self.mac_bits] + sum(m / per_s[b] for b, m in self.more_macs.items())

    def time_us(self, soc: str) -> float:
        return max(self.bytes / socs.peak(soc)["hbm_bytes_per_s"], self.cube_s(soc)) * 1e6

    def which(self, soc: str) -> str:
        return "memory" if self.bytes / socs.peak(soc)["hbm_bytes_per_s"] >= self.cube_s(soc) else "cube"


def kernel_roofline_us(rep: LaunchReport) -> float:
    """max(bytes the kernel moves through HBM / bandwidth, its cube MACs / peak): the bound of the
    kernel as written (its own traffic, its writes still in L2 at the end included), next to the op's bound."""
    pk = socs.peak(rep.soc)
    t = (rep.hbm_read_bytes + rep.hbm_write_bytes + rep.l2_dirty_bytes) / pk["hbm_bytes_per_s"]
    for bits, macs in rep.cube_macs.items():
        t = max(t, macs / pk["macs_per_s"][bits])
    return t * 1e6
