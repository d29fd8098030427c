"""Long experiments behind the notebooks' saved figures: ``python -m resblock.experiments NAME [options]``.

Each subcommand writes a JSON results file under ``results/`` that a notebook reads, recording the
machine, versions, seeds and wall time, so anyone can re-run it (on CPU or GPU) and compare.

Nothing is lost by a trial run: a run with the committed recipe writes the committed file's name, a
run with any other recipe writes a name derived from what it changed (or ``--out``), and no existing
file is replaced unless ``--force`` says so. A mistake on the command line is reported in one line
and the command exits with status 2; files are written whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resblock.degradation import DegradationConfig

# name -> (add_arguments(parser), run(args)); each experiment registers itself below.
EXPERIMENTS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}
PROG = "python -m resblock.experiments"


class UsageError(ValueError):
    """A mistake in the command's arguments: printed alone, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one experiment; a mistake prints one line and returns 2."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="name", required=True)
    for name, (add_arguments, _) in EXPERIMENTS.items():
        add_arguments(sub.add_parser(name))
    args = parser.parse_args(argv)  # argparse's own mistakes: usage line, message, exit status 2
    from resblock.train import TrainingError

    try:
        return EXPERIMENTS[args.name][1](args)
    except KeyboardInterrupt:
        print(
            f"{PROG} {args.name}: interrupted; files already written are complete, nothing was half-written.",
            file=sys.stderr,
        )
        return 130
    except (ValueError, OSError, TrainingError) as e:  # our messages say what to do; no traceback to read past
        print(f"{PROG} {args.name}: error: {e}", file=sys.stderr)
        return 2


def _refuse_to_replace(path: Path, force: bool, committed: bool, what: str) -> None:
    """Stop before any work if ``path`` exists and --force was not given; say so when it will be replaced."""
    if not path.exists():
        return
    label = f"the committed {what}" if committed else "a results file"
    if not force:
        raise UsageError(f"{path} exists ({label}); pass --force to replace it, or --out to write elsewhere.")
    print(f"--force: replacing {path} ({label}).", flush=True)


# --- degradation (notebook 03) -------------------------------------------------------------------

COMMITTED_SEEDS = (0, 1, 2)  # the seeds of results/degradation.json and results/degradation_live.json


def _degradation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train plain-20, plain-56, ResNet-20 and ResNet-56 with one recipe (He et al. Fig. 6) "
        "and save their training curves. Long runs can be split (by --seeds or --nets) and "
        "joined with --merge. The committed recipe (a preset, seeds 0 1 2, all four nets) "
        "writes results/degradation.json or degradation_live.json; any other recipe writes "
        "a file named after what it changed. An existing file is replaced only with --force."
    )
    parser.add_argument(
        "--preset",
        choices=("full", "live"),
        default="full",
        help="full: the results/degradation.json recipe; live: notebook 03's small live run",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(COMMITTED_SEEDS),
        help="seeds of the weights and batch order (default: 0 1 2, as committed)",
    )
    parser.add_argument("--nets", nargs="+", default=None, help="subset of plain20 plain56 resnet20 resnet56")
    parser.add_argument("--epochs", type=float, default=None, help="passes over the training subset")
    parser.add_argument("--subset", type=int, default=None, help="training images used")
    parser.add_argument("--width", type=int, default=None, help="channels of the first stage (then 2x and 4x)")
    parser.add_argument("--pool", type=int, default=None, help="average-pool the images by 1, 2 or 4")
    parser.add_argument("--batch-size", type=int, default=None, help="images per SGD step")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: a GPU when there is one)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="nets trained at once, one CPU thread each (default: one per free CPU; the numbers do not change)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="FILE",
        default=None,
        help="instead of training, merge these results files (same recipe) into --out",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="results file (default: the committed file's name for the committed recipe, "
        "else a name derived from the recipe)",
    )
    parser.add_argument("--force", action="store_true", help="replace the output file if it exists")


