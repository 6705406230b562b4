"""Quantized ``nn.Linear`` replacements for msModelSlim's ``W8A8_DYNAMIC`` and ``W8A8`` (static) types.

Both hold the checkpoint's int8 weight ``[N, K]`` as stored (a memory-mapped view when loaded by
:func:`ascend_glm5.from_msmodelslim`) and hand ``weight.t()`` to ``quant_matmul``, which reads that
layout in place, as vllm-ascend's ``npu_quant_matmul`` calls do:

* ``W8A8_DYNAMIC``: ``x_q, s_x = dynamic_quant(x)`` (per token), ``y = quant_matmul(x_q, W.t(),
  weight_scale, pertoken_scale=s_x)`` (+ float bias after dequantisation);
* ``W8A8`` static: ``x_q = clamp(round(x / input_scale + input_offset))`` (per tensor, asymmetric), then
  ``y = quant_matmul(x_q, W.t(), deq_scale, bias=quant_bias)`` = ``(x_q @ W.t() + quant_bias) *
  deq_scale``, the zero point (and any float bias) folded into the int32 ``quant_bias``.

``backend="kernels"`` runs the ops of ``ascend_glm5.ops`` (AscendC kernels: emulated on the CPU,
native on an NPU); ``backend="reference"`` the pure-torch references of ``ascend_glm5.reference``, so
the same model can be computed both ways and compared. Activations go to the ops in bf16 when the
model runs in bf16, else in fp16 (bf16 if a value would overflow fp16); the output has ``x``'s dtype.
"""

from __future__ import annotations

import torch
from torch import nn

BACKENDS = ("kernels", "reference")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def kernel_input(x: torch.Tensor) -> torch.Tensor:
    """``x`` in a dtype the quantization kernels take: bf16 stays bf16, fp16 stays fp16, fp32 goes to
    fp16 (3 more mantissa bits than bf16) unless a value exceeds fp16's range, then to bf16."""
    if x.dtype in (torch.bfloat16, torch.float16):
        return x
    if x.numel() and float(x.abs().max()) >= 65504.0:
        return x.to(torch.bfloat16)
    return x.to(torch.float16)


class Ops:
    """The ops one backend runs, called with the same (torch_npu) arguments either way."""

    def __init__(self, backend: str):
        self.backend = check_backend(backend)
        if backend == "kernels":
            from .. import ops

            self.dynamic_quant, self.quant_matmul, self.quantize = ops.dynamic_quant, ops.quant_matmul, ops.quantize
            self.dequant_swiglu_quant = ops.dequant_swiglu_quant
            self.moe_init_routing_v2, self.moe_finalize_routing = ops.moe_init_routing_v2, ops.moe_finalize_routing
        else:
            from .. import reference

            self.dynamic_quant, self.quant_matmul = reference.dynamic_quant, reference.quant_matmul
            self.quantize = reference.quantize
            self.dequant_swiglu_quant = _reference_dequant_swiglu_quant
            self.moe_init_routing_v2, self.moe_finalize_routing = _reference_init_routing, _reference_finalize_routing


# The references take the arguments the modules pass (torch_npu names) minus the mode switches that
# only select what the ops support; these adapters check those switches and drop them.
def _reference_dequant_swiglu_quant(x, *, quant_mode: int, **kwargs):
    from ..reference import dequant_swiglu_quant

    if quant_mode != 1:
        raise ValueError("only quant_mode=1 (dynamic per-token) is used")
    return dequant_swiglu_quant(x, **kwargs)


def _reference_init_routing(x, expert_idx, *, scale, expert_num, active_expert_range, **modes):
    from ..reference import moe_routing

    if modes != dict(active_num=x.shape[0] * expert_idx.shape[1], expert_tokens_num_type=1,
                     expert_tokens_num_flag=True, quant_mode=-1, row_idx_type=0):  # fmt: skip
        raise ValueError(f"unsupported routing modes {modes}")
    return moe_routing.moe_init_routing_v2(x, expert_idx, scale=scale, expert_num=expert_num,
                                           active_expert_range=active_expert_range)  # fmt: skip


