"""Benchmarks: ``python -m resblock.bench [--json] [--only NAME ...]`` prints the project's performance figures.

Targets live here, printed beside each figure, not in timed unit tests that flake on a busy machine.
Each benchmark is a function below, registered with ``@benchmark``, that imports what it needs
and returns a dict of named figures; ``main`` runs them in the order they are defined.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Callable

Figures = dict[str, float]
BENCHMARKS: dict[str, Callable[[], Figures]] = {}
# Bounds the issues set: name -> (comparison, bound). Printed next to each figure.
TARGETS: dict[str, tuple[str, float]] = {}


def benchmark(name: str, targets: dict[str, tuple[str, float]] | None = None) -> Callable:
    """Register a benchmark function under ``name`` with optional targets for its figures."""

    def register(fn: Callable[[], Figures]) -> Callable[[], Figures]:
        BENCHMARKS[name] = fn
        TARGETS.update(targets or {})
        return fn

    return register


def median_ms(fn: Callable[[], object], repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])


def _verdict(name: str, value: float) -> str:
    if name not in TARGETS:
        return ""
    op, bound = TARGETS[name]
    ok = value < bound if op == "<" else value >= bound
    return f"  (target {op} {bound:g}: {'ok' if ok else 'MISSED'})"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print their figures (or one JSON object with --json)."""
    parser = argparse.ArgumentParser(prog="python -m resblock.bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object of named figures")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args(argv)
    figures: Figures = {}
    for name in args.only or BENCHMARKS:
        result = BENCHMARKS[name]()
        figures.update(result)
        if not args.json:
            for key, value in result.items():
                print(f"{key:40s} {value:12.4g}{_verdict(key, value)}", flush=True)
    if args.json:
        json.dump(figures, sys.stdout)
        print()
    return 0


# --- Notebook 02, gradient flow: redraw times of the explorer (issue 4) -----------------------


# --- Notebooks 03/04, training: accuracy in a time budget, throughput, memory (issue 5) -------


# --- Notebooks 05/06, paths and landscapes: widget re-evaluation, cost of a landscape point (issue 7)


@benchmark("lesion_landscape", targets={"lesion_toggle_ms": ("<", 1000.0)})
def bench_lesion_landscape() -> Figures:
    """One toggle of notebook 05's lesion widget (both 56-layer nets, 500 images); one landscape point (ResNet-56, 500 images)."""
    from resblock import landscape, paths
    from resblock.data import load_fashion_mnist
    from resblock.trained_nets import build

    data = load_fashion_mnist()
    x, y = data.test_images[:500], data.test_labels[:500]
    # Untrained nets of the study's shape cost the same to evaluate as the trained checkpoints.
    resnet, plain = build(56, True).eval(), build(56, False).eval()
    toggle = median_ms(lambda: (paths.lesion_accuracy(resnet, x, y, [13]), paths.lesion_accuracy(plain, x, y, [13])), repeats=5, warmup=1)
    d = landscape.random_direction(resnet, 1)
    point = median_ms(lambda: landscape.loss_at(resnet, [(0.5, d)], x, y), repeats=5, warmup=1)
    return {"lesion_toggle_ms": toggle, "landscape_point_resnet56_500img_ms": point}


if __name__ == "__main__":
    raise SystemExit(main())
