"""What holds a goal row above 1.25x its roofline: each LI and SFA decode launch replayed with its data
movement free, to split the modeled time into the kernel's chain of work and the bytes it moves.

    python -m ascend_glm5.perf.glm5 --floors [--only sparse_flash_attention] [--batch 16] [--write docs/performance.md]
    python -m ascend_glm5.perf.glm5 --paths [--only sparse_flash_attention] [--batch 16] [--write docs/performance.md]
    python -m ascend_glm5 bench <op> --floors  (any op's cases: format_floors)

One trace per row (seed 0, host tilings sized for the SoC), replayed five ways:
- modeled: the SoC's constants;
- chain + HBM: every data movement free but the shared HBM pool, which keeps its rate. This is the
  kernel's order of work with every per-core path (copies, loads, fixpipe) infinitely fast;
- own paths: the other way round, the shared HBM and L2 pools unlimited and the round trips (below)
  at 0, every per-core path at its rate: the kernel's order of work on each core's own copies, loads
  and fixpipe, with no core waiting on another's bytes;
- chain: every data movement free, the HBM pool too. What is left is compute, scalar work and the
  round trips (GM read latency, cross-core flags, scalar cache misses) in the order the kernel
  issues them;
- chain without round trips: the chain with those latencies at 0 (compute and scalar work only).
The chain + HBM replay also gives the span of the HBM read stream: when 1 % and 99 % of the launch's
bytes from HBM were in (`LaunchReport.hbm_read_by`), and the time after it, in which the HBM idles.
The own-paths replay also gives the busiest pipe of one core (`busiest_pipe`): its busy cycles, its
instructions' own costs with no wait on another core's bytes and no scalar cache miss (a miss is a
wait, not the scalar unit's work). No order of that core's instructions does that pipe's work in less
time; the launch takes at least that plus whatever must run before the pipe's first instruction and
after its last.

Before them all the table puts the least time of **any kernel** (`any_kernel_us`), from the op's bytes
and the SoC's constants, no trace: the dependent GM reads before the first streamed byte can be asked
for (a paged row's block-table entry, and for SFA first its selected id), that byte's read latency,
then the op's reads from HBM (a cold L2, as the roofline's) at the pool's rate. Everything else any
kernel does (scores, softmax, top-k, the output) is taken to overlap the stream and to end with its
last byte: a bound no kernel can beat on these constants.

`--paths` replays each row once for each data path of PATHS freed alone: what that path costs the row
as the kernel stands (the paths overlap, so the costs do not add up).

The verdict (`verdict`) reads them against the limit, 1.25x the roofline:
- **out of reach**: any kernel is over the limit. The goal cannot be met on these constants, by this
  kernel or another;
- **chain**: the chain alone is over the limit. No tuning of copies, loads or bandwidth reaches the
  goal: the kernel has to do less work, or fewer round trips, one after another;
- **pipe work**: the chain fits, but one core's busiest pipe has more work than the limit: that pipe
  has to be given less (fewer or cheaper instructions), whatever the order;
- otherwise what is over the limit of these two, both when both are:
  - **HBM idle**: chain + HBM. The HBM is idle for part of the launch (before the stream of reads
    starts, after it ends, or while the chain waits): the work around the stream has to overlap it;
  - **own paths**: the own-paths replay. The cores' own copies, loads and fixpipe, in the kernel's
    order, take longer than the limit with no other core in the way: they need less work or more
    overlap;
- **per-core paths**: all of them fit, the modeled time does not: how the cores' paths meet on the
  shared pools and round trips, which tuning can reach;
- **met**: the modeled time is within the limit.
"""

from __future__ import annotations

from .model import PIPES, LaunchReport, replay
from .soc import params

# Per-core path rates (B/cycle) and shared pools: made unlimited.
MOVEMENT_RATES = ("hbm_bytes_per_cycle", "l2_bytes_per_cycle", "gm_to_ub_rate", "gm_to_l1_rate", "gm_read_l2_rate",
                  "ub_to_gm_rate", "fix_write_rate", "l1_to_l0a_rate", "l1_to_l0b_rate", "l1_to_ub_rate",
                  "ub_to_l1_rate", "ub_to_ub_rate", "fill_rate")
