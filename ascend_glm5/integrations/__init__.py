"""Swapping the ops into existing model implementations (HF transformers GLM-5 / DeepSeek-V3.2)."""
