"""The catalogue of bad inputs: every public function a notebook calls, and both commands.

Each case is one line: the call, the error it must raise, and words its message must contain. A
case that once lost work or gave a silently wrong result has its own test below the catalogue, so
that it fails if the behaviour comes back. Tiny tensors and configs: the whole file runs in seconds.
"""

import gzip
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from resblock import checkpoints, data, degradation, experiments, files, landscape, paths, trained_nets  # noqa: E402
from resblock.blocks import ReZeroBlock  # noqa: E402
from resblock.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from resblock.env import pick_device  # noqa: E402
from resblock.evaluation import confusion_matrix, misclassified, smooth  # noqa: E402
from resblock.evaluation_plots import plot_confusion_matrix, plot_image_grid  # noqa: E402
from resblock.explorer import ExplorerSettings  # noqa: E402
from resblock.gradients import blocks_of, grad_norms_per_layer  # noqa: E402
from resblock.identity_fit import IdentityFitConfig, identity_stack  # noqa: E402
from resblock.models import DeepMLP, MLPConfig, ResNet, ResNetConfig  # noqa: E402
from resblock.summary import resnet_summary  # noqa: E402
from resblock.train import History, TrainConfig, TrainingError, evaluate, fit, lr_at, predict  # noqa: E402
from resblock.transformer import ResidualStream, StreamConfig  # noqa: E402
from resblock.variants import train_each, weight_grad_norms  # noqa: E402
from resblock.widgets.dashboard import TrainingDashboard  # noqa: E402
from resblock.widgets.gradflow import gradflow_explorer  # noqa: E402
from resblock.widgets.lesions import LesionToggles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root ignores file permissions
NAN = float("nan")


def tiny_net() -> ResNet:
    torch.manual_seed(0)
    return ResNet(ResNetConfig(depth=8, widths=(2, 2, 2)))


X = torch.randn(16, 1, 8, 8)
Y = torch.arange(16) % 10
IMAGES_28, LABELS_28 = torch.randn(64, 1, 28, 28), torch.arange(64) % 10  # what the explorer takes
QUICK = TrainConfig(epochs=1, batch_size=8, eval_every=1.0)
FAKE_DATA = SimpleNamespace(train_images=X, train_labels=Y, test_images=X, test_labels=Y)


def _fit(**kw):
    args = dict(model=tiny_net(), train_images=X, train_labels=Y, config=QUICK, progress=False)
    args.update(kw)
    return fit(args.pop("model"), args.pop("train_images"), args.pop("train_labels"), args.pop("config"), **args)