def _reference_finalize_routing(rows, skip1, skip2, bias, scales, dst, experts, drop_pad_mode=0):
    from ..reference import moe_routing

    return moe_routing.moe_finalize_routing(rows, skip1, skip2, bias, scales, dst, experts, drop_pad_mode,
                                            tokens=scales.shape[0])  # fmt: skip


class QuantModule(nn.Module):
    """A module computed by the ops of ``backend`` ("kernels" / "reference"), switchable at any time."""

    quant_type = ""

    def __init__(self, backend: str):
        super().__init__()
        self.ops = Ops(backend)

    @property
    def backend(self) -> str:
        return self.ops.backend

    @backend.setter
    def backend(self, value: str) -> None:
        self.ops = Ops(value)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1])


class _QuantLinear(QuantModule):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, backend: str):
        super().__init__(backend)
        if weight.dtype != torch.int8 or weight.dim() != 2:
            raise TypeError(f"weight must be int8 [N, K], got {weight.dtype} {tuple(weight.shape)}")
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, backend={self.backend}"

    def _finish(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y.reshape(*x.shape[:-1], self.out_features)


class W8A8DynamicLinear(_QuantLinear):
    """``W8A8_DYNAMIC``: int8 weight ``[N, K]``, fp32 per-channel ``weight_scale`` ``[N]``, optional
    fp32 bias ``[N]`` (added after dequantisation); activations quantized per token at run time."""

    quant_type = "W8A8_DYNAMIC"

    def __init__(self, weight, weight_scale, bias=None, *, backend: str = "kernels"):
        super().__init__(weight, bias, backend)
        if weight_scale.dtype != torch.float32 or tuple(weight_scale.shape) != (self.out_features,):
            raise ValueError(f"weight_scale must be float32 [{self.out_features}], got "
                             f"{weight_scale.dtype} {tuple(weight_scale.shape)}")  # fmt: skip
        self.register_buffer("weight_scale", weight_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, s = self.ops.dynamic_quant(kernel_input(_flat(x)))
        y = self.ops.quant_matmul(q, self.weight.t(), self.weight_scale, pertoken_scale=s, bias=self.bias,
                                  output_dtype=x.dtype)  # fmt: skip
        return self._finish(y, x)


class W8A8StaticLinear(_QuantLinear):
    """``W8A8`` static: int8 weight ``[N, K]``; per-tensor activation ``input_scale`` / ``input_offset``
    (fp32, offset an integer in [-128, 127]); ``deq_scale`` fp32 ``[N]`` = input_scale * weight_scale;
    ``quant_bias`` int32 ``[N]``: the activation zero point and any float bias of the original linear
    folded in (``round(bias / deq_scale) - input_offset * sum_k W``), so no separate bias is added."""

    quant_type = "W8A8"

    def __init__(self, weight, input_scale, input_offset, deq_scale, quant_bias, *, backend: str = "kernels"):
        super().__init__(weight, None, backend)
        n = self.out_features
        for name, t, dtype, shape in (("input_scale", input_scale, torch.float32, (1,)),
                                      ("input_offset", input_offset, torch.float32, (1,)),
                                      ("deq_scale", deq_scale, torch.float32, (n,)),
                                      ("quant_bias", quant_bias, torch.int32, (n,))):  # fmt: skip
            if t.dtype != dtype or tuple(t.shape) != shape:
                raise ValueError(f"{name} must be {dtype} {list(shape)}, got {t.dtype} {list(t.shape)}")
        self.register_buffer("input_scale", input_scale)
        self.register_buffer("input_offset", input_offset)
        self.register_buffer("deq_scale", deq_scale)
        self.register_buffer("quant_bias", quant_bias)
        self.register_buffer("scale_reciprocal", 1.0 / input_scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch_npu npu_quantize(x, 1 / input_scale, input_offset, qint8, -1, div_mode=False), as vllm-ascend
        q = self.ops.quantize(kernel_input(_flat(x)), self.scale_reciprocal, self.input_offset, torch.qint8, -1, False)
        y = self.ops.quant_matmul(q, self.weight.t(), self.deq_scale, bias=self.quant_bias, output_dtype=x.dtype)
        return self._finish(y, x)
