"""Checkpoints: a trained model with its optimiser, history and recipe in one file (notebooks 04-06).

Saving is atomic: the file is written beside its target under a temporary name and renamed into
place, so an interrupted save (Ctrl-C, a full disk) leaves the previous checkpoint whole. Loading
uses ``torch.load(weights_only=True)``, which runs no code from the file; a file that is not a
checkpoint gets an error that says what it is and what to do, never a suggestion to load it unsafely.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resblock.train import History, TrainConfig, _channels_last_safe, check_model

FORMAT = "resblock-checkpoint-1"
PAYLOAD_FIELDS = ("model_class", "model_config", "model_state", "optimizer_state", "history", "config")

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be written, or a file that is not a readable resblock checkpoint."""


def _as_path(path: Any, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise CheckpointError(f"{what} must be a file path (a str or pathlib.Path), got {type(path).__name__}.")
    named_a_folder = os.fspath(path).endswith(("/", os.sep))  # Path() drops the slash: "checkpoints/" is a folder
    path = Path(path).expanduser()  # "~/x.pt" means the home folder, not a folder named "~"
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a file name inside it, e.g. {path / 'model.pt'}.")
    if named_a_folder:
        raise CheckpointError(f"{path}/ names a folder (it ends in /); give a file name, e.g. {path / 'model.pt'}.")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None, history: History, config: TrainConfig
) -> Path:
    """Save model, optimiser, history and config in one file that ``load_checkpoint`` reads with weights_only=True."""
    path = _as_path(path, "path")
    if not isinstance(model, nn.Module):
        try:
            check_model(model, finite=False)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise CheckpointError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}.")
    if not isinstance(history, History):
        raise CheckpointError(
            f"history must be a resblock.train.History (result.history), got {type(history).__name__}."
        )
    if not isinstance(config, TrainConfig):
        raise CheckpointError(
            f"config must be a resblock.train.TrainConfig (result.config), got {type(config).__name__}."
        )
    model_config = getattr(model, "config", None)
    payload = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": asdict(model_config)
        if model_config is not None and hasattr(model_config, "__dataclass_fields__")
        else None,
        "model_state": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "history": history.to_dict(),
        "config": asdict(config),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file in the same folder, renamed over the target only once complete: os.replace is
        # atomic within a file system, so the target is always either the old checkpoint or the new one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise CheckpointError(
            f"cannot write a checkpoint to {path}: {e.strerror or e}. Choose a folder you can write to."
        ) from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a checkpoint gets the usual permissions
        os.replace(tmp, path)
    except BaseException as e:  # Ctrl-C included: remove the partial file, keep the old checkpoint
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise CheckpointError(
                f"cannot write a checkpoint to {path}: {e.strerror or e}; "
                f"the previous file there, if any, is unchanged."
            ) from e
        raise
    return path


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns: the model rebuilt (or filled), plus everything saved."""

    model: nn.Module | None
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None
    history: History
    config: TrainConfig


def _read(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(
            f"{path} is empty (0 bytes), perhaps from an interrupted copy; "
            "save the checkpoint again with save_checkpoint(path, ...)."
        )
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":  # torch.save writes a zip archive; anything else is not one of ours
        raise CheckpointError(
            f"{path} ({size:,} bytes) is not a readable PyTorch file (it does not start like the zip archive "
            "torch.save writes). Was it cut short, or is it another kind of file? Save it again with save_checkpoint."
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refused a Python object: e.g. a whole model saved with torch.save(model).
        raise CheckpointError(
            f"{path} holds Python objects, not only tensors and numbers (for example a whole model saved with "
            "torch.save(model)); load_checkpoint never runs code from a file. Save the model's weights with "
            "resblock.checkpoints.save_checkpoint(path, model, optimizer, history, config) instead."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"{path} ({size:,} bytes) is not a readable PyTorch file: it is truncated (an interrupted save "
            f"or download) or not a checkpoint at all ({type(e).__name__}). Save it again with save_checkpoint."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint written by resblock.checkpoints.save_checkpoint.")
    missing = [k for k in PAYLOAD_FIELDS if k not in payload]
    if missing:
        raise CheckpointError(f"{path} is a damaged checkpoint: it lacks {', '.join(missing)}. Save it again.")
    return payload


def _rebuild(payload: dict[str, Any], path: Path) -> nn.Module:
    from resblock.models import DeepMLP, MLPConfig, ResNet, ResNetConfig

    builders = {"ResNet": (ResNet, ResNetConfig), "DeepMLP": (DeepMLP, MLPConfig)}
    cls = payload["model_class"]
    if cls not in builders or payload["model_config"] is None:
        raise CheckpointError(
            f"{path} holds a {cls}, which load_checkpoint can rebuild only for {' and '.join(builders)}; "
            f"build the model yourself and pass it to be filled: load_checkpoint(path, model={cls}(...))."
        )
    model_cls, config_cls = builders[cls]
    try:
        return model_cls(config_cls(**payload["model_config"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the saved {cls} configuration is not valid here ({e}).") from e


def _check_same_config(model: nn.Module, payload: dict[str, Any], path: Path) -> None:
    """A CheckpointError if ``model``'s config differs from the saved one: the same weight names can belong to
    another computation (a max-pooled stem has no weights of its own, so ResNet-8 with and without it share them)."""
    saved, own = payload.get("model_config"), getattr(model, "config", None)
    if saved is None or own is None or not hasattr(own, "__dataclass_fields__"):
        return
    own = asdict(own)
    differ = [
        f"{k}={saved[k]!r} (yours: {own[k]!r})"
        for k in saved
        if k in own and k not in _INIT_ONLY and _plain(own[k]) != _plain(saved[k])
    ]
    if differ:
        raise CheckpointError(
            f"{path} was saved from a {payload['model_class']} with {', '.join(differ)}; its weights would load "
            "into your model but compute something else. Build the model with the saved config, or pass "
            "model=None to rebuild it from the checkpoint."
        )


_INIT_ONLY = {"zero_init_residual", "init"}  # they choose the starting weights, which the checkpoint replaces


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value  # a saved tuple comes back as a list


def load_checkpoint(path: str | Path, model: nn.Module | None = None) -> Checkpoint:
    """Load a checkpoint with weights_only=True (no code runs); rebuild a ResNet or fill ``model`` (notebook 04)."""
    path = _as_path(path, "path")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; save one first with save_checkpoint(path, ...).")
    if model is not None and not isinstance(model, nn.Module):
        raise CheckpointError(f"model must be a torch.nn.Module instance to fill, or None; got {type(model).__name__}.")
    try:
        payload = _read(path)
    except PermissionError as e:
        raise CheckpointError(f"cannot read {path}: permission denied; fix its permissions (chmod u+r).") from e
    if model is None:
        model = _rebuild(payload, path)
    else:
        _check_same_config(model, payload, path)
    try:
        config = TrainConfig(**payload["config"])
        history = History.from_dict(payload["history"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path} is a damaged checkpoint: its training config or history does not load ({e})."
        ) from e
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError as e:
        detail = str(e).split("\n\t", 1)[-1].replace("\n\t", "; ")[:500]
        raise CheckpointError(
            f"the weights in {path} (a {payload['model_class']} with config {payload['model_config']}) do not fit "
            f"the {type(model).__name__} given: {detail}. Build the same architecture, or pass model=None to "
            "rebuild it from the checkpoint."
        ) from None
    # The layout it was trained in, by fit's rule (toy nets stay NCHW): the same kernels, the same numbers.
    if config.channels_last and _channels_last_safe(model):
        model.to(memory_format=torch.channels_last)
    model.eval()
    return Checkpoint(
        model=model,
        model_state=payload["model_state"],
        optimizer_state=payload["optimizer_state"],
        history=history,
        config=config,
    )