CASES = [
    # --- configs: booleans are booleans, counts are whole numbers, numbers are finite ---------------
    ("resnet shortcut 'no'", lambda: ResNetConfig(shortcut="no"), ValueError, "shortcut must be True or False"),
    (
        "resnet zero_init 'no'",
        lambda: ResNetConfig(zero_init_residual="no"),
        ValueError,
        "zero_init_residual must be True or False",
    ),
    (
        "resnet in_channels True",
        lambda: ResNetConfig(in_channels=True),
        ValueError,
        "in_channels must be a positive whole number",
    ),
    ("resnet depth None", lambda: ResNetConfig(depth=None), ValueError, "depth must be 6n + 2"),
    ("resnet depth str", lambda: ResNetConfig(depth="20"), ValueError, "depth must be 6n + 2"),
    ("resnet depth float", lambda: ResNetConfig(depth=20.0), ValueError, "depth must be a whole number"),
    ("resnet depth 20.5", lambda: ResNetConfig(depth=20.5), ValueError, "depth must be 6n + 2"),
    ("resnet depth 10**9", lambda: ResNetConfig(depth=6 * 10**8 + 2), ValueError, "at most 1202"),
    ("resnet widths int", lambda: ResNetConfig(widths=16), ValueError, "widths must be three"),
    ("resnet widths str", lambda: ResNetConfig(widths="abc"), ValueError, "widths must be three"),
    (
        "resnet num_classes float",
        lambda: ResNetConfig(num_classes=2.5),
        ValueError,
        "num_classes must be a positive whole number",
    ),
    ("resnet block None", lambda: ResNetConfig(block=None), ValueError, "block must be one of"),
    ("ResNet(dict)", lambda: ResNet({"depth": 8}), ValueError, "ResNetConfig(**{'depth': 8})"),
    ("ResNet(int)", lambda: ResNet(8), ValueError, "takes a ResNetConfig"),
    ("DeepMLP(dict)", lambda: DeepMLP({"depth": 3}), ValueError, "MLPConfig(**"),
    ("mlp shortcut_scale None", lambda: MLPConfig(shortcut_scale=None), ValueError, "shortcut_scale"),
    ("mlp shortcut_scale nan", lambda: MLPConfig(shortcut_scale=NAN), ValueError, "finite"),
    ("mlp depth True", lambda: MLPConfig(depth=True), ValueError, "depth must be a positive whole number"),
    ("train augment 'no'", lambda: TrainConfig(augment="no"), ValueError, "augment must be True or False"),
    ("train tta_flip 1", lambda: TrainConfig(tta_flip=1), ValueError, "tta_flip must be True or False"),
    (
        "train channels_last 'yes'",
        lambda: TrainConfig(channels_last="yes"),
        ValueError,
        "channels_last must be True or False",
    ),
    ("train final_lr 1.5", lambda: TrainConfig(final_lr=1.5), ValueError, "final_lr"),
    ("train lr None", lambda: TrainConfig(lr=None), ValueError, "lr"),
    ("train lr str", lambda: TrainConfig(lr="0.1"), ValueError, "lr"),
    ("train lr nan", lambda: TrainConfig(lr=NAN), ValueError, "finite"),
    ("train momentum nan", lambda: TrainConfig(momentum=NAN), ValueError, "momentum"),
    ("train weight_decay nan", lambda: TrainConfig(weight_decay=NAN), ValueError, "weight_decay"),
    ("train weight_decay None", lambda: TrainConfig(weight_decay=None), ValueError, "weight_decay"),
    ("train eval_every nan", lambda: TrainConfig(eval_every=NAN), ValueError, "eval_every"),
    (
        "train batch_size None",
        lambda: TrainConfig(batch_size=None),
        ValueError,
        "batch_size must be a positive whole number",
    ),
    (
        "train batch_size 32.0",
        lambda: TrainConfig(batch_size=32.0),
        ValueError,
        "batch_size must be a positive whole number",
    ),
    (
        "train batch_size True",
        lambda: TrainConfig(batch_size=True),
        ValueError,
        "batch_size must be a positive whole number",
    ),
    ("train seed -1", lambda: TrainConfig(seed=-1), ValueError, "seed"),
    ("train seed 1.5", lambda: TrainConfig(seed=1.5), ValueError, "seed"),
    ("train max_shift -1", lambda: TrainConfig(max_shift=-1), ValueError, "max_shift"),
    ("train epochs str", lambda: TrainConfig(epochs="2"), ValueError, "epochs"),
    ("train seconds nan", lambda: TrainConfig(seconds=NAN), ValueError, "seconds"),
    ("train eval_images 0", lambda: TrainConfig(eval_images=0), ValueError, "eval_images"),
    ("degradation net None", lambda: degradation.parse_net(None), ValueError, "a string such as"),
    ("degradation pool True", lambda: degradation.DegradationConfig(pool=True), ValueError, "pool must be"),
    ("degradation widths int", lambda: degradation.DegradationConfig(widths=8), ValueError, "widths"),
    ("degradation seeds bool", lambda: degradation.run_degradation(seeds=[True], data=FAKE_DATA), ValueError, "seeds"),
    # --- dtypes: float64 and uint8 images are named as such ---------------------------------------
    ("model float64", lambda: tiny_net()(X.double()), ValueError, "float64"),
    ("model uint8", lambda: tiny_net()(X.to(torch.uint8)), ValueError, "normalize"),
    ("model list", lambda: tiny_net()([[1.0]]), ValueError, "tensor"),
    (
        "mlp float64",
        lambda: DeepMLP(MLPConfig(depth=2))(torch.randn(2, 784, dtype=torch.float64)),
        ValueError,
        "float64",
    ),
    ("predict float64", lambda: predict(tiny_net(), X.double()), ValueError, "float64"),
    ("predict uint8", lambda: predict(tiny_net(), X.to(torch.uint8)), ValueError, "normalize"),
    ("predict list", lambda: predict(tiny_net(), [1, 2]), ValueError, "torch tensor"),
    (
        "predict class",
        lambda: predict(ResNet, X),
        ValueError,
        "got the class ResNet; build one first, e.g. ResNet(ResNetConfig",
    ),
    ("evaluate uint8", lambda: evaluate(tiny_net(), X.to(torch.uint8), Y), ValueError, "floating point"),
    ("normalize float", lambda: data.normalize(torch.rand(2, 28, 28)), ValueError, "raw uint8"),
    (
        "normalize rgb",
        lambda: data.normalize(torch.zeros(2, 3, 28, 28, dtype=torch.uint8)),
        ValueError,
        "(N, 1, 28, 28)",
    ),
    # --- shapes: each case gets the fix that fits it -----------------------------------------------
    ("model no channel axis", lambda: tiny_net()(torch.randn(4, 8, 8)), ValueError, "x.unsqueeze(1)"),
    ("model one image", lambda: tiny_net()(torch.randn(8, 8)), ValueError, "x[None, None]"),
    (
        "model one rgb image",
        lambda: ResNet(ResNetConfig(depth=8, widths=(2, 2, 2), in_channels=3))(torch.randn(3, 8, 8)),
        ValueError,
        "x.unsqueeze(0)",
    ),
    ("model rgb batch", lambda: tiny_net()(torch.randn(4, 3, 8, 8)), ValueError, "ResNetConfig(in_channels=3)"),
    ("model extra axis", lambda: tiny_net()(torch.randn(4, 1, 1, 8, 8)), ValueError, "remove the extra axes"),
    ("fit no channel axis", lambda: _fit(train_images=X[:, 0]), ValueError, "images.unsqueeze(1)"),
    ("fit rgb train", lambda: _fit(train_images=torch.randn(16, 3, 8, 8)), ValueError, "ResNetConfig(in_channels=3)"),
    ("blocks of preact", lambda: blocks_of(ResNet(ResNetConfig(block="preact"))), ValueError, "block='basic'"),
    (
        "paths of preact",
        lambda: paths.gradient_by_path_length(ResNet(ResNetConfig(block="preact")), X[:2], Y[:2]),
        ValueError,
        "block='basic'",
    ),
    # --- fit: every input checked before the first step --------------------------------------------
    ("fit the class", lambda: _fit(model=ResNet), ValueError, "ResNet(ResNetConfig())"),
    ("fit the MLP class", lambda: _fit(model=DeepMLP), ValueError, "DeepMLP(MLPConfig())"),
    ("fit a string", lambda: _fit(model="resnet"), ValueError, "torch.nn.Module"),
    ("fit config dict", lambda: _fit(config={"epochs": 1}), ValueError, "TrainConfig"),
    ("fit float64 train", lambda: _fit(train_images=X.double()), ValueError, "dtype mismatch"),
    ("fit float64 test", lambda: _fit(test=(X.double(), Y)), ValueError, "test images are torch.float64"),
    ("fit 3-channel test", lambda: _fit(test=(torch.randn(4, 3, 8, 8), Y[:4])), ValueError, "test images"),
    ("fit test labels 10", lambda: _fit(test=(X[:4], torch.full((4,), 10))), ValueError, "0..9"),
    ("fit test not a pair", lambda: _fit(test=X), ValueError, "tuple (test_images, test_labels)"),
    ("fit batch 1 with BN", lambda: _fit(config=TrainConfig(epochs=1, batch_size=1)), ValueError, "at least 2"),
    (
        "fit max_shift = image",
        lambda: _fit(config=TrainConfig(epochs=1, batch_size=8, augment=True, max_shift=8)),
        ValueError,
        "max_shift",
    ),
    ("fit device tpu", lambda: _fit(device="tpu"), ValueError, "not a device"),
    ("fit device mps", lambda: _fit(device="mps"), ValueError, "mps"),
    ("fit live_plot str", lambda: _fit(live_plot="yes"), ValueError, "live_plot"),
    ("fit should_stop int", lambda: _fit(should_stop=5), ValueError, "should_stop"),
    ("fit progress str", lambda: _fit(progress="no"), ValueError, "progress must be True or False"),
    # --- devices ----------------------------------------------------------------------------------
    ("device mps", lambda: pick_device("mps"), ValueError, "Apple"),
    ("device bogus", lambda: pick_device("gpu"), ValueError, "'cpu', 'cuda'"),
    ("device int", lambda: pick_device(0), ValueError, "device must be"),
    # --- evaluation, lesions, summary --------------------------------------------------------------
    ("misclassified limit -1", lambda: misclassified(Y, Y.flip(0), limit=-1), ValueError, "limit"),
    ("misclassified limit 1.5", lambda: misclassified(Y, Y.flip(0), limit=1.5), ValueError, "limit"),
    ("misclassified lengths", lambda: misclassified(Y, Y[:3]), ValueError, "same length"),
    ("lesion 1.7", lambda: paths.lesion_accuracy(tiny_net(), X, Y, removed=[1.7]), ValueError, "whole-number"),
    ("lesion True", lambda: paths.lesion_accuracy(tiny_net(), X, Y, removed=[True]), ValueError, "whole-number"),
    ("lesion int", lambda: paths.lesion_accuracy(tiny_net(), X, Y, removed=1), ValueError, "list of block indices"),
    ("lesion 99", lambda: paths.lesion_accuracy(tiny_net(), X, Y, removed=[99]), ValueError, "out of range"),
    ("lesion toggles no models", lambda: LesionToggles({}, X, Y), ValueError, "at least one model"),
    ("predict no images", lambda: predict(tiny_net(), X[:0]), ValueError, "images is empty"),
    ("image grid one image", lambda: plot_image_grid(X[0], ["a"]), ValueError, "not images[i]"),
    ("image grid 3-D batch", lambda: plot_image_grid(X[:, 0], ["a"] * 16), ValueError, "(N, 1, height, width)"),
    ("image grid ncols 0", lambda: plot_image_grid(X[:2], ["a", "b"], ncols=0), ValueError, "ncols"),
    ("confusion 3x3 for 10", lambda: plot_confusion_matrix(np.eye(3), list("abcdefghij")), ValueError, "10x10"),
    # truthy strings: "no" and "False" would count as True
    (
        "identity stack residual 'no'",
        lambda: identity_stack(2, 4, residual="no"),
        ValueError,
        "residual must be True or False",
    ),
    ("rezero norm 'no'", lambda: ReZeroBlock(4, 4, norm="no"), ValueError, "norm must be True or False"),
    (
        "trained net shortcut 'False'",
        lambda: trained_nets.load_or_train(56, "False"),
        ValueError,
        "shortcut must be True or False",
    ),
    ("identity fit lr '0.01'", lambda: IdentityFitConfig(lr="0.01"), ValueError, "lr must be a number"),
    ("identity fit lr True", lambda: IdentityFitConfig(lr=True), ValueError, "lr must be a number"),
    ("identity fit lr inf", lambda: IdentityFitConfig(lr=float("inf")), ValueError, "lr must be a finite number"),
    # labels the loss or the accuracy cannot use: named, not an IndexError from cross_entropy or a silent 0.0
    ("lesion labels of 10", lambda: paths.single_lesions(tiny_net(), X, Y + 10), ValueError, "labels must lie in 0..9"),
    ("lesion labels short", lambda: LesionToggles({"r": tiny_net()}, X, Y[:4]), ValueError, "16 images, 4 labels"),
    (
        "lesion float64 images",
        lambda: LesionToggles({"r": tiny_net()}, X.double(), Y),
        ValueError,
        "images.to(torch.float32)",
    ),
    (
        "grad norms labels of 10",
        lambda: grad_norms_per_layer(tiny_net(), X, Y + 10),
        ValueError,
        "labels must lie in 0..9",
    ),
    ("grad norms float labels", lambda: grad_norms_per_layer(tiny_net(), X, Y.float()), ValueError, "labels.long()"),
    (
        "landscape labels of 10",
        lambda: landscape.loss_at(tiny_net(), [], X, Y + 10),
        ValueError,
        "labels must lie in 0..9",
    ),
    ("landscape no images", lambda: landscape.loss_at(tiny_net(), [], X[:0], Y[:0]), ValueError, "images are empty"),
    (
        "explorer labels of 10",
        lambda: gradflow_explorer(IMAGES_28, LABELS_28 + 10),
        ValueError,
        "labels must lie in 0..9",
    ),
    ("explorer float64 images", lambda: gradflow_explorer(IMAGES_28.double(), LABELS_28), ValueError, "float32"),
    (
        "lesion toggles removed 99",
        lambda: LesionToggles({"a": tiny_net()}, X, Y, removed=[99]),
        ValueError,
        "block indices",
    ),
    # --- widgets: values outside the controls' ranges are refused, not clamped ----------------------
    ("explorer depth 5000", lambda: ExplorerSettings(depth=5000), ValueError, "depth"),
    (
        "lesion toggles np.int64",
        lambda: LesionToggles({"r": tiny_net()}, X, Y, removed=[np.int64(99)]),
        ValueError,
        "got [99]",
    ),
    ("explorer depth True", lambda: ExplorerSettings(depth=True), ValueError, "depth"),
    ("explorer seed -1", lambda: ExplorerSettings(seed=-1), ValueError, "seed"),
    ("explorer shortcut_scale nan", lambda: ExplorerSettings(shortcut_scale=NAN), ValueError, "shortcut_scale"),
    ("dashboard seconds 0", lambda: TrainingDashboard(FAKE_DATA, seconds=0), ValueError, "seconds"),
    ("dashboard seconds 1000", lambda: TrainingDashboard(FAKE_DATA, seconds=1000), ValueError, "2 to 300"),
    ("dashboard shortcut 'no'", lambda: TrainingDashboard(FAKE_DATA, shortcut="no"), ValueError, "shortcut"),
    ("dashboard config dict", lambda: TrainingDashboard(FAKE_DATA, config={}), ValueError, "TrainConfig"),
    ("dashboard data None", lambda: TrainingDashboard(None), ValueError, "load_fashion_mnist"),
    # --- landscape: every number checked, nan included -----------------------------------------------
    ("landscape span nan", lambda: landscape.run_experiment(["plain20"], span=NAN), ValueError, "finite"),
    ("landscape span inf", lambda: landscape.run_experiment(["plain20"], span=math.inf), ValueError, "finite"),
    ("landscape grid 2", lambda: landscape.run_experiment(["plain20"], grid=2), ValueError, "3 to 101"),
    ("landscape grid 10**6", lambda: landscape.run_experiment(["plain20"], grid=10**6), ValueError, "3 to 101"),
    ("landscape grid float", lambda: landscape.run_experiment(["plain20"], grid=21.0), ValueError, "grid"),
    ("landscape subset 0", lambda: landscape.run_experiment(["plain20"], subset=0), ValueError, "subset"),
    ("landscape seeds", lambda: landscape.run_experiment(["plain20"], seeds=(1,)), ValueError, "two direction seeds"),
    ("landscape net", lambda: landscape.run_experiment(["plain21"]), ValueError, "unknown nets"),
    ("sharpness radius nan", lambda: landscape.sharpness_ratio(None, radius=NAN), ValueError, "radius"),
    ("landscape-nets net", lambda: trained_nets.run_training(["foo"]), ValueError, "unknown nets"),
    # --- checkpoints: arguments ------------------------------------------------------------------------
    ("save history None", lambda: save_checkpoint("/tmp/x.pt", tiny_net(), None, None, QUICK), ValueError, "history"),
    ("save model class", lambda: save_checkpoint("/tmp/x.pt", ResNet, None, History(), QUICK), ValueError, "model"),
    ("save path int", lambda: save_checkpoint(5, tiny_net(), None, History(), QUICK), ValueError, "file path"),
    # "checkpoints/" where the folder does not exist yet: it wrote a *file* named checkpoints
    (
        "save to a new folder",
        lambda: save_checkpoint("no_such_dir/", tiny_net(), None, History(), QUICK),
        ValueError,
        "no_such_dir/ names a folder (it ends in /); give a file name",
    ),
    (
        "train_each given a model",
        lambda: train_each({"a": tiny_net()}, X, Y, QUICK),
        ValueError,
        "builders['a'] is a ResNet, not a function that builds one",
    ),
    ("train_each given a list", lambda: train_each([tiny_net], X, Y, QUICK), ValueError, "non-empty dict"),
    (
        "stream float64 tokens",
        lambda: ResidualStream(StreamConfig(depth=2))(torch.randn(2, 28, 28).double()),
        ValueError,
        "images.to(torch.float32)",
    ),
    (
        "stream numpy tokens",
        lambda: ResidualStream(StreamConfig(depth=2))(np.zeros((2, 28, 28), np.float32)),
        ValueError,
        "torch.as_tensor",
    ),
    ("mlp given one example", lambda: DeepMLP(MLPConfig(depth=2))(torch.randn(784)), ValueError, "x[None]"),
    (
        "weight norms one name",
        lambda: weight_grad_norms(tiny_net(), "fc.weight", X, Y),
        ValueError,
        "e.g. ['fc.weight']",
    ),
    (
        "train_each given None",
        lambda: train_each({"a": None}, X, Y, QUICK),
        ValueError,
        "a function that returns a fresh model",
    ),
    (
        "predict nn.Linear class",
        lambda: predict(nn.Linear, X),
        ValueError,
        "got the class Linear; build one first, e.g. Linear(...)",
    ),
    (
        "grad norms one-hot labels",
        lambda: grad_norms_per_layer(tiny_net(), X, torch.eye(10, dtype=torch.long)[Y]),
        ValueError,
        "labels.argmax(1)",
    ),
    (
        "landscape labels longer",
        lambda: landscape.loss_at(tiny_net(), [], X, torch.cat([Y, Y]), batch_size=4),
        ValueError,
        "16 images, 32 labels",
    ),
    ("load path None", lambda: load_checkpoint(None), ValueError, "file path"),
    ("load a folder", lambda: load_checkpoint(ROOT), ValueError, "is a folder"),
    # --- data: arguments -----------------------------------------------------------------------------
    ("data root int", lambda: data.load_fashion_mnist(5), TypeError, "folder path"),
    ("data download 'no'", lambda: data.load_fashion_mnist(download="no"), TypeError, "download must be True or False"),
    # --- found in a second pass: inputs the issue did not list ---------------------------------------
    ("fit nan image", lambda: _fit(train_images=torch.where(X > 2.5, NAN, X)), ValueError, "NaN or infinite"),
    ("evaluate inf image", lambda: evaluate(tiny_net(), X / 0.0, Y), ValueError, "NaN or infinite"),
    ("lr_at nan", lambda: lr_at(NAN, QUICK), ValueError, "progress"),
    ("smooth window 1.5", lambda: smooth([1.0, 2.0, 3.0], window=1.5), ValueError, "window"),
    ("confusion 0 classes", lambda: confusion_matrix(Y, Y, 0), ValueError, "num_classes"),
    ("summary shape str", lambda: resnet_summary(tiny_net(), (1, "28", 28)), ValueError, "input_shape"),
    (
        "degradation nets str",
        lambda: degradation.run_degradation(nets="plain20", data=FAKE_DATA),
        ValueError,
        "list of names",
    ),
    (
        "degradation config dict",
        lambda: degradation.run_degradation({}, data=FAKE_DATA),
        ValueError,
        "DegradationConfig",
    ),
    ("fixed_subset True", lambda: landscape.fixed_subset(X, Y, True), ValueError, "size"),
    (
        "line alphas nan",
        lambda: landscape.loss_along_direction(tiny_net(), landscape.random_direction(tiny_net()), [0.0, NAN], X, Y),
        ValueError,
        "finite",
    ),
    (
        "surface betas empty",
        lambda: landscape.loss_surface(tiny_net(), *[landscape.random_direction(tiny_net())] * 2, [0.0], [], X, Y),
        ValueError,
        "non-empty",
    ),
    ("data root missing", lambda: data.load_fashion_mnist("/typo/path"), data.DatasetNotFoundError, "does not exist"),
    ("data root a file", lambda: data.load_fashion_mnist(__file__), data.DatasetNotFoundError, "is a file"),
]


