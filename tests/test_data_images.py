"""data/images.py (and the catalog data/catalog.py): [0, 1] tensors (n, C, H, W), fixed splits, the Fashion-MNIST search order, clear errors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mixup_repro.data import catalog, locations
from mixup_repro.data import images as datasets
from mixup_repro.data.images import (DatasetNotFoundError, channel_stats, fake_image_dataset, load_image_dataset,
                                  num_pixels)

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_images(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    header = np.array([0x00000803, n, 28, 28], dtype=">i4").tobytes()
    return header + rng.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes()


def _idx_labels(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return np.array([0x00000801, n], dtype=">i4").tobytes() + rng.integers(0, 10, n, dtype=np.uint8).tobytes()


def _write_fashion(folder: Path, gz: bool, n_train: int = 12, n_test: int = 5) -> dict[str, bytes]:
    """Hand-made IDX files (the Fashion-MNIST format) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs = {FILES[0]: _idx_images(n_train, 0), FILES[1]: _idx_labels(n_train, 1),
             FILES[2]: _idx_images(n_test, 2), FILES[3]: _idx_labels(n_test, 3)}
    for stem, blob in blobs.items():
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(blob)
        else:
            (folder / stem).write_bytes(blob)
    return blobs


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(locations.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _check_images(ds, n, shape, classes):
    assert ds.X.shape == (n, *shape) and ds.X.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert float(ds.X.min()) >= 0 and float(ds.X.max()) <= 1
    assert int(ds.y.min()) >= 0 and int(ds.y.max()) < classes and ds.num_classes == classes


def test_fashion_mnist_from_a_debian_style_folder_is_unpacked_once(tmp_path, cache):
    blobs = _write_fashion(tmp_path / "debian", gz=True)
    train = load_image_dataset("fashion_mnist", "train", debian_dir=tmp_path / "debian")
    test = load_image_dataset("fashion_mnist", "test", debian_dir=tmp_path / "debian")
    _check_images(train, 12, (1, 28, 28), 10)
    _check_images(test, 5, (1, 28, 28), 10)
    assert "Debian" in train.source
    raw = cache / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES)  # no temporary files left behind
    # Pixel values are the bytes / 255 (row-major), labels the label bytes.
    expected = np.frombuffer(blobs[FILES[0]][16:], dtype=np.uint8).reshape(12, 28, 28) / 255.0
    np.testing.assert_allclose(train.X[:, 0].numpy(), expected, rtol=0, atol=1e-7)
    assert train.y.tolist() == list(blobs[FILES[1]][8:])
    # Once unpacked, the cache alone suffices.
    again = load_image_dataset("fashion_mnist", "train", debian_dir=tmp_path / "nowhere")
    assert torch.equal(again.X, train.X)


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_data_dir_comes_first(tmp_path, cache, layout, gz):
    data_dir = tmp_path / "mine"
    _write_fashion(data_dir if layout == "flat" else data_dir / "FashionMNIST" / "raw", gz=gz, n_train=7)
    _write_fashion(tmp_path / "debian", gz=True, n_train=12)
    ds = load_image_dataset("fashion_mnist", "train", data_dir=data_dir, debian_dir=tmp_path / "debian")
    assert ds.n == 7 and str(data_dir) in ds.source
    assert not (cache / "FashionMNIST").exists()


def test_fashion_mnist_missing_names_files_places_and_fixes(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"Fashion-MNIST not found: expected the files "
                       r"train-images-idx3-ubyte.*t10k-labels-idx1-ubyte.*empty.*apt-get install "
                       r"dataset-fashion-mnist.*--data-dir DIR.*data_dir: DIR.*-p download true"):
        load_image_dataset("fashion_mnist", "train", data_dir=tmp_path / "empty", debian_dir=tmp_path / "nope")


