"""The degradation problem (notebook 03): deeper plain nets train *worse*; residual nets do not.

He, Zhang, Ren, Sun, arXiv:1512.03385, Fig. 1 and Fig. 6: on CIFAR-10 a 56-layer plain net has a
higher *training* error than a 20-layer one, so the deeper net is not overfitting, it is harder to
optimise; with shortcuts the 56-layer net trains at least as well as the 20-layer one. Here the
same four nets (plain-20, plain-56, ResNet-20, ResNet-56) are trained on Fashion-MNIST with one
recipe, no augmentation, through the course's one loop (``resblock.train.fit``), over several seeds.

Two sizes of the same experiment:
- ``LIVE``: what notebook 03 trains while you wait (about a minute on 2 CPU cores);
- ``FULL``: ``python -m resblock.experiments degradation --force`` (minutes; results/degradation.json).
Both are far smaller than the paper's runs; ``paper_vs_ours`` lists how far. The pictures are in
``resblock.degradation_plots``; the command that writes the results files is ``resblock.experiments``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from resblock.blocks import BasicBlock, PlainBlock
from resblock.checks import (
    ArgumentTypeError,
    check_dataset,
    check_instance,
    check_int,
    check_named,
    check_sequence,
    describe,
    short_repr,
)
from resblock.env import course_seed, describe_environment
from resblock.files import write_atomic
from resblock.models import ResNet, ResNetConfig
from resblock.side_by_side import train_side_by_side, workers_for
from resblock.train import TrainConfig, fit
from resblock.trained_nets import parse_net  # net names live with the nets; re-exported in __all__

if TYPE_CHECKING:
    from resblock.data import FashionMNIST

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # train images, labels, test images, labels

NETS = ("plain20", "plain56", "resnet20", "resnet56")  # the four nets of He et al.'s Fig. 6 we can afford
FINAL_FRACTION = 0.1  # "final training loss" = mean step loss over the last tenth of the run
# Fields of a results file that notebook 03 and the tests read; load_results checks them.
RESULT_FIELDS = ("experiment", "config", "seeds", "nets", "runs", "environment", "wall_time_s", "command", "created")
RUN_FIELDS = (
    "net",
    "depth",
    "shortcut",
    "seed",
    "steps",
    "step_loss",
    "eval_step",
    "eval_epoch",
    "train_loss",
    "test_error",
    "final_train_loss",
    "final_test_error",
    "wall_time_s",
    "images_per_s",
)


@dataclass(frozen=True)
class DegradationConfig:
    """One recipe for all four nets (He et al. sec. 4.2, shrunk to fit a CPU); units beside each field."""

    widths: tuple[int, int, int] = (8, 16, 32)  # channels of the three stages (the paper: 16/32/64)
    pool: int = 2  # average-pool the 28x28 images by this factor: 2 gives 14x14 (4x fewer multiply-adds)
    subset: int | None = 20_000  # training images used (None: all 60,000)
    test_images: int | None = None  # test images for the final test error (None: all 10,000)
    batch_size: int = 128  # images per SGD step (the paper's 128)
    lr: float = 0.1  # peak learning rate (the paper's 0.1)
    epochs: float = 2.0  # passes over the training subset
    warmup: float = 0.05  # fraction of the run over which lr rises from 0 (then decays linearly to 0)
    weight_decay: float = 1e-4  # the paper's 0.0001
    momentum: float = 0.9  # the paper's 0.9
    eval_every: float = 0.5  # epochs between test evaluations during the run
    eval_images: int = 2_000  # test images per evaluation during the run (the final one uses test_images)
    data_seed: int = 0  # picks the training subset: the same images for every net and seed

    def __post_init__(self) -> None:
        w = self.widths
        if (
            not isinstance(w, (tuple, list))
            or len(w) != 3
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in w)
        ):
            raise ValueError(f"widths must be three positive channel counts, e.g. (8, 16, 32); got {self.widths!r}.")
        if isinstance(self.pool, bool) or self.pool not in (1, 2, 4):
            raise ValueError(f"pool must be 1 (28x28), 2 (14x14) or 4 (7x7), got {self.pool!r}.")
        for name in ("subset", "test_images"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive number of images or None (all), got {value!r}.")
        if self.subset is not None and self.subset < self.batch_size:
            raise ValueError(f"subset ({self.subset}) must hold at least one batch of {self.batch_size} images.")
        # The rest (batch_size, lr, epochs, ...) is checked by TrainConfig, which says what to fix.
        self.train_config(seed=0)

    @property
    def image_size(self) -> int:
        """Side of the (pooled) images in pixels."""
        return 28 // self.pool

    def train_config(self, seed: int) -> TrainConfig:
        """The TrainConfig of one run: plain cross-entropy (no label smoothing), no augmentation."""
        return TrainConfig(
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            label_smoothing=0.0,  # so that "training loss" is the plain cross-entropy the paper's curves show
            epochs=self.epochs,
            warmup=self.warmup,
            final_lr=0.0,
            augment=False,  # Fig. 6 is about optimisation
            seed=seed,
            eval_every=self.eval_every,
            eval_images=self.eval_images,
        )

    def steps(self, n_train: int = 60_000) -> int:
        """SGD steps of one run."""
        n = min(self.subset or n_train, n_train)
        return math.ceil(self.epochs * (n // self.batch_size))


# The full run, the longer of notebook 03's two and still under 1% of the paper's 64,000 steps: 312 steps
# of batch 128 per net (each run's wall time is recorded in results/degradation.json). On a GPU, raise
# --epochs and --subset to come closer to the paper.
FULL = DegradationConfig()
# The live run of notebook 03: 300 steps of batch 32 at half width and half resolution, about a
# minute for all four nets on 2 CPU cores. Batch 32, not 128: a step costs little less at 128 on
# such small tensors, and at least ~300 steps are needed for ResNet-56 to settle (measured).
LIVE = DegradationConfig(
    subset=9_600, batch_size=32, lr=0.05, epochs=1.0, test_images=2_000, eval_every=0.25, eval_images=1_000
)


def prepare_data(data: FashionMNIST, config: DegradationConfig) -> Tensors:
    """(train images, train labels, test images, test labels): the fixed subset, average-pooled."""
    check_dataset("data", data)
    _check_config(config)
    g = torch.Generator().manual_seed(config.data_seed)
    n = len(data.train_images)
    idx = torch.randperm(n, generator=g)[: config.subset] if config.subset and config.subset < n else torch.arange(n)
    m = min(config.test_images or len(data.test_images), len(data.test_images))

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, config.pool) if config.pool > 1 else x

    return pool(data.train_images[idx]), data.train_labels[idx], pool(data.test_images[:m]), data.test_labels[:m]


def build_net(name: str, config: DegradationConfig, seed: int) -> ResNet:
    """The named net of the study, its weights initialised from ``seed``."""
    _check_config(config)
    depth, shortcut = parse_net(name)
    torch.manual_seed(seed)
    return ResNet(ResNetConfig(depth=depth, shortcut=shortcut, widths=config.widths))


def _check_config(config: Any) -> DegradationConfig:
    return check_instance("config", config, DegradationConfig, "e.g. FULL or LIVE, or DegradationConfig(epochs=1.0)")


def check_results(results: Any, needs: Sequence[str] = ("nets", "runs"), name: str = "results") -> dict[str, Any]:
    """``results`` if it is a degradation results dict with the fields ``needs``; else an error saying what to pass.

    Cheap: the fields' presence and kinds, not every run's numbers (``load_results`` checks a file in full).
    """
    source = "as run_degradation returns or load_results(path) reads"
    if not isinstance(results, Mapping):
        fix = ""
        if (
            isinstance(results, (list, tuple))
            and results
            and all(isinstance(r, Mapping) and "net" in r for r in results)
        ):
            fix = " This looks like its list of runs: pass the whole dict."
        elif isinstance(results, tuple) and len(results) == 2 and isinstance(results[0], Mapping):
            fix = " train_net returns (record, model) for one run: pass the dict run_degradation returns."
        raise ArgumentTypeError(f"{name} must be a degradation results dict ({source}), got {describe(results)}.{fix}")
    missing = [k for k in needs if k not in results]
    if missing:
        fix = " This is one run's record: pass the whole results dict." if "net" in results else ""
        raise ValueError(f"{name} lacks {', '.join(map(repr, missing))}: pass a results dict ({source}).{fix}")
    if "runs" in needs:
        runs = results["runs"]
        if not isinstance(runs, (list, tuple)) or not all(isinstance(r, Mapping) for r in runs):
            raise ArgumentTypeError(
                f"{name}['runs'] must be a list of run records (dicts with 'net', 'seed', ...), got {describe(runs)}."
            )
    if "nets" in needs:
        check_sequence(f"{name}['nets']", results["nets"], "net names", "['plain20', 'resnet20']", item=str)
    return results


def final_train_loss(step_loss: Sequence[float], fraction: float = FINAL_FRACTION) -> float:
    """Mean training loss over the last ``fraction`` of the steps: where a run ended, less noisy than one step."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}.")
    if len(step_loss) == 0:
        raise ValueError("step_loss is empty: the run took no steps.")
    k = max(1, round(len(step_loss) * fraction))
    tail = step_loss[-k:]
    return float(sum(tail) / len(tail))