@pytest.mark.parametrize("call, error, words", [pytest.param(c, e, w, id=i) for i, c, e, w in CASES])
def test_bad_input_gets_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
    assert "weights_only=False" not in str(info.value)  # never suggest loading a file unsafely


def test_good_inputs_of_numpy_types_are_accepted():
    c = TrainConfig(batch_size=np.int64(32), lr=np.float32(0.1), seed=np.int64(3), augment=np.bool_(True))
    assert type(c.batch_size) is int and type(c.seed) is int and c.augment is True
    r = ResNetConfig(depth=np.int64(8), widths=[np.int64(2), 2, 2])
    assert r.depth == 8 and r.widths == (2, 2, 2) and hash(r)
    assert TrainConfig(final_lr=1.0).final_lr == 1.0  # a constant lr after warm-up is allowed


# --- the wrong kind of input: a list for a dict, a dict for a dataclass, a Figure for an Axes ---------
# Each is refused at the top of the public function, before any figure is opened, with the argument's
# name, what it got and what to pass. A wrong *kind* is an ArgumentTypeError: a TypeError, and a
# ValueError too (the commands and notebooks catch the package's ValueErrors).

from matplotlib.figure import Figure  # noqa: E402

from resblock import degradation_plots, landscape_plots, paths_plots, variants_plots  # noqa: E402
from resblock.checks import ArgumentTypeError  # noqa: E402
from resblock.evaluation import history_series  # noqa: E402
from resblock.evaluation_plots import HistoryCurves, plot_history  # noqa: E402
from resblock.identity_fit_plots import plot_identity_fit  # noqa: E402
from resblock.paths import PathGradients, RandomLesions  # noqa: E402
from resblock.transformer import MLP, Residual, SelfAttention, branch_output_layers  # noqa: E402
from resblock.variants import RunSummary  # noqa: E402

ONE_AX = Figure().add_subplot()  # Axes off pyplot: making them opens no pyplot figure
AX_PAIR = Figure().subplots(1, 2)
_A = np.linspace(-1.0, 1.0, 3)
SURFACE = landscape.Surface(_A, _A, np.ones((3, 3)), np.ones((3, 3)), 0.0)
LINE = landscape.Line(_A, _A**2, _A * 0, 0.0)
RUN = {"net": "plain20", "seed": 0, "step_loss": [2.0, 1.0], "test_error": [0.5], "eval_step": [2]}
RESULTS = {"nets": ["plain20"], "runs": [RUN], "seeds": [0]}
SUMMARY = RunSummary("basic", 10, History(loss=[2.0, 1.0]), 0.5, 1.0)
LINEAR = nn.Linear(2, 10)
DIRECTION = landscape.random_direction(LINEAR, seed=0)
X2, Y2 = torch.randn(4, 2), torch.arange(4)


