"""Scales and integer weights as msModelSlim computes and stores them (W8A8, W8A8_DYNAMIC, W4A8_DYNAMIC).

Conventions (msModelSlim ``ir/api/impl/int_quantization.py``, ``core/quantizer/impl/ssz.py``, saver
``save/ascendv1.py``; summary in docs/quantization.md):

* symmetric, per output channel: ``s = max(max_k |w| / qmax, eps_fp32)`` with ``qmax`` 127 (int8)
  or 7 (int4), ``q = clamp(round_half_even(w / s), -2**(b-1), 2**(b-1) - 1)``, all in fp32;
* asymmetric, per tensor (static activations): ``lo = min(x_min, 0)``, ``hi = max(x_max, 0)``,
  ``s = max(hi / 255 - lo / 255, eps)``, ``o = round(-lo / s) - 128``; ``q = clamp(round(x / s + o))``;
* SSZ: from the minmax scale, iterate ``s <- sum_k w q / sum_k q**2``, ``q <- clamp(round(w / s))``,
  keeping per channel the scale of least squared error;
* W8A8 static export: ``deq_scale = input_scale * weight_scale`` (fp32), ``quant_bias =
  round(bias / deq_scale - input_offset * sum_k q)`` (int32);
* W4A8 ``scale_bias``: ``8 * sum_k s_n q[n, k]``, as ``[N, 1]`` for gate/up and as 16 partial sums over
  equal K chunks ``[N, 16]`` for down_proj.
"""

from __future__ import annotations

import torch

FP32_EPS = torch.finfo(torch.float32).eps
_QMAX = {8: 127, 4: 7}
SSZ_STEPS = 10  # GLM-5 / DeepSeek-V3.2 W4A8 recipes: `ext.step: 10`
SCALE_BIAS_CHUNKS = 16  # down_proj partial sums (any TP size in {1, 2, 4, 8, 16} takes its share)


def _check_weight(w: torch.Tensor) -> torch.Tensor:
    if not w.is_floating_point():
        raise TypeError(f"weight must be a float tensor, got {w.dtype}")
    if w.dim() != 2:
        raise ValueError(f"weight must be [N, K], got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("weight has NaN or inf entries")
    return w.float()


def quantize_symmetric(w: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """``clamp(round_half_even(w / scale[:, None]))`` in fp32, as int8 ``[N, K]``."""
    qmax = _QMAX[bits]
    return torch.round(w.float() / scale.float()[:, None]).clamp_(-qmax - 1, qmax).to(torch.int8)


def quantize_weight_minmax(w: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel symmetric minmax: ``(q int8 [N, K], scale fp32 [N])`` for ``w`` ``[N, K]``."""
    wf = _check_weight(w)
    scale = (wf.abs().amax(dim=1) / float(_QMAX[bits])).clamp(min=FP32_EPS)
    return quantize_symmetric(wf, scale, bits), scale


def quantize_weight_ssz(w: torch.Tensor, bits: int = 4, steps: int = SSZ_STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel symmetric quantization with an SSZ scale search: ``(q int8 [N, K], scale fp32 [N])``.

    Starts from the minmax scale; each step sets every channel's scale to the least-squares fit of
    ``w`` by its current integers (``sum w q / sum q**2``) and re-rounds; a channel keeps the scale
    with the smallest ``mean (w - q s)**2`` seen. The result is never worse than minmax on any channel.
    """
    wf = _check_weight(w)
    _, scale = quantize_weight_minmax(wf, bits)

    def error(s):
        return (wf - quantize_symmetric(wf, s, bits).float() * s[:, None]).pow(2).mean(dim=1)

    best_scale, best_err = scale, error(scale)
    current = scale
    for _ in range(steps):
        q = quantize_symmetric(wf, current, bits).float()
        qq = (q * q).sum(dim=1)
        fit = (wf * q).sum(dim=1) / qq.clamp(min=1e-30)
        fit = torch.where(qq > 0, fit, current).clamp(min=FP32_EPS)
        if torch.equal(fit, current):  # a fixed point: further steps change nothing
            break
        current = fit
        err = error(current)
        better = err < best_err
        best_scale = torch.where(better, current, best_scale)
        best_err = torch.where(better, err, best_err)
    return quantize_symmetric(wf, best_scale, bits), best_scale


def activation_params_asymmetric(x_min: float, x_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor asymmetric int8 parameters from the calibrated range: fp32 ``(scale [1], offset [1])``.

    The range always includes 0; ``offset`` is an integer in [-128, 127] stored as fp32.
    """
    lo = torch.tensor([min(float(x_min), 0.0)], dtype=torch.float32)
    hi = torch.tensor([max(float(x_max), 0.0)], dtype=torch.float32)
    scale = torch.maximum(hi / 255.0 - lo / 255.0, torch.tensor([FP32_EPS]))
    offset = torch.round(-lo / scale) - 128.0
    return scale, offset


def w8a8_static_tensors(
    w_q: torch.Tensor, weight_scale: torch.Tensor, input_scale: torch.Tensor, input_offset: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(deq_scale fp32 [N], quant_bias int32 [N])`` of a static W8A8 linear.

    ``deq_scale = input_scale * weight_scale`` in fp32; ``quant_bias = round(bias / deq_scale) -
    input_offset * sum_k w_q`` folds the activation zero point into the int32 accumulator, so that
    ``(x_q @ w_q.T + quant_bias) * deq_scale = (x_q - o) @ w_q.T * deq_scale (+ bias)``. The zero-point
    term is exact integer arithmetic (msModelSlim computes it in fp32, identical below 2**24).
    """
    deq_scale = (input_scale.float().reshape(1) * weight_scale.float()).reshape(-1)
    correction = w_q.to(torch.int64).sum(dim=1) * int(input_offset.reshape(-1)[0])
    base = torch.zeros_like(correction) if bias is None else torch.round(bias.double() / deq_scale.double()).long()
    quant_bias = base - correction
    if quant_bias.abs().max() >= 2**31:
        raise ValueError("quant_bias overflows int32 (input_offset * sum_k w_q too large)")
    return deq_scale, quant_bias.to(torch.int32)


def msmodelslim_scale_bias(w_q: torch.Tensor, scale: torch.Tensor, chunks: int) -> torch.Tensor:
    """msModelSlim's W4A8 ``scale_bias``: fp32 ``[N, chunks]``, ``8 * s_n * sum_{k in chunk c} w_q[n, k]``.

    ``chunks`` is 1 for gate/up projections and 16 for down_proj (K split into 16 equal chunks). The
    value is computed exactly (integer sum, float64 product) and rounded once to fp32; msModelSlim sums
    fp32 products, which may differ by a few fp32 ulps.
    """
    n, k = w_q.shape
    if k % chunks:
        raise ValueError(f"K = {k} must be a multiple of {chunks} for a [N, {chunks}] scale_bias")
    sums = w_q.to(torch.int64).reshape(n, chunks, k // chunks).sum(dim=2)
    return (8.0 * scale.double()[:, None] * sums.double()).float()