def _damage(blob: bytes, how: str) -> bytes:
    """A ``.gz`` file's bytes made unreadable: cut short, not gzip at all, or its deflate stream garbled."""
    if how == "truncated":
        return blob[: len(blob) // 2]
    if how == "not_gzip":
        return b"<html>404 Not Found</html>"
    return blob[:20] + bytes(b ^ 0xFF for b in blob[20:200]) + blob[200:]


@pytest.mark.parametrize("how, reason", [("truncated", "ended before the end-of-stream marker"),
                                         ("not_gzip", "Not a gzipped file"), ("garbled", "")])
@pytest.mark.parametrize("where", ["data_dir", "debian"])
def test_a_corrupt_gz_is_refused_by_name_and_leaves_no_folder(tmp_path, cache, how, reason, where):
    folder = tmp_path / where
    _write_fashion(folder, gz=True)
    bad = folder / f"{FILES[0]}.gz"  # unpacked first: nothing else is in the folder it made
    bad.write_bytes(_damage(bad.read_bytes(), how))
    kwargs = {"data_dir": folder} if where == "data_dir" else {}
    with pytest.raises(DatasetNotFoundError, match=rf"^Fashion-MNIST file {bad} is truncated or corrupt "
                       rf"\(.*{reason}.*\); replace it with an intact copy .*apt-get install --reinstall"):
        load_image_dataset("fashion_mnist", "train", debian_dir=tmp_path / "debian", **kwargs)
    assert not (folder / "FashionMNIST").exists() and not cache.exists()


def test_a_corrupt_gz_later_in_the_folder_keeps_the_good_files_and_no_temporary_one(tmp_path, cache):
    _write_fashion(tmp_path / "mine", gz=True)
    bad = tmp_path / "mine" / f"{FILES[3]}.gz"
    bad.write_bytes(_damage(bad.read_bytes(), "truncated"))
    with pytest.raises(DatasetNotFoundError, match=rf"file {bad} is truncated"):
        load_image_dataset("fashion_mnist", "test", data_dir=tmp_path / "mine", debian_dir=tmp_path / "nope")
    assert sorted(p.name for p in (tmp_path / "mine" / "FashionMNIST" / "raw").iterdir()) == sorted(FILES[:3])


@pytest.mark.parametrize("layout", ["torchvision", "flat", "gz"])
def test_a_truncated_idx_file_is_refused_by_name(tmp_path, cache, layout):
    """An IDX file shorter than its header says (cut before it was gzipped, copied or unpacked) is not read."""
    folder = tmp_path / "mine" / "FashionMNIST" / "raw" if layout == "torchvision" else tmp_path / "mine"
    blobs = _write_fashion(folder, gz=layout == "gz")
    bad = folder / (FILES[2] + (".gz" if layout == "gz" else ""))
    cut = blobs[FILES[2]][:-100]
    if layout == "gz":
        with gzip.open(bad, "wb") as f:
            f.write(cut)
    else:
        bad.write_bytes(cut)
    with pytest.raises(DatasetNotFoundError, match=rf"^Fashion-MNIST file {bad} is truncated or corrupt \(.*"
                       rf"{len(cut)} bytes where its header announces {len(cut) + 100}\); replace it"):
        load_image_dataset("fashion_mnist", "test", data_dir=tmp_path / "mine", debian_dir=tmp_path / "nope")
    if layout != "torchvision":  # the bad copy is not installed, where it would shadow a repaired source file
        assert not (tmp_path / "mine" / "FashionMNIST" / "raw" / FILES[2]).exists()


def test_an_idx_file_of_other_images_is_refused(tmp_path, cache):
    raw = tmp_path / "mine" / "FashionMNIST" / "raw"
    _write_fashion(raw, gz=False)
    (raw / FILES[0]).write_bytes(np.array([0x00000803, 2, 32, 32], dtype=">i4").tobytes() + bytes(2 * 32 * 32))
    (raw / FILES[1]).write_bytes(b"\x00\x00\x08\x03")
    with pytest.raises(DatasetNotFoundError, match=r"train-images-idx3-ubyte is truncated or corrupt \(images of "
                       r"32x32 pixels, expected 28x28\)"):
        load_image_dataset("fashion_mnist", "train", data_dir=tmp_path / "mine")
    (raw / FILES[0]).write_bytes(_idx_images(2, 0))
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte is truncated or corrupt \(no IDX "
                       r"header of labels\)"):
        load_image_dataset("fashion_mnist", "train", data_dir=tmp_path / "mine")


@pytest.mark.skipif(not (datasets.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_a_truncated_copy_of_the_debian_files_is_refused_by_name(tmp_path, cache):
    """The audit's case: the first megabyte of the real training images, next to the other real files."""
    for stem in FILES[1:]:
        (tmp_path / f"{stem}.gz").symlink_to(datasets.DEBIAN_FASHION_MNIST / f"{stem}.gz")
    with open(datasets.DEBIAN_FASHION_MNIST / f"{FILES[0]}.gz", "rb") as f:
        (tmp_path / f"{FILES[0]}.gz").write_bytes(f.read(1_000_000))
    with pytest.raises(DatasetNotFoundError, match=rf"file {tmp_path}/{FILES[0]}.gz is truncated or corrupt "
                       r"\(Compressed file ended before the end-of-stream marker was reached\)"):
        load_image_dataset("fashion_mnist", "train", data_dir=tmp_path)
    assert not (tmp_path / "FashionMNIST").exists()


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_data_dir_that_is_no_directory_is_refused_and_not_created(tmp_path, cache, name, kind):
    _write_fashion(tmp_path / "debian", gz=True)  # a fallback exists: it must not be used silently
    data_dir = tmp_path / "typo" / "dir"
    if kind == "file":
        data_dir = tmp_path / "a_file"
        data_dir.write_text("not a folder")
    with pytest.raises(DatasetNotFoundError, match=r"is not a directory.*pass the folder that holds"):
        load_image_dataset(name, "train", data_dir=data_dir, debian_dir=tmp_path / "debian")
    assert not (tmp_path / "typo").exists() and not (cache / "FashionMNIST").exists()


def test_fashion_mnist_in_a_read_only_data_dir_is_unpacked_into_the_cache(tmp_path, cache, monkeypatch):
    data_dir = tmp_path / "readonly"
    _write_fashion(data_dir, gz=True, n_train=7)
    before = sorted(p.name for p in data_dir.rglob("*"))
    monkeypatch.setattr(datasets, "_writable", lambda folder: False)  # tests run as root here: chmod would not bite
    ds = load_image_dataset("fashion_mnist", "train", data_dir=data_dir, debian_dir=tmp_path / "nope")
    assert ds.n == 7 and str(data_dir) in ds.source
    assert sorted(p.name for p in data_dir.rglob("*")) == before
    assert sorted(p.name for p in (cache / "FashionMNIST" / "raw").iterdir()) == sorted(FILES)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_fashion_mnist_in_a_write_protected_data_dir_is_only_read(tmp_path, cache):
    data_dir = tmp_path / "protected"
    _write_fashion(data_dir, gz=True, n_train=7)
    data_dir.chmod(0o555)
    try:
        assert load_image_dataset("fashion_mnist", "train", data_dir=data_dir, debian_dir=tmp_path / "nope").n == 7
    finally:
        data_dir.chmod(0o755)
    assert (cache / "FashionMNIST" / "raw").is_dir() and not (data_dir / "FashionMNIST").exists()


def test_unpacked_files_follow_the_umask(tmp_path, cache):
    mask = os.umask(0o022)
    os.umask(mask)
    _write_fashion(tmp_path / "debian", gz=True)
    load_image_dataset("fashion_mnist", "train", debian_dir=tmp_path / "debian")
    for f in (cache / "FashionMNIST" / "raw").iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f


def test_fashion_mnist_failed_download_is_a_dataset_error(tmp_path, cache, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(tvd.FashionMNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"could not be read or downloaded.*no network.*--data-dir"):
        load_image_dataset("fashion_mnist", "test", download=True, debian_dir=tmp_path / "nope")


@pytest.mark.parametrize("name, expected", [
    ("cifar10", r"cifar10 not found under .*cifar-10-batches-py.*downloads are off"),
    ("cifar100", r"cifar100 not found under .*cifar-100-python"),
    ("svhn", r"svhn not found under .*train_32x32.mat, test_32x32.mat"),
    ("kmnist", r"kmnist not found under .*KMNIST/raw"),
])
def test_torchvision_datasets_missing_offline(tmp_path, name, expected):
    with pytest.raises(DatasetNotFoundError, match=expected + r".*-p download true.*download: true.*--data-dir DIR"):
        load_image_dataset(name, "test", data_dir=tmp_path)


def test_torchvision_failed_download_says_so(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self, *args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(tvd.SVHN, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"svhn not found .*its download failed: Name or service"):
        load_image_dataset("svhn", "train", data_dir=tmp_path, download=True)


def test_cifar10_from_fixture_files(tmp_path, monkeypatch):
    """The torchvision path end to end, with hand-made CIFAR batch files (MD5 checks switched off)."""
    import pickle

    import torchvision.datasets as tvd

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for fname, n in [(f"data_batch_{i}", 2) for i in range(1, 6)] + [("test_batch", 3)]:
        with open(folder / fname, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(range(n))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", None] for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", None]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": None})
    train = load_image_dataset("cifar10", "train", data_dir=tmp_path)
    test = load_image_dataset("cifar10", "test", data_dir=tmp_path)
    _check_images(train, 10, (3, 32, 32), 10)
    _check_images(test, 3, (3, 32, 32), 10)
    # Channels first: the red channel of the first image is the first 1024 bytes of its row.
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)["data"][0]
    np.testing.assert_allclose(test.X[0, 0].numpy().ravel(), raw[:1024] / 255.0, atol=1e-7)


def test_digits_split_is_fixed_disjoint_and_complete():
    train, test = load_image_dataset("digits", "train"), load_image_dataset("digits", "test")
    _check_images(train, 1348, (1, 8, 8), 10)
    _check_images(test, 449, (1, 8, 8), 10)
    assert torch.equal(load_image_dataset("digits", "train").X, train.X)
    rows = {tuple(r) for r in train.X.flatten(1).tolist()} & {tuple(r) for r in test.X.flatten(1).tolist()}
    assert len(rows) < 10  # a few duplicate images exist in digits; the split itself is disjoint by index
    assert float(train.X.max()) == 1.0  # pixel values 0..16 scaled by 1/16
    assert torch.equal(load_image_dataset("digits", "test", n=449).X, test.X)  # exactly all is no error


def test_fake_dataset_seeded_any_shape_and_learnable():
    a = fake_image_dataset(64, (2, 5, 7), 3, seed=1)
    _check_images(a, 64, (2, 5, 7), 3)
    assert torch.equal(a.X, fake_image_dataset(64, (2, 5, 7), 3, seed=1).X)
    assert not torch.equal(a.X, fake_image_dataset(64, (2, 5, 7), 3, seed=2).X)
    test = fake_image_dataset(64, (2, 5, 7), 3, seed=1, split="test")
    assert not torch.equal(a.X, test.X)
    # Nearest class mean (from train) classifies test images well: the classes carry signal.
    means = torch.stack([a.X[a.y == c].mean(0) for c in range(3)]).flatten(1)
    pred = torch.cdist(test.X.flatten(1), means).argmin(1)
    assert float((pred == test.y).float().mean()) > 0.9
    via = load_image_dataset("fake", "train", fake_shape=(2, 5, 7), fake_classes=3, fake_size=64, seed=1, n=10)
    assert torch.equal(via.X, a.X[:10]) and num_pixels(via) == 70


@pytest.mark.parametrize("call, match", [
    (lambda: load_image_dataset("mnist", "train"), r"unknown dataset 'mnist'; choose one of fashion_mnist"),
    (lambda: load_image_dataset("digits", "val"), r"unknown split 'val'; choose one of"),
    (lambda: fake_image_dataset(0), r"n must be a positive integer, got 0"),
    (lambda: fake_image_dataset(4, (3, 0, 2)), r"shape must be \(C, H, W\) with positive integers"),
    (lambda: fake_image_dataset(4, num_classes=1), r"num_classes must be an integer >= 2, got 1"),
    (lambda: load_image_dataset("digits", "test").subset(0), r"n must be a positive integer, got 0"),
    (lambda: load_image_dataset("digits", "test", n=450), r"^digits has 449 test images, fewer than the 450 asked "
                                                          r"for; ask for at most 449 \(0 means all"),
    (lambda: load_image_dataset("fake", "train", fake_size=64, n=65), r"^fake has 64 train images, fewer than the 65"),
    (lambda: channel_stats(torch.zeros(3, 4)), r"X must have shape \(n, C, H, W\), got \(3, 4\)"),
])
def test_dataset_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_channel_stats_float64_oracle():
    X = torch.rand(20, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    mean, std = channel_stats(X)
    x = X.double().numpy()
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3), ddof=1), rtol=1e-12)


def test_default_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(locations.CACHE_ENV, str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path
    monkeypatch.delenv(locations.CACHE_ENV)
    assert datasets.default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "mixup-repro" / "data"


@pytest.mark.skipif(not (datasets.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_test_split(cache):
    ds = load_image_dataset("fashion_mnist", "test")
    _check_images(ds, 10000, (1, 28, 28), 10)
    assert torch.bincount(ds.y).tolist() == [1000] * 10


def test_ensure_dataset_checks_both_splits_and_downloads_through_torchvision(tmp_path, cache, monkeypatch):
    import torchvision.datasets as tvd

    _write_fashion(tmp_path / "debian", gz=True)
    assert "Debian" in datasets.ensure_dataset("fashion_mnist", debian_dir=tmp_path / "debian")
    assert datasets.ensure_dataset("digits") == "offline"
    with pytest.raises(DatasetNotFoundError, match=r"kmnist not found under .*downloads are off"):
        datasets.ensure_dataset("kmnist", tmp_path)
    calls = []

    def offline(self, *args, **kwargs):
        calls.append(type(self).__name__)
        raise OSError("Name or service not known")

    monkeypatch.setattr(tvd.SVHN, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"svhn not found .*its download failed.*internet connection"):
        datasets.ensure_dataset("svhn", tmp_path / "new", download=True)
    assert calls == ["SVHN"]
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'"):
        datasets.ensure_dataset("cifar11")


@pytest.mark.parametrize("name", ["digits", pytest.param("fashion_mnist", marks=pytest.mark.skipif(
    not datasets.DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("MIXUP_REPRO_DATA"),
    reason="needs Fashion-MNIST (the Debian package dataset-fashion-mnist, or MIXUP_REPRO_DATA)"))])
def test_catalog_matches_what_loads(name):
    """The catalog (which the schemas and sweeps check against) is what the loader gives, for the offline datasets."""
    loaded = [load_image_dataset(name, split) for split in ("train", "test")]
    assert tuple(ds.n for ds in loaded) == catalog.SPLIT_SIZES[name]
    assert (*loaded[0].shape, loaded[0].num_classes) == catalog.DATASETS[name]