def _cell_options(cell):
    from resblock.nbcompare import cell_options

    return cell_options(cell)


WRONG_KINDS = [
    # --- Axes and figures ----------------------------------------------------------------------------
    (
        "ax an array of Axes",
        lambda: degradation_plots.plot_training_loss(RESULTS, ax=AX_PAIR),
        TypeError,
        r"ax must be one matplotlib Axes, got a NumPy array of shape \(2,\); pass one of them, e\.g\. axes\[0\]",
    ),
    (
        "ax a Figure",
        lambda: landscape_plots.plot_lines({"plain20": LINE}, ax=Figure()),
        TypeError,
        r"ax must be one matplotlib Axes, got a Figure; pass one of its Axes",
    ),
    (
        "3-D surface on a 2-D Axes",
        lambda: landscape_plots.plot_surface3d(SURFACE, ax=ONE_AX),
        ValueError,
        r"ax must be an Axes with projection='3d', got a 'rectilinear' one",
    ),
    (
        "history on one Axes",
        lambda: plot_history(History(), axes=ONE_AX),
        TypeError,
        r"axes must be a list or array of 2 matplotlib Axes .*got an Axes \(one Axes",
    ),
    (
        "image grid short of Axes",
        lambda: plot_image_grid(X[:4], list("abcd"), axes=AX_PAIR),
        ValueError,
        r"axes holds 2 Axes, 4 are needed \(one per image",
    ),
    (
        "path gradients on two Axes",
        lambda: paths_plots.plot_path_gradients(PathGradients(2, np.ones(3), np.ones(3)), axes=AX_PAIR),
        ValueError,
        r"axes holds 2 Axes, 3 are needed",
    ),
    (
        "live curves on an Axes",
        lambda: HistoryCurves(ONE_AX),
        TypeError,
        r"fig must be a matplotlib Figure.*got an Axes \(its figure is fig\.figure\)",
    ),
    (
        "landscape grid fig an Axes",
        lambda: landscape_plots.plot_landscape_grid({"a": SURFACE}, [["a"]], fig=ONE_AX),
        TypeError,
        r"fig must be a matplotlib Figure",
    ),
    ("axes grid of 0 rows", lambda: style_new_axes_grid(0, 2), ValueError, r"nrows must be a positive whole number"),
    # --- degradation: results dicts, configs, data ------------------------------------------------------
    (
        "degradation runs for results",
        lambda: degradation_plots.plot_training_loss([RUN]),
        TypeError,
        r"results must be a degradation results dict .*got a list of 1 item\. This looks like its list of runs",
    ),
    (
        "degradation one run for results",
        lambda: degradation_plots.plot_test_error(RUN),
        ValueError,
        r"results lacks 'nets', 'runs'.*This is one run's record",
    ),
    (
        "degradation runs a dict",
        lambda: degradation_plots.plot_final_losses({"nets": ["plain20"], "runs": {"plain20": RUN}}),
        TypeError,
        r"results\['runs'\] must be a list of run records",
    ),
    (
        "degradation nets a string",
        lambda: degradation_plots.plot_training_loss(RESULTS, nets="plain20"),
        TypeError,
        r"nets must be a list of net names.*got the string 'plain20' \(for one, write \['plain20'\]\)",
    ),
    (
        "degradation net not in results",
        lambda: degradation_plots.plot_test_error(RESULTS, nets=["resnet110"]),
        ValueError,
        r"results holds no runs of \['resnet110'\]; its nets are \['plain20'\]",
    ),
    (
        "degradation log 'no'",
        lambda: degradation_plots.plot_training_loss(RESULTS, log="no"),
        ValueError,
        r"log must be True or False",
    ),
    (
        "degradation train_net's pair",
        lambda: degradation.summary_table((RUN, None)),
        TypeError,
        r"train_net returns \(record, model\) for one run",
    ),
    (
        "degradation merge one dict",
        lambda: degradation.merge_results(RESULTS),
        TypeError,
        r"parts must be a list of results dicts, got one dict",
    ),
    (
        "degradation paper_vs_ours one config",
        lambda: degradation.paper_vs_ours(degradation.LIVE),
        TypeError,
        r"configs must be a dict from a name to a DegradationConfig.*got one DegradationConfig\. For one alone, name it",
    ),
    (
        "degradation data a tensor",
        lambda: degradation.prepare_data(X, degradation.LIVE),
        TypeError,
        r"data must be what resblock\.data\.load_fashion_mnist\(\) returns .*got a Tensor of shape \(16, 1, 8, 8\)",
    ),
    (
        "degradation config dict",
        lambda: degradation.prepare_data(FAKE_DATA, {"epochs": 1}),
        TypeError,
        r"config must be a DegradationConfig .*got a dict of 1 item\. Pass DegradationConfig\(\*\*\{'epochs': 1\}\)",
    ),
    (
        "degradation tensors one tensor",
        lambda: degradation.train_net("plain20", X, degradation.LIVE, 0),
        TypeError,
        r"tensors must be the four tensors prepare_data\(data, config\) returns",
    ),
    (
        "degradation seeds an int",
        lambda: degradation.run_degradation(seeds=0, data=FAKE_DATA),
        ValueError,
        r"seeds must be a non-empty list .*got 0 \(for one seed, write \[0\]\)",
    ),
    (
        "degradation no nets",
        lambda: degradation.run_degradation(nets=[], data=FAKE_DATA),
        ValueError,
        r"nets is empty: name at least one net",
    ),
    (
        "degradation data images",
        lambda: degradation.run_degradation(seeds=[0], nets=["plain20"], data=X),
        TypeError,
        r"data must be what resblock\.data\.load_fashion_mnist\(\) returns",
    ),
    (
        "embed_shallow a config",
        lambda: degradation.embed_shallow(ResNetConfig(depth=8, shortcut=False), 20),
        TypeError,
        r"shallow must be a ResNet .*got a ResNetConfig",
    ),
    (
        "results path config dict",
        lambda: experiments.degradation_results_path({}, [0], degradation.NETS),
        TypeError,
        r"config must be a DegradationConfig \(e\.g\. degradation\.FULL",
    ),
    (
        "results path preset",
        lambda: experiments.degradation_results_path(degradation.FULL, [0], degradation.NETS, "fast"),
        ValueError,
        r"preset must be one of \['full', 'live'\] or None",
    ),
    (
        "results path seeds an int",
        lambda: experiments.degradation_results_path(degradation.FULL, 0, degradation.NETS),
        TypeError,
        r"seeds must be a list of seeds, e\.g\. \[0, 1, 2\]; got 0 \(int\) \(for one, write \[0\]\)",
    ),
    # --- a run's history, confusion matrix, image grid -------------------------------------------------
    (
        "history a list of losses",
        lambda: plot_history([2.0, 1.0]),
        TypeError,
        r"history must be a training run's History, got a list of 2 items; a list of losses is one curve",
    ),
    (
        "history its dict",
        lambda: history_series(History(loss=[1.0]).to_dict()),
        TypeError,
        r"History\.to_dict\(\)'s output: rebuild it with resblock\.train\.History\.from_dict\(d\)",
    ),
    (
        "live curves given a list",
        lambda: HistoryCurves(Figure()).update([1.0]),
        TypeError,
        r"history must be a training run's History",
    ),
    (
        "confusion classes a count",
        lambda: plot_confusion_matrix(np.eye(10), 10),
        TypeError,
        r"classes must be a list of class names, one per row of counts, e\.g\. data\.classes; got 10 \(int\)\.",
    ),
    (
        "confusion counts None",
        lambda: plot_confusion_matrix(None, ["a", "b"]),
        TypeError,
        r"counts must be a square table of counts .*confusion_matrix\(predicted, labels, num_classes\)",
    ),
    (
        "confusion counts of predictions",
        lambda: plot_confusion_matrix(torch.ones(100), list("abcdefghij")),
        ValueError,
        r"counts must be 10x10 for 10 classes, got \(100,\); make it with confusion_matrix\(predicted, labels, 10\)",
    ),
    (
        "image grid titles None",
        lambda: plot_image_grid(X[:2], None),
        TypeError,
        r"titles must be a list of titles, one per image",
    ),
    (
        "confusion_matrix a list",
        lambda: confusion_matrix([0, 1], Y[:2], 10),
        TypeError,
        r"predicted must be a 1-D tensor of class indices, got a list of 2 items; use torch\.as_tensor\(predicted\)",
    ),
    ("smooth a dict", lambda: smooth({"a": 1.0}), TypeError, r"values must be a list of numbers \(a curve\)"),
    # --- named curves: each value one curve --------------------------------------------------------------
    (
        "identity fit a number per curve",
        lambda: plot_identity_fit({"plain": 0.5}),
        TypeError,
        r"curves\['plain'\] must be one curve, a 1-D list of numbers \(one per point\), got 0\.5 \(float\)",
    ),
    (
        "identity fit baseline str",
        lambda: plot_identity_fit({"plain": [1.0]}, baseline="0.2"),
        ValueError,
        r"baseline must be a number",
    ),
    (
        "profiles a number per curve",
        lambda: variants_plots.plot_profiles({"basic": 1.0}),
        TypeError,
        r"profiles\['basic'\] must be one curve",
    ),
    (
        "losses one run",
        lambda: variants_plots.plot_losses(SUMMARY),
        TypeError,
        r"runs must be a dict from each variant's name to its run.*got one RunSummary\. For one alone, name it",
    ),
    (
        "losses of histories",
        lambda: variants_plots.plot_losses({"basic": History(loss=[1.0])}),
        TypeError,
        r"runs\['basic'\] is a History, not a RunSummary or TrainResult",
    ),
    # --- landscape: tensors, directions, surfaces --------------------------------------------------------
    (
        "filter_normalize a list",
        lambda: landscape.filter_normalize([1.0], torch.ones(1)),
        TypeError,
        r"direction must be a torch tensor, got a list of 1 item\. Use torch\.as_tensor\(direction\)",
    ),
    (
        "random_direction a class",
        lambda: landscape.random_direction(ResNet),
        ValueError,
        r"got the class ResNet; build one first",
    ),
    (
        "random_direction normalize 'no'",
        lambda: landscape.random_direction(LINEAR, normalize="no"),
        ValueError,
        r"normalize must be True or False",
    ),
    (
        "loss_at a direction for offsets",
        lambda: landscape.loss_at(LINEAR, DIRECTION, X2, Y2),
        TypeError,
        r"offsets must be a list of \(coefficient, direction\) pairs.*\(one direction\? write \[\(a, direction\)\]\)",
    ),
    (
        "loss_at offsets without coefficients",
        lambda: landscape.loss_at(LINEAR, [DIRECTION], X2, Y2),
        TypeError,
        r"offsets\[0\] must be a pair \(coefficient, direction\)",
    ),
    (
        "loss_at images a list",
        lambda: landscape.loss_at(LINEAR, [], X2.tolist(), Y2),
        TypeError,
        r"images must be a torch tensor, got a list of 4 items\. Use torch\.as_tensor\(images\)",
    ),
    (
        "loss_at batch_size 0",
        lambda: landscape.loss_at(LINEAR, [], X2, Y2, batch_size=0),
        ValueError,
        r"batch_size must be a positive whole number",
    ),
    (
        "line direction a list",
        lambda: landscape.loss_along_direction(LINEAR, list(DIRECTION.values()), [0.0], X2, Y2),
        TypeError,
        r"direction must be a dict \{parameter name: tensor\}, as random_direction\(model\) returns; got a list",
    ),
    (
        "surface d2 a list",
        lambda: landscape.loss_surface(LINEAR, DIRECTION, [DIRECTION], [0.0], [0.0], X2, Y2),
        TypeError,
        r"d2 must be a dict \{parameter name: tensor\}",
    ),
    ("fixed_subset short labels", lambda: landscape.fixed_subset(X, Y[:3], 2), ValueError, r"16 images, 3 labels"),
    (
        "fixed_subset numpy images",
        lambda: landscape.fixed_subset(X.numpy(), Y, 2),
        TypeError,
        r"images must be a torch tensor, got a NumPy array",
    ),
    (
        "sharpness a surface's dict",
        lambda: landscape.sharpness_ratio(SURFACE.to_dict()),
        TypeError,
        r"surface must be a Surface .*got a dict of 5 items\. To rebuild one from its dict, use Surface\.from_dict",
    ),
    (
        "minima a loss array",
        lambda: landscape.local_minima(SURFACE.loss),
        TypeError,
        r"pass the Surface itself, not its \.loss",
    ),
    (
        "minima a Line",
        lambda: landscape.local_minima(LINE),
        TypeError,
        r"got a Line, a 1-D one \(loss_along_direction\)",
    ),
    (
        "minima a dict of surfaces",
        lambda: landscape.local_minima({"plain20": SURFACE}),
        TypeError,
        r"got a dict of 1 Surface objects\. Pass one of them, e\.g\. surface\['plain20'\]",
    ),
    (
        "surface from a list",
        lambda: landscape.Surface.from_dict([1]),
        TypeError,
        r"Surface\.from_dict takes the dict to_dict\(\) returns",
    ),
    (
        "surface from half a dict",
        lambda: landscape.Surface.from_dict({"alphas": [0.0]}),
        ValueError,
        r"lacks 'betas', 'loss', 'acc', 'seconds'",
    ),
    (
        "landscape results of a list",
        lambda: landscape.load_results(["plain20"]),
        TypeError,
        r"name must be a net's name such as 'plain20'",
    ),
    (
        "landscape path depth 32",
        lambda: landscape.experiment_path("plain32", 32, 21, 1.0, 250, (1, 2)),
        ValueError,
        r"depth must be one of the study's depths \(20, 56\), got 32",
    ),
    (
        "landscape path one seed",
        lambda: landscape.experiment_path("plain20", 20, 21, 1.0, 500, 1),
        ValueError,
        r"seeds must be two direction seeds",
    ),
    (
        "landscape nets a list of lists",
        lambda: landscape.run_experiment([["plain20"]]),
        ValueError,
        r"unknown nets \[\['plain20'\]\]",
    ),
    # --- landscape pictures ----------------------------------------------------------------------------
    (
        "lines one Line",
        lambda: landscape_plots.plot_lines(LINE),
        TypeError,
        r"lines must be a dict from each net's name to its Line.*got one Line\. For one alone, name it",
    ),
    (
        "lines a list of Lines",
        lambda: landscape_plots.plot_lines([LINE, LINE]),
        TypeError,
        r"got a list of 2 Line objects\. Name each one",
    ),
    (
        "lines of surfaces",
        lambda: landscape_plots.plot_lines({"plain20": SURFACE}),
        TypeError,
        r"lines\['plain20'\] is a Surface, not a Line",
    ),
    ("lines empty", lambda: landscape_plots.plot_lines({}), ValueError, r"lines is empty"),
    (
        "lines ylim a number",
        lambda: landscape_plots.plot_lines({"a": LINE}, ylim=5),
        TypeError,
        r"ylim must be a pair \(bottom, top\)",
    ),
    (
        "contour a dict of surfaces",
        lambda: landscape_plots.plot_contour({"plain20": SURFACE}),
        TypeError,
        r"Pass one of them, e\.g\. surface\['plain20'\]",
    ),
    ("contour cap -1", lambda: landscape_plots.plot_contour(SURFACE, cap=-1), ValueError, r"cap must be a number > 0"),
    (
        "landscape grid one row unwrapped",
        lambda: landscape_plots.plot_landscape_grid({"plain20": SURFACE}, ["plain20"]),
        TypeError,
        r"names\[0\] is the string 'plain20'\. For one row, write \[\['plain20'\]\]",
    ),
    (
        "landscape grid unknown name",
        lambda: landscape_plots.plot_landscape_grid({"plain20": SURFACE}, [["resnet20"]]),
        ValueError,
        r"names holds 'resnet20', which surfaces lacks; surfaces has \['plain20'\]",
    ),
    (
        "landscape grid surfaces a list",
        lambda: landscape_plots.plot_landscape_grid([SURFACE], [["plain20"]]),
        TypeError,
        r"surfaces must be a dict from each net's name to its Surface.*got a list of 1 Surface objects",
    ),
    (
        "landscape grid ragged rows",
        lambda: landscape_plots.plot_landscape_grid({"a": SURFACE, "b": SURFACE}, [["a", "b"], ["a"]]),
        ValueError,
        r"every row of names must hold the same number",
    ),
    # --- paths pictures --------------------------------------------------------------------------------
    (
        "path lengths one n",
        lambda: paths_plots.plot_path_length_distribution(9),
        TypeError,
        r"ns must be a list of block counts, one curve each, e\.g\. \(3, 9, 27\); got 9 \(int\) \(for one, write \[9\]\)",
    ),
    (
        "path lengths 2000 blocks",
        lambda: paths_plots.plot_path_length_distribution([3, 2000]),
        ValueError,
        r"ns\[1\] must be a whole number from 0 to 1000",
    ),
    (
        "single lesions baseline missing",
        lambda: paths_plots.plot_single_lesions({"plain20": [0.5]}, {"resnet20": 0.9}),
        ValueError,
        r"baselines has no entry for \['plain20'\]",
    ),
    (
        "single lesions baselines a list",
        lambda: paths_plots.plot_single_lesions({"plain20": [0.5]}, [0.9]),
        TypeError,
        r"baselines must be a dict from each net's name to its intact accuracy",
    ),
    (
        "single lesions one accuracy",
        lambda: paths_plots.plot_single_lesions({"plain20": 0.5}, {"plain20": 0.9}),
        TypeError,
        r"results\['plain20'\] must be one curve",
    ),
    (
        "random lesions one net's",
        lambda: paths_plots.plot_random_lesions(RandomLesions([0], [[0.5]])),
        TypeError,
        r"got one RandomLesions\. For one alone, name it",
    ),
    (
        "path gradients a dict",
        lambda: paths_plots.plot_path_gradients({"n": 2}),
        TypeError,
        r"pg must be a PathGradients \(as gradient_by_path_length returns\), got a dict of 1 item\.$",
    ),
    (
        "lesion bars intact missing",
        lambda: paths_plots.plot_lesion_accuracies({"a": 0.5}, {"b": 0.9}, 16, 1),
        ValueError,
        r"intact has no entry for \['a'\]",
    ),
    (
        "lesion bars n_images float",
        lambda: paths_plots.plot_lesion_accuracies({"a": 0.5}, {"a": 0.9}, 16.0, 1),
        ValueError,
        r"n_images must be a whole number",
    ),
    # --- notebooks compared, trained nets, the transformer ---------------------------------------------
    (
        "cell options a plain dict",
        lambda: _cell_options({"source": "x", "metadata": {}}),
        TypeError,
        r"cell must be a notebook cell .*Wrap a plain dict with nbformat\.from_dict\(cell\)",
    ),
    (
        "train_and_save images for data",
        lambda: trained_nets.train_and_save(20, True, X),
        TypeError,
        r"data must be what resblock\.data\.load_fashion_mnist\(\) returns",
    ),
    (
        "train_and_save config dict",
        lambda: trained_nets.train_and_save(20, True, FAKE_DATA, config={"epochs": 1}),
        TypeError,
        r"config must be a TrainConfig .*Pass TrainConfig\(\*\*\{'epochs': 1\}\)",
    ),
    (
        "load_or_train depth '56'",
        lambda: trained_nets.load_or_train("56", True),
        ValueError,
        r"depth must be a positive whole number",
    ),
    (
        "stream config dict",
        lambda: ResidualStream({"depth": 2}),
        TypeError,
        r"config must be a StreamConfig .*got a dict of 1 item\. Pass StreamConfig\(\*\*\{'depth': 2\}\)",
    ),
    (
        "stream config class",
        lambda: ResidualStream(StreamConfig),
        TypeError,
        r"got the class StreamConfig\. Build one first, e\.g\. StreamConfig\(\.\.\.\)",
    ),
    (
        "attention 0 heads",
        lambda: SelfAttention(8, 0),
        ValueError,
        r"heads must be a positive whole number \(attention heads\), got 0",
    ),
    ("mlp width float", lambda: MLP(8.0), ValueError, r"width must be a positive whole number"),
    (
        "residual branch a name",
        lambda: Residual("mlp", 8),
        TypeError,
        r"f must be a Module \(the branch, e\.g\. MLP\(width\)\), got the string 'mlp'",
    ),
    (
        "branch layers of a ResNet",
        lambda: branch_output_layers(tiny_net()),
        TypeError,
        r"model must be a ResidualStream .*got a ResNet",
    ),
]


