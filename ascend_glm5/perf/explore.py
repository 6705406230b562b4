"""A close reading of one launch's replay, for when a few thousand cycles are at stake: the critical
path's steps in a window of cycles, each pipe's busy share per window on chosen cores, one core's
instructions as replayed, the HBM pool's use per window, and the modeled time with SoC constants
changed. The tuning rounds in docs/tuning/ were measured this way.

    python -m ascend_glm5.perf.explore sfa --batch 16 --ctx 32768 path --from 50000
    python -m ascend_glm5.perf.explore sfa --batch 16 --ctx 32768 busy --window 4000 --cores "AIC 10" "AIV 20"
    python -m ascend_glm5.perf.explore li --batch 1 --ctx 32768 core "AIV 3" --from 11000 --to 13000
    python -m ascend_glm5.perf.explore sfa --batch 16 --ctx 32768 hbm --window 1000
    python -m ascend_glm5.perf.explore sfa --batch 16 --ctx 32768 whatif l1_to_l0b_rate=1e6 gm_copy_overhead=0

The case is a row of the GLM-5 table (glm5.Case: seed 0, host tilings sized for --soc); its last
launch is the one read. Times are cycles of the SoC's clock from the launch's start."""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from dataclasses import dataclass

from . import soc as socs
from .model import PIPES, LaunchReport, replay

ALIASES = {"li": "lightning_indexer", "sfa": "sparse_flash_attention"}


@dataclass(frozen=True)
class Step:
    """Consecutive instructions of the critical path on one core and pipe, of one API, each started
    for the same reason (what its start waited for)."""

    start: float
    end: float
    count: int
    busy: float  # their summed durations: end - start less the gaps between them
    core: str
    pipe: str
    api: str
    reason: str


def path_steps(rep: LaunchReport, lo: float = 0.0, hi: float = math.inf) -> list[Step]:
    """The critical path's instructions that overlap [lo, hi], in time order, merged into Steps."""
    p = rep.path
    picked = [i for i in range(len(p["core"])) if float(p["end"][i]) >= lo and float(p["start"][i]) <= hi]
    picked.sort(key=lambda i: (float(p["start"][i]), float(p["end"][i])))
    steps: list[Step] = []
    for i in picked:
        s, e = float(p["start"][i]), float(p["end"][i])
        key = (rep.core_label(int(p["core"][i])), PIPES[int(p["pipe"][i])], rep.api_names[int(p["api"][i])],
               p["reasons"][int(p["reason"][i])])
        if steps and (steps[-1].core, steps[-1].pipe, steps[-1].api, steps[-1].reason) == key:
            last = steps[-1]
            steps[-1] = Step(last.start, max(last.end, e), last.count + 1, last.busy + e - s, *key)
        else:
            steps.append(Step(s, e, 1, e - s, *key))
    return steps


