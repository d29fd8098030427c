"""Long experiments behind the notebooks' saved figures: ``python -m resblock.experiments NAME [options]``.

Each subcommand writes a JSON results file under ``results/`` that a notebook reads, recording the
machine, versions, seeds and wall time, so anyone can re-run it (on CPU or GPU) and compare.
"""

from __future__ import annotations

import argparse
from typing import Callable

# name -> (add_arguments(parser), run(args)); each experiment registers itself below.
EXPERIMENTS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one experiment."""
    parser = argparse.ArgumentParser(prog="python -m resblock.experiments", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    for name, (add_arguments, _) in EXPERIMENTS.items():
        add_arguments(sub.add_parser(name))
    args = parser.parse_args(argv)
    return EXPERIMENTS[args.name][1](args)


# --- degradation (notebook 03, issue 5) ---------------------------------------------------------


# --- landscape (notebook 06, issue 7) -----------------------------------------------------------


def _landscape_nets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nets", nargs="+", default=None,
                        help="which of plain20 resnet20 plain56 resnet56 to train (default: all four)")


def _landscape_nets_run(args: argparse.Namespace) -> int:
    from resblock.trained_nets import run_training

    run_training(args.nets)
    return 0


EXPERIMENTS["landscape-nets"] = (_landscape_nets_arguments, _landscape_nets_run)  # results/nets/*.pt (notebooks 05-06)


def _landscape_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nets", nargs="+", default=None,
                        help="which of plain20 resnet20 plain56 resnet56 to map (default: all four)")
    parser.add_argument("--grid", type=int, default=21, help="points per axis of the 2-D slice")
    parser.add_argument("--span", type=float, default=1.0, help="the slice covers [-span, span] along each direction")
    parser.add_argument("--subset", type=int, default=500, help="training images the loss is evaluated on")


def _landscape_run(args: argparse.Namespace) -> int:
    from resblock.landscape import run_experiment

    run_experiment(args.nets, grid=args.grid, span=args.span, subset=args.subset)
    return 0


EXPERIMENTS["landscape"] = (_landscape_arguments, _landscape_run)  # results/landscape_*.json (notebook 06)


if __name__ == "__main__":
    raise SystemExit(main())