def style_new_axes_grid(nrows, ncols):
    from resblock.style import new_axes_grid

    return new_axes_grid(nrows, ncols, (4.0, 2.0))


@pytest.mark.parametrize("call, error, pattern", [pytest.param(c, e, p, id=i) for i, c, e, p in WRONG_KINDS])
def test_the_wrong_kind_of_input_is_named_before_any_figure(call, error, pattern, figures):
    with pytest.raises(error, match=pattern) as info:
        call()
    assert "weights_only=False" not in str(info.value)
    assert figures.new() == set()  # refused at the top: no half-drawn figure left open


def test_a_wrong_kind_is_a_type_error_that_value_error_handlers_still_catch(capsys):
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    with pytest.raises(ValueError, match="got one Line"):  # what a notebook's `except ValueError` sees
        landscape_plots.plot_lines(LINE)
    # The commands print the package's ValueErrors in one line, exit 2: ArgumentTypeError is one of them.
    experiments.EXPERIMENTS["_probe"] = (lambda parser: None, lambda args: landscape.local_minima(LINE))
    try:
        assert experiments.main(["_probe"]) == 2
    finally:
        del experiments.EXPERIMENTS["_probe"]
    err = capsys.readouterr().err
    assert "got a Line" in err and "Traceback" not in err and err.count("\n") == 1


