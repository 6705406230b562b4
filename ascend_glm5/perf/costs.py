"""Per-instruction costs of the vector unit: cycles = head + slope x repeats (+ cycles per element),
by the API name the emulator records; an element-wise instruction takes at least its UB bank beats
(soc.py ub_beat_cycles) in place of slope x repeats.

Source unless marked: Huawei's A2/A3 cost model of the PTO ISA, ``cce_cycle_profiles.csv``
(startup and per-repeat cycles of each vector intrinsic, fp16 / fp32 columns), gitcode cann/pto-isa
mirrored at github zouzias/pto-isa-mirror ``include/pto/costmodel/a2a3/cce_costmodel/``. pto pays the
head only when the pipe queue is empty (``EstimateLinearCycles``); Huawei's UB bank example measures
1,000 Adds back to back at 22 cycles each over their repeats, so the model pays every head
(soc.py vec_head_when_busy; measured for Add, the same for every API assumed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiCost:
    head: float
    slope16: float  # cycles per repeat, 8/16-bit elements
    slope32: float  # cycles per repeat, 32-bit elements
    per_element: float = 0.0
    source: str = "pto: cce_cycle_profiles.csv"

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.head, self.slope16, self.slope32, self.per_element)


_PTO = "pto: cce_cycle_profiles.csv"
VECTOR: dict[str, ApiCost] = {
    # Binary (two source operands). Huawei's Add examples (calibration.py) measure Add at 22 cycles an
    # instruction, even back to back, plus one cycle a repeat when the sources and the destination
    # meet in no UB bank group; pto's 5.93 + ~2 a repeat is the rate with both sources in one group,
    # which the trace's bank beats now price (soc.py ub_beat_cycles).
    "Add": ApiCost(22.0, 1.0, 1.0, source="measured: Huawei's Add and UB bank examples (calibration.py)"),
    "Sub": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVsubProfile 5.93 + 2.07, as its Add)"),
    "Mul": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVmulProfile 6.87 + 2.13)"),
    "Max": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVmaxProfile 4 + 2)"),
    "Min": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVminProfile 4 + 2)"),
    "Div": ApiCost(13.0, 8.0, 4.0, source=f"{_PTO} kVdivProfile"),
    "AddRelu": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (not profiled)"),
    "And": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVandProfile 2.06 + 2)"),
    "Or": ApiCost(22.0, 1.0, 1.0, source="assumed: as Add (pto kVorProfile 2.06 + 2)"),
    # Binary with a scalar.
    "Adds": ApiCost(6.0, 1.0, 1.0, source=f"{_PTO} kVaddsProfile"),
    "Muls": ApiCost(7.0, 1.0, 1.0, source=f"{_PTO} kVmulsProfile"),
    "Maxs": ApiCost(4.0, 1.0, 1.0, source=f"{_PTO} kVmaxsProfile"),
    "Mins": ApiCost(4.0, 1.0, 1.0, source=f"{_PTO} kVminsProfile"),
    "LeakyRelu": ApiCost(7.0, 1.0, 1.0, source=f"{_PTO} kVlreluProfile"),
    "ShiftLeft": ApiCost(6.05, 1.0, 1.0, source=f"{_PTO} kVshlProfile"),
    "ShiftRight": ApiCost(6.05, 1.0, 1.0, source=f"{_PTO} kVshrProfile"),
    # Unary.
    "Exp": ApiCost(12.0, 4.0, 2.0, source=f"{_PTO} kVexpProfile"),
    "Ln": ApiCost(14.0, 4.0, 2.0, source=f"{_PTO} kVlnProfile"),
    "Sqrt": ApiCost(13.0, 4.0, 2.0, source=f"{_PTO} kVsqrtProfile"),
    "Rsqrt": ApiCost(4.79, 1.06, 1.06, source=f"{_PTO} kVrsqrtProfile"),
    "Reciprocal": ApiCost(13.0, 8.0, 4.0, source="assumed: as Div (vrec not profiled)"),
    "Abs": ApiCost(4.0, 1.0, 1.0, source=f"{_PTO} kVabsProfile"),
    "Relu": ApiCost(4.0, 1.0, 1.0, source=f"{_PTO} kVreluProfile"),
    "Not": ApiCost(2.09, 1.0, 1.0, source=f"{_PTO} kVnotProfile"),
    "Duplicate": ApiCost(1.0, 1.0, 1.0, source=f"{_PTO} kVectorDupProfile"),
    "Copy": ApiCost(30.0, 1.0, 1.0, source="measured: Huawei's bank_conflict_nd2nz example (calibration_nd2nz.py): "
                                           "Copies of 144 repeats take 173.6 cycles each when the writes of a repeat "
                                           "meet in no bank group (pto kVcopyProfile: 1 a repeat) and 1,163 when all 8 "
                                           "meet in one (8 beats a repeat)"),
    "Brcb": ApiCost(1.0, 1.0, 1.0, source=f"{_PTO} kVbrcbProfile"),
    "Axpy": ApiCost(18.0, 2.0, 2.0, source=f"{_PTO} kVaxpyProfile"),
    "MulAddDst": ApiCost(11.02, 6.0, 6.0, source=f"{_PTO} kVmlaSeparateOperandsProfile (vmla; with every repeat stride 8, "
                                                  "dst the accumulator, kVmlaAccumulatorAliasProfile: 11.10 + 4.0/repeat)"),
    "Cast": ApiCost(14.0, 2.0, 2.0, source="pto: cce_costmodel_core.hpp EstimateVconvCycles (head 14, 2 per repeat)"),
    # Compare / select: the GE/LE/NE profiles (LT/GT/EQ are 3 + 1 per repeat; the trace keeps no mode).
    "Compare": ApiCost(10.0, 2.0, 2.0, source=f"{_PTO} kVcmpvGeProfile (GE/LE/NE; LT/GT/EQ cost 3 + 1/repeat)"),
    "CompareScalar": ApiCost(12.0, 1.0, 1.0, source=f"{_PTO} kVcmpvsGeProfile"),
    "Select": ApiCost(5.0, 2.0, 2.0, source=f"{_PTO} kVselCmpMaskProfile"),
    "GatherMask": ApiCost(0.0, 14.0, 14.0, source=f"{_PTO} kVreducev2Profile (-2 + 14/repeat)"),
    "Gather": ApiCost(6.64, 24.0, 12.0, source=f"{_PTO} kVgatherProfile"),
    # TransDataTo5HD: 16 blocks in, 16 out a repeat (b16: 256 elements, b32: 128; b8: half blocks).
    "TransDataTo5HD": ApiCost(9.03, 24.0, 24.0, source=f"{_PTO} kScatterVnchwconvB16Profile / B32Profile"),
    "TransDataTo5HDB8": ApiCost(11.03, 46.0, 46.0, source=f"{_PTO} kScatterVnchwconvB8ReuseProfile (the strided "
                                                          "form, addresses not reused: 18.39 + 40.0)"),
    # Reductions: WholeReduce* is one vcmax / vcadd; the count forms add a second level (head twice).
    "WholeReduceMax": ApiCost(9.0, 7.0, 7.0, source=f"{_PTO} kVcmaxProfile"),
    "WholeReduceMin": ApiCost(9.0, 7.0, 7.0, source=f"{_PTO} kVcminProfile"),
    "WholeReduceSum": ApiCost(23.0, 7.0, 7.0, source=f"{_PTO} kVcaddProfile"),
    # One result per 32-byte block (vcgmax / vcgmin / vcgadd): 1 cycle a repeat on fp32, 7 on fp16. The
    # head is fp16's, as the rows above (fp32's: 5 and 12).
    "BlockReduceMax": ApiCost(6.0, 7.0, 1.0, source=f"{_PTO} kVcgmaxProfile"),
    "BlockReduceMin": ApiCost(6.0, 7.0, 1.0, source=f"{_PTO} kVcgminProfile"),
    "BlockReduceSum": ApiCost(15.0, 7.0, 1.0, source=f"{_PTO} kVcgaddProfile"),
    "ReduceMax": ApiCost(18.0, 7.0, 7.0, source=f"{_PTO} kVcmaxProfile; head twice for the second level (assumed)"),
    "ReduceSum": ApiCost(46.0, 7.0, 7.0, source=f"{_PTO} kVcaddProfile; head twice for the second level (assumed)"),
    # Sorting.
    "Sort32": ApiCost(8.0, 4.0, 4.0, source=f"{_PTO} kVbitsortProfile"),
    "MrgSort": ApiCost(8.0, 0.0, 0.0, per_element=0.5,
                       source=f"{_PTO} kVmrgsort4Profile startup; 0.5 cycle per element merged from Huawei's A3 top-k "
                              "cycle formula (cann-recipes-infer deepseek_v4 AscendC guide: a 4-way merge pass over S "
                              "elements costs S/2 cycles)"),
    "Extract": ApiCost(0.0, 28.0, 28.0, source="two GatherMask (vreducev2) per repeat on dav_c220 "
                                                "(asc-devkit impl/basic_api/kernel_operator_proposal_intf_impl.h)"),
}

# Any vector instruction not listed: pto-isa's EstimateLinearCycles defaults (head 6, 2 per repeat).
DEFAULT_VECTOR = ApiCost(6.0, 2.0, 2.0, source="pto: cce_costmodel_core.hpp EstimateLinearCycles defaults")


def api_costs() -> dict[str, tuple[float, float, float, float]]:
    """The replay's per-API cost table ("*vector*": the default)."""
    out = {name: c.as_tuple() for name, c in VECTOR.items()}
    out["*vector*"] = DEFAULT_VECTOR.as_tuple()
    return out


def markdown() -> str:
    rows = ["| API | head | cycles/repeat (16-bit) | cycles/repeat (32-bit) | per element | source |",
            "|---|---|---|---|---|---|"]
    for name, c in [*VECTOR.items(), ("(any other)", DEFAULT_VECTOR)]:
        src = f"**{c.source}**" if c.source.startswith("assumed") else c.source
        rows.append(f"| `{name}` | {c.head:g} | {c.slope16:g} | {c.slope32:g} | {c.per_element:g} | {src} |")
    return "\n".join(rows)