def busy_windows(trace, soc: str, window: float, cores: list[str],
                 param_overrides: dict[str, float] | None = None) -> dict[tuple[str, str], list[float]]:
    """Per (core, pipe) of `cores` (labels as 'AIC 10'), the share of each `window` cycles that the
    pipe was busy, from the launch's start to its end. Replayed with every instruction its own
    timeline segment (resolution 0), so that a pipe's shares add up to its busy time (the S pipe's:
    its instructions, without the issue slots the scalar spends on the others')."""
    rep = replay(trace, soc, timeline_resolution=0.0, param_overrides=param_overrides)
    want = {_label(c) for c in cores}
    unknown = want - {rep.core_label(i) for i in range(len(rep.cores))}
    if unknown:
        raise ValueError(f"no core {', '.join(sorted(unknown))} in this launch ({len(rep.cores)} cores)")
    n = int(rep.cycles // window) + 1
    busy: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * n)
    tl = rep.timeline
    for core, pipe, start, end in zip(tl["core"], tl["pipe"], tl["start"], tl["end"]):
        label = rep.core_label(int(core))
        if label not in want:
            continue
        shares = busy[(label, PIPES[int(pipe)])]
        s, e = float(start), float(end)
        k = int(s // window)
        while s < e:
            edge = (k + 1) * window
            if edge > s:  # (s // window can land one window short of s in floating point)
                cut = min(e, edge)
                shares[min(k, n - 1)] += (cut - s) / window
                s = cut
            k += 1
    return dict(sorted(busy.items()))


@dataclass(frozen=True)
class Instruction:
    """One instruction of a core as replayed. `end` is when its result is there: a GM copy's last
    byte arrives a latency after its pipe has moved on, so one pipe's copies may overlap. A SyncAll
    has no start or end of its own in the replay (nan); its core waits on every pipe instead."""

    issue: float  # when the scalar unit issued it into its pipe's queue (a wait: reached it)
    start: float
    end: float
    pipe: str
    api: str


def core_instructions(trace, soc: str, core: str, lo: float = 0.0, hi: float = math.inf,
                      param_overrides: dict[str, float] | None = None) -> list[Instruction]:
    """`core`'s instructions (label as 'AIV 3') that overlap [lo, hi], in issue order."""
    rep = replay(trace, soc, timeline_resolution=0.0, param_overrides=param_overrides)
    labels = [rep.core_label(i) for i in range(len(rep.cores))]
    if _label(core) not in labels:
        raise ValueError(f"no core {core!r} in this launch ({len(labels)} cores)")
    rep = replay(trace, soc, timeline_resolution=0.0, param_overrides=param_overrides,
                 detail_core=labels.index(_label(core)))
    names, d = rep.api_names, rep.detail
    out = []
    for a, p, i, s, e in zip(d["api"], d["pipe"], d["issue"], d["start"], d["end"]):
        i, s, e = float(i), float(s), float(e)
        if e < i:  # a SyncAll: no start or end of its own
            s = e = math.nan
        first, last = (i, i) if math.isnan(e) else (s, e)
        if last >= lo and first <= hi:
            out.append(Instruction(i, s, e, PIPES[int(p)], names[int(a)]))
    return out


def hbm_windows(rep: LaunchReport, window: float) -> list[float]:
    """The HBM pool's use per `window` cycles, from the launch's start to its end: the bytes the GM
    reads took from HBM in the window (each read's bytes counted when it ends, as `hbm_read_by`)
    over what the pool delivers in a window (the SoC's hbm_bytes_per_cycle). A share passes 1 where
    reads that began in the windows before end inside it: the shorter the window, the more."""
    n = int(rep.cycles // window) + 1
    rate = socs.params(rep.soc)["hbm_bytes_per_cycle"] * window
    shares = [0.0] * n
    for end, nbytes in zip(rep.hbm_reads.get("end", []), rep.hbm_reads.get("bytes", [])):
        shares[min(int(float(end) // window), n - 1)] += float(nbytes) / rate
    return shares


def whatifs(trace, soc: str, overrides: dict[str, float]) -> dict[str, float]:
    """Modeled cycles of the launch: as it is ('modeled'), with each override alone (its key), and
    with all of them together ('all')."""
    out = {"modeled": replay(trace, soc).cycles}
    for key, value in overrides.items():
        out[key] = replay(trace, soc, param_overrides={key: value}).cycles
    if len(overrides) > 1:
        out["all"] = replay(trace, soc, param_overrides=overrides).cycles
    return out


def _label(core: str) -> str:
    """'AIC10', 'aic 10' -> 'AIC 10'."""
    c = core.replace(" ", "").upper()
    return f"{c[:3]} {c[3:]}"


def _trace(args):
    from . import glm5

    case = glm5.Case(ALIASES.get(args.op, args.op), args.phase, args.batch, args.ctx, 0)
    traces, _ = glm5.trace_case(case, args.soc)
    return case, traces[args.launch]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ascend_glm5.perf.explore", description=__doc__.split("\n\n")[0])
    ap.add_argument("op", help="a GLM-5 table op: lightning_indexer (li), sparse_flash_attention (sfa), mla_prolog, ...")
    ap.add_argument("--phase", default="decode", choices=["decode", "prefill"])
    ap.add_argument("--batch", type=int, default=1, help="decode rows (prefill: 1)")
    ap.add_argument("--ctx", type=int, default=8192, help="keys per sequence (prefill: the prompt length)")
    ap.add_argument("--soc", default="Ascend910B3")
    ap.add_argument("--launch", type=int, default=-1, help="which launch of the case (default: the last)")
    views = ap.add_subparsers(dest="view", required=True)
    path = views.add_parser("path", help="the critical path's steps in a window")
    busy = views.add_parser("busy", help="each pipe's busy share per window on some cores")
    core = views.add_parser("core", help="one core's instructions in a window")
    for v in (path, core):
        v.add_argument("--from", dest="lo", type=float, default=0.0)
        v.add_argument("--to", dest="hi", type=float, default=math.inf)
    path.add_argument("--min", type=float, default=0.0, help="leave out steps shorter than this many cycles")
    busy.add_argument("--window", type=float, default=4000.0)
    busy.add_argument("--cores", nargs="+", required=True, help="labels as 'AIC 10' or AIV20")
    core.add_argument("core", help="its label, as 'AIV 3' or AIV3")
    hbm = views.add_parser("hbm", help="the HBM pool's use per window (bytes read from HBM over its rate)")
    hbm.add_argument("--window", type=float, default=1000.0)
    whatif = views.add_parser("whatif", help="modeled cycles with SoC constants changed (soc.py's names)")
    whatif.add_argument("overrides", nargs="+", metavar="NAME=VALUE")
    args = ap.parse_args(argv)
    overrides: dict[str, float] = {}
    for item in getattr(args, "overrides", []):
        key, eq, value = item.partition("=")
        if not eq or not value:
            ap.error(f"{item!r}: a what-if is NAME=VALUE")
        if key in overrides:
            ap.error(f"{key} given twice: each name is one what-if (run the command again for another value)")
        overrides[key] = float(value)

    case, trace = _trace(args)
    print(f"{case.op} {case.phase} {case.shape}, {args.soc}, launch {args.launch}")
    if args.view == "path":
        rep = replay(trace, args.soc)
        print(f"modeled {rep.cycles:.0f} cycles; HBM reads 1 % in at {rep.hbm_read_by(0.01):.0f}, 99 % at "
              f"{rep.hbm_read_by(0.99):.0f}")
        print(f"{'start':>9} {'end':>9} {'busy':>7} {'n':>4}  core    pipe  api (what its start waited for)")
        for s in path_steps(rep, args.lo, args.hi):
            if s.end - s.start >= args.min:
                print(f"{s.start:9.0f} {s.end:9.0f} {s.busy:7.0f} {s.count:4d}  {s.core:7s} {s.pipe:5s} {s.api} ({s.reason})")
    elif args.view == "busy":
        shares = busy_windows(trace, args.soc, args.window, args.cores)
        keys = list(shares)
        print(f"{'window':>8} " + " ".join(f"{c.replace(' ', '')}:{p}".rjust(12) for c, p in keys))
        for k in range(len(next(iter(shares.values()), []))):
            print(f"{k * args.window:8.0f} " + " ".join(f"{shares[key][k]:12.0%}" for key in keys))
    elif args.view == "hbm":
        rep = replay(trace, args.soc)
        shares = hbm_windows(rep, args.window)
        print(f"modeled {rep.cycles:.0f} cycles; the HBM pool's use per {args.window:.0f} cycles (window start: share)")
        for k in range(0, len(shares), 10):
            print("  ".join(f"{(k + j) * args.window:8.0f}: {x:4.0%}" for j, x in enumerate(shares[k:k + 10])))
    elif args.view == "core":
        print(f"{'issue':>9} {'start':>9} {'end':>9} {'cycles':>7}  pipe  api")
        for i in core_instructions(trace, args.soc, args.core, args.lo, args.hi):
            if i.end == i.end:
                print(f"{i.issue:9.0f} {i.start:9.0f} {i.end:9.0f} {i.end - i.start:7.0f}  {i.pipe:5s} {i.api}")
            else:
                print(f"{i.issue:9.0f} {'-':>9} {'-':>9} {'-':>7}  {i.pipe:5s} {i.api}")
    else:
        times = whatifs(trace, args.soc, overrides)
        base = times["modeled"]
        for name, cycles in times.items():
            print(f"{name:>24}: {cycles:10.0f} cycles ({cycles / base - 1:+.2%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