def test_the_right_kinds_still_draw_as_before(figures):
    # A 2-D array of Axes (plt.subplots(..., squeeze=False)) fits the two panels as a 1-D one does.
    grid = Figure().subplots(1, 2, squeeze=False)
    h = History(loss=[2.0, 1.0], eval_step=[2], eval_epoch=[1.0], train_loss=[1.5], train_acc=[0.5])
    h.test_loss, h.test_acc = [1.2], [0.6]
    assert plot_history(h, axes=grid) is grid
    assert grid[0, 1].get_title() == "accuracy (test: 0.600)" and len(grid[0, 0].get_lines()) == 3
    # A 0-d tensor for a baseline (a loss without .item()) is the number it holds.
    fit_ax = plot_identity_fit({"plain stack": [1.0, 0.5]}, baseline=torch.tensor(0.25))
    assert "predict the mean (0.25)" in [t.get_text() for t in fit_ax.get_legend().get_texts()]
    # numpy seeds name the committed file as Python ints do; a TrainResult is a run for plot_losses.
    path, committed = experiments.degradation_results_path(degradation.FULL, np.arange(3), degradation.NETS, "full")
    assert path.name == "degradation.json" and committed
    result = _fit()
    ax = variants_plots.plot_losses({"tiny": result, "summary": SUMMARY}, window=1)
    assert [line.get_label() for line in ax.get_lines()] == [f"tiny ({result.test_acc:.0%})", "summary (50%)"]
    assert list(ax.get_lines()[1].get_ydata()) == [2.0, 1.0]  # window 1: the losses themselves
    # the caller's Axes, 3-D where a surface goes, is drawn on and handed back
    ax3d = Figure().add_subplot(projection="3d")
    assert landscape_plots.plot_surface3d(SURFACE, ax=ax3d) is ax3d
    # Curves keyed by number (a depth each) are labelled by it, as a legend shows any key.
    depth_ax = variants_plots.plot_profiles({20: [1.0, 2.0], 56: [1.0, 3.0]})
    assert [line.get_label() for line in depth_ax.get_lines()] == ["20", "56"]
    assert figures.new() == {fit_ax.figure.number, ax.figure.number, depth_ax.figure.number}  # their own, only


# --- lost work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["live_plot", "should_stop"])
def test_a_callback_error_keeps_model_and_history(where):
    calls = []

    def broken(*args):
        calls.append(1)
        if len(calls) == 3:  # after two steps: the first has lr 0 (the warm-up starts there)
            raise ZeroDivisionError("in the learner's callback")
        return False

    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TrainingError, match="ZeroDivisionError: in the learner's callback") as info:
        fit(model, X, Y, TrainConfig(epochs=3, batch_size=8), progress=False, **{where: broken})
    err = info.value
    assert err.model is model and err.history.steps >= 1 and len(err.history.loss) == err.history.steps
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the training is there
    assert isinstance(err.__cause__, ZeroDivisionError)


def test_a_bad_test_set_fails_before_any_step():
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    for test in [(X.double(), Y), (torch.randn(4, 3, 8, 8), Y[:4])]:
        with pytest.raises(ValueError, match="test images"):
            fit(model, X, Y, QUICK, test=test, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not one step taken


def _saved(tmp_path, name="ck.pt"):
    model = tiny_net()
    return save_checkpoint(tmp_path / name, model, None, History(), QUICK), model


def test_an_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path, model = _saved(tmp_path)
    good = path.read_bytes()

    def interrupted_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, None, History(), QUICK)
    assert path.read_bytes() == good and load_checkpoint(path).model is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary file left behind


def test_tilde_means_home_not_a_folder_named_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = save_checkpoint("~/ck.pt", tiny_net(), None, History(), QUICK)
    assert path == tmp_path / "home" / "ck.pt" and path.is_file() and not (tmp_path / "~").exists()
    assert load_checkpoint("~/ck.pt").model is not None


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "is empty"),
        (None, "truncated"),  # the first half of a real checkpoint
        (os.urandom(3000), "not a readable PyTorch file"),
        (b"just some text\n", "not a readable PyTorch file"),
        ("model", "holds Python objects"),  # torch.save(model): a whole pickled model
        ({"a": 1}, "not a checkpoint written by"),
    ],
)
def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path, content, words):
    bad = tmp_path / "bad.pt"
    if content is None:
        path, _ = _saved(tmp_path)
        bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "model":
        torch.save(tiny_net(), bad)
    elif isinstance(content, dict):
        torch.save(content, bad)
    else:
        bad.write_bytes(content)
    with pytest.raises(checkpoints.CheckpointError) as info:
        load_checkpoint(bad)
    assert words in str(info.value) and "weights_only=False" not in str(info.value)


