"""Argument checks shared by the ops: clear Python exceptions before any kernel runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def require_tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def require_dtype(name: str, t: torch.Tensor, allowed: Sequence[torch.dtype]) -> None:
    if t.dtype not in allowed:
        names = ", ".join(str(d).replace("torch.", "") for d in allowed)
        raise TypeError(f"{name} must have dtype in ({names}), got {str(t.dtype).replace('torch.', '')}")


def require_shape(name: str, t: torch.Tensor, shape: Sequence[int]) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")


def require_same_device(names: Sequence[str], tensors: Sequence[torch.Tensor | None]) -> None:
    present = [(n, t) for n, t in zip(names, tensors) if t is not None]
    devices = {t.device for _, t in present}
    if len(devices) > 1:
        detail = ", ".join(f"{n} on {t.device}" for n, t in present)
        raise ValueError(f"all tensors must be on one device: {detail}")
