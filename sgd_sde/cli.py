"""The ``sgd-sde`` command.

Sub-commands:
  demo     simulate SGD against its SDE on a quadratic and write a figure (+ its data)
  theory   verify every SymPy derivation and print a table (non-zero exit if one fails)
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_demo(args) -> int:
    from .figures.demo import demo_figure

    out = demo_figure(args.out, key=args.key, quick=args.quick)
    print(f"wrote {out} (data: {out.with_suffix('')}.npz/.json)")
    return 0


def _cmd_theory(args) -> int:
    from .theory.verify import main_theory

    return int(main_theory(args.rest))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgd-sde", description="SGD as an SDE: simulate, verify, reproduce.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate SGD vs its SDE on a quadratic and write a figure")
    demo.add_argument("--out", default="figures/demo", help="output folder (default: figures/demo)")
    demo.add_argument("--key", type=int, default=0, help="PRNG key seed (default 0)")
    demo.add_argument("--quick", action="store_true", help="smaller run, same code path")
    demo.set_defaults(func=_cmd_demo)
    theory = sub.add_parser("theory", help="verify the SymPy derivations and print a table", add_help=False)
    theory.add_argument("rest", nargs=argparse.REMAINDER)
    theory.set_defaults(func=_cmd_theory)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "theory":
        args.rest = list(args.rest) + list(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
