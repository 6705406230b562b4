"""Command line: ``python -m ascend_glm5 {info, emu, bench, demo, quantize}``."""

from __future__ import annotations

import argparse
import sys


def _info(_: argparse.Namespace) -> int:
    from . import __version__
    from .ops._backend import cpu_module, npu_module

    print(f"ascend_glm5 {__version__}")
    try:
        from . import _build_info as b
    except ImportError:
        print("build: not built (run `pip install .`); only the pure-torch references are usable")
        return 1
    print(f"built targets: {', '.join(b.TARGETS)}")
    print(f"NPU SoC (build): {b.SOC_VERSION}" + ("" if "npu" in b.TARGETS else " (no NPU target: CANN was not found)"))
    print(f"NPU runtime: {'available' if npu_module() is not None else 'not available'}")
    print(f"build type: {b.BUILD_TYPE}{', ASan+UBSan' if b.SANITIZE else ''}")
    limits = cpu_module().emulator_limits()
    print(f"emulator: {limits['soc']}, {limits['aic_cores']} AIC + {limits['aiv_cores']} AIV cores")
    for name, m in limits["memory"].items():
        print(f"  {name:4s} {m['bytes'] // 1024:4d} KiB per {m['core']} core, "
              f"{m['align_bytes']} B alignment")
    print(f"  at most {limits['max_buffers_per_position']} buffers per TPosition, event ids 0-{limits['event_ids'] - 1}")
    return 0


def _emu(args: argparse.Namespace) -> int:
    from . import emu

    parts = []
    if args.cflags:
        parts += emu.cflags()
    if args.libs:
        parts += emu.libs()
    if not parts:
        print(f"include: {emu.include_dir()}\nlib: {emu.library_dir()}")
        return 0
    print(" ".join(parts))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run

    return run(args.op, args.quick, soc=args.soc, plot=args.plot, floors=args.floors)


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(demo.MODELS[args.model], args.model_path, args.tokens, args.seed)


def _quantize(args: argparse.Namespace) -> int:
    from .quant import cli

    return cli.run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ascend_glm5", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, built targets, SoC and emulator limits").set_defaults(func=_info)
    p = sub.add_parser("emu", help="compiler flags to build your own kernels against the CPU emulator")
    p.add_argument("--cflags", action="store_true", help="print the g++ flags (include path, -std=c++17)")
    p.add_argument("--libs", action="store_true", help="print the linker flags for libascendc_emu")
    p.set_defaults(func=_emu)
    p = sub.add_parser("bench", help="emulator counters and CPU time of an op against its minimum traffic")
    p.add_argument("op", help="operator name, e.g. dynamic_quant")
    p.add_argument("--quick", action="store_true", help="smaller shapes")
    p.add_argument("--soc", help="also run the timing model of this SoC (Ascend910B1-B4, Ascend910_9391, ...): "
                   "modeled time against the roofline, pipes, critical path")  # fmt: skip
    p.add_argument("--plot", metavar="PNG", help="draw each case's per-core pipe timeline (needs matplotlib; "
                   "implies --soc Ascend910B3)")  # fmt: skip
    p.add_argument("--floors", action="store_true", help="also replay each case with its data movement free: "
                   "chain + HBM, own paths and their busiest pipe, chain (implies --soc Ascend910B3)")  # fmt: skip
    p.set_defaults(func=_bench)
    p = sub.add_parser("demo", help="generate with a GLM-5 / DeepSeek-V3.2 transformers model on HF's attention "
                       "and on the ascend_glm5 ops, and compare them")  # fmt: skip
    p.add_argument("--model", choices=["glm5", "deepseek-v32"], default="glm5",
                   help="family of the tiny random model (default glm5)")  # fmt: skip
    p.add_argument("--model-path", help="a local transformers checkpoint directory to use instead (loaded in fp32)")
    p.add_argument("--tokens", type=int, default=32, help="new tokens to generate per prompt (default 32)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random model and prompts (default 1)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("quantize", help="quantize a float GLM-5 / DeepSeek-V3.2 checkpoint on the CPU into "
                       "msModelSlim's W8A8 / W4A8 format")  # fmt: skip
    from .quant.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=_quantize)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