def make_identity(block: PlainBlock) -> PlainBlock:
    """Set a plain block's weights so that, in eval mode, it passes any x >= 0 through unchanged (notebook 03).

    He et al.'s argument (sec. 1): a deeper net can copy a shallower one and make its extra layers
    identities, so its best training loss is no higher. A plain block relu(bn2(conv2(relu(bn1(conv1 x)))))
    can be the identity on the non-negative outputs of a ReLU: centre-tap convolutions and neutral BNs.
    """
    if not isinstance(block, BasicBlock) or block.has_shortcut:
        raise ValueError(
            f"make_identity takes a PlainBlock (a residual block with identity weights computes 2x), "
            f"got {type(block).__name__}."
        )
    if block.conv1.in_channels != block.conv2.out_channels or block.conv1.stride != (1, 1):
        raise ValueError(
            "make_identity needs a block whose input and output shapes agree (stride 1, in = out channels)."
        )
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
            for c in range(conv.out_channels):
                conv.weight[c, c, 1, 1] = 1.0  # the centre tap passes channel c through unchanged
        for bn in (block.bn1, block.bn2):
            bn.weight.fill_(1.0)
            bn.bias.zero_()
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # so that sqrt(running_var + eps) = 1 exactly
    return block


def embed_shallow(shallow: ResNet, depth: int) -> ResNet:
    """A deeper plain net computing exactly what ``shallow`` computes (in eval mode): its blocks, then identities."""
    check_instance("shallow", shallow, ResNet, "a plain net, e.g. ResNet(ResNetConfig(depth=20, shortcut=False))")
    depth = check_int("depth", depth, low=1)
    c = shallow.config
    if c.shortcut or depth < c.depth:
        raise ValueError(
            f"embed_shallow takes a plain net and a depth at least its own ({c.depth}), got "
            f"shortcut={c.shortcut}, depth={depth}."
        )
    deep = ResNet(replace(c, depth=depth))
    deep.load_state_dict(shallow.state_dict(), strict=False)  # stem, head, and each stage's first blocks
    n = c.blocks_per_stage
    for stage in (deep.layer1, deep.layer2, deep.layer3):
        for block in list(stage)[n:]:
            make_identity(block)  # the extra blocks: each follows a ReLU, so its input is >= 0
    return deep.to(next(shallow.parameters()).device).eval()


