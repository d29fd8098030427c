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


def _degradation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Train plain-20, plain-56, ResNet-20 and ResNet-56 with one recipe (He et al. Fig. 6) "
                          "and save their training curves. Long runs can be split (by --seeds or --nets) and "
                          "joined with --merge.")
    parser.add_argument("--preset", choices=("full", "live"), default="full",
                        help="full: the results/degradation.json recipe; live: notebook 03's small live run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the weights and batch order")
    parser.add_argument("--nets", nargs="+", default=None, help="subset of plain20 plain56 resnet20 resnet56")
    parser.add_argument("--epochs", type=float, default=None, help="passes over the training subset")
    parser.add_argument("--subset", type=int, default=None, help="training images used")
    parser.add_argument("--width", type=int, default=None, help="channels of the first stage (then 2x and 4x)")
    parser.add_argument("--pool", type=int, default=None, help="average-pool the images by 1, 2 or 4")
    parser.add_argument("--batch-size", type=int, default=None, help="images per SGD step")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: a GPU when there is one)")
    parser.add_argument("--merge", nargs="+", metavar="FILE", default=None,
                        help="instead of training, merge these results files (same recipe) into --out")
    parser.add_argument("--out", default=None,
                        help="results file (default results/degradation.json, or results/degradation_live.json)")


def _degradation_run(args: argparse.Namespace) -> int:
    from resblock.degradation import run_command

    return run_command(args)


EXPERIMENTS["degradation"] = (_degradation_arguments, _degradation_run)  # results/degradation*.json (notebook 03)


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
