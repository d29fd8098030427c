"""The small trained plain and residual nets that notebooks 05 and 06 take apart, saved under results/nets/.

Four nets: plain and residual at depths 20 and 56 (He et al.'s 6n+2 design, at half width, 8/16/32
channels, so that the 56-layer checkpoints stay under 1 MB and a loss surface costs minutes, not
hours, on 2 CPU cores). All are trained with the course's one loop, ``resblock.train.fit``, on the
same recipe and seeds, by ``python -m resblock.experiments landscape-nets``; the notebooks load the
checkpoints, or train a missing one with the same recipe (load-or-train).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from resblock.checkpoints import load_checkpoint, save_checkpoint
from resblock.checks import check_bool, check_dataset, check_instance, check_number, check_positive_int
from resblock.files import RESULTS_DIR
from resblock.models import ResNet, ResNetConfig
from resblock.train import TrainConfig, TrainResult, fit

if TYPE_CHECKING:
    from resblock.data import FashionMNIST

NETS_DIR = RESULTS_DIR / "nets"
DEPTHS = (20, 56)  # the two depths of Li et al.'s Fig. 5 that we can afford (they also did 110)
WIDTHS = (8, 16, 32)  # half of the paper's 16/32/64: 4x fewer multiply-adds per image
# One pass over the 60k training images; lr 0.2 trains the plain 56-layer net without diverging.
RECIPE = TrainConfig(epochs=1.0, lr=0.2, seed=0, eval_images=2000)
INIT_SEED = 0  # seeds the weights' initialisation


def net_name(depth: int, shortcut: bool) -> str:
    """'resnet56' or 'plain56': the checkpoint's file stem and the nets' name in results files."""
    check_bool("shortcut", shortcut)  # 'False' (a string) would count as True and name the ResNet
    return f"{'resnet' if shortcut else 'plain'}{depth}"


def parse_net(name: str) -> tuple[int, bool]:
    """'plain56' -> (56, False); 'resnet20' -> (20, True): the inverse of net_name."""
    if not isinstance(name, str):
        raise ValueError(f"a net is named by a string such as 'plain56' or 'resnet20', got {name!r}.")
    for prefix, shortcut in (("plain", False), ("resnet", True)):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :]), shortcut
    examples = ", ".join(net_name(d, s) for s in (False, True) for d in DEPTHS)
    raise ValueError(f"a net is named plainD or resnetD with D = 6n + 2 (e.g. {examples}); got {name!r}.")


def checkpoint_path(depth: int, shortcut: bool, root: str | Path | None = None) -> Path:
    """Where the checkpoint of this net lives (results/nets/NAME.pt by default)."""
    return Path(root or NETS_DIR) / f"{net_name(depth, shortcut)}.pt"


def build(depth: int, shortcut: bool) -> ResNet:
    """A fresh, seeded net of the study's shape."""
    torch.manual_seed(INIT_SEED)
    return ResNet(ResNetConfig(depth=depth, shortcut=shortcut, widths=WIDTHS))


def train_and_save(
    depth: int,
    shortcut: bool,
    data: FashionMNIST,
    root: str | Path | None = None,
    config: TrainConfig = RECIPE,
    progress: bool = False,
) -> TrainResult:
    """Train one net with the study's recipe and save it (model and history, no optimiser state)."""
    depth = check_positive_int("depth", depth, " (layers, 6n + 2: 20 or 56 in the study)")
    check_bool("shortcut", shortcut)
    check_dataset("data", data)
    check_instance("config", config, TrainConfig, "e.g. trained_nets.RECIPE")
    result = fit(
        build(depth, shortcut),
        data.train_images,
        data.train_labels,
        config,
        test=(data.test_images, data.test_labels),
        progress=progress,
    )
    save_checkpoint(checkpoint_path(depth, shortcut, root), result.model.cpu(), None, result.history, config)
    return result


def load_or_train(
    depth: int,
    shortcut: bool,
    data: FashionMNIST | None = None,
    root: str | Path | None = None,
    epochs: float | None = None,
) -> ResNet:
    """Load the saved net; if there is none, train it with the study's recipe (needs ``data``) and save it (notebooks 05-06)."""
    depth = check_positive_int("depth", depth, " (layers, 6n + 2: 20 or 56 in the study)")
    if data is not None:
        check_dataset("data", data)
    if epochs is not None:
        epochs = check_number("epochs", epochs, low=0.0, low_open=True, what=" (passes over the data; or None)")
    path = checkpoint_path(depth, shortcut, root)
    if not path.is_file():
        if data is None:
            raise ValueError(
                f"no checkpoint at {path}; pass data=load_fashion_mnist() to train it, "
                "or run `python -m resblock.experiments landscape-nets`."
            )
        config = RECIPE if epochs is None else replace(RECIPE, epochs=epochs)
        train_and_save(depth, shortcut, data, root, config, progress=True)
    model = load_checkpoint(path).model
    return model.eval()


def run_training(names: list[str] | None = None, root: str | Path | None = None, force: bool = False) -> dict:
    """Train and save the named nets (all four by default); return a record for results/nets/landscape-nets.json.

    Existing checkpoints (the committed ones in results/nets/ by default) are replaced only with ``force=True``.
    """
    import json
    import time

    from resblock.data import load_fashion_mnist
    from resblock.env import describe_environment
    from resblock.files import check_writable_folder, write_atomic

    all_names = {net_name(d, s): (d, s) for d in DEPTHS for s in (False, True)}
    if isinstance(names, str):
        names = [names]
    names = list(names or all_names)
    unknown = [n for n in names if n not in all_names]
    if unknown:
        raise ValueError(f"unknown nets {unknown}; choose from {sorted(all_names)}.")
    if not isinstance(force, bool):
        raise ValueError(f"force must be True or False, got {force!r}.")
    existing = [checkpoint_path(*all_names[n], root) for n in names if checkpoint_path(*all_names[n], root).exists()]
    if existing and not force:
        raise ValueError(
            f"{', '.join(map(str, existing))} exist (checkpoints notebooks 05 and 06 load); pass --force "
            "(force=True) to replace them, or --out (root=) to train into another folder."
        )
    for path in existing:
        print(f"--force: replacing {path}.", flush=True)
    check_writable_folder(Path(root or NETS_DIR), "checkpoints")  # before the training, not after
    data = load_fashion_mnist()
    record_path = Path(root or NETS_DIR) / "landscape-nets.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"nets": {}}
    for name in names:
        depth, shortcut = all_names[name]
        t0 = time.perf_counter()
        result = train_and_save(depth, shortcut, data, root)
        record["nets"][name] = {
            "depth": depth,
            "shortcut": shortcut,
            "widths": list(WIDTHS),
            "init_seed": INIT_SEED,
            "train_config": {k: v for k, v in vars(RECIPE).items()},
            "steps": result.history.steps,
            "test_loss": result.history.test_loss[-1],
            "test_acc": result.history.test_acc[-1],
            "wall_time_s": round(time.perf_counter() - t0, 1),
            "environment": describe_environment(),
            "command": f"python -m resblock.experiments landscape-nets --nets {name}",
        }
        print(
            f"{name}: test accuracy {result.history.test_acc[-1]:.4f} after {result.history.steps} steps, "
            f"{record['nets'][name]['wall_time_s']} s",
            flush=True,
        )
        record_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