# Fixed cycles of each copy or load: made 0.
MOVEMENT_FIXED = ("gm_copy_overhead", "local_copy_overhead", "l1_to_l0_overhead")
# The round trips a kernel waits out: made 0 for the last replay.
ROUND_TRIPS = ("gm_read_latency", "cross_core_latency", "scalar_gm_miss_cycles")
# A free rate: 1,000x the HBM pool's, past any path's. Not higher: the pools' service times are compared
# within a relative slack of 1e-9 (csrc/perf/flows.cpp), so a path near 1e9 B/cycle would finish a
# copy within the slack and skip the HBM pool it should queue on.
UNLIMITED = 1e6

FREE_MOVEMENT = {**{k: UNLIMITED for k in MOVEMENT_RATES}, **{k: 0.0 for k in MOVEMENT_FIXED}}
REPLAYS = {
    "modeled": {},
    "chain + HBM": {k: v for k, v in FREE_MOVEMENT.items() if k != "hbm_bytes_per_cycle"},
    # The round trips 0 too, so that a scalar GM miss does not count as its scalar unit's work.
    "own paths": {"hbm_bytes_per_cycle": UNLIMITED, "l2_bytes_per_cycle": UNLIMITED, **{k: 0.0 for k in ROUND_TRIPS}},
    "chain": FREE_MOVEMENT,
    "chain without round trips": {**FREE_MOVEMENT, **{k: 0.0 for k in ROUND_TRIPS}},
}
STREAM_SHARES = (0.01, 0.99)  # the HBM read stream's start and end: shares of its bytes in

# The data paths `--paths` frees one at a time (each a set of FREE_MOVEMENT's constants, or the round trips).
PATHS = {
    "MTE1 loads": ("l1_to_l0a_rate", "l1_to_l0b_rate", "l1_to_l0_overhead"),
    "GM copies' fixed cost": ("gm_copy_overhead",),
    "GM -> L1": ("gm_to_l1_rate",),
    "GM -> UB": ("gm_to_ub_rate",),
    "UB -> GM": ("ub_to_gm_rate",),
    "fixpipe": ("fix_write_rate",),
    "HBM and L2": ("hbm_bytes_per_cycle", "l2_bytes_per_cycle", "gm_read_l2_rate"),  # the pools, and L2 hits per core
    "round trips": ROUND_TRIPS,
}


def path_times(traces, soc: str) -> dict[str, float]:
    """Modeled us of the launches in `traces` with each of PATHS free alone (and 'modeled': none)."""
    free = REPLAYS["chain without round trips"]
    ways = {"modeled": {}, **{name: {k: free[k] for k in keys} for name, keys in PATHS.items()}}
    return {name: sum(replay(t, soc, param_overrides=p).time_us for t in traces) for name, p in ways.items()}


def floor_replays(traces, soc: str) -> dict[str, list[LaunchReport]]:
    """The launches in `traces` replayed under each of REPLAYS."""
    return {name: [replay(t, soc, param_overrides=p) for t in traces] for name, p in REPLAYS.items()}


def busiest_pipe(reports: list[LaunchReport]) -> tuple[float, str]:
    """The busiest pipe of one core in `reports` (floor_replays' "own paths"): its busy us, summed over
    the launches (each launch's own busiest), and the name of the largest one ('AIC MTE1')."""
    total, name, most = 0.0, "", -1.0
    for rep in reports:
        cycles, i, p = max((c["busy"][p], i, p) for i, c in enumerate(rep.cores) for p in range(len(PIPES)))
        total += cycles / rep.clock_hz * 1e6
        if cycles > most:
            most, name = cycles, f"{rep.cores[i]['type']} {PIPES[p]}"
    return total, name


def summarize(traces, soc: str) -> tuple[dict[str, float], tuple[float, float, float] | None, tuple[float, str]]:
    """The launches in `traces` under each of REPLAYS: their us (floor_times), the HBM read stream of
    the chain + HBM replay (read_stream_us; None unless one launch reads HBM) and the own paths'
    busiest pipe (busiest_pipe)."""
    replays = floor_replays(traces, soc)
    stream_rep = replays["chain + HBM"][0] if len(traces) == 1 else None
    stream = read_stream_us(stream_rep) if stream_rep is not None and stream_rep.hbm_read_bytes > 0 else None
    return floor_times(replays), stream, busiest_pipe(replays["own paths"])


