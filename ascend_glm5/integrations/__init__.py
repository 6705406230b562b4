"""Swapping the ops into existing model implementations (HF transformers GLM-5 / DeepSeek-V3.2)."""

from .transformers import PagedLatentCache, count_launches, patch_model, patched, prolog_paths, unpatch_model

__all__ = ["PagedLatentCache", "count_launches", "patch_model", "patched", "prolog_paths", "unpatch_model"]
