"""Fashion-MNIST loading: real files, corrupt files, missing files and the checked download."""

import functools
import gzip
import http.server
import shutil
import threading
import urllib.error
from pathlib import Path

import pytest
import torch

from resblock import data

pytestmark = pytest.mark.skipif(data.find_data() is None, reason=data.how_to_get_data())


@pytest.fixture(scope="module")
def real_dir() -> Path:
    return data.find_data()


@pytest.fixture
def no_defaults(monkeypatch, tmp_path):
    """Hide Debian's copy, the user cache and RESBLOCK_DATA, so only what a test supplies is found."""
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RESBLOCK_DATA", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def real_ds(real_dir) -> data.FashionMNIST:
    return data.load_fashion_mnist(real_dir)  # a few seconds: loaded once for the tests that read it


def test_real_files_load_with_right_shapes_and_stats(real_ds):
    ds = real_ds
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.test_images.shape == (10000, 1, 28, 28)
    assert ds.train_images.dtype == torch.float32 and ds.train_labels.dtype == torch.int64
    assert torch.bincount(ds.train_labels).tolist() == [6000] * 10  # the published class balance
    assert abs(ds.train_images.mean().item()) < 0.01 and abs(ds.train_images.std().item() - 1) < 0.01
    assert len(ds.classes) == 10 and ds.classes[9] == "Ankle boot"


def test_env_variable_is_searched_first(real_dir, no_defaults, monkeypatch):
    monkeypatch.setenv("RESBLOCK_DATA", str(real_dir))
    assert data.find_data() == real_dir


def _copy(real_dir, dest):
    dest.mkdir()
    for name in data.FILES:
        shutil.copy(real_dir / name, dest / name)
    return dest


def test_truncated_file_names_the_file(real_dir, tmp_path):
    d = _copy(real_dir, tmp_path / "fm")
    f = d / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:100_000])
    with pytest.raises(data.DatasetCorruptError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_fashion_mnist(d)


def test_wrong_checksum_names_the_file(real_dir, tmp_path):
    d = _copy(real_dir, tmp_path / "fm")
    # A well-formed gzip whose content is another file's: only the checksum can tell.
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(10004)))
    with pytest.raises(data.DatasetCorruptError, match="t10k-labels-idx1-ubyte.gz.*SHA-256"):
        data.load_fashion_mnist(d)


def test_missing_directory_says_how_to_get_data(tmp_path, no_defaults):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_fashion_mnist(tmp_path / "nowhere", download=False)
    message = str(err.value)
    assert "nowhere" in message and "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message and "without naming a folder" in message  # a named folder is all it searches


def test_no_files_no_download_lists_three_ways(no_defaults):
    with pytest.raises(data.DatasetNotFoundError, match="three ways"):
        data.load_fashion_mnist(download=False)


@pytest.fixture
def file_server(real_dir, tmp_path):
    """Serve a folder over HTTP on loopback, standing in for the dataset's download site."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_and_fills_the_cache(real_dir, file_server, no_defaults):
    served, url = file_server
    for name in data.FILES:
        shutil.copy(real_dir / name, served / name)
    dest = data.download_files(url=url)
    assert dest == data.cache_dir() and data.find_data() == dest
    assert data.load_fashion_mnist().test_images.shape == (10000, 1, 28, 28)


def test_download_of_a_corrupt_file_keeps_nothing(real_dir, file_server, no_defaults):
    served, url = file_server
    for name in data.FILES:
        shutil.copy(real_dir / name, served / name)
    (served / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not fashion-mnist"))
    with pytest.raises(data.DatasetCorruptError, match="download of http.*train-labels-idx1-ubyte.gz") as info:
        data.download_files(url=url)
    assert "Nothing was saved" in str(info.value) and ".part" not in str(info.value)  # the temporary file is gone
    assert not (data.cache_dir() / "train-labels-idx1-ubyte.gz").exists()
    assert not list(data.cache_dir().glob("*.part"))


def test_no_network_gives_the_how_to_message(no_defaults):
    # Port 9 on loopback has no server: the same failure as no network.
    with pytest.raises(data.DatasetNotFoundError, match="three ways"):
        data.download_files(url="http://127.0.0.1:9/", timeout=2)


def test_normalize_takes_raw_images_with_or_without_the_channel_axis():
    raw = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    flat, with_axis = data.normalize(raw), data.normalize(raw.unsqueeze(1))
    assert flat.shape == with_axis.shape == (3, 1, 28, 28) and torch.equal(flat, with_axis)
    expected = (raw.float() / 255 - data.MEAN) / data.STD  # the oracle: the formula written out
    assert torch.allclose(flat[:, 0], expected, atol=1e-5)


def test_test_labels_are_the_test_files(real_ds, real_dir):
    # oracle: the t10k labels file parsed by hand (an 8-byte idx1 header, then one byte per label)
    raw = gzip.decompress((real_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert real_ds.test_labels.tolist() == list(raw[8:])
    assert torch.bincount(real_ds.test_labels).tolist() == [1000] * 10  # the published test balance
    assert real_ds.test_labels[:3].tolist() == [9, 2, 1]  # an ankle boot, a pullover, a trouser


def test_find_data_needs_all_four_files(tmp_path, no_defaults):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "train-images-idx3-ubyte.gz").write_bytes(b"")  # one of the four
    assert data.find_data(partial) is None


def test_a_named_folder_is_the_only_candidate(tmp_path, no_defaults, monkeypatch):
    assert data.candidate_dirs(tmp_path) == [tmp_path]
    monkeypatch.setenv("RESBLOCK_DATA", str(tmp_path / "env"))
    assert data.candidate_dirs() == [tmp_path / "env"]
    monkeypatch.delenv("RESBLOCK_DATA")
    assert data.candidate_dirs() == [data.DEBIAN_DIR, data.cache_dir()]


def test_download_false_never_opens_a_connection(no_defaults, monkeypatch):
    opened = []

    def no_network(url, *args, **kwargs):
        opened.append(url)
        raise urllib.error.URLError("the test forbids the network")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    with pytest.raises(data.DatasetNotFoundError, match="three ways"):
        data.load_fashion_mnist(download=False)
    assert opened == []


def test_an_idx_file_shorter_than_its_header_says_is_corrupt(tmp_path):
    raw = b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes([1, 2])  # promises 3 labels, holds 2
    with pytest.raises(data.DatasetCorruptError, match="holds 2 values"):
        data._parse_idx(raw, tmp_path / "short")
    assert data._parse_idx(raw + bytes([3]), tmp_path / "ok").tolist() == [1, 2, 3]
