"""`--floors` (ascend_glm5/perf/floors.py): the replays with data movement free split a launch's time
the way its bound says. A stream held by HBM keeps its time while only the HBM pool counts and loses
it when that goes too; a matmul held by the cube keeps its time with every copy free. The verdict
follows the module's rule, and a row's cells agree with each other."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.perf import floors
from ascend_glm5.perf import soc as socs
from ascend_glm5.perf.model import PIPES

SOC = "Ascend910B3"
AIV, AIC = 40, 20


def test_a_stream_is_held_by_the_hbm_pool_alone(kern):
    src = np.random.default_rng(0).integers(-30000, 30000, AIV * (1 << 20) // 2, dtype=np.int16)
    with perf.tracing() as traces:
        out = kern.stream_copy(src, AIV, 32 << 10, 2)
    assert np.array_equal(out, src)
    reps = floors.floor_replays(traces, SOC)
    t = floors.floor_times(reps)
    # The reads alone through the pool (the writes stay in L2): a free path rate that skipped the
    # pool (too large for the replay's precision, floors.UNLIMITED) would take this far below.
    p = socs.params(SOC)
    pool_us = src.nbytes / p["hbm_bytes_per_cycle"] / (p["clock_ghz"] * 1e3)
    assert pool_us <= t["chain + HBM"] <= 1.03 * pool_us
    assert t["chain + HBM"] <= t["modeled"] <= 1.1 * t["chain + HBM"]
    # Without the pool, what is left is each core's chain of copy latencies: a small part.
    assert t["chain without round trips"] <= t["chain"] < 0.2 * t["chain + HBM"]
    # Each vector core's own copies: one 40th of the bytes in and out, the slower path's rate setting
    # its busiest pipe, under the shared pool's time.
    pipe_us, name = floors.busiest_pipe(reps["own paths"])
    assert name in ("AIV MTE2", "AIV MTE3")
    own_us = src.nbytes / AIV / min(p["gm_to_ub_rate"], p["ub_to_gm_rate"]) / (p["clock_ghz"] * 1e3)
    assert 0.9 * own_us <= pipe_us <= 1.2 * own_us < t["chain + HBM"]
    # With the pool out of the way the stream is its cores' own copies: its busiest pipe, and a little.
    assert pipe_us <= t["own paths"] <= 1.1 * pipe_us


def test_a_streams_reads_arrive_at_the_pools_rate(kern):
    """`hbm_read_by`: an HBM-bound stream of 40 cores takes its bytes in at the pool's rate, so half of
    them are in at about half its time and all of them just before it ends."""
    src = np.random.default_rng(2).integers(-30000, 30000, AIV * (1 << 20) // 2, dtype=np.int16)
    with perf.tracing() as traces:
        kern.stream_copy(src, AIV, 32 << 10, 2)
    rep = perf.replay(traces[0], SOC)
    assert sum(rep.hbm_reads["bytes"]) == pytest.approx(rep.hbm_read_bytes)
    rate = socs.params(SOC)["hbm_bytes_per_cycle"]
    for share in (0.25, 0.5, 0.75, 1.0):
        assert rep.hbm_read_by(share) == pytest.approx(share * src.nbytes / rate, rel=0.05)
    assert rep.cycles - rep.hbm_read_by(1.0) < 0.05 * rep.cycles
    assert rep.hbm_read_by(0.5) < rep.hbm_read_by(0.75)
    last_us = rep.hbm_read_by(0.99) / rep.clock_hz * 1e6
    assert f"99 % at {last_us:.2f} us, the launch ends {rep.time_us - last_us:.2f} us later" in perf.format_report(rep)


def test_a_matmul_keeps_its_cube_time_with_every_copy_free(kern):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((AIC * 128, 512), dtype=np.float32)
    bt = rng.standard_normal((1024, 512), dtype=np.float32)
    with perf.tracing() as traces:
        c = kern.matmul(a, bt, AIC, True)
    np.testing.assert_allclose(c, a @ bt.T, rtol=1e-4, atol=1e-3)
    reps = floors.floor_replays(traces, SOC)
    t = floors.floor_times(reps)
    cube_us = perf.Roofline(bytes=0, macs=a.shape[0] * bt.shape[0] * a.shape[1], mac_bits=32).time_us(SOC)
    for name in ("own paths", "chain", "chain without round trips"):
        assert cube_us <= t[name] <= 1.05 * cube_us
    assert t["modeled"] > t["chain"]
    # The busiest pipe is a cube's M: its share of the MACs at the cube's rate.
    pipe_us, name = floors.busiest_pipe(reps["own paths"])
    assert name == "AIC M"
    assert cube_us <= pipe_us <= 1.05 * cube_us


def _times(modeled, chain_hbm, own, chain, bare=7.0):
    return {"modeled": modeled, "chain + HBM": chain_hbm, "own paths": own, "chain": chain, "chain without round trips": bare}


@pytest.mark.parametrize("times, expected", [
    (_times(10.0, 9.0, 9.0, 8.0), "met"),
    (_times(12.0, 9.0, 9.5, 8.0), "per-core paths"),
    (_times(12.0, 11.0, 9.5, 8.0), "HBM idle"),
    (_times(12.0, 9.5, 11.0, 8.0), "own paths"),
    (_times(12.0, 11.0, 11.0, 8.0), "HBM idle, own paths"),
    (_times(12.0, 11.0, 11.0, 10.5), "chain"),
    (_times(12.0, 10.0, 10.0, 10.0), "per-core paths"),
])
def test_verdict_names_the_first_replay_over_the_limit(times, expected):
    assert floors.verdict(times, limit_us=10.0) == expected


def test_verdict_names_a_row_out_of_reach_first():
    """Any kernel over the limit says more than every replay of this one: no tuning of it, nor another
    kernel, meets the goal. A row within the limit is met whatever the bound says."""
    times = _times(12.0, 11.0, 11.0, 10.5)
    assert floors.verdict(times, 10.0, pipe_us=10.5, any_us=10.1) == "out of reach"
    assert floors.verdict(times, 10.0, pipe_us=10.5, any_us=9.9) == "chain"
    assert floors.verdict({**times, "modeled": 9.9}, 10.0, any_us=9.9) == "met"


def test_any_kernel_is_a_stream_at_the_pools_rate(kern):
    """A pure stream is the one kernel the bound describes: its chain + HBM replay (and its modeled
    time) are the bound and a little. Each lead read adds its round trip."""
    src = np.random.default_rng(3).integers(-30000, 30000, AIV * (1 << 20) // 2, dtype=np.int16)
    with perf.tracing() as traces:
        kern.stream_copy(src, AIV, 32 << 10, 2)
    t = floors.floor_times(floors.floor_replays(traces, SOC))
    bound = floors.any_kernel_us(src.nbytes, 0, SOC)
    assert bound <= t["chain + HBM"] <= 1.03 * bound
    assert bound <= t["modeled"] <= 1.1 * bound
    p = socs.params(SOC)
    trip_us = min(p["scalar_gm_miss_cycles"], p["gm_read_latency"]) / (p["clock_ghz"] * 1e3)
    assert floors.any_kernel_us(src.nbytes, 2, SOC) == pytest.approx(bound + 2 * trip_us)


@pytest.mark.parametrize("op", ["lightning_indexer", "sparse_flash_attention"])
def test_any_kernel_bounds_the_kernels_at_b1(op):
    """At B = 1 x 8K the bound is under the kernel's own chain + HBM replay (the kernel pays every lead
    read and byte the bound counts), and over the goal: the rows are out of reach, as the docs say."""
    from ascend_glm5.perf import glm5

    case = glm5.Case(op, "decode", 1, 8192, 0)
    traces, roof = glm5.trace_case(case, SOC)
    chain_hbm_us = sum(perf.replay(t, SOC, param_overrides=floors.REPLAYS["chain + HBM"]).time_us for t in traces)
    bound = glm5.any_kernel_us(case, roof, SOC)
    assert bound <= chain_hbm_us
    assert bound > glm5.GOAL_RATIO * roof.time_us(SOC)


def test_verdict_names_a_pipe_with_more_work_than_the_limit():
    """A pipe over the limit comes after the chain and before the HBM: the chain says more than a pipe
    (it is the pipes' work in order), a pipe more than the order of the reads."""
    times = _times(12.0, 11.0, 11.0, 8.0)
    assert floors.verdict(times, 10.0, pipe_us=10.5) == "pipe work"
    assert floors.verdict(times, 10.0, pipe_us=9.5) == "HBM idle, own paths"
    assert floors.verdict({**times, "chain": 10.5}, 10.0, pipe_us=10.5) == "chain"
    assert floors.verdict({**times, "modeled": 9.9}, 10.0, pipe_us=10.5) == "met"


def test_floors_row_cells_agree():
    from ascend_glm5.perf import glm5

    case = glm5.Case("sparse_flash_attention", "decode", 16, 4096, 0)
    cells = [c.strip() for c in glm5.floors_row(case, SOC).strip().strip("|").split("|")]
    assert cells[:3] == [case.op, case.phase, case.shape]
    limit = float(cells[3])
    times = {}
    for name, cell in zip(["any kernel", *floors.REPLAYS], cells[4:10]):
        us, ratio = cell.split()
        times[name] = float(us)
        # The printed ratio is the time over the roofline the limit was taken from.
        assert float(ratio.strip("()x")) == pytest.approx(times[name] * glm5.GOAL_RATIO / limit, abs=0.006)
    pipe, us, ratio = cells[11].rsplit(" ", 2)
    assert pipe.split()[0] in ("AIC", "AIV") and pipe.split()[1] in PIPES
    assert float(ratio.strip("()x")) == pytest.approx(float(us) * glm5.GOAL_RATIO / limit, abs=0.006)
    # One core's pipe never takes longer than the launch it is part of.
    assert float(us) <= times["own paths"]
    assert cells[12] == floors.verdict(times, limit, float(us), times["any kernel"])
    # Each replay frees more than the one before it in its line: the pools, or the per-core paths; and
    # no replay that keeps the HBM pool and the round trips beats any kernel.
    assert times["any kernel"] <= times["chain + HBM"]
    assert times["chain without round trips"] <= times["chain"] <= times["chain + HBM"] <= times["modeled"]
    assert times["chain without round trips"] <= times["own paths"] <= times["modeled"]
    # The read stream lies within the chain + HBM replay, and 'after' is the rest of it.
    span, after = cells[10].split(";")
    first, last = (float(x) for x in span.split(" / "))
    assert 0 < first < last <= times["chain + HBM"]
    assert float(after) == pytest.approx(times["chain + HBM"] - last, abs=0.011)


def test_chain_and_hbm_still_pays_every_hbm_byte():
    """SFA's row copies (1,152 B) at a free path rate must still queue on the HBM pool: a path rate
    past the replay's precision finishes them within its slack and skips the pool (at 1e12 B/cycle
    this case's 'chain + HBM' fell from 33.0 to 25.3 us, under its 26.4 us of HBM reads)."""
    from ascend_glm5.perf import glm5

    traces, _ = glm5.trace_case(glm5.Case("sparse_flash_attention", "decode", 16, 4096, 0), SOC)
    p = socs.params(SOC)
    rep = perf.replay(traces[-1], SOC, param_overrides=floors.REPLAYS["chain + HBM"])
    reads_us = rep.hbm_read_bytes / p["hbm_bytes_per_cycle"] / (p["clock_ghz"] * 1e3)
    assert reads_us <= rep.time_us


def test_a_stream_gains_only_from_the_paths_it_uses(kern):
    """`--paths`: a stream of UB copies through a saturated HBM gains most from the pools; the paths it
    never uses (the cube's MTE1, fixpipe and GM -> L1) change nothing."""
    src = np.random.default_rng(3).integers(-30000, 30000, AIV * (1 << 20) // 2, dtype=np.int16)
    with perf.tracing() as traces:
        kern.stream_copy(src, AIV, 32 << 10, 2)
    t = floors.path_times(traces, SOC)
    assert set(t) == {"modeled", *floors.PATHS}
    for unused in ("MTE1 loads", "fixpipe", "GM -> L1"):
        assert t[unused] == pytest.approx(t["modeled"], rel=1e-9)
    assert t["HBM and L2"] < 0.85 * t["modeled"]
    for name in floors.PATHS:
        if name != "HBM and L2":
            assert 0.97 * t["modeled"] <= t[name] <= t["modeled"] * (1 + 1e-9)  # (float rounding)


def test_a_matmul_gains_little_from_any_path(kern):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((AIC * 128, 512), dtype=np.float32)
    bt = rng.standard_normal((1024, 512), dtype=np.float32)
    with perf.tracing() as traces:
        kern.matmul(a, bt, AIC, True)
    t = floors.path_times(traces, SOC)
    for name in floors.PATHS:
        assert 0.95 * t["modeled"] <= t[name] <= t["modeled"] * (1 + 1e-9)


def test_paths_row_shows_each_path_against_the_modeled_time():
    times = {"modeled": 40.0, **{name: 40.0 - i for i, name in enumerate(floors.PATHS)}}
    cells = [c.strip() for c in floors.paths_row("op", "decode", "B=1, 8K", times).strip().strip("|").split("|")]
    assert cells[:4] == ["op", "decode", "B=1, 8K", "40.00"]
    for i, (name, cell) in enumerate(zip(floors.PATHS, cells[4:])):
        assert cell == f"{40.0 - i:.2f} ({-i / 40.0:+.1%})"
    assert len(cells) == 4 + len(floors.PATHS)
    assert floors.PATHS_HEADER.count("|---") == len(cells)


def test_busiest_pipe_counts_no_round_trip(monkeypatch):
    """A scalar GM miss or a GM latency is a wait, not the pipe's work: the busiest pipe of an indexer
    decode (whose scalar units read the plan and the block table from GM) is the same with those
    round trips 10x longer."""
    import torch

    from ascend_glm5 import ops

    g = torch.Generator().manual_seed(4)
    q = torch.randn(1, 1, 64, 128, generator=g).bfloat16()
    w = torch.randn(1, 1, 64, generator=g) / 64
    k = torch.randn(24, 128, 1, 128, generator=g).bfloat16()
    table = torch.randperm(24, generator=g).to(torch.int32).reshape(1, 24)
    with perf.tracing() as traces:
        ops.lightning_indexer(q, k, w, block_table=table, sparse_count=2048, layout_key="PA_BSND",
                              actual_seq_lengths_key=[24 * 128 - 5])  # fmt: skip
    def busiest():
        return floors.busiest_pipe([perf.replay(t, SOC, param_overrides=floors.REPLAYS["own paths"]) for t in traces])

    base = busiest()
    nominal = socs.params

    def slow(soc):
        p = nominal(soc)
        for name in floors.ROUND_TRIPS:
            p[name] *= 10
        return p

    monkeypatch.setattr(socs, "params", slow)  # the replay reads the SoC through this module
    # The replay with the round trips kept: the scalar units' misses then outweigh any pipe's work.
    rep = perf.replay(traces[0], SOC)
    s = PIPES.index("S")
    assert max(c["busy"][s] for c in rep.cores) > base[0] * rep.clock_hz / 1e6
    assert busiest() == pytest.approx(base)


def _floors_line(shape: str, modeled: float, roofline: float = 20.0, op: str = "lightning_indexer") -> str:
    times = {name: modeled for name in floors.REPLAYS}
    return floors.row(op, "decode", shape, times, None, (1.0, "AIC MTE2"), roofline, 1.25, roofline)


def test_goal_grid_puts_each_row_in_its_cell():
    rows = [_floors_line("B=1, 8K", 40.0), _floors_line("B=1, 32K", 24.5), _floors_line("B=16, 8K", 22.0),
            _floors_line("B=16, 32K", 22.0, op="sparse_flash_attention")]
    grid = floors.goal_grid(rows, "lightning_indexer", 1.25).splitlines()
    assert grid[0] == "| B | 8K | 32K |"
    b1, b16 = (floors._cells(line) for line in grid[2:])
    assert len(grid) == 4 and b1[0] == "1" and b16[0] == "16"
    # 2.00x: over the limit, with the floors table's verdict; 1.225x: met, 2 % under the 25 us limit.
    assert b1[1] == f"40.00 / 20.00 = 2.00x: {floors.verdict({n: 40.0 for n in floors.REPLAYS}, 25.0, 1.0, 20.0)}"
    assert b1[2] == "24.50 / 20.00 = 1.225x: **met**, 2.0 % under"
    assert b16[1] == "22.00 / 20.00 = 1.10x: **met**, 12.0 % under" and b16[2] == ""  # the SFA row is not LI's
    # The GLM-5 table's roofline, where given, over the one the limit's two decimals leave.
    assert floors._cells(floors.goal_grid(rows, "lightning_indexer", 1.25, {("lightning_indexer", "B=16, 8K"): 21.0})
                         .splitlines()[3])[1] == "22.00 / 21.00 = 1.05x: **met**, 12.0 % under"
    with pytest.raises(ValueError, match="no decode rows"):
        floors.goal_grid(rows, "mla_prolog", 1.25)


def test_performance_docs_goal_grids_are_its_floors_table(tmp_path):
    """docs/performance.md's goal grids (hand-edited text around them) must say what its floors table
    says: re-rendering them from that table changes nothing."""
    from pathlib import Path

    from ascend_glm5.perf import glm5

    doc = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text()
    copy = tmp_path / "performance.md"
    copy.write_text(doc)
    assert floors.write_goal_grids(str(copy), glm5.GOAL_RATIO, (glm5.TABLE_BEGIN, glm5.TABLE_END)) == [
        "lightning_indexer", "sparse_flash_attention"]
    assert copy.read_text() == doc, "run: python -m ascend_glm5.perf.glm5 --goal-grids --write docs/performance.md"