def train_net(
    name: str,
    tensors: Tensors,
    config: DegradationConfig,
    seed: int,
    progress: bool = False,
    device: str | torch.device | None = None,
    model: torch.nn.Module | None = None,
    should_stop: threading.Event | None = None,
) -> tuple[dict[str, Any], torch.nn.Module]:
    """Train one named net with ``resblock.train.fit``; return its run record (the fields in RUN_FIELDS) and the model.

    ``model``: the net as ``build_net(name, config, seed)`` returns it, when built already.
    """
    if not (isinstance(tensors, (tuple, list)) and len(tensors) == 4):
        raise ArgumentTypeError(
            "tensors must be the four tensors prepare_data(data, config) returns (train images, train labels, "
            f"test images, test labels), got {describe(tensors)}."
        )
    _check_config(config)
    seed = check_int("seed", seed, low=0)
    x, y, tx, ty = tensors
    depth, shortcut = parse_net(name)
    model = build_net(name, config, seed) if model is None else model
    result = fit(
        model, x, y, config.train_config(seed), test=(tx, ty), progress=progress, device=device, should_stop=should_stop
    )
    h = result.history
    if result.stopped != "budget":
        raise KeyboardInterrupt(f"{name} (seed {seed}) was stopped after {h.steps} steps; no record kept.")
    train_time = h.time[-1] if h.time else math.nan
    record = {
        "net": name,
        "depth": depth,
        "shortcut": shortcut,
        "seed": seed,
        "steps": h.steps,
        "step_loss": [round(v, 4) for v in h.loss],
        "eval_step": list(h.eval_step),
        "eval_epoch": [round(e, 4) for e in h.eval_epoch],
        "train_loss": [round(v, 4) for v in h.train_loss],  # mean step loss since the previous evaluation
        "test_error": [round(1.0 - a, 4) for a in h.test_acc],  # the last one on all `test_images`
        "final_train_loss": round(final_train_loss(h.loss), 4),
        "final_test_error": round(1.0 - h.test_acc[-1], 4),
        "wall_time_s": round(h.wall_time, 2),
        "images_per_s": round(h.steps * config.batch_size / train_time, 1),
    }
    return record, result.model


