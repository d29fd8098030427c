"""Fashion-MNIST as in-memory tensors (Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747; MIT licence).

Where the files are looked for, in order:
1. an explicit ``root`` argument, or the ``RESBLOCK_DATA`` environment variable: a folder named so is
   the only one used (one that does not hold the files is an error, not a reason to look elsewhere);
2. ``/usr/share/datasets/fashion-mnist/`` (Debian's package ``dataset-fashion-mnist``);
3. a user cache, ``$XDG_CACHE_HOME/resblock/fashion-mnist`` (``~/.cache/...``),
   which is filled by a download (checked against SHA-256 sums) when the network is there.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the *decompressed* idx files. The .gz files differ between sources (Debian
# recompressed them), but what they decompress to is the same bytes everywhere.
FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# Per-pixel statistics of the training set after scaling to [0, 1].
MEAN, STD = 0.2860, 0.3530


class DatasetNotFoundError(FileNotFoundError):
    """No copy of Fashion-MNIST was found and none could be downloaded."""


class DatasetCorruptError(ValueError):
    """A Fashion-MNIST file exists but is truncated, corrupt or not the expected file."""


@dataclass
class FashionMNIST:
    """The 60k/10k split as normalised float tensors of shape (N, 1, 28, 28) and int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path
    classes: tuple[str, ...] = CLASSES

    def __repr__(self) -> str:
        # No path here: the same data gives the same text on every machine (nbval compares it).
        return f"FashionMNIST(train={tuple(self.train_images.shape)}, test={tuple(self.test_images.shape)})"


def cache_dir() -> Path:
    """The user cache that downloads go to."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "resblock" / "fashion-mnist"


def _explicit_dir(root: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """The folder the learner named (``root``, else $RESBLOCK_DATA) and how it was named, or None."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(
                f"root must be a folder path (a str or pathlib.Path) or None, got {type(root).__name__} {root!r}."
            )
        if str(root).strip():
            return Path(root).expanduser(), "the folder you passed"
    env = os.environ.get("RESBLOCK_DATA", "").strip()
    return (Path(env).expanduser(), "$RESBLOCK_DATA") if env else None


