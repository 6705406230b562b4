"""``python -m ascend_glm5 quantize SRC DST --scheme w8a8|w4a8 [--quarot] [--smooth ALPHA] [--report]``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile

import torch

from .quantizer import Options, calibration_ids, load_float_model, quantize_model

EVAL_SEQUENCES, EVAL_LENGTH = 4, 32


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="float transformers checkpoint (model_type glm_moe_dsa or deepseek_v32)")
    p.add_argument("dst", help="output directory (msModelSlim ascendV1 format)")
    p.add_argument("--scheme", choices=["w8a8", "w4a8"], required=True,
                   help="msModelSlim's GLM-5 / DeepSeek-V3.2 recipe: w8a8 (static W8A8 attention, W8A8_DYNAMIC "
                        "MLPs and experts) or w4a8 (W8A8_DYNAMIC attention and MLPs, W4A8_DYNAMIC experts)")  # fmt: skip
    p.add_argument("--quarot", action="store_true", help="fold norms and Hadamard rotations into the weights first")
    p.add_argument("--smooth", type=float, metavar="ALPHA",
                   help="SmoothQuant with migration strength ALPHA in (0, 1) (0.5 is usual)")  # fmt: skip
    p.add_argument("--calib-sequences", type=int, default=8, help="calibration sequences (default 8)")
    p.add_argument("--calib-length", type=int, default=64, help="tokens per calibration sequence (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration tokens and rotations (default 0)")
    p.add_argument("--ssz-steps", type=int, default=10, help="SSZ scale-search steps for int4 experts (default 10)")
    p.add_argument("--shard-gb", type=float, default=4.0, help="safetensors shard size in GB (default 4)")
    p.add_argument("--report", action="store_true",
                   help="print per-layer output SQNR and final-logit agreement with the float model (with "
                        "--quarot, also the SQNR without QuaRot)")  # fmt: skip
    p.add_argument("--report-backend", choices=["reference", "kernels"], default="reference",
                   help="ops the report runs the quantized model on (default reference: faster on the CPU)")  # fmt: skip


def _options(args) -> Options:
    if args.smooth is not None and not 0.0 < args.smooth < 1.0:
        raise SystemExit("--smooth takes ALPHA in (0, 1)")
    return Options(scheme=args.scheme, quarot=args.quarot, smooth=args.smooth, calib_sequences=args.calib_sequences,
                   calib_length=args.calib_length, seed=args.seed, ssz_steps=args.ssz_steps,
                   shard_bytes=int(args.shard_gb * 1024**3))  # fmt: skip


@torch.no_grad()
def report(src: str, dst: str, options: Options, quantized, float_logits, eval_ids, backend: str) -> str:
    from ..integrations.msmodelslim import from_msmodelslim, quantized_modules
    from .report import format_report, layer_sqnr, logit_agreement

    def measure(float_model, path):
        qmodel = from_msmodelslim(path, dtype=torch.float32, backend=backend, patch_attention=False)
        return qmodel, layer_sqnr(float_model, quantized_modules(qmodel), eval_ids)

    qmodel, sqnr = measure(quantized.model, dst)
    agreement = logit_agreement(float_logits, qmodel(input_ids=eval_ids, use_cache=False).logits)
    baseline = None
    if options.quarot:
        with tempfile.TemporaryDirectory() as tmp:
            plain = quantize_model(load_float_model(src), src, tmp,
                                   dataclasses.replace(options, quarot=False, progress=False))  # fmt: skip
            baseline = measure(plain.model, tmp)[1]
    return format_report(sqnr, agreement, baseline, quantized.types)


def run(args) -> int:
    options = _options(args)
    model = load_float_model(args.src)
    config = model.config
    print(f"{type(model).__name__} from {args.src}: {config.num_hidden_layers} layers, hidden {config.hidden_size}; "
          f"scheme {options.scheme}{', QuaRot' if options.quarot else ''}"
          f"{f', SmoothQuant alpha {options.smooth:g}' if options.smooth is not None else ''}", flush=True)  # fmt: skip
    eval_ids = calibration_ids(config.vocab_size, EVAL_SEQUENCES, EVAL_LENGTH, options.seed + 1000)
    float_logits = model(input_ids=eval_ids, use_cache=False).logits if args.report else None
    quantized = quantize_model(model, args.src, args.dst, options)
    counts: dict[str, int] = {}
    for qtype in quantized.types.values():
        counts[qtype] = counts.get(qtype, 0) + 1
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(args.dst) for f in files)
    print(f"wrote {args.dst}: {size / 1e6:.1f} MB in {quantized.seconds:.1f} s; linears / expert blocks per type: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))  # fmt: skip
    if args.report:
        print(report(args.src, args.dst, options, quantized, float_logits, eval_ids, args.report_backend))
    return 0