def format_floors(traces, soc: str, roofline_us: float | None = None) -> str:
    """Report lines (`bench <op> --floors`): summarize's, each time with its ratio to `roofline_us`
    when given."""
    times, stream, (pipe_us, pipe) = summarize(traces, soc)

    def us(t: float) -> str:
        return f"{t:.2f} us" + (f" ({t / roofline_us:.2f}x)" if roofline_us else "")

    lines = ["  floors (perf/floors.py): " + ", ".join(f"{name} {us(t)}" for name, t in times.items()),
             f"  own paths' busiest pipe: {pipe} {us(pipe_us)}"]
    if stream:
        first, last, end = stream
        lines[-1] += f"; chain + HBM's read stream: 1 % in at {first:.2f} us, 99 % at {last:.2f} us, {end - last:.2f} us after"
    return "\n".join(lines)


def any_kernel_us(read_bytes: float, lead_reads: int, soc: str) -> float:
    """The least time of any kernel that reads `read_bytes` from HBM (the module's doc): `lead_reads`
    dependent GM reads (each a scalar miss or a copy's read latency, the shorter), the first streamed
    byte's read latency, then the bytes at the HBM pool's rate."""
    p = params(soc)
    lead = lead_reads * min(p["scalar_gm_miss_cycles"], p["gm_read_latency"]) + p["gm_read_latency"]
    return (lead + read_bytes / p["hbm_bytes_per_cycle"]) / (p["clock_ghz"] * 1e3)


def floor_times(replays: dict[str, list[LaunchReport]]) -> dict[str, float]:
    """Modeled us of each of `replays` (floor_replays): the sum over its launches."""
    return {name: sum(r.time_us for r in reports) for name, reports in replays.items()}


def read_stream_us(report: LaunchReport) -> tuple[float, float, float]:
    """One launch's report (floors use the chain + HBM replay): us by which STREAM_SHARES of its HBM read
    bytes were in, and its modeled us."""
    first, last = (report.hbm_read_by(q) / report.clock_hz * 1e6 for q in STREAM_SHARES)
    return first, last, report.time_us


def verdict(times: dict[str, float], limit_us: float, pipe_us: float = 0.0, any_us: float = 0.0) -> str:
    """What holds the row (the module's doc): 'met', 'out of reach', 'chain', 'pipe work', 'HBM idle',
    'own paths' (or both of those), or 'per-core paths'. pipe_us: busiest_pipe's; any_us: any_kernel_us."""
    if times["modeled"] <= limit_us:
        return "met"
    if any_us > limit_us:
        return "out of reach"
    if times["chain"] > limit_us:
        return "chain"
    if pipe_us > limit_us:
        return "pipe work"
    over = [name for name, replay_name in (("HBM idle", "chain + HBM"), ("own paths", "own paths"))
            if times[replay_name] > limit_us]
    return ", ".join(over) or "per-core paths"


