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


if __name__ == "__main__":
    raise SystemExit(main())
