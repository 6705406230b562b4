"""Cast over the whole A2/A3 conversion matrix and every round mode, bit-exact against independent
numpy/torch references: ties to even and away, subnormals, overflow, saturation of integer and of
float -> half / bf16 targets (Cast.md: overflow saturates by default), int4 packing; disallowed modes
fail at run time, unsupported pairs at compile time."""

import subprocess

import numpy as np
import pytest
import torch

R = {"RINT", "FLOOR", "CEIL", "ROUND", "TRUNC"}
# (dst, src) -> accepted round modes (CANN dav_c220 vconv).
MATRIX = {
    ("float", "half"): {"NONE"}, ("int32", "half"): R, ("int16", "half"): R, ("int8", "half"): R | {"NONE"},
    ("uint8", "half"): R | {"NONE"}, ("int4", "half"): R | {"NONE"}, ("half", "float"): R | {"NONE", "ODD"},
    ("float", "float"): R, ("int32", "float"): R, ("int16", "float"): R, ("int64", "float"): R, ("bf16", "float"): R,
    ("float", "bf16"): {"NONE"}, ("int32", "bf16"): R, ("half", "int4"): {"NONE"}, ("half", "int8"): {"NONE"},
    ("half", "uint8"): {"NONE"}, ("half", "int16"): R | {"NONE"}, ("float", "int16"): {"NONE"},
    ("float", "int32"): R | {"NONE"}, ("int16", "int32"): {"NONE"}, ("int64", "int32"): {"NONE"},
    ("float", "int64"): R, ("int32", "int64"): {"NONE"},
}
MODES = ["NONE", "RINT", "FLOOR", "CEIL", "ROUND", "TRUNC", "ODD"]
NPT = {"half": np.float16, "float": np.float32, "bf16": np.uint16, "int4": np.uint8, "int8": np.int8,
       "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64}
BITS = {"half": np.uint16, "float": np.uint32, "bf16": np.uint16}
INT_RANGE = {"int4": (-8, 7),
             **{t: (np.iinfo(t).min, np.iinfo(t).max) for t in ("int8", "uint8", "int16", "int32", "int64")}}
N = 520  # elements: not a multiple of the lanes per repeat


# ---- references ------------------------------------------------------------------------------
def unpack_int4(packed):
    v = np.empty(packed.size * 2, np.int64)
    v[0::2], v[1::2] = packed & 0xF, packed >> 4
    return v - 16 * (v >= 8)


def pack_int4(values):
    v = np.asarray(values, np.int64) & 0xF
    return (v[0::2] | (v[1::2] << 4)).astype(np.uint8)


def bf16_values(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def decode(raw, src):
    """Exact values of a source array as float64 (every source but int64 fits)."""
    if src == "bf16":
        return bf16_values(raw)
    if src == "int4":
        return unpack_int4(raw).astype(np.float64)
    return raw.astype(np.float64)


def round_integral(x, mode):
    if mode in ("NONE", "RINT"):
        return np.rint(x)
    if mode == "ROUND":  # half away from zero
        return np.copysign(np.floor(np.abs(x) + 0.5), x)
    return {"FLOOR": np.floor, "CEIL": np.ceil, "TRUNC": np.trunc}[mode](x)


def to_int(x, dst, mode):
    """Round, then saturate; NaN -> 0."""
    lo, hi = INT_RANGE[dst]
    r = round_integral(np.nan_to_num(x, nan=0.0), mode)
    out = np.where(r >= float(hi), hi, np.where(r <= float(lo), lo, 0)).astype(np.int64)
    mid = (r > lo) & (r < hi)
    out[mid] = r[mid].astype(np.int64)
    return out if dst == "int4" else out.astype(NPT[dst])  # int4: unpacked values


def pick(x, y, lo, hi, mode, value, big):
    """Chooses among the RNE result y and the neighbours lo <= x <= hi (all bit patterns)."""
    if mode in ("NONE", "RINT"):
        return y
    if mode == "FLOOR":
        return lo
    if mode == "CEIL":
        return hi
    if mode == "TRUNC":
        return np.where(x >= 0, lo, hi)
    lv, hv = (np.where(np.isinf(v), np.copysign(big, v), v) for v in (value(lo), value(hi)))
    if mode == "ROUND":  # ties away from zero; beyond the largest finite value the next step is 2^(emax+1)
        dl, dh = x - lv, hv - x
        return np.where((dh < dl) | ((dh == dl) & (np.abs(hv) > np.abs(lv))), hi, lo)
    return np.where(lo == hi, y, np.where(lo & 1 == 1, lo, hi))  # ODD: inexact -> the odd neighbour


def to_ieee(x, ftype, mode):
    """x (float64, exactly representable inputs) rounded into half or float32 under `mode`; bit patterns."""
    with np.errstate(over="ignore"):
        y = x.astype(ftype)
        lo = np.where(y > x, np.nextafter(y, ftype(-np.inf)), y)
        hi = np.where(y < x, np.nextafter(y, ftype(np.inf)), y)
    bits = BITS["half" if ftype == np.float16 else "float"]
    big = 2.0**16 if ftype == np.float16 else 2.0**128
    out = pick(x, y.view(bits), lo.view(bits), hi.view(bits), mode, lambda b: b.view(ftype).astype(np.float64), big)
    return out.view(ftype)


def to_bf16(xf32, mode):
    b = xf32.view(np.uint32)
    toward0 = (b >> 16).astype(np.uint16)
    away = np.where(b & 0xFFFF == 0, toward0, toward0 + 1).astype(np.uint16)
    neg = (b >> 31) == 1
    lo, hi = np.where(neg, away, toward0), np.where(neg, toward0, away)
    y = torch.from_numpy(xf32.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return pick(xf32.astype(np.float64), y, lo, hi, mode, bf16_values, 2.0**128).astype(np.uint16)


def int64_to_float(v, mode):
    out = []
    for i in v.tolist():  # exact integer arithmetic
        y = np.float32(i)
        if int(y) == i or mode == "RINT":
            out.append(y)
            continue
        lo, hi = (np.nextafter(y, np.float32(-np.inf)), y) if int(y) > i else (y, np.nextafter(y, np.float32(np.inf)))
        choice = {"FLOOR": lo, "CEIL": hi, "TRUNC": lo if i > 0 else hi}.get(mode)
        if mode == "ROUND":
            dl, dh = i - int(lo), int(hi) - i
            choice = hi if dh < dl or (dh == dl and abs(int(hi)) > abs(int(lo))) else lo
        out.append(choice)
    return np.array(out, np.float32)


def saturate(bits, dst):
    """float -> half / bf16 saturates (Cast.md): an infinite result becomes the largest finite value of
    its sign (NaN stays NaN)."""
    finite_max = {"half": 0x7BFF, "bf16": 0x7F7F}[dst]
    b = bits.view(np.uint16)
    inf = (b & 0x7FFF) == finite_max + 1
    return np.where(inf, (b & 0x8000) | finite_max, b).astype(np.uint16).view(bits.dtype)


def reference(raw, src, dst, mode):
    """The expected dst array (int4 unpacked, one value per element)."""
    if src == "int64":
        return int64_to_float(raw, mode) if dst == "float" else np.clip(raw, -(2**31), 2**31 - 1).astype(np.int32)
    if dst in INT_RANGE:
        return to_int(decode(raw, src), dst, mode)
    x = decode(raw, src)
    if (dst, src) == ("float", "float"):
        return round_integral(x, mode).astype(np.float32)
    if dst == "bf16":
        return saturate(to_bf16(raw, mode), dst) if src == "float" else to_bf16(raw, mode)
    y = to_ieee(x, NPT[dst], mode)
    return saturate(y, dst) if (dst, src) == ("half", "float") else y


# ---- inputs ----------------------------------------------------------------------------------
def signed(rng, x):
    return np.where(rng.random(x.size) < 0.5, -x, x)


def half_grid(rng, n):
    """Exact finite halves, midpoints between neighbours (ties) and random values, incl. subnormals."""
    h = rng.integers(0, 0x7BFF, n).astype(np.uint16).view(np.float16)
    nxt = np.nextafter(h, np.float16(np.inf))
    mids = (h.astype(np.float64) + nxt.astype(np.float64)) / 2
    rand = 2.0 ** rng.uniform(-26, 17, n)
    x = np.where(np.arange(n) % 3 == 0, h, np.where(np.arange(n) % 3 == 1, mids, rand))
    special = [65504, 65519.99, 65520, 65536, 1e6, 2.0**-25, 3 * 2.0**-25, 2.0**-26, -0.0, 0.0, 2049, 2051]
    x[: len(special)] = special
    return signed(rng, x).astype(np.float32)


def bf16_grid(rng, n):
    b = rng.integers(0, 0x7F7F, n).astype(np.uint32)
    raw = np.where(np.arange(n) % 3 == 0, b << 16, np.where(np.arange(n) % 3 == 1, (b << 16) | 0x8000,
                                                            rng.integers(0, 0x7F800000, n)))
    x = raw.astype(np.uint32).view(np.float32).copy()
    x[:4] = [np.finfo(np.float32).max, 3.3961e38, -0.0, 1.0 + 2.0**-8]
    return signed(rng, x).astype(np.float32)


def int_spread(rng, n, dst, src_type):
    """Values around an integer target's range (saturation), with .5 ties and inf/nan."""
    lo, hi = INT_RANGE[dst]
    limit = {"half": 65504.0, "bf16": 3e38}.get(src_type, 3.4e38)
    span = min(1.2 * max(abs(lo), hi), limit)
    x = rng.uniform(-span, span, n)
    x[::3] = np.round(rng.uniform(-300, 300, x[::3].size) * 2) / 2  # ties, small values
    x[:5] = [np.inf, -np.inf, np.nan, -0.5, 2.5]
    return x


def source(src, dst, rng):
    if src == "half":
        if dst == "float":
            bits = rng.integers(0, 0x7C01, N).astype(np.uint16) | (rng.integers(0, 2, N).astype(np.uint16) << 15)
            return bits.view(np.float16)
        return int_spread(rng, N, dst, "half").astype(np.float16)
    if src == "float":
        if dst == "half":
            return half_grid(rng, N)
        if dst == "bf16":
            return bf16_grid(rng, N)
        if dst == "float":
            x = rng.uniform(-1000, 1000, N)
            x[::2] = np.round(x[::2] * 2) / 2
            x[:4] = [1e30, -1e30, 8388607.5, -0.25]
            return x.astype(np.float32)
        return int_spread(rng, N, dst, "float").astype(np.float32)
    if src == "bf16":
        x = bf16_grid(rng, N) if dst == "float" else int_spread(rng, N, dst, "bf16").astype(np.float32)
        return torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    if src == "int4":
        return rng.integers(0, 256, N // 2).astype(np.uint8)
    if src == "int64":
        if dst == "float":
            x = rng.integers(-(2**62), 2**62, N)
            x[:6] = [2**40 + 2**16, 2**40 + 3 * 2**16, -(2**40 + 2**16), 2**62 - 1, -(2**63), 2**63 - 1]
            return x
        return rng.integers(-(2**40), 2**40, N)
    lo, hi = INT_RANGE[src]
    x = rng.integers(lo, hi, N, endpoint=True, dtype=np.int64)
    if (src, dst) == ("int32", "float"):
        x[:6] = [2**24 + 1, 2**24 + 3, -(2**24 + 1), 2**25 + 2, 2**31 - 1, -(2**31)]
    if (src, dst) == ("int16", "half"):
        x[:4] = [2049, 2051, -2049, 32767]
    return x.astype(NPT[src])


def out_buffer(dst, n=N, fill=0):
    return np.full(n // 2 if dst == "int4" else n, fill, NPT[dst])


def as_bits(a):
    return a.view({2: np.uint16, 4: np.uint32}[a.itemsize]) if a.dtype.kind == "f" else a


CASES = [(d, s, m) for (d, s), modes in MATRIX.items() for m in MODES if m in modes]


@pytest.mark.parametrize("dst,src,mode", CASES, ids=[f"{s}->{d}-{m}" for d, s, m in CASES])
def test_cast_count_form_bit_exact(emu, dst, src, mode):
    rng = np.random.default_rng(sum(map(ord, dst + src + mode)))
    raw = source(src, dst, rng)
    got, _ = emu.vec("Cast", dst, dtype2=src, aux=MODES.index(mode), in0=raw, out=out_buffer(dst), count=N)
    want = reference(raw, src, dst, mode)
    if dst == "int4":
        want = pack_int4(want)
    bad = np.flatnonzero(as_bits(got) != as_bits(want))
    first = bad[0] // (2 if dst == "int4" else 1) if bad.size else 0
    assert bad.size == 0, f"{bad.size} mismatches, first at {bad[0]}: src {raw[first]!r}"


@pytest.mark.parametrize("dst,src", list(MATRIX), ids=[f"{s}->{d}" for d, s in MATRIX])
def test_cast_disallowed_round_mode_raises(emu, dst, src):
    for mode in set(MODES) - MATRIX[(dst, src)]:
        with pytest.raises(emu.EmuError, match=rf"core AIV 0: Cast: cast-mode: CAST_{mode} is not supported for"):
            emu.vec("Cast", dst, dtype2=src, aux=MODES.index(mode), in0=np.zeros(64, np.int64), out=out_buffer(dst, 64),
                    count=64)


def test_half_to_float_is_exact_for_every_half(emu):
    # All 65,536 half bit patterns: signed zeros, subnormals, normals, infinities and NaNs widen exactly.
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    for chunk in np.split(halves, 16):
        got, _ = emu.vec("Cast", "float", dtype2="half", aux=MODES.index("NONE"), in0=chunk,
                         out=out_buffer("float", chunk.size), count=chunk.size)
        want = chunk.astype(np.float32)
        nan = np.isnan(want)
        assert (np.isnan(got[: chunk.size]) == nan).all()
        np.testing.assert_array_equal(as_bits(got[: chunk.size][~nan]), as_bits(want[~nan]))


@pytest.mark.parametrize("mode", ["NONE", "RINT", "CEIL", "ROUND", "ODD"])
def test_float_to_half_saturates_on_overflow(emu, mode):
    # Cast.md: float -> half "溢出默认按照饱和处理" (overflow saturates by default), not +-inf as IEEE.
    # inf saturates like any overflow; NaN stays NaN (Cast.md does not say; the emulator's choice).
    x = np.array([np.nan, np.inf, -np.inf, 1e-10, -1e-10, 65504, 65520, -65520, 1e30, -3e38] + [0] * 54, np.float32)
    got, _ = emu.vec("Cast", "half", dtype2="float", aux=MODES.index(mode), in0=x, out=out_buffer("half", 64),
                     count=64)
    assert np.isnan(got[0])
    assert got[5:10].tolist() == [65504, 65504, -65504, 65504, -65504]
    assert got[1:3].tolist() == [65504, -65504]
    assert np.signbit(got[4]) and got[4] <= 0


def test_float_to_bf16_saturates_on_overflow(emu):
    big = np.float32(3.4028235e38)  # float max: rounds up past bf16's largest finite 0x7F7F (3.3895e38)
    x = np.array([big, -big, np.inf, np.nan] + [0] * 60, np.float32)
    got, _ = emu.vec("Cast", "bf16", dtype2="float", aux=MODES.index("RINT"), in0=x, out=out_buffer("bf16", 64),
                     count=64)
    assert got[:3].tolist() == [0x7F7F, 0xFF7F, 0x7F7F]
    assert (got[3] & 0x7F80) == 0x7F80 and (got[3] & 0x7F) != 0  # NaN


@pytest.mark.parametrize("form", ["mask", "bits", "counter_regs"])
@pytest.mark.parametrize(
    "dst,src,mode,strides",
    [("float", "half", "NONE", (1, 1, 8, 4)), ("half", "float", "ROUND", (2, 1, 9, 8)),
     ("int32", "float", "FLOOR", (1, 2, 10, 16)), ("int4", "half", "RINT", (1, 1, 2, 8)),
     ("half", "int4", "NONE", (1, 1, 8, 3)), ("half", "int8", "NONE", (1, 1, 8, 4)),
     ("int8", "half", "CEIL", (2, 1, 5, 8))],
)
def test_cast_repeat_forms(emu, dst, src, mode, strides, form):
    """Lanes per repeat follow the wider operand; strides are in 32-byte blocks of each operand."""
    width = {"half": 16, "float": 32, "int8": 8, "int4": 4, "int32": 32}
    lanes, repeat = 256 * 8 // max(width[dst], width[src]), 3
    kw = {"mask": {"mask": lanes - 3}, "bits": {"bits": (0xF0F0_0000_FFFF_0001, 0x8000_0000_0000_0FF0)},
          "counter_regs": {"count": 2 * lanes + 10}}[form]
    r, lane = emu.active_lanes(lanes, repeat, **kw)
    dst_blk, src_blk, dst_rep, src_rep = strides

    def index(t, blk, rep):  # element (or int4 nibble) index of each active lane
        per_block = 256 // width[t]
        return (r * rep + (lane // per_block) * blk) * per_block + lane % per_block

    di, si = index(dst, dst_blk, dst_rep), index(src, src_blk, src_rep)
    rng = np.random.default_rng(7)
    n_src, n_dst = (int(i.max()) // 64 * 64 + 128 for i in (si, di))
    values = np.round(rng.uniform(-9, 9, n_src) * 2) / 2
    raw = pack_int4(rng.integers(-8, 8, n_src)) if src == "int4" else values.astype(NPT[src])
    init = rng.integers(-8, 8, n_dst) if dst == "int4" else rng.integers(0, 100, n_dst)
    out = pack_int4(init) if dst == "int4" else init.astype(NPT[dst])
    got, _ = emu.vec("Cast", dst, dtype2=src, form=form, aux=MODES.index(mode), in0=raw, out=out, repeat=repeat,
                     count=kw.get("count", 0), mask=kw.get("mask", 0), bits=kw.get("bits", (0, 0)), dst_blk=dst_blk,
                     src0_blk=src_blk, dst_rep=dst_rep, src0_rep=src_rep)
    src_values = unpack_int4(raw) if src == "int4" else raw
    converted = reference(src_values[si], "int8" if src == "int4" else src, dst, mode)
    if dst == "int4":
        want = init.copy()
        want[di] = converted
        np.testing.assert_array_equal(unpack_int4(got), want)
    else:
        want = out.copy()
        want[di] = converted
        np.testing.assert_array_equal(as_bits(got), as_bits(want))


@pytest.mark.parametrize("dst,src", [("int8", "float"), ("half", "bf16"), ("float", "int8"), ("half", "int32")])
def test_unsupported_cast_pair_is_a_compile_error(emu, tmp_path, dst, src):
    types = {"int8": "int8_t", "float": "float", "half": "half", "bf16": "bfloat16_t", "int32": "int32_t"}
    code = tmp_path / "k.cpp"
    code.write_text(
        '#include "kernel_operator.h"\n'
        f"void f(const AscendC::LocalTensor<{types[dst]}>& d, const AscendC::LocalTensor<{types[src]}>& s) {{\n"
        "  AscendC::Cast(d, s, AscendC::RoundMode::CAST_RINT, 64);\n}\n"
    )
    res = subprocess.run(["g++", "-fsyntax-only", *emu.cflags, str(code)], capture_output=True, text=True)
    assert res.returncode != 0
    assert "this (dst, src) type pair is not supported on A2/A3" in res.stderr
