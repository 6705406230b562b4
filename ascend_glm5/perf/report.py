"""Text report of a modeled launch: time against the roofline, pipes, critical path, APIs."""

from __future__ import annotations

from .floors import read_stream_us
from .model import PIPES, LaunchReport, Roofline, kernel_roofline_us


def format_report(rep: LaunchReport, roofline: Roofline | None = None, top: int = 6) -> str:
    us = rep.time_us
    aic = sum(c["type"] == "AIC" for c in rep.cores)
    aiv = len(rep.cores) - aic
    lines = [f"{rep.kernel} on {rep.soc} ({aic} AIC + {aiv} AIV cores used): modeled {us:.2f} us "
             f"({rep.cycles:,.0f} cycles, {rep.records:,} instructions)"]
    if roofline is not None:
        r = roofline.time_us(rep.soc)
        lines.append(f"  roofline of the op    {r:9.2f} us ({roofline.which(rep.soc)}-bound: {roofline.bytes / 1e6:.2f} MB, "
                     f"{roofline.total_macs / 1e9:.3f} GMAC)   modeled / roofline = {us / r:.2f}x")
    kr = kernel_roofline_us(rep)
    macs = sum(rep.cube_macs.values())
    lines.append(f"  roofline of the kernel {kr:8.2f} us (its HBM traffic {(rep.hbm_read_bytes + rep.hbm_write_bytes + rep.l2_dirty_bytes) / 1e6:.2f} MB, "
                 f"cube {macs / 1e9:.3f} GMAC issued)")
    stall = rep.bandwidth_stall / max(1.0, rep.busy("MTE2") + rep.busy("MTE3") + rep.busy("FIX"))
    lines.append(f"  HBM read {rep.hbm_read_bytes / 1e6:.2f} MB, write {rep.hbm_write_bytes / 1e6:.2f} MB (+ "
                 f"{rep.l2_dirty_bytes / 1e6:.2f} MB left dirty in L2), L2 hits "
                 f"{rep.l2_hit_bytes / 1e6:.2f} MB; GM copies lose {stall:.0%} of their time to the shared HBM bandwidth")
    if rep.hbm_read_bytes > 0:  # when the reads ran: what comes before and after them leaves HBM idle
        first, last, _ = read_stream_us(rep)
        lines.append(f"  HBM read stream: 1 % of its bytes in at {first:.2f} us, 99 % at {last:.2f} us, "
                     f"the launch ends {us - last:.2f} us later")
    if rep.late_bytes:  # the replay should never hand a copy to the pools after their clock passed its start
        lines.append(f"  MODEL DEFECT: {rep.late_bytes / 1e6:.2f} MB of GM copies reached the bandwidth pools late")
    lines.append("  pipe   util  busy per core (us)  max core")
    for p in PIPES:
        cores = [c for c in rep.cores if c["busy"][PIPES.index(p)] > 0]
        if not cores:
            continue
        per = [c["busy"][PIPES.index(p)] / rep.clock_hz * 1e6 for c in cores]
        worst = max(range(len(cores)), key=lambda i: per[i])
        lines.append(f"  {p:5s} {rep.utilisation(p):5.0%}  {sum(per) / len(per):9.2f} avg  {per[worst]:9.2f} "
                     f"({cores[worst]['type']} {cores[worst]['block']})")
    lines.append(f"  bound: {rep.bound()}")
    lines.append("  critical path (share of its time):")
    for core, pipe, api, share in rep.critical_path()[:top]:
        lines.append(f"    {share:5.1%}  {core:7s} {pipe:5s} {api}")
    lines.append("  busiest APIs (busy time summed over cores):")
    total = sum(a[2] for a in rep.apis) or 1.0
    for name, pipe, busy, count in sorted(rep.apis, key=lambda a: -a[2])[:top]:
        bank = rep.bank_conflict_cycles.get(name, 0.0)
        conflicts = f", {bank / busy:.0%} of it UB bank conflicts" if bank else ""
        lines.append(f"    {busy / total:5.1%}  {pipe:5s} {name} ({count:,.0f} instructions{conflicts})")
    return "\n".join(lines)
