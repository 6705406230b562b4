"""`python -m ascend_glm5.perf.explore` (ascend_glm5/perf/explore.py): its views of a replay agree with
the replay they come from. The critical path's steps keep every instruction of the path, in time
order, up to the launch's end; a pipe's busy shares per window add up to its busy time; a core's
instructions are that core's, each issued before it starts; the HBM pool's shares per window add up to
the bytes read from HBM; a what-if is the replay with that constant."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.perf import explore
from ascend_glm5.perf import soc as socs
from ascend_glm5.perf.model import PIPES

SOC = "Ascend910B3"
CORES, TILE = 8, 16 << 10


LEADS = [3 * i for i in range(CORES)]  # scalar UB writes of AIV i before its first copy


@pytest.fixture(scope="module")
def stream(kern):
    """A double-buffered copy of 8 vector cores, each with its own lead: its trace and replay."""
    src = np.random.default_rng(5).integers(-30000, 30000, CORES * (256 << 10) // 2, dtype=np.int16)
    with perf.tracing() as traces:
        out = kern.stream_copy(src, CORES, TILE, 2, leads=LEADS)
    assert np.array_equal(out, src)
    return traces[0], perf.replay(traces[0], SOC)


def _busy(rep, core: str, pipe: str) -> float:
    i = next(i for i in range(len(rep.cores)) if rep.core_label(i) == core)
    return rep.cores[i]["busy"][PIPES.index(pipe)]


def test_path_steps_keep_the_whole_path_in_time_order(stream):
    _, rep = stream
    steps = explore.path_steps(rep)
    assert sum(s.count for s in steps) == len(rep.path["core"])
    assert all(a.start <= b.start for a, b in zip(steps, steps[1:]))
    # Merged: no two neighbours share core, pipe, API and reason; a step is busy at most its span.
    assert all((a.core, a.pipe, a.api, a.reason) != (b.core, b.pipe, b.api, b.reason) for a, b in zip(steps, steps[1:]))
    assert all(0 <= s.busy <= s.end - s.start + 1e-3 for s in steps)
    # The path is walked back from the instruction that ends last: the launch's end (its last flag
    # may end a cycle past it).
    assert 0.999 * rep.cycles <= steps[-1].end <= rep.cycles + 2
    # The stream's path is its copies, and the copies of one core.
    assert {s.pipe for s in steps} & {"MTE2", "MTE3"}


def test_path_steps_of_a_window_overlap_it(stream):
    _, rep = stream
    lo, hi = 0.4 * rep.cycles, 0.6 * rep.cycles
    steps = explore.path_steps(rep, lo, hi)
    assert steps and all(s.end >= lo and s.start <= hi for s in steps)
    whole = explore.path_steps(rep)
    assert sum(s.count for s in steps) < sum(s.count for s in whole)


def test_busy_shares_add_up_to_each_pipes_busy_time(stream):
    trace, rep = stream
    window = rep.cycles / 7
    shares = explore.busy_windows(trace, SOC, window, ["AIV 0", "aiv3"])
    assert {core for core, _ in shares} == {"AIV 0", "AIV 3"}
    for (core, pipe), row in shares.items():
        assert len(row) == int(rep.cycles // window) + 1
        assert all(0 <= x <= 1 + 1e-9 for x in row)
        if pipe != "S":  # the S pipe's busy time also counts the issue slots (explore.busy_windows)
            assert sum(row) * window == pytest.approx(_busy(rep, core, pipe), rel=1e-6)
    # A copy-bound core keeps its slower path, UB -> GM, busy through the middle of the launch.
    assert shares[("AIV 0", "MTE3")][3] > 0.8 > shares[("AIV 0", "MTE2")][3]
    with pytest.raises(ValueError, match="no core AIC 0"):
        explore.busy_windows(trace, SOC, window, ["AIC 0"])


def test_core_instructions_are_the_cores_own(stream):
    trace, rep = stream
    ins = explore.core_instructions(trace, SOC, "AIV 2")
    assert ins and {i.pipe for i in ins} >= {"MTE2", "MTE3"}
    timed = [i for i in ins if not math.isnan(i.end)]
    assert all(i.issue <= i.start + 1e-3 and i.start <= i.end for i in timed)
    assert all(a.issue <= b.issue for a, b in zip(ins, ins[1:]))
    # The vector pipe holds no latency: its instructions' durations are its busy time.
    v = sum(i.end - i.start for i in timed if i.pipe == "V")
    assert v == pytest.approx(_busy(rep, "AIV 2", "V"), rel=0.05, abs=1.0)
    # Each core copies its own slice, after its own lead of scalar writes.
    other = explore.core_instructions(trace, SOC, "AIV5")
    assert sum(i.pipe == "MTE2" for i in ins) == sum(i.pipe == "MTE2" for i in other)
    local = socs.params(SOC)["scalar_local_cycles"]
    for core, got in ((2, ins), (5, other)):
        lead = sum(i.end - i.start for i in got if i.api == "LocalTensor::SetValue")
        assert lead == pytest.approx(LEADS[core] * local)
    late = explore.core_instructions(trace, SOC, "AIV 2", lo=0.5 * rep.cycles)
    assert 0 < len(late) < len(ins)
    with pytest.raises(ValueError, match="no core"):
        explore.core_instructions(trace, SOC, "AIV 99")


def test_hbm_shares_add_up_to_the_bytes_read_from_hbm(stream):
    _, rep = stream
    window = rep.cycles / 7
    shares = explore.hbm_windows(rep, window)
    assert len(shares) == int(rep.cycles // window) + 1
    pool = socs.params(SOC)["hbm_bytes_per_cycle"] * window
    assert sum(shares) * pool == pytest.approx(sum(rep.hbm_reads["bytes"]), rel=1e-9)
    assert sum(shares) * pool == pytest.approx(rep.hbm_read_bytes, rel=1e-6)
    # A steady copy stream: its middle windows draw about the launch's mean share of the pool.
    mean = rep.hbm_read_bytes / rep.cycles * window / pool
    assert mean < 0.9
    assert all(0.5 * mean < x < min(1.05, 2 * mean) for x in shares[2:5])


def test_whatifs_are_replays_with_those_constants(stream):
    trace, rep = stream
    hbm = socs.params(SOC)["hbm_bytes_per_cycle"]
    one = explore.whatifs(trace, SOC, {"hbm_bytes_per_cycle": hbm / 2})
    assert set(one) == {"modeled", "hbm_bytes_per_cycle"}
    assert one["modeled"] == pytest.approx(rep.cycles)
    assert one["hbm_bytes_per_cycle"] == pytest.approx(
        perf.replay(trace, SOC, param_overrides={"hbm_bytes_per_cycle": hbm / 2}).cycles)
    two = explore.whatifs(trace, SOC, {"hbm_bytes_per_cycle": hbm / 2, "gm_read_latency": 0.0})
    assert two["all"] == pytest.approx(
        perf.replay(trace, SOC, param_overrides={"hbm_bytes_per_cycle": hbm / 2, "gm_read_latency": 0.0}).cycles)
    with pytest.raises(ValueError, match="unknown constant"):
        explore.whatifs(trace, SOC, {"hbm_speed": 1.0})


def test_cli_reads_a_goal_case(capsys):
    """The command on a GLM-5 table row (LI decode B = 1 x 8K): the path ends at the modeled time."""
    assert explore.main(["li", "--batch", "1", "--ctx", "8192", "path"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("lightning_indexer decode B=1, 8K, Ascend910B3")
    modeled = float(out[1].split()[1])
    last_end = float(out[-1].split()[1])
    assert 0.999 * modeled <= last_end <= modeled + 1
    assert explore.main(["li", "--batch", "1", "--ctx", "8192", "hbm", "--window", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"modeled {modeled:.0f} cycles")
    cells = [m for line in lines[2:] for m in re.findall(r"(\d+): +(\d+)%", line)]
    assert [float(w) for w, _ in cells] == [500.0 * i for i in range(int(modeled // 500) + 1)]
    assert max(int(x) for _, x in cells) > 10
    assert explore.main(["li", "--batch", "1", "--ctx", "8192", "whatif", "gm_read_latency=0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "modeled:" in lines[1] and "gm_read_latency:" in lines[2] and "(-" in lines[2]
    # A what-if names one value per constant, as NAME=VALUE; refused before the case is emulated.
    for bad in (["gm_read_latency=0", "gm_read_latency=100"], ["gm_read_latency"]):
        with pytest.raises(SystemExit):
            explore.main(["li", "--batch", "1", "--ctx", "8192", "whatif", *bad])
        assert "what-if" in capsys.readouterr().err
