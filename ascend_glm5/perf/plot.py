"""Per-core pipe timeline of a modeled launch (matplotlib; install the `perf` extra)."""

from __future__ import annotations

from .model import PIPES, LaunchReport

_COLORS = {"S": "#9e9e9e", "V": "#2e7d32", "M": "#c62828", "MTE1": "#f9a825", "MTE2": "#1565c0", "MTE3": "#6a1b9a",
           "FIX": "#ef6c00"}
_LANES = {"AIC": ("MTE2", "MTE1", "M", "FIX", "MTE3", "S"), "AIV": ("MTE2", "V", "MTE3", "S")}


def plot_timeline(rep: LaunchReport, path: str, max_cores: int | None = None) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("plotting needs matplotlib: pip install 'ascend_glm5[perf]'") from e
    cores = list(range(len(rep.cores)))[: max_cores or None]
    lanes: list[tuple[int, str]] = [(c, p) for c in cores for p in _LANES[rep.cores[c]["type"]]]
    row = {key: i for i, key in enumerate(lanes)}
    scale = 1e6 / rep.clock_hz  # cycles -> us
    height = max(3.0, 0.06 * len(lanes) + 1.5)
    fig, ax = plt.subplots(figsize=(14, height))
    tl = rep.timeline
    bars: dict[int, list[tuple[float, float]]] = {}
    for core, pipe, start, end in zip(tl["core"], tl["pipe"], tl["start"], tl["end"]):
        key = (int(core), PIPES[int(pipe)])
        if key in row:
            bars.setdefault(row[key], []).append((float(start) * scale, max(float(end - start), 1.0) * scale))
    for r, spans in bars.items():
        ax.broken_barh(spans, (r - 0.4, 0.8), facecolors=_COLORS[lanes[r][1]], linewidth=0)
    # Critical path: a black tick under each step on its lane.
    p = rep.path
    for core, pipe, start, end in zip(p["core"], p["pipe"], p["start"], p["end"]):
        key = (int(core), PIPES[int(pipe)])
        if key in row and end > start:
            ax.plot([float(start) * scale, float(end) * scale], [row[key] + 0.45] * 2, color="black", linewidth=1.2)
    # One band per core (lanes top to bottom as _LANES), labelled at its middle, separated by thin lines.
    first = [i for i, (c, pipe) in enumerate(lanes) if pipe == _LANES[rep.cores[c]["type"]][0]]
    ax.set_yticks([i + (len(_LANES[rep.cores[lanes[i][0]]["type"]]) - 1) / 2 for i in first])
    ax.set_yticklabels([rep.core_label(lanes[i][0]) for i in first], fontsize=6)
    for i in first[1:]:
        ax.axhline(i - 0.5, color="#dddddd", linewidth=0.5)
    ax.set_ylim(len(lanes), -1)
    ax.set_xlim(0, rep.cycles * scale)
    ax.set_xlabel("time (us)")
    ax.set_title(f"{rep.kernel} on {rep.soc}: {rep.time_us:.2f} us modeled. Lanes per core: AIC "
                 f"{'/'.join(_LANES['AIC'])}, AIV {'/'.join(_LANES['AIV'])}; black = critical path", fontsize=9)
    ax.legend(handles=[Patch(color=c, label=n) for n, c in _COLORS.items()], loc="upper center",
              bbox_to_anchor=(0.5, -0.06 if len(lanes) < 60 else -0.02), fontsize=7, ncol=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