def _format(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "-".join(map(str, value))
    if value is None:
        return "all"
    return f"{value:g}" if isinstance(value, float) else str(value)


def degradation_results_path(
    config: DegradationConfig,
    seeds: Sequence[int],
    nets: Sequence[str],
    preset: str | None = None,
    folder: str | Path | None = None,
) -> tuple[Path, bool]:
    """Where a degradation run's results go by default, and whether that is a committed file.

    The committed recipe (a preset's config, seeds 0 1 2, all four nets) gives results/degradation.json
    (or degradation_live.json); anything else gives a name listing what differs, e.g.
    ``degradation_live_epochs0.5_subset64_seeds0.json``, so a trial never lands on the committed file.
    """
    from resblock import degradation as deg
    from resblock import files
    from resblock.checks import check_instance, check_sequence

    presets = {"full": ("degradation", deg.FULL), "live": ("degradation_live", deg.LIVE)}
    check_instance("config", config, deg.DegradationConfig, "e.g. degradation.FULL or degradation.LIVE")
    check_sequence("seeds", seeds, "seeds", "[0, 1, 2]", item=int)
    check_sequence("nets", nets, "net names", "['plain20', 'resnet56']", item=str)
    if preset is not None and preset not in presets:
        raise ValueError(f"preset must be one of {sorted(presets)} or None (the closer one), got {preset!r}.")

    def changes(p):
        return [
            f"{f.name.replace('_', '')}{_format(getattr(config, f.name))}"
            for f in fields(p)
            if getattr(config, f.name) != getattr(p, f.name)
        ]

    if preset is None:  # merged files: whichever preset the recipe is closest to
        preset = min(presets, key=lambda k: len(changes(presets[k][1])))
    base, p = presets[preset]
    parts = changes(p)
    if sorted(set(seeds)) != list(COMMITTED_SEEDS):
        parts.append("seeds" + _format(sorted(set(seeds))))
    if list(nets) != list(deg.NETS):
        parts.append(_format(list(nets)))
    folder = Path(folder) if folder is not None else files.RESULTS_DIR
    return folder / ("_".join([base, *parts]) + ".json"), not parts


def _degradation_run(args: argparse.Namespace) -> int:
    from resblock import degradation as deg
    from resblock import files
    from resblock.env import pick_device

    if args.merge:
        results = deg.merge_results([deg.load_results(p) for p in args.merge])
        config = deg.config_of(results)
        seeds, nets, preset = results["seeds"], results["nets"], None
    else:
        preset = args.preset
        if any(s < 0 for s in args.seeds):
            raise UsageError(f"--seeds must be whole numbers >= 0, got {args.seeds}.")
        nets = args.nets or list(deg.NETS)
        for name in nets:
            deg.parse_net(name)
        changes = {
            k: getattr(args, k)
            for k in ("epochs", "subset", "pool", "batch_size", "lr")
            if getattr(args, k) is not None
        }
        if args.width is not None:
            changes["widths"] = (args.width, 2 * args.width, 4 * args.width)
        config = replace({"full": deg.FULL, "live": deg.LIVE}[preset], **changes)  # checks every value
        seeds = args.seeds
        if args.device is not None:
            pick_device(args.device)  # a device that is not there: say so before loading anything
    if args.out:
        out, committed = Path(args.out).expanduser(), False
        if out.is_dir():
            raise UsageError(f"--out {out} is a folder; give a file name, e.g. {out / 'degradation_trial.json'}.")
        committed = out.resolve() in {
            (files.RESULTS_DIR / n).resolve() for n in ("degradation.json", "degradation_live.json")
        }
    else:
        out, committed = degradation_results_path(config, seeds, nets, preset)
        if not committed:
            print(
                f"note: this is not the committed recipe, so the results go to {out} "
                "(notebook 03 keeps reading the committed file).",
                flush=True,
            )
    _refuse_to_replace(out, args.force, committed, "results notebook 03 reads")
    files.check_writable_folder(out.parent, "the results file")  # before the training, not after

    if not args.merge:

        def report(run: dict[str, Any], model) -> None:
            print(
                f"{run['net']:9s} seed {run['seed']}: final training loss {run['final_train_loss']:.3f}, "
                f"test error {run['final_test_error']:.3f}, {run['wall_time_s']:.0f} s "
                f"({run['images_per_s']:.0f} images/s)",
                flush=True,
            )

        command = f"{PROG} degradation --preset {preset} --seeds " + " ".join(map(str, seeds))
        for flag in ("nets", "epochs", "subset", "width", "pool", "batch_size", "lr"):
            value = getattr(args, flag)
            if value is not None:
                command += f" --{flag.replace('_', '-')} " + (" ".join(value) if flag == "nets" else str(value))
        results = deg.run_degradation(
            config,
            seeds=seeds,
            nets=nets,
            device=args.device,
            on_run=report,
            workers=args.workers,
            command=command + (f" --out {args.out}" if args.out else ""),
        )
    deg.save_results(results, out)
    print(deg.summary_table(results))
    print(f"plain-56 trains worse than plain-20 and ResNet-56, per seed: {deg.degradation_per_seed(results)}")
    print(f"wrote {out} ({results['wall_time_s']:.0f} s)")
    return 0


EXPERIMENTS["degradation"] = (_degradation_arguments, _degradation_run)  # results/degradation*.json (notebook 03)


# --- landscape (notebook 06) ---------------------------------------------------------------------


def _landscape_nets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train the four small nets of notebooks 05 and 06 and save them under results/nets/. "
        "Existing checkpoints are replaced only with --force."
    )
    parser.add_argument(
        "--nets",
        nargs="+",
        default=None,
        help="which of plain20 resnet20 plain56 resnet56 to train (default: all four)",
    )
    parser.add_argument("--out", default=None, help="folder for the checkpoints (default: results/nets)")
    parser.add_argument("--force", action="store_true", help="replace existing checkpoints")


def _landscape_nets_run(args: argparse.Namespace) -> int:
    from resblock.trained_nets import run_training

    run_training(args.nets, root=args.out, force=args.force)
    return 0


EXPERIMENTS["landscape-nets"] = (_landscape_nets_arguments, _landscape_nets_run)  # results/nets/*.pt (notebooks 05-06)


def _landscape_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compute the 2-D loss slice of each trained net. The committed recipe (grid 21, span 1, "
        "subset 500 for the 20-layer nets and 250 for the 56-layer ones, direction seeds 1 2) "
        "writes results/landscape_NAME.json; any other recipe writes a name derived from it. "
        "An existing file is replaced only with --force."
    )
    parser.add_argument(
        "--nets", nargs="+", default=None, help="which of plain20 resnet20 plain56 resnet56 to map (default: all four)"
    )
    parser.add_argument("--grid", type=int, default=21, help="points per axis of the 2-D slice (3 to 101)")
    parser.add_argument("--span", type=float, default=1.0, help="the slice covers [-span, span] along each direction")
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        help="training images the loss is evaluated on (default: the committed 500 or 250)",
    )
    parser.add_argument("--out", default=None, help="folder for the results files (default: results/)")
    parser.add_argument("--force", action="store_true", help="replace existing results files")


def _landscape_run(args: argparse.Namespace) -> int:
    from resblock.landscape import run_experiment

    run_experiment(args.nets, grid=args.grid, span=args.span, subset=args.subset, root=args.out, force=args.force)
    return 0


EXPERIMENTS["landscape"] = (_landscape_arguments, _landscape_run)  # results/landscape_*.json (notebook 06)


if __name__ == "__main__":
    raise SystemExit(main())