def test_unwritable_checkpoint_target_is_explained(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(checkpoints.CheckpointError, match="cannot write a checkpoint"):
        save_checkpoint(tmp_path / "a_file" / "ck.pt", tiny_net(), None, History(), QUICK)
    if not IS_ROOT:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(checkpoints.CheckpointError, match="cannot write a checkpoint"):
            save_checkpoint(locked / "ck.pt", tiny_net(), None, History(), QUICK)


def test_checkpoint_of_another_model_is_rebuilt_or_refused(tmp_path):
    mlp = DeepMLP(MLPConfig(depth=2, width=4))
    path = save_checkpoint(tmp_path / "mlp.pt", mlp, None, History(), QUICK)
    assert isinstance(load_checkpoint(path).model, DeepMLP)  # rebuilt, not None
    linear = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "linear.pt", linear, None, History(), QUICK)
    with pytest.raises(checkpoints.CheckpointError, match="pass it to be filled|model=Linear"):
        load_checkpoint(path)
    assert torch.equal(load_checkpoint(path, model=nn.Linear(3, 2)).model.weight, linear.weight)
    with pytest.raises(checkpoints.CheckpointError, match="do not fit"):
        load_checkpoint(path, model=nn.Linear(4, 2))


def test_a_checkpoint_is_not_loaded_into_a_model_built_another_way(tmp_path):
    # The tiny ResNet's max-pooled stem has no weights: without it the same weights load and compute
    # something else. A setting that only chose the starting weights does not matter.
    pooled = ResNet(ResNetConfig(depth=8, widths=(2, 2, 2), stem_pool=True))
    path = save_checkpoint(tmp_path / "tiny.pt", pooled, None, History(), QUICK)
    with pytest.raises(checkpoints.CheckpointError, match=r"stem_pool=True \(yours: False\).*model=None"):
        load_checkpoint(path, model=ResNet(ResNetConfig(depth=8, widths=(2, 2, 2))))
    same = ResNet(ResNetConfig(depth=8, widths=(2, 2, 2), stem_pool=True, zero_init_residual=True))
    loaded = load_checkpoint(path, model=same).model
    # Exactly equal: both in the layout fit would train a net this narrow in (NCHW), the same kernels.
    assert torch.equal(loaded(X), pooled.eval()(X))


def test_a_loaded_checkpoint_takes_the_layout_fit_gives_that_net(tmp_path):
    # fit keeps nets with convolutions under 8 channels in NCHW (torch's channels-last kernels crashed
    # there); loading must not put them in channels-last, and a net wide enough does go there.
    for widths, channels_last in (((2, 2, 2), False), ((8, 8, 8), True)):
        path = save_checkpoint(
            tmp_path / f"w{widths[0]}.pt", ResNet(ResNetConfig(depth=8, widths=widths)), None, History(), QUICK
        )
        weight = load_checkpoint(path).model.layer1[0].conv1.weight  # (w, w, 3, 3): the two layouts differ
        assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert weight.is_contiguous() == (not channels_last)


@pytest.mark.parametrize(
    "plot, one_curve",
    [
        ("gradients_plots.plot_grad_norms", {"conv1.weight": 1.0, "fc.weight": 2.0}),  # grad_norms_per_layer's output
        ("gradients_plots.plot_layer_values", [1.0, 2.0]),
        ("identity_fit_plots.plot_identity_fit", [1.0, 0.5]),
        ("variants_plots.plot_profiles", [1.0, 2.0]),
    ],
)
def test_one_curve_where_named_curves_go_says_to_name_it(plot, one_curve, figures):
    import importlib

    module, name = plot.split(".")
    fn = getattr(importlib.import_module(f"resblock.{module}"), name)
    if name == "plot_grad_norms":  # a dict too, but of floats: one profile, not {label: profile}
        with pytest.raises(ValueError, match=r"profiles\['conv1.weight'\] is a float, not a profile.*name it"):
            fn(one_curve)
        one_curve = list(one_curve.values())
    with pytest.raises(ValueError, match=r"must be a dict of named curves, e\.g\. .*name it: \{'my net': values\}"):
        fn(one_curve)
    assert figures.new() == set()  # refused before a figure was opened


def test_int32_and_uint8_labels_work_wherever_int64_do():
    # The label dtypes check_data accepts; cross_entropy itself takes int64 only.
    want = grad_norms_per_layer(tiny_net(), X, Y)
    for dtype in (torch.int32, torch.uint8):
        assert grad_norms_per_layer(tiny_net(), X, Y.to(dtype)) == want
        assert landscape.loss_at(tiny_net(), [], X, Y.to(dtype)) == landscape.loss_at(tiny_net(), [], X, Y)
    explorer = gradflow_explorer(IMAGES_28, LABELS_28.int(), depth=4)
    explorer.redraw()
    assert explorer.n_redraws >= 1 and not explorer.note.startswith("could not draw"), explorer.note


def test_label_tensors_as_titles_read_as_numbers(figures):
    axes = plot_image_grid(X[:2], list(Y[:2]), ncols=2)  # titles straight from the labels tensor
    assert [ax.get_title() for ax in axes.flat] == ["0", "1"]  # not "tensor(0)"


def test_a_numpy_confusion_matrix_is_drawn_like_a_tensor(figures):
    counts = np.diag([5, 3]) + 1
    ax = plot_confusion_matrix(counts, ["a", "b"])
    assert figures.own_new_figure(ax)
    assert [t.get_text() for t in ax.texts][:2] == ["6", "1"]  # the counts in the cells, as for a tensor


def test_a_diverged_model_or_a_whole_result_is_named_where_a_model_goes(tmp_path):
    from resblock.evaluation_plots import plot_history

    result = _fit()
    for call in (lambda: evaluate(result, X, Y), lambda: predict(result, X), lambda: _fit(model=result)):
        with pytest.raises(ValueError, match=r"a TrainResult\); pass its model, `result.model`"):
            call()
    with pytest.raises(checkpoints.CheckpointError, match="result.model"):
        save_checkpoint(tmp_path / "r.pt", result, None, History(), QUICK)
    with pytest.raises(ValueError, match="pass its history, `result.history`"):
        plot_history(result)
    broken = tiny_net()
    with torch.no_grad():
        broken.fc.weight[0, 0] = NAN  # what a run that diverged leaves behind
    for call in (lambda: evaluate(broken, X, Y), lambda: predict(broken, X), lambda: _fit(model=broken)):
        with pytest.raises(ValueError, match="weights hold 1 non-finite values.*Build a fresh model"):
            call()


# --- data: a named folder is used or refused, files are described as what they are -----------------


@pytest.fixture
def no_defaults(monkeypatch, tmp_path):
    """A real system copy may exist here: point the defaults away so that nothing can fall back to it."""
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RESBLOCK_DATA", raising=False)


