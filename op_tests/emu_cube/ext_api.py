"""ctypes front end of ext_kernels.cpp (built into the emu_cube library, the ``kern`` fixture), and
numpy models of the documented semantics the tests compare against."""

from __future__ import annotations

import ctypes

import numpy as np

POISON = np.array([0xC0, 0xFF, 0xC0, 0xFF], np.uint8)  # 0xFFC0FFC0, little-endian
DTYPES = {"int8": (0, 8), "half": (1, 16), "float": (2, 32), "int4": (3, 4), "bf16": (4, 16), "uint8": (5, 8),
          "int32": (6, 32)}  # fmt: skip
APIS = {"transpose": 0, "load3d": 1, "load3d_fmatrix": 2, "load3d_pro": 3}


class ProbeArgs(ctypes.Structure):
    _fields_ = ([(n, ctypes.c_int32) for n in ("api", "dtype", "toL0A")]
                + [(n, ctypes.c_uint32) for n in ("srcBytes", "dstBytes", "dstOffset")]
                + [(n, ctypes.c_uint16) for n in ("startIndex", "srcStride", "dstGap", "dstFracGap")]
                + [("repeat", ctypes.c_uint32)]
                + [(n, ctypes.c_uint16) for n in ("l1H", "l1W", "channels", "kExt", "mExt", "kStart", "mStart")]
                + [("strideW", ctypes.c_uint8), ("strideH", ctypes.c_uint8), ("pad", ctypes.c_uint8 * 4)])


class BitArgs(ctypes.Structure):
    _fields_ = ([(n, ctypes.c_int32) for n in ("op", "dtype", "form", "count", "shift")]
                + [("repeat", ctypes.c_uint32), ("mask", ctypes.c_uint64), ("bits", ctypes.c_uint64 * 2)]
                + [(n, ctypes.c_uint8) for n in ("dstBlk", "src0Blk", "src1Blk", "dstRep", "src0Rep", "src1Rep")]
                + [("bytes", ctypes.c_uint32)])


def poison(nbytes: int) -> np.ndarray:
    return np.resize(POISON, nbytes).copy()