def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order: only the named one when a folder is named (root or $RESBLOCK_DATA)."""
    explicit = _explicit_dir(root)
    return [explicit[0]] if explicit else [DEBIAN_DIR, cache_dir()]


def find_data(root: str | os.PathLike | None = None) -> Path | None:
    """The first folder that holds all four files, or None."""
    for d in candidate_dirs(root):
        if all((d / name).is_file() for name in FILES):
            return d
    return None


def _found_nearby(folder: Path, missing: list[str]) -> str:
    """Where the files are instead, when a learner named a folder near them (torchvision's layout, or unzipped copies)."""
    for sub in ("raw", "FashionMNIST/raw", "fashion-mnist", "data"):  # torchvision downloads into FashionMNIST/raw
        if all((folder / sub / n).is_file() for n in missing):
            return f" They are in {folder / sub}: name that folder instead."
    unzipped = [n for n in missing if (folder / n.removesuffix(".gz")).is_file()]
    if unzipped:
        return (
            f" It holds {', '.join(n.removesuffix('.gz') for n in unzipped)} uncompressed; the course reads the .gz "
            f"files: compress them with `gzip {shlex.quote(str(folder))}/*-ubyte`."
        )
    return ""


def how_to_get_data(root: str | os.PathLike | None = None) -> str:
    """The message a learner sees when the data is missing: the three ways to get it."""
    searched = "\n".join(f"  - {d}" for d in candidate_dirs(root))
    explicit = _explicit_dir(root)
    # 1 and 2 fill the usual places, which a named folder keeps from being searched.
    then = first = call = ""
    if explicit is not None and explicit[1].startswith("the folder"):
        then, call = ", then load it without naming a folder", ", without a folder,"
    elif explicit is not None:
        then, first = ", then unset RESBLOCK_DATA", "unset RESBLOCK_DATA; then "
    into = f"into {explicit[0]}" if explicit else "into a folder and set RESBLOCK_DATA to it"
    return (
        "Fashion-MNIST was not found. Looked in:\n"
        f"{searched}\n"
        "Get it in one of three ways:\n"
        f"  1. On Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist{then}.\n"
        f"  2. With a network: {first}resblock.data.load_fashion_mnist(download=True){call} saves the files\n"
        f"     to {cache_dir()} and checks their SHA-256 sums.\n"
        "  3. Offline: copy the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
        "     t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (from\n"
        f"     https://github.com/zalandoresearch/fashion-mnist) {into}."
    )


def download_files(dest: Path | None = None, url: str = URL, timeout: float = 30.0) -> Path:
    """Download the four files into ``dest`` (default: the user cache), verifying each checksum."""
    dest = Path(dest).expanduser() if dest is not None else cache_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=dest, suffix=".part")  # can we write there at all?
        probe.close()
    except OSError as e:
        raise DatasetNotFoundError(
            f"Cannot save the download to {dest}: {e.strerror or e}. Point XDG_CACHE_HOME at a folder you can "
            f"write to (the files go to $XDG_CACHE_HOME/resblock/fashion-mnist), or get the data another way.\n\n"
            + how_to_get_data()
        ) from e
    for name in FILES:
        target = dest / name
        if target.is_file():
            continue
        with tempfile.NamedTemporaryFile(dir=dest, delete=False, suffix=".part") as tmp:
            try:
                with urllib.request.urlopen(url + name, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
            except (urllib.error.URLError, OSError) as e:
                tmp.close()
                os.unlink(tmp.name)
                raise DatasetNotFoundError(f"Could not download {url + name}: {e}.\n\n{how_to_get_data()}") from e
        try:
            _read_verified(
                Path(tmp.name),
                expected_name=name,
                shown=f"The download of {url + name}",
                fix="Nothing was saved: try again later, or get the data another way "
                "(see resblock.data.how_to_get_data()).",
            )
        except DatasetCorruptError:
            os.unlink(tmp.name)
            raise
        os.replace(tmp.name, target)  # only a verified file ever gets the real name
    return dest


def _read_verified(
    path: Path, expected_name: str | None = None, shown: str | None = None, fix: str | None = None
) -> bytes:
    """Decompress one file and check its SHA-256; raise DatasetCorruptError naming the file (or ``shown``) if not."""
    name = expected_name or path.name
    shown = shown or str(path)
    if fix is None:
        fix = (
            "Reinstall Debian's copy: sudo apt-get install --reinstall dataset-fashion-mnist."
            if path.parent == DEBIAN_DIR
            else "Delete it and get the data again (see resblock.data.how_to_get_data())."
        )
    try:
        compressed = path.read_bytes()
    except PermissionError as e:
        raise PermissionError(
            f"Cannot read {path}: permission denied. The file may be fine: make it readable "
            f"(chmod a+r {path}) or copy the four files to a folder of yours and set RESBLOCK_DATA to it."
        ) from e
    if compressed[:2] != b"\x1f\x8b":  # gzip's magic number
        raise DatasetCorruptError(
            f"{shown} is not a gzip file (it starts with {compressed[:8]!r}; perhaps an error page saved by a "
            f"download, or an uncompressed copy under the .gz name). {fix}"
        )
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetCorruptError(f"{shown} is not a complete gzip file ({e}): it is probably truncated. {fix}") from e
    digest = hashlib.sha256(raw).hexdigest()
    if digest != FILES[name]:
        raise DatasetCorruptError(
            f"{shown} does not match the published Fashion-MNIST file {name}: its SHA-256 is {digest}, "
            f"expected {FILES[name]}. {fix}"
        )
    return raw


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """Parse an idx1/idx3 unsigned-byte file (http://yann.lecun.com/exdb/mnist/, "file formats")."""
    if len(raw) < 8 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DatasetCorruptError(f"{path} is not an idx file of unsigned bytes.")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetCorruptError(f"{path} holds {data.size} values, its header promises {dims}.")
    return data.reshape(dims)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then standardised."""
    if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8:
        raise ValueError(  # normalising twice would silently give images far from mean 0, std 1
            f"normalize takes the raw uint8 images, got {getattr(images_uint8, 'dtype', type(images_uint8).__name__)}; "
            "load_fashion_mnist() already returns normalised float images."
        )
    if not (images_uint8.dim() == 3 or (images_uint8.dim() == 4 and images_uint8.shape[1] == 1)):
        raise ValueError(
            f"normalize takes grey images of shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(images_uint8.shape)}."
        )
    x = images_uint8.to(torch.float32)
    x.mul_(1.0 / (255.0 * STD)).sub_(MEAN / STD)  # in place: a third of the time of (x/255 - m)/s
    return x if x.dim() == 4 else x.unsqueeze(1)


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> FashionMNIST:
    """Find (or, with a network, download) Fashion-MNIST and return it as tensors."""
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}.")
    explicit = _explicit_dir(root)
    if explicit is not None:  # a folder the learner named is used or refused, never silently passed over
        folder, how = explicit
        alone = (
            " A folder you name is the only one searched: "
            + ("pass none" if how.startswith("the folder") else "unset RESBLOCK_DATA")
            + " to search the usual places."
        )
        if not folder.exists():
            raise DatasetNotFoundError(
                f"{folder} ({how}) does not exist; check the path.{alone}\n\n" + how_to_get_data(root)
            )
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"{folder} ({how}) is a file; name the folder that holds the four .gz files."
                f"{alone}\n\n" + how_to_get_data(root)
            )
        missing = [n for n in FILES if not (folder / n).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"{folder} ({how}) does not hold the Fashion-MNIST files (missing: {', '.join(missing)})."
                f"{_found_nearby(folder, missing)}{alone}\n\n" + how_to_get_data(root)
            )
    else:
        folder = find_data()
        if folder is None:
            if not download:
                raise DatasetNotFoundError(how_to_get_data())
            folder = download_files()
    arrays = {}
    for name in FILES:
        path = folder / name
        arrays[name] = _parse_idx(_read_verified(path), path)
    return FashionMNIST(
        train_images=normalize(torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].copy())),
        train_labels=torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64)),
        test_images=normalize(torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"].copy())),
        test_labels=torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64)),
        source=folder,
    )