def _idx_gz(folder: Path, content: dict[str, bytes] | None = None) -> Path:
    """Four tiny idx .gz files (3 images of 28x28), with ``content`` replacing some files' bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    images = b"\x00\x00\x08\x03" + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(3 * 784)
    labels = b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes(3)
    for name in data.FILES:
        raw = gzip.compress(images if "images" in name else labels)
        (folder / name).write_bytes((content or {}).get(name, raw))
    return folder


def test_named_folders_are_never_passed_over(tmp_path, monkeypatch):
    # Whatever holds the data elsewhere, a folder the learner named that lacks it is an error.
    monkeypatch.setattr(data, "find_data", lambda root=None: pytest.fail("fell back to another copy"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetNotFoundError, match="missing: train-images"):
        data.load_fashion_mnist(tmp_path / "empty")
    monkeypatch.setenv("RESBLOCK_DATA", str(tmp_path / "missing"))
    with pytest.raises(data.DatasetNotFoundError, match=r"\$RESBLOCK_DATA\) does not exist"):
        data.load_fashion_mnist()
    monkeypatch.setenv("RESBLOCK_DATA", str(tmp_path / "empty"))
    with pytest.raises(data.DatasetNotFoundError, match="unset RESBLOCK_DATA"):
        data.load_fashion_mnist()


def test_a_folder_near_the_files_says_where_they_are(tmp_path, no_defaults):
    # torchvision keeps its download in FashionMNIST/raw, .gz files and unzipped copies side by side
    _idx_gz(tmp_path / "tv" / "FashionMNIST" / "raw")
    with pytest.raises(data.DatasetNotFoundError, match=r"They are in .*FashionMNIST/raw: name that folder instead"):
        data.load_fashion_mnist(tmp_path / "tv")
    unzipped = tmp_path / "unzipped"
    unzipped.mkdir()
    for name in data.FILES:
        (unzipped / name.removesuffix(".gz")).write_bytes(b"idx")
    with pytest.raises(data.DatasetNotFoundError, match=r"uncompressed; .*gzip .*-ubyte"):
        data.load_fashion_mnist(unzipped)


def test_the_ways_to_get_the_data_fit_a_named_folder(tmp_path, monkeypatch, no_defaults):
    """Installing or downloading fills the usual places, which a named folder keeps from being searched."""
    usual = data.how_to_get_data()
    assert "apt-get install dataset-fashion-mnist." in usual and "set RESBLOCK_DATA to it" in usual
    passed = data.how_to_get_data(tmp_path / "mine")
    assert "then load it without naming a folder" in passed and f"into {tmp_path / 'mine'}" in passed
    monkeypatch.setenv("RESBLOCK_DATA", str(tmp_path / "mine"))
    named = data.how_to_get_data()
    assert "dataset-fashion-mnist, then unset RESBLOCK_DATA" in named
    assert "unset RESBLOCK_DATA; then resblock.data.load_fashion_mnist(download=True)" in named


def test_a_bad_file_in_debians_copy_is_reinstalled_not_deleted(tmp_path, monkeypatch):
    folder = _idx_gz(tmp_path / "debian", {"train-images-idx3-ubyte.gz": b"<html>"})
    monkeypatch.setattr(data, "DEBIAN_DIR", folder)
    monkeypatch.delenv("RESBLOCK_DATA", raising=False)
    with pytest.raises(data.DatasetCorruptError, match="apt-get install --reinstall dataset-fashion-mnist") as info:
        data.load_fashion_mnist(download=False)
    assert "Delete it" not in str(info.value)


def test_a_gz_that_is_not_gzip_is_not_called_truncated(tmp_path):
    folder = _idx_gz(tmp_path / "fm", {"train-images-idx3-ubyte.gz": b"<html>404 Not Found</html>"})
    with pytest.raises(data.DatasetCorruptError, match="is not a gzip file") as info:
        data.load_fashion_mnist(folder)
    assert "truncated" not in str(info.value)


def test_a_cut_gzip_is_called_truncated(tmp_path):
    raw = gzip.compress(bytes(5000) + os.urandom(5000))
    folder = _idx_gz(tmp_path / "fm", {"train-images-idx3-ubyte.gz": raw[: len(raw) // 2]})  # the first file read
    with pytest.raises(data.DatasetCorruptError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_fashion_mnist(folder)


def test_tiny_files_that_parse_fail_only_on_the_checksum(tmp_path):
    with pytest.raises(data.DatasetCorruptError, match="SHA-256"):
        data.load_fashion_mnist(_idx_gz(tmp_path / "fm"))


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_an_unreadable_file_is_a_permission_problem(tmp_path):
    folder = _idx_gz(tmp_path / "fm")
    (folder / "train-images-idx3-ubyte.gz").chmod(0)
    with pytest.raises(PermissionError, match="permission denied") as info:
        data.load_fashion_mnist(folder)
    assert "truncated" not in str(info.value) and "delete" not in str(info.value)


def test_no_writable_cache_is_explained_before_any_download(tmp_path, monkeypatch, no_defaults):
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a_file"))
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(data.DatasetNotFoundError, match="Cannot save the download.*XDG_CACHE_HOME"):
        data.load_fashion_mnist(download=True)


# --- the commands: one line and exit status 2, and no committed file replaced ------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["degradation", "--epochs", "nan"], "epochs"),
        (["degradation", "--pool", "3"], "pool must be 1"),
        (["degradation", "--seeds", "-1"], "--seeds must be whole numbers >= 0"),
        (["degradation", "--nets", "plain21"], "6n + 2"),
        (["degradation", "--width", "0"], "widths"),
        (["degradation", "--lr", "inf"], "lr"),
        (["degradation", "--device", "mps"], "mps"),
        (["degradation", "--merge", "/no/such/file.json"], "no results file"),
        (["landscape", "--span", "nan"], "finite"),
        (["landscape", "--span", "-1"], "span"),
        (["landscape", "--grid", "2"], "3 to 101"),
        (["landscape", "--subset", "0"], "subset"),
        (["landscape", "--nets", "resnet21"], "unknown nets"),
        (["landscape-nets", "--nets", "foo"], "unknown nets"),
    ],
)
def test_command_mistakes_print_one_line_and_exit_2(argv, words, capsys):
    assert experiments.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["degradation", "--seeds", "x"], ["nonsense"], ["landscape", "--grid", "1.5"]])
def test_argparse_mistakes_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        experiments.main(argv)
    assert info.value.code == 2


def test_bench_rejects_an_unknown_benchmark():
    from resblock.bench import main as bench_main

    with pytest.raises(SystemExit) as info:
        bench_main(["--only", "no_such_benchmark"])
    assert info.value.code == 2


def test_the_command_line_shows_no_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "resblock.experiments", "landscape", "--span", "nan"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().endswith("got nan.") and run.stderr.count("\n") == 1


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """A results folder holding 'committed' files, and tiny synthetic data instead of Fashion-MNIST."""
    folder = tmp_path / "results"
    (folder / "nets").mkdir(parents=True)
    for name in ("degradation.json", "degradation_live.json", "landscape_plain20.json", "nets/plain20.pt"):
        (folder / name).write_text("committed")
    monkeypatch.setattr(files, "RESULTS_DIR", folder)
    monkeypatch.setattr(trained_nets, "NETS_DIR", folder / "nets")
    g = torch.Generator().manual_seed(0)
    fake = SimpleNamespace(
        train_images=torch.randn(96, 1, 28, 28, generator=g),
        train_labels=torch.arange(96) % 10,
        test_images=torch.randn(32, 1, 28, 28, generator=g),
        test_labels=torch.arange(32) % 10,
    )
    monkeypatch.setattr(data, "load_fashion_mnist", lambda *a, **k: fake)
    return folder


TRIAL = [
    "degradation",
    "--preset",
    "live",
    "--subset",
    "64",
    "--epochs",
    "0.5",
    "--width",
    "2",
    "--nets",
    "plain20",
    "--seeds",
    "0",
    "--device",
    "cpu",
]


def test_a_trial_recipe_never_lands_on_the_committed_results(results_dir, capsys):
    assert experiments.main(TRIAL) == 0
    out = capsys.readouterr().out
    trial = results_dir / "degradation_live_widths2-4-8_subset64_epochs0.5_seeds0_plain20.json"
    assert trial.is_file() and f"results go to {trial}" in out
    assert degradation.load_results(trial)["config"]["subset"] == 64
    for name in ("degradation.json", "degradation_live.json"):
        assert (results_dir / name).read_text() == "committed"
    assert experiments.main(TRIAL) == 2  # the trial's own file is not replaced silently either
    assert "pass --force" in capsys.readouterr().err
    assert experiments.main([*TRIAL, "--force"]) == 0
    assert "--force: replacing" in capsys.readouterr().out


def test_the_committed_recipe_replaces_the_committed_file_only_with_force(results_dir, capsys):
    for argv in (
        ["degradation"],
        ["degradation", "--preset", "live"],
        ["landscape", "--nets", "plain20"],
        ["landscape-nets", "--nets", "plain20"],
        ["degradation", "--out", str(results_dir / "degradation.json"), "--epochs", "0.1"],
    ):
        assert experiments.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "exist" in err and "--force" in err and "committed" in err or "checkpoints" in err
    assert all(p.read_text() == "committed" for p in results_dir.rglob("*") if p.is_file())


def test_default_paths_follow_the_recipe():
    path, committed = experiments.degradation_results_path(degradation.FULL, [0, 1, 2], degradation.NETS, "full")
    assert path.name == "degradation.json" and committed
    path, committed = experiments.degradation_results_path(degradation.FULL, [0], degradation.NETS, "full")
    assert path.name == "degradation_seeds0.json" and not committed
    path, committed = landscape.experiment_path("plain56", 56, 21, 1.0, 250, (1, 2))
    assert path.name == "landscape_plain56.json" and committed
    path, committed = landscape.experiment_path("plain56", 56, 21, 1.0, 500, (1, 2))
    assert path.name == "landscape_plain56_grid21_span1_subset500_seeds1-2.json" and not committed


def test_an_unwritable_output_folder_is_refused_before_the_work(results_dir, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    assert experiments.main([*TRIAL, "--out", str(tmp_path / "a_file" / "r.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "4", None])
def test_check_positive_int_names_the_argument(value):
    from resblock.checks import check_positive_int

    with pytest.raises(ValueError, match="depth must be a positive whole number"):
        check_positive_int("depth", value)
    assert check_positive_int("depth", np.int64(3)) == 3 and type(check_positive_int("depth", np.int64(3))) is int


def test_an_answer_or_argument_that_is_a_whole_tensor_is_described_not_printed():
    from resblock.checks import short_repr
    from resblock.exercises import Mistake, whole_number

    big = torch.zeros(50, 50)
    assert short_repr(big) == "a Tensor of shape (50, 50)" and short_repr(np.zeros(3)) == "a NumPy array of shape (3,)"
    assert short_repr(torch.tensor(3.0)) == "tensor(3.)"  # a 0-d tensor is one number: shown
    long = short_repr(list(range(1000)))
    assert len(long) <= 80 and long.startswith("[0, 1, 2") and long.endswith(" ...]")
    assert short_repr({"a": 1}) == "{'a': 1}"
    with pytest.raises(Mistake, match=r"should be a whole number, got a Tensor of shape \(50, 50\)\.$") as caught:
        whole_number(big)
    assert len(str(caught.value)) < 100
    with pytest.raises(Mistake, match=r"got the string 'fourteen'"):
        whole_number("fourteen")
    with pytest.raises(
        ValueError, match=r"widths must be three positive channel counts.*got a Tensor of shape \(64,\)"
    ):
        ResNetConfig(widths=torch.ones(64))
