"""The ``sgd-sde`` command.

Sub-commands:
  reproduce  run every claim's checks (symbolic, simulation, network) and figure recipes; write
             report.md, report.html, claims.json and the figures (the main job)
  list       list the registered claims and figures
  figure     draw one figure (and save the data behind it)
  simulate   run a simulation described by a TOML config and save the Trajectory
  demo       simulate SGD against its SDE on a quadratic and write a figure (+ its data)
  theory     verify every SymPy derivation and print a table (non-zero exit if one fails)
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main"]


def _out_folder_error(command: str, out) -> int | None:
    """Refuse, before any work, an ``--out`` folder that cannot be created: print an argparse-style
    error naming ``--out`` and return exit status 2 (``None`` when the folder is usable)."""
    from pathlib import Path

    path = Path(out)
    probe = path
    while not probe.exists() and probe != probe.parent:  # the nearest existing ancestor
        probe = probe.parent
    why = None
    if probe.exists() and not probe.is_dir():
        why = f"{str(probe)!r} is not a directory"
    elif probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        why = f"{str(probe)!r} is not writable"
    if why is None:
        return None
    print(f"sgd-sde {command}: error: argument --out: cannot create the output folder {str(path)!r}: {why}",
          file=sys.stderr)
    return 2


def _cmd_demo(args) -> int:
    from .figures.demo import demo_figure

    bad = _out_folder_error("demo", args.out)
    if bad is not None:
        return bad
    out = demo_figure(args.out, key=args.key, quick=args.quick)
    print(f"wrote {out} (data: {out.with_suffix('')}.npz/.json)")
    return 0


def _cmd_theory(args) -> int:
    from .theory.verify import main_theory

    return int(main_theory(args.rest))


def _cmd_lrbench(args) -> int:
    from .lrbench.benchmark import BenchmarkResult, write_report

    bad = _out_folder_error("lrbench", args.out)
    if bad is not None:
        return bad
    try:
        paths = write_report(args.out, key=args.key, quick=args.quick, policies=args.policies)
    except ValueError as err:  # an unknown --policies label, refused before anything runs
        print(f"sgd-sde lrbench: error: {err}", file=sys.stderr)
        return 2
    print(BenchmarkResult.load(paths["bundle"]).summary()[["policy", "final_test_acc_mean", "final_test_acc_std",
                                                            "steps_to_target_mean", "n_reached", "n_diverged", "robbins_monro"]].to_string(index=False))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    bad = _out_folder_error("reproduce", args.out)
    if bad is not None:
        return bad
    try:
        jobs = args.jobs if args.jobs is not None else max(1, min(4, len(os.sched_getaffinity(0))
                                                                   if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
        res = reproduce(args.out, quick=args.quick, only=args.only, papers=args.paper, jobs=jobs, key=args.key,
                        figures=not args.no_figures, write_papers=False if args.no_papers else None)
    except (ValueError, KeyError) as err:
        print(f"sgd-sde reproduce: error: {err}", file=sys.stderr)
        return 2
    return res.exit_status


def _cmd_list(args) -> int:
    from .claims import all_claims
    from .reproduce import FIGURE_RECIPES

    if args.claims or not args.figures:
        claims = all_claims()
        w = max(len(c.id) for c in claims)
        print(f"{len(claims)} claims ({sum(len(c.levels) for c in claims)} checks):")
        for c in claims:
            print(f"  {c.id:<{w}}  [{', '.join(c.levels)}]  {c.statement}")
    if args.figures or not args.claims:
        recipes = FIGURE_RECIPES()
        print(f"{len(recipes)} figures:")
        for name, (kind, target) in sorted(recipes.items()):
            print(f"  {name:<20} ({kind}: {target})")
    return 0


def _cmd_figure(args) -> int:
    from .reproduce import run_figure

    bad = _out_folder_error("figure", args.out)
    if bad is not None:
        return bad
    try:
        path = run_figure(args.name, args.out, key=args.key, quick=args.quick)
    except ValueError as err:
        print(f"sgd-sde figure: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def _cmd_simulate(args) -> int:
    from pathlib import Path

    from .config import ConfigError, run_config

    if args.out is not None:  # the Trajectory goes to OUT.npz: its folder must be creatable
        bad = _out_folder_error("simulate", Path(args.out).parent)
        if bad is not None:
            return bad
    try:
        traj, path = run_config(args.config, args.out)
    except ConfigError as err:
        print(f"sgd-sde simulate: error: {err}", file=sys.stderr)
        return 2
    print(f"{traj}\nwrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sgd-sde", description="SGD as an SDE: simulate, verify, reproduce.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="run every claim's checks and figure recipes; write the report")
    rep.add_argument("--quick", action="store_true", help="smaller runs, same code paths")
    rep.add_argument("--only", nargs="+", metavar="ID",
                     help="claim ids or sources to run (default: all); with --paper, the claims matching both")
    rep.add_argument("--paper", nargs="+", metavar="NAME", help="sources to run, e.g. mccandlish2018")
    rep.add_argument("--out", default="results", help="output folder (default: results)")
    rep.add_argument("--jobs", type=int, default=None,
                     help="worker processes (default: the number of CPU cores, at most 4)")
    rep.add_argument("--key", type=int, default=0, help="PRNG key seed (default 0)")
    rep.add_argument("--no-figures", action="store_true", help="skip the figure recipes")
    rep.add_argument("--no-papers", action="store_true",
                     help="do not write the verdict tables into papers/*.md (run from the repository root, "
                          "reproduce rewrites the table of each source all of whose claims it checked; "
                          "a source checked in part keeps its table)")
    rep.set_defaults(func=_cmd_reproduce)
    lst = sub.add_parser("list", help="list the claims and figures")
    lst.add_argument("--claims", action="store_true", help="the claims (default: claims and figures)")
    lst.add_argument("--figures", action="store_true", help="the figures (default: claims and figures)")
    lst.set_defaults(func=_cmd_list)
    fig = sub.add_parser("figure", help="draw one figure (see `sgd-sde list --figures`)")
    fig.add_argument("name", help="figure name")
    fig.add_argument("--quick", action="store_true", help="smaller run, same code path")
    fig.add_argument("--out", default="figures", help="output folder (default: figures)")
    fig.add_argument("--key", type=int, default=0, help="PRNG key seed (default 0)")
    fig.set_defaults(func=_cmd_figure)
    sim = sub.add_parser("simulate", help="run a simulation described by a TOML config; save the Trajectory")
    sim.add_argument("config", help="the TOML file (see sgd_sde.config)")
    sim.add_argument("--out", default=None, help="where to save (default: run.out, else CONFIG without .toml)")
    sim.set_defaults(func=_cmd_simulate)
    demo = sub.add_parser("demo", help="simulate SGD vs its SDE on a quadratic and write a figure")
    demo.add_argument("--out", default="figures/demo", help="output folder (default: figures/demo)")
    demo.add_argument("--key", type=int, default=0, help="PRNG key seed (default 0)")
    demo.add_argument("--quick", action="store_true", help="smaller run, same code path")
    demo.set_defaults(func=_cmd_demo)
    theory = sub.add_parser("theory", help="verify the SymPy derivations and print a table", add_help=False)
    theory.add_argument("rest", nargs=argparse.REMAINDER)
    theory.set_defaults(func=_cmd_theory)
    lrb = sub.add_parser("lrbench", help="benchmark learning-rate policies on digits (metrics table + 3 figures)")
    lrb.add_argument("--quick", action="store_true", help="smaller run (10 policies, 3 seeds), same code path")
    lrb.add_argument("--policies", nargs="+", metavar="NAME", help="labels of sgd_sde.lrbench.default_policies (default: all)")
    lrb.add_argument("--out", default="figures/lrbench", help="output folder (default: figures/lrbench)")
    lrb.add_argument("--key", type=int, default=0, help="PRNG key seed (default 0)")
    lrb.set_defaults(func=_cmd_lrbench)
    return parser


def main(argv=None) -> int:
    """The ``sgd-sde`` command: run the subcommand that ``argv`` names and return its exit status.

    Args:
        argv: the command-line words after ``sgd-sde``, e.g. ``["reproduce", "--quick"]``
            (default: ``sys.argv[1:]``). ``sgd-sde --help`` lists the subcommands.

    Raises:
        TypeError: ``argv`` not a list or tuple of strings.
    """
    if argv is not None:
        if isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple)):
            raise TypeError(f"argv must be a list of strings (the command-line words), got {type(argv).__name__}")
        bad = [a for a in argv if not isinstance(a, str)]
        if bad:
            raise TypeError(f"argv must be a list of strings (the command-line words), got {bad[0]!r} "
                            f"of type {type(bad[0]).__name__}")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "theory":
        # `theory` has its own parser: hand it everything after the sub-command, untouched
        # (argparse.REMAINDER with parse_known_args split `--topic gibbs` from its value).
        from .theory.verify import main_theory

        return int(main_theory(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