def run_degradation(
    config: DegradationConfig = FULL,
    seeds: Sequence[int] | None = None,
    nets: Sequence[str] = NETS,
    data: FashionMNIST | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
    on_run: Callable[[dict[str, Any], torch.nn.Module], None] | None = None,
    command: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Train every net for every seed with one recipe; return a results dict (what results files hold).

    ``on_run(record, model)`` is called after each run, e.g. to print progress or keep the trained model.
    ``seeds=None`` runs one seed, the course's ($RESBLOCK_SEED, default 0). ``workers``: nets trained at
    once, each on one thread; None takes one per free CPU (``env.available_cpus``) on the CPU, one on a GPU.
    Every run's numbers are the same however many train at once (on one thread each).
    """
    _check_config(config)
    if isinstance(nets, str) or not isinstance(nets, Iterable):
        raise ValueError(f"nets must be a list of names such as ['plain20', 'resnet56'], got {short_repr(nets)}.")
    nets = list(nets)
    if not all(isinstance(n, str) for n in nets):
        raise ValueError(f"nets must be a list of names such as ['plain20', 'resnet56'], got {short_repr(nets)}.")
    if not nets:
        raise ValueError(f"nets is empty: name at least one net, e.g. {list(NETS)}.")
    if seeds is None:
        seeds = (course_seed(),)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        one = f" (for one seed, write [{seeds!r}])" if isinstance(seeds, int) else ""
        raise ValueError(f"seeds must be a non-empty list of non-negative whole numbers, got {short_repr(seeds)}{one}.")
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative whole numbers, got {short_repr(seeds)}.")
    if on_run is not None and not callable(on_run):
        raise ArgumentTypeError(f"on_run must be a function on_run(record, model) or None, got {describe(on_run)}.")
    for name in nets:
        parse_net(name)
    if workers is not None:
        workers = check_int("workers", workers, 1, what=" (nets to train at once)")
    if data is not None:
        check_dataset("data", data)
    if data is None:
        from resblock.data import load_fashion_mnist

        data = load_fashion_mnist()
    start = time.perf_counter()
    tensors = prepare_data(data, config)
    jobs = [(seed, name) for seed in seeds for name in nets]
    workers = min(workers_for(device) if workers is None else workers, len(jobs))
    if workers == 1:
        runs = []
        for seed, name in jobs:
            run, model = train_net(name, tensors, config, seed, progress=progress, device=device)
            runs.append(run)
            if on_run is not None:
                on_run(run, model)
    else:
        runs = _train_side_by_side(jobs, tensors, config, workers, progress, device, on_run)
    return {
        "experiment": "degradation",
        "config": asdict(config),
        "seeds": sorted(set(seeds)),
        "nets": list(nets),
        "runs": runs,
        "environment": describe_environment() | ({"device": str(device)} if device else {}),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "command": command or f"resblock.degradation.run_degradation(seeds={list(seeds)}, nets={list(nets)})",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _train_side_by_side(jobs, tensors, config, workers, progress, device, on_run) -> list[dict[str, Any]]:
    """Train the (seed, net) jobs ``workers`` at a time, one thread each (``resblock.side_by_side``); the records in order.

    The nets are built here first, one after another: their initial weights come from PyTorch's one
    global generator. The deepest start first, so that the shallow ones fill in the end. A stop (the
    kernel's stop button) stops every net at its next step, as a sequential run stops its one net: the
    runs finished by then were reported to ``on_run``, then KeyboardInterrupt says which net stopped.
    """
    models = {job: build_net(job[1], config, job[0]) for job in jobs}
    order = sorted(jobs, key=lambda job: -parse_net(job[1])[0])

    def train(job):
        seed, name = job
        return lambda stop: train_net(
            name, tensors, config, seed, progress=progress, device=device, model=models[job], should_stop=stop
        )

    def done(i: int, result) -> None:
        if on_run is not None:
            on_run(*result)

    results = train_side_by_side([train(job) for job in order], workers, on_done=done)
    records = {job: record for job, (record, _) in zip(order, results)}
    return [records[job] for job in jobs]


def merge_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One results dict from several (e.g. one per seed) that share a config; wall times add up."""
    if isinstance(parts, Mapping):
        raise ArgumentTypeError(
            "parts must be a list of results dicts, got one dict; to merge it with others, write [a, b]."
        )
    if not parts:
        raise ValueError("nothing to merge: pass at least one results dict.")
    for i, p in enumerate(parts):
        check_results(p, ("config", "runs", "environment", "wall_time_s", "command", "created"), name=f"parts[{i}]")
    first = parts[0]
    for p in parts[1:]:
        if p["config"] != first["config"]:
            diff = sorted(k for k in first["config"] if first["config"][k] != p["config"].get(k))
            raise ValueError(f"cannot merge results of different recipes (they differ in {', '.join(diff)}).")
    runs, seen = [], set()
    for p in parts:
        for r in p["runs"]:
            key = (r["net"], r["seed"])
            if key in seen:
                raise ValueError(
                    f"{r['net']} with seed {r['seed']} appears in more than one file; merge each run once."
                )
            seen.add(key)
            runs.append(r)
    runs.sort(key=lambda r: (r["seed"], NETS.index(r["net"]) if r["net"] in NETS else len(NETS), r["net"]))
    nets = [n for n in NETS if any(r["net"] == n for r in runs)] + sorted({r["net"] for r in runs} - set(NETS))
    envs = [p["environment"] for p in parts]
    return {
        "experiment": "degradation",
        "config": first["config"],
        "seeds": sorted({r["seed"] for r in runs}),
        "nets": nets,
        "runs": runs,
        "environment": envs[0] if all(e == envs[0] for e in envs) else envs,
        "wall_time_s": round(sum(p["wall_time_s"] for p in parts), 1),
        "command": " && ".join(p["command"] for p in parts),
        "created": max(p["created"] for p in parts),
    }


def save_results(results: dict[str, Any], path: str | Path) -> Path:
    """Write a results dict as JSON (one run per line, so that diffs stay readable)."""
    check_results(results, ("runs",))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "runs"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n'
    text += ",\n".join("  " + json.dumps(r) for r in results["runs"]) + "\n ]\n}\n"
    write_atomic(path, text)
    return path


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results file and check it has every field notebook 03 reads (ValueError naming what is missing)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no results file at {path}; make it with `python -m resblock.experiments degradation`.")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a JSON results file ({e}); was it cut short? Make it again.") from None
    if not isinstance(results, dict):
        raise ValueError(f"{path} is not a degradation results file (it holds a {type(results).__name__}).")
    missing = [k for k in RESULT_FIELDS if k not in results]
    if results.get("experiment") != "degradation" or missing:
        raise ValueError(f"{path} is not a degradation results file (missing: {', '.join(missing) or 'experiment'}).")
    for r in results["runs"]:
        lacking = [k for k in RUN_FIELDS if k not in r]
        if lacking:
            raise ValueError(f"{path}: the run {r.get('net')}/seed {r.get('seed')} lacks {', '.join(lacking)}.")
    return results


def config_of(results: dict[str, Any]) -> DegradationConfig:
    """The DegradationConfig a results dict was made with."""
    check_results(results, ("config",))
    names = {f.name for f in fields(DegradationConfig)}
    c = {k: v for k, v in results["config"].items() if k in names}
    c["widths"] = tuple(c["widths"])
    return replace(DegradationConfig(), **c)


def final_losses(results: dict[str, Any]) -> dict[str, dict[int, float]]:
    """{net: {seed: final training loss}}."""
    check_results(results, ("runs",))
    out: dict[str, dict[int, float]] = {}
    for r in results["runs"]:
        out.setdefault(r["net"], {})[r["seed"]] = r["final_train_loss"]
    return out


def degradation_per_seed(results: dict[str, Any]) -> dict[int, bool]:
    """{seed: plain-56's final training loss is above both plain-20's and ResNet-56's} (He et al., Fig. 6)."""
    check_results(results, ("runs", "seeds"))
    f = final_losses(results)
    return {
        s: f["plain56"][s] > f["plain20"][s] and f["plain56"][s] > f["resnet56"][s]
        for s in results["seeds"]
        if all(s in f.get(n, {}) for n in ("plain20", "plain56", "resnet56"))
    }


def summary_table(results: dict[str, Any]) -> str:
    """A text table: each net's final training loss and test error, per seed and their mean."""
    check_results(results, ("nets", "runs", "seeds"))
    by_net: dict[str, list[dict[str, Any]]] = {}
    for r in results["runs"]:
        by_net.setdefault(r["net"], []).append(r)
    seeds = results["seeds"]
    lines = [
        "final training loss of each seed and their mean, then the final test error:",
        f"{'net':9s}" + "".join(f"  seed {s:<3d}" for s in seeds) + "   mean    | final test error (mean)",
    ]
    for net in results["nets"]:
        rs = {r["seed"]: r for r in by_net.get(net, [])}
        losses = [rs[s]["final_train_loss"] if s in rs else math.nan for s in seeds]
        errors = [r["final_test_error"] for r in rs.values()]
        mean = sum(v for v in losses if not math.isnan(v)) / max(1, sum(not math.isnan(v) for v in losses))
        lines.append(
            f"{net:9s}" + "".join(f"  {v:8.3f}" for v in losses) + f"  {mean:7.3f}   | {sum(errors) / len(errors):.3f}"
        )
    return "\n".join(lines)


def paper_vs_ours(configs: Mapping[str, DegradationConfig]) -> str:
    """A text table: He et al.'s CIFAR-10 setting beside each of ``configs`` (name -> config)."""
    check_named(
        "configs", configs, DegradationConfig, "from a name to a DegradationConfig", "{'live': LIVE, 'full': FULL}"
    )
    rows = [
        ("data", "CIFAR-10, 3x32x32", lambda c: f"Fashion-MNIST, 1x{c.image_size}x{c.image_size}"),
        ("training images", "50,000 (45k/5k to tune)", lambda c: f"{c.subset or 60_000:,}"),
        ("channels per stage", "16/32/64", lambda c: "/".join(map(str, c.widths))),
        ("batch size", "128", lambda c: str(c.batch_size)),
        ("SGD steps", "64,000", lambda c: f"{c.steps():,}"),
        ("learning rate", "0.1, /10 at 32k, 48k", lambda c: f"{c.lr:g}, warm-up then linear to 0"),
        ("augmentation", "4-px shifts, flips", lambda c: "none"),
        ("seeds", "1 run shown", lambda c: "see the results"),
    ]
    names = list(configs)
    table = [["", "He et al. (Fig. 6)"] + names]
    table += [[label, paper] + [ours(configs[n]) for n in names] for label, paper, ours in rows]
    # Each column as wide as its longest cell, then two spaces: no cell may run into the next.
    width = [max(len(row[i]) for row in table) + 2 for i in range(len(table[0]))]
    return "\n".join("".join(c.ljust(w) for c, w in zip(row, width)).rstrip() for row in table)


__all__ = [
    "DegradationConfig",
    "FULL",
    "LIVE",
    "NETS",
    "build_net",
    "check_results",
    "config_of",
    "degradation_per_seed",
    "embed_shallow",
    "final_losses",
    "final_train_loss",
    "load_results",
    "make_identity",
    "merge_results",
    "paper_vs_ours",
    "parse_net",
    "prepare_data",
    "run_degradation",
    "save_results",
    "summary_table",
    "train_net",
]