def identity_fractals() -> np.ndarray:
    """Two 16 x 32 int8 fractals holding a 32 x 32 identity (the same bytes as Zz or as Zn)."""
    ident = np.zeros(1024, np.uint8)
    for r in range(32):
        ident[(r // 16) * 512 + (r % 16) * 32 + r] = 1
    return ident


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _call(kern, rc: int) -> None:
    if rc:
        raise kern.EmuError(kern._err.value.decode())


def probe(kern, api: str, dtype: str, src: np.ndarray, dst_bytes: int, *, to_l0a=False, dst_offset=0, **params):
    """Runs `api` from the L1 image `src` into L0A / L0B and returns the dst_bytes of that L0 buffer."""
    src = np.ascontiguousarray(src, np.uint8)
    a = ProbeArgs(api=APIS[api], dtype=DTYPES[dtype][0], toL0A=to_l0a, srcBytes=src.size, dstBytes=dst_bytes,
                  dstOffset=dst_offset)  # fmt: skip
    pad = params.pop("pad", (0, 0, 0, 0))
    params = {"strideW": 1, "strideH": 1} | params
    a.pad[:] = pad
    for k, v in params.items():
        setattr(a, k, v)
    out = np.zeros(dst_bytes, np.int32)
    ident = identity_fractals()  # kept alive across the call
    _call(kern, kern.lib.ext_probe(ctypes.byref(a), _ptr(src), _ptr(ident), _ptr(out), kern._err, len(kern._err)))
    c = out.reshape(dst_bytes // 32, 32) if to_l0a else out.reshape(32, dst_bytes // 32).T
    assert ((c >= -128) & (c <= 127)).all()  # an identity product of int8 bytes
    return c.astype(np.int8).view(np.uint8).ravel()


def mte1_bytes(kern) -> int:
    kern.lib.ext_mte1_bytes.restype = ctypes.c_uint64
    return kern.lib.ext_mte1_bytes()


def sync_waits(kern) -> int:
    kern.lib.ext_sync_waits.restype = ctypes.c_uint64
    return kern.lib.ext_sync_waits()


def bitwise(kern, op: int, dtype: int, form: int, in0: np.ndarray, in1: np.ndarray, out: np.ndarray, *, count=0,
            shift=0, repeat=1, mask=0, bits=(0, 0), blk=(1, 1, 1), rep=(8, 8, 8)) -> np.ndarray:
    a = BitArgs(op=op, dtype=dtype, form=form, count=count, shift=shift, repeat=repeat, mask=mask,
                dstBlk=blk[0], src0Blk=blk[1], src1Blk=blk[2], dstRep=rep[0], src0Rep=rep[1], src1Rep=rep[2],
                bytes=out.nbytes)  # fmt: skip
    a.bits[:] = bits
    res = np.ascontiguousarray(out).copy()
    in0, in1 = np.ascontiguousarray(in0), np.ascontiguousarray(in1)  # kept alive across the call
    _call(kern, kern.lib.ext_bit(ctypes.byref(a), _ptr(in0), _ptr(in1), _ptr(res), kern._err, len(kern._err)))
    return res


def mem(kern, case: int, inp: np.ndarray, out: np.ndarray) -> np.ndarray:
    res = np.ascontiguousarray(out, np.uint8).copy()
    inp = np.ascontiguousarray(inp, np.uint8)  # kept alive across the call
    _call(kern, kern.lib.ext_mem(case, _ptr(inp), _ptr(res), kern._err, len(kern._err)))
    return res


def flags(kern, case: int, block_dim: int) -> np.ndarray:
    out = np.zeros(64, np.int32)
    _call(kern, kern.lib.ext_flag(case, block_dim, _ptr(out), kern._err, len(kern._err)))
    return out


# ---- models of the documented semantics ----------------------------------------------------------
def elements(raw: np.ndarray, bits: int) -> np.ndarray:
    """Element codes of a byte image (int4: element 2i in the low nibble)."""
    if bits == 4:
        out = np.empty(raw.size * 2, np.uint8)
        out[0::2], out[1::2] = raw & 0xF, raw >> 4
        return out
    return raw.view({8: np.uint8, 16: np.uint16, 32: np.uint32}[bits])


def raw_bytes(e: np.ndarray, bits: int) -> np.ndarray:
    if bits == 4:
        e = e.astype(np.uint8)
        return (e[0::2] | (e[1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(e).view(np.uint8)


def transpose_model(src: np.ndarray, bits: int, dst_bytes: int, *, startIndex=0, repeat=0, srcStride=0, dstGap=0,
                    dstFracGap=0) -> np.ndarray:
    """LoadDataWithTranspose.md: square blocks of F 512 B fractals (16 rows x 32 B), transposed."""
    row = 256 // bits
    side = 16 if bits == 32 else row
    frac = side * side * bits // 8 // 512
    src_e = elements(src, bits)
    dst = poison(dst_bytes)
    per_frac = 4096 // bits
    for i in range(repeat):
        base = (startIndex + i * srcStride) * frac * per_frac
        fr = src_e[base: base + frac * per_frac].reshape(frac, 16, row)
        square = np.concatenate(list(fr), axis=1) if bits == 32 else fr.reshape(frac * 16, row)
        t = square.T
        parts = [t[:, f * row:(f + 1) * row] for f in range(frac)] if bits == 32 else [
            t[f * 16:(f + 1) * 16] for f in range(frac)]  # fmt: skip
        for f, part in enumerate(parts):
            off = i * (1 + dstGap) * 512 + f * (1 + dstFracGap) * 512
            dst[off: off + 512] = raw_bytes(np.ascontiguousarray(part).ravel(), bits)
    return dst


def im2col_model(src: np.ndarray, bits: int, dst_bytes: int, *, l1H, l1W, channels, kExt, mExt, kStart=0, mStart=0,
                 strideW=1, strideH=1, pad=(0, 0, 0, 0)) -> np.ndarray:
    """Load3D.md, a 1 x 1 filter: row m of the im2col matrix is output pixel (m / Wo, m % Wo), column k
    channel k of the NC1HWC0 feature map; outside the map the pad value (0); written as Zz fractals of
    16 x C0 into L0A, the rows and columns of the last fractals beyond the extensions undefined."""
    c0 = 256 // bits
    src_e = elements(src, bits)
    wo = (l1W + pad[0] + pad[1] - 1) // strideW + 1
    k1 = -(-kExt // c0)
    dst = poison(dst_bytes)
    m1 = -(-mExt // 16)
    dst_e = elements(dst[: m1 * k1 * 512].copy(), bits).copy()
    for r in range(mExt):
        ho, w_ = divmod(mStart + r, wo)
        h, w = ho * strideH - pad[2], w_ * strideW - pad[0]
        for c in range(kExt):
            k = kStart + c
            v = 0 if not (0 <= h < l1H and 0 <= w < l1W) else src_e[(((k // c0) * l1H + h) * l1W + w) * c0 + k % c0]
            dst_e[((r // 16) * k1 + c // c0) * 16 * c0 + (r % 16) * c0 + c % c0] = v
    dst[: m1 * k1 * 512] = raw_bytes(dst_e, bits)
    return dst


class DeqArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("m", "n", "k")] + [("setConfig", ctypes.c_int32), ("fbGap", ctypes.c_int32)]


def deq(kern, a: np.ndarray, b_nk: np.ndarray, scale_words: np.ndarray, *, set_config=True, fb_gap=False) -> np.ndarray:
    """int8 A [m, k] x B [n, k]^T, column n dequantised by scale_words[n] (VDEQF16); returns half [m, n]."""
    m, k = a.shape
    n = b_nk.shape[0]
    a, b_nk = np.ascontiguousarray(a, np.int8), np.ascontiguousarray(b_nk, np.int8)
    words = np.zeros(-(-n // 16) * 16, np.uint64)
    words[:n] = scale_words
    c = np.zeros((m, n), np.float16)
    args = DeqArgs(m=m, n=n, k=k, setConfig=set_config, fbGap=fb_gap)
    _call(kern, kern.lib.ext_deq(ctypes.byref(args), _ptr(a), _ptr(b_nk), _ptr(words), _ptr(c), kern._err,
                                 len(kern._err)))  # fmt: skip
    return c