HEADER = ("| op | phase | shape | 1.25x allows us | any kernel us | modeled us | chain + HBM us | own paths us | chain us "
          "| chain without round trips us | chain + HBM: 1 % / 99 % of HBM reads in, us; after them "
          "| own paths: busiest pipe, us | held by |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
BEGIN, END = "<!-- glm5-floors begin -->", "<!-- glm5-floors end -->"
PATHS_HEADER = ("| op | phase | shape | modeled us | " + " | ".join(f"{name} free" for name in PATHS) + " |\n|"
                + "---|" * (4 + len(PATHS)))
PATHS_BEGIN, PATHS_END = "<!-- glm5-paths begin -->", "<!-- glm5-paths end -->"


def row(op: str, phase: str, shape: str, times: dict[str, float], stream: tuple[float, float, float] | None,
        pipe: tuple[float, str], roofline_us: float, goal_ratio: float, any_us: float) -> str:
    """A markdown row: any kernel's least us (any_kernel_us), each replay's us, each with its ratio to the
    roofline, the read stream (read_stream_us; None: blank), the busiest pipe (busiest_pipe) and the
    verdict."""
    limit = goal_ratio * roofline_us
    cells = " | ".join(f"{t:.2f} ({t / roofline_us:.2f}x)" for t in (any_us, *(times[k] for k in REPLAYS)))
    reads = f"{stream[0]:.2f} / {stream[1]:.2f}; {stream[2] - stream[1]:.2f}" if stream else ""
    busiest = f"{pipe[1]} {pipe[0]:.2f} ({pipe[0] / roofline_us:.2f}x)"
    held = verdict(times, limit, pipe[0], any_us)
    return f"| {op} | {phase} | {shape} | {limit:.2f} | {cells} | {reads} | {busiest} | {held} |"


def paths_row(op: str, phase: str, shape: str, times: dict[str, float]) -> str:
    """A markdown row: the modeled us, and with each of PATHS free alone its us and change."""
    base = times["modeled"]
    cells = " | ".join(f"{times[k]:.2f} ({times[k] / base - 1:+.1%})" for k in PATHS)
    return f"| {op} | {phase} | {shape} | {base:.2f} | {cells} |"


# The goal's view of one op in docs/performance.md: its decode rows as a grid, rendered from the
# floors table (`goal_grid`), so that the two cannot disagree.
GOAL_BEGIN, GOAL_END = "<!-- glm5-goal {op} begin -->", "<!-- glm5-goal {op} end -->"


def _cells(table_row: str) -> list[str]:
    return [c.strip() for c in table_row.strip().strip("|").split("|")]


def goal_grid(rows: list[str], op: str, goal_ratio: float, rooflines: dict[tuple[str, str], float] | None = None) -> str:
    """A markdown grid of `op`'s decode rows among the floors table's `rows` (row's format): batches
    down, contexts across; each cell the modeled us over the roofline, their ratio and the verdict, and
    for a met row the share of the limit (goal_ratio x the roofline) it leaves. rooflines: us by
    (op, shape) (the GLM-5 table's column); else each row's limit / goal_ratio."""
    cells: dict[str, dict[str, str]] = {}
    contexts: list[str] = []
    for line in rows:
        c = _cells(line)
        if c[0] != op or c[1] != "decode":
            continue
        batch, ctx = (part.strip() for part in c[2].removeprefix("B=").split(","))
        limit, modeled, held = float(c[3]), float(c[5].split()[0]), c[-1]
        roofline = (rooflines or {}).get((op, c[2]), limit / goal_ratio)
        ratio = modeled / roofline
        digits = 3 if 1.2 <= ratio < 1.3 else 2  # the rows near the goal, to tell 1.245x from 1.25x
        text = f"{modeled:.2f} / {roofline:.2f} = {ratio:.{digits}f}x"
        text += f": **met**, {(1 - modeled / limit) * 100:.1f} % under" if held == "met" else f": {held}"
        cells.setdefault(batch, {})[ctx] = text
        if ctx not in contexts:
            contexts.append(ctx)
    if not cells:
        raise ValueError(f"no decode rows of {op} in the floors table")
    lines = ["| B | " + " | ".join(contexts) + " |", "|---|" + "---|" * len(contexts)]
    for batch in sorted(cells, key=int):
        lines.append(f"| {batch} | " + " | ".join(cells[batch].get(ctx, "") for ctx in contexts) + " |")
    return "\n".join(lines)


def _block_rows(text: str, begin: str, end: str) -> list[str] | None:
    """The table rows between `begin` and `end` in `text` (None: no such block)."""
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return None
    return [line for line in text[i + len(begin):j].splitlines() if line.startswith("| ") and not line.startswith("| op |")]


def write_goal_grids(path: str, goal_ratio: float, table_markers: tuple[str, str] | None = None) -> list[str]:
    """Renders, in the doc at `path`, every op's goal block (GOAL_BEGIN / GOAL_END around nothing or an
    older grid) from the doc's floors table, with the table's provenance line, and the rooflines of
    the table between `table_markers` (the GLM-5 table: its fifth cell) where it has the row; returns
    the ops written."""
    text = open(path, encoding="utf-8").read()
    rows = _block_rows(text, BEGIN, END)
    if rows is None:
        raise SystemExit(f"{path}: no floors table between '{BEGIN}' and '{END}'")
    block = text[text.find(BEGIN):text.find(END)].splitlines()
    when = next((line.split(": ", 1)[1] for line in block if line.startswith("- `floors`: ")), "unknown")
    rooflines = {}
    for line in (_block_rows(text, *table_markers) or []) if table_markers else []:
        c = _cells(line)
        try:
            rooflines[(c[0], c[2])] = float(c[4])
        except (IndexError, ValueError):  # a row not emulated: no roofline there
            continue
    written = []
    for op in sorted({_cells(r)[0] for r in rows}):
        begin, end = GOAL_BEGIN.format(op=op), GOAL_END.format(op=op)
        a, b = text.find(begin), text.find(end)
        if a < 0 or b < a:
            continue
        grid = goal_grid(rows, op, goal_ratio, rooflines)
        note = f"(modeled us / roofline us = ratio, from the floors table's rows, \"### Floors\"; {when})"
        text = text[:a] + "\n".join([begin, grid, "", note, end]) + text[b + len(end):]
        written.append(op)
    open(path, "w", encoding="utf-8").write(text)
    return written
