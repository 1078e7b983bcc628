"""Image datasets as in-memory tensors: inputs in [0, 1] of shape (n, C, H, W), integer labels.

Attacks assume the [0, 1] box (:mod:`mixup_repro.attacks`), so nothing here normalises: normalisation is the
first layer of the model (:class:`mixup_repro.vision_models.Normalize`, built from :func:`channel_stats`).

Where the files come from, in this order:

- ``fashion_mnist``: ``data_dir`` (unpacked ``*-ubyte`` or ``*-ubyte.gz`` files, either directly there or under
  ``FashionMNIST/raw``), then the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
  then a torchvision download if ``download=True``. ``.gz`` files are unpacked once into ``FashionMNIST/raw``
  under ``data_dir`` when it is writable, else (and for the Debian files) under the cache
  (``$MIXUP_REPRO_DATA`` or ``~/.cache/mixup-repro/data``), file by file through a temporary name, because the
  Debian MD5s differ from torchvision's and torchvision would otherwise try the network. A ``data_dir`` that
  is not a directory is refused unless a download is allowed (which creates it).
- ``kmnist``, ``svhn``, ``cifar10``, ``cifar100``: torchvision's own layout under ``data_dir`` (default: the
  cache), downloaded only with ``download=True``.
- ``digits`` (scikit-learn's 8x8 digits, shipped with scikit-learn) and ``fake`` (a seeded synthetic generator):
  always offline.

When a dataset is missing, :class:`DatasetNotFoundError` names the files expected, where they were looked for
and how to get them; a Fashion-MNIST file that does not unpack or is truncated is refused naming it.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from ..durable import atomic_file
from ..runs import derive_seed
from .catalog import DATASETS
from .locations import DEBIAN_FASHION_MNIST, default_cache_dir
from .locations import FASHION_MNIST_FILES as _MNIST_FILES

__all__ = [
    "DATASETS",
    "DataDirError",
    "check_data_dir",
    "DEBIAN_FASHION_MNIST",
    "DatasetNotFoundError",
    "ImageDataset",
    "channel_stats",
    "default_cache_dir",
    "ensure_dataset",
    "fake_image_dataset",
    "load_image_dataset",
    "num_pixels",
]

SPLITS = ("train", "test")
#: How each entry point takes a data folder, and allows a download (for the advice in error messages).
_DATA_DIR_HOW = "`mixup-repro run NAME --data-dir DIR`, or `data_dir: DIR` in a sweep grid"
_DOWNLOAD_HOW = "needs internet: `-p download true` for `mixup-repro run`, `download: true` in a sweep grid"

#: The torchvision class and the files it needs under ``data_dir`` (for the error message).
_TORCHVISION = {
    "kmnist": ("KMNIST", "KMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"),
    "svhn": ("SVHN", "train_32x32.mat, test_32x32.mat"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}"),
    "cifar100": ("CIFAR100", "cifar-100-python/{train, test, meta}"),
}
#: The digits split: a fixed permutation (this seed) and this share of the 1,797 images for testing.
DIGITS_SEED, DIGITS_TEST_FRACTION = 0, 0.25


class DataDirError(ConfigError):
    """A data directory is missing, not a directory or unreadable."""


def check_data_dir(path: str | Path) -> Path:
    """``path`` as an absolute directory that exists and can be listed; else :class:`DataDirError`.

    Image datasets read their files from here; the synthetic ones need no directory.
    """
    p = Path(path).expanduser()
    fix = "pass the directory that holds the dataset files (e.g. --data-dir or data_dir in the grid)"
    if not p.exists():
        raise DataDirError(f"data directory {p} does not exist; {fix}")
    if not p.is_dir():
        raise DataDirError(f"data directory {p} is not a directory (a file?); {fix}")
    try:
        os.listdir(p)
    except OSError as err:
        raise DataDirError(f"data directory {p} cannot be read ({err.strerror or err}); fix its permissions "
                           f"or {fix}") from None
    return p.resolve()


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing (no download allowed, or it failed) or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class ImageDataset:
    """Inputs ``X`` (n, C, H, W) float in [0, 1] and labels ``y`` (n,) int64 in [0, num_classes)."""

    X: torch.Tensor
    y: torch.Tensor
    name: str
    split: str
    num_classes: int
    source: str  # where the data were read from (a path, "sklearn" or "generated")

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.X.shape[1:])

    def astype(self, dtype: torch.dtype) -> "ImageDataset":
        """The same images with ``X`` in ``dtype`` (float32 -> float64 is exact; labels unchanged)."""
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating-point torch dtype, e.g. torch.float64, got {dtype!r}")
        return ImageDataset(self.X.to(dtype), self.y, self.name, self.split, self.num_classes, self.source)

    def subset(self, n: int) -> "ImageDataset":
        """The first ``n`` examples (the order is fixed by the dataset, so this is deterministic).

        More than there are is refused rather than capped: a run's config must state the size it trained on.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if n > self.n:
            raise ValueError(f"{self.name} has {self.n} {self.split} images, fewer than the {n} asked for; ask for "
                             f"at most {self.n} (0 means all in the notebooks' size parameters)")
        return ImageDataset(self.X[:n], self.y[:n], self.name, self.split, self.num_classes, self.source)


def channel_stats(X: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of images (n, C, H, W), for the model's ``Normalize`` layer.

    Computed in float64 from the training split, so no hard-coded constant can disagree with the data.
    """
    if X.ndim != 4:
        raise ValueError(f"X must have shape (n, C, H, W), got {tuple(X.shape)}")
    flat = X.transpose(0, 1).reshape(X.shape[1], -1).double()
    std = flat.std(dim=1).clamp_min(1e-6)
    return tuple(float(v) for v in flat.mean(dim=1)), tuple(float(v) for v in std)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")


def _to_dataset(images: np.ndarray | torch.Tensor, labels, name: str, split: str, num_classes: int,
                source: str, channels_last: bool = False) -> ImageDataset:
    """uint8 images -> float32 in [0, 1] with shape (n, C, H, W)."""
    x = torch.as_tensor(np.asarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif channels_last:
        x = x.permute(0, 3, 1, 2)
    X = x.contiguous().to(torch.float32) / 255.0
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64).reshape(-1)
    return ImageDataset(X, y, name, split, num_classes, source)


# -- Fashion-MNIST ---------------------------------------------------------------------------------


def _find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (unpacked preferred over ``.gz``), or None if any is missing."""
    found = {}
    for stem in _MNIST_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[stem] = candidate
                break
        else:
            return None
    return found


def _corrupt(path: Path, reason: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"Fashion-MNIST file {path} is truncated or corrupt ({reason}); replace it with an intact copy (the Debian "
        f"files: `apt-get install --reinstall dataset-fashion-mnist`), or delete it and allow a torchvision "
        f"download ({_DOWNLOAD_HOW})")


def _idx_problem(path: Path, stem: str) -> str | None:
    """Why the unpacked IDX file ``path`` (the format of ``stem``) cannot be Fashion-MNIST, or None if it can.

    Checks the header (magic number, 28x28 images) and that the size is the header's: a truncated file fails.
    """
    nd = 3 if "images" in stem else 1
    with open(path, "rb") as f:
        header = f.read(4 * (nd + 1))
    if len(header) < 4 * (nd + 1) or int.from_bytes(header[:4], "big") != 0x0800 + nd:
        return f"no IDX header of {'images' if nd == 3 else 'labels'}"
    dims = [int.from_bytes(header[4 * i:4 * i + 4], "big") for i in range(1, nd + 1)]
    if dims[1:] not in ([], [28, 28]):
        return f"images of {dims[1]}x{dims[2]} pixels, expected 28x28"
    expected, size = len(header) + math.prod(dims), path.stat().st_size
    return None if size == expected else f"{size} bytes where its header announces {expected}"


def _unpack_atomically(files: dict[str, Path], raw: Path) -> None:
    """Gunzip (or copy) each file into ``raw`` through a temporary name, so a reader never sees half a file.

    A file that does not unpack, or unpacks to a truncated IDX file, is refused naming the source file; the
    folders made here for it are removed again if they stayed empty.
    """
    made = [d for d in (raw, *raw.parents) if not d.exists()]
    raw.mkdir(parents=True, exist_ok=True)
    try:
        for stem, src in files.items():
            dest = raw / stem
            if dest.is_file():
                continue
            opener = gzip.open if src.suffix == ".gz" else open
            with atomic_file(dest) as out, opener(src, "rb") as inp:
                while True:
                    try:  # only reading: a failed write (a full disk) is not the source file's fault
                        chunk = inp.read(1 << 20)
                    except (EOFError, OSError, zlib.error) as err:  # BadGzipFile is an OSError
                        raise _corrupt(src, str(err) or type(err).__name__) from err
                    if not chunk:
                        break
                    out.write(chunk)
                out.flush()
                problem = _idx_problem(Path(out.name), stem)
                if problem:
                    raise _corrupt(src, f"it unpacks to {problem}")
    except BaseException:
        for folder in made:  # innermost first; stop at the first one that holds something
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _writable(folder: Path) -> bool:
    """Whether ``folder`` (or, if it does not exist yet, its nearest existing parent) accepts new files."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def _fashion_mnist_root(data_dir: Path | None, download: bool, debian_dir: Path) -> tuple[Path, str]:
    """A torchvision root whose ``FashionMNIST/raw`` holds the unpacked files, and a description of the source.

    Compressed files are unpacked next to them (``<data_dir>/FashionMNIST/raw``) when ``data_dir`` is writable,
    else into the cache: a read-only data folder (a shared mount, the Debian package's own) is only read.
    """
    cache = default_cache_dir()
    looked = []
    if data_dir is not None:
        for folder in (data_dir / "FashionMNIST" / "raw", data_dir):
            looked.append(str(folder))
            files = _find_idx_files(folder)
            if files:
                if folder == data_dir / "FashionMNIST" / "raw" and all(p.suffix != ".gz" for p in files.values()):
                    return data_dir, str(folder)  # torchvision's own layout: only read
                root = data_dir if _writable(data_dir) else cache
                _unpack_atomically(files, root / "FashionMNIST" / "raw")
                return root, str(folder)
    looked.append(str(debian_dir))
    files = _find_idx_files(debian_dir)
    if files:
        _unpack_atomically(files, cache / "FashionMNIST" / "raw")
        return cache, f"Debian package dataset-fashion-mnist ({debian_dir})"
    cached = _find_idx_files(cache / "FashionMNIST" / "raw")
    looked.append(str(cache / "FashionMNIST" / "raw"))
    if cached and all(p.suffix != ".gz" for p in cached.values()):
        return cache, str(cache / "FashionMNIST" / "raw")
    if download:
        return (data_dir or cache), "torchvision download"
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found: expected the files {', '.join(_MNIST_FILES)} (optionally .gz) in one of: "
        f"{'; '.join(looked)}. Get them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
        f"them in a folder and pass it as data_dir ({_DATA_DIR_HOW}), or allow a torchvision download "
        f"({_DOWNLOAD_HOW}).")


def _load_fashion_mnist(split: str, data_dir: Path | None, download: bool, debian_dir: Path) -> ImageDataset:
    ds, source = _fashion_mnist_torchvision(split, data_dir, download, debian_dir)
    return _to_dataset(ds.data.numpy(), ds.targets.numpy(), "fashion_mnist", split, 10, source)


def _fashion_mnist_torchvision(split: str, data_dir: Path | None, download: bool, debian_dir: Path):
    from torchvision.datasets import FashionMNIST

    root, source = _fashion_mnist_root(data_dir, download, debian_dir)
    if source != "torchvision download":  # torchvision's own reader fails on a truncated file with a bare assert
        prefix = "train" if split == "train" else "t10k"
        for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
            path = root / "FashionMNIST" / "raw" / stem
            problem = _idx_problem(path, stem)
            if problem:
                raise _corrupt(path, problem)
    try:
        ds = FashionMNIST(str(root), train=split == "train", download=download and source == "torchvision download")
    except (RuntimeError, OSError) as err:  # torchvision: "Dataset not found", or a failed download
        raise DatasetNotFoundError(
            f"Fashion-MNIST could not be read or downloaded into {root / 'FashionMNIST' / 'raw'} ({err}). "
            f"Install the Debian package (`apt-get install dataset-fashion-mnist`) or put the files "
            f"{', '.join(_MNIST_FILES)} in a folder and pass it as data_dir ({_DATA_DIR_HOW}).") from err
    return ds, source


# -- torchvision datasets --------------------------------------------------------------------------


def _load_torchvision(name: str, split: str, data_dir: Path | None, download: bool) -> ImageDataset:
    ds, root = _torchvision_dataset(name, split, data_dir, download)
    if name == "svhn":
        images, labels = ds.data, ds.labels  # (n, 3, 32, 32)
    elif name == "kmnist":
        images, labels = ds.data.numpy(), ds.targets.numpy()
    else:
        return _to_dataset(ds.data, ds.targets, name, split, DATASETS[name][3], str(root), channels_last=True)
    return _to_dataset(images, labels, name, split, DATASETS[name][3], str(root))


def _torchvision_dataset(name: str, split: str, data_dir: Path | None, download: bool):
    """The torchvision dataset object (files checked, downloaded first if allowed) and its root."""
    import torchvision.datasets as tvd

    cls_name, files = _TORCHVISION[name]
    root = data_dir or default_cache_dir()
    fix = (f"Check the internet connection or put the files under {root} yourself" if download else
           f"Allow a download ({_DOWNLOAD_HOW}), or put the files in a folder")
    fix += f" and pass that folder as data_dir ({_DATA_DIR_HOW})."
    cls = getattr(tvd, cls_name)
    kwargs = {"split": split} if name == "svhn" else {"train": split == "train"}
    try:
        ds = cls(str(root), download=download, **kwargs)
    except (RuntimeError, OSError) as err:  # not found (RuntimeError) or a failed download (URLError is an OSError)
        how = "its download failed" if download else "downloads are off"
        raise DatasetNotFoundError(
            f"{name} not found under {root}: expected {files} ({how}: {err}). {fix}") from err
    return ds, root


# -- offline datasets ------------------------------------------------------------------------------


def _load_digits(split: str) -> ImageDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    perm = np.random.default_rng(DIGITS_SEED).permutation(len(bunch.target))
    n_test = int(round(DIGITS_TEST_FRACTION * len(perm)))
    idx = perm[n_test:] if split == "train" else perm[:n_test]
    X = torch.as_tensor(bunch.images[idx] / 16.0, dtype=torch.float32).unsqueeze(1)  # pixel values 0..16
    return ImageDataset(X, torch.as_tensor(bunch.target[idx], dtype=torch.int64), "digits", split, 10, "sklearn")


def fake_image_dataset(n: int, shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10, seed: int = 0,
                       split: str = "train") -> ImageDataset:
    """A seeded, learnable stand-in for an image dataset (for tests and the ``paper`` code path on CPU).

    Each class has a fixed random template (seeded by ``seed``); an image is its class template plus Gaussian
    pixel noise (std 0.15), clipped to [0, 1]. The two splits use disjoint noise streams.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be (C, H, W) with positive integers, got {shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    _check_split(split)
    templates = torch.rand((num_classes, *shape), generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(derive_seed(seed, SPLITS.index(split) + 1))
    y = torch.randint(0, num_classes, (n,), generator=gen)
    X = (templates[y] + 0.15 * torch.randn((n, *shape), generator=gen)).clamp(0, 1)
    return ImageDataset(X, y, "fake", split, num_classes, "generated")


def load_image_dataset(name: str, split: str, data_dir: str | Path | None = None, *, download: bool = False,
                       n: int | None = None, fake_shape: tuple[int, int, int] = (3, 32, 32),
                       fake_classes: int = 10, fake_size: int = 512, seed: int = 0,
                       debian_dir: str | Path = DEBIAN_FASHION_MNIST) -> ImageDataset:
    """Load one split of an image dataset as float32 tensors in [0, 1].

    Args:
        name: ``fashion_mnist``, ``kmnist``, ``digits``, ``svhn``, ``cifar10``, ``cifar100`` or ``fake``.
        split: ``train`` or ``test``.
        data_dir: a folder holding the files (see the module docstring); None or "" for the defaults.
        download: allow torchvision to download a missing dataset (needs internet).
        n: keep only the first ``n`` examples (None: all; more than the split holds is an error).
        fake_shape, fake_classes, fake_size, seed: the ``fake`` dataset's (C, H, W), classes, size and seed.
        debian_dir: where the Debian package puts Fashion-MNIST (a parameter for tests).
    Raises:
        DatasetNotFoundError: the files are missing and no download was allowed (or it failed), or one is corrupt.
        ValueError: ``n`` exceeds the split's size.
    """
    _check_split(split)
    data_dir = _data_dir(name, data_dir, download)
    if name == "fake":
        ds = fake_image_dataset(fake_size, tuple(fake_shape), fake_classes, seed, split)
    elif name == "digits":
        ds = _load_digits(split)
    elif name == "fashion_mnist":
        ds = _load_fashion_mnist(split, data_dir, download, Path(debian_dir))
    else:
        ds = _load_torchvision(name, split, data_dir, download)
    return ds if n is None else ds.subset(n)


def _data_dir(name: str, data_dir: str | Path | None, download: bool) -> Path | None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    data_dir = Path(data_dir).expanduser() if data_dir else None
    if data_dir is not None and name not in ("fake", "digits") and not (download or data_dir.is_dir()):
        raise DatasetNotFoundError(
            f"data_dir {data_dir} is not a directory{'' if data_dir.exists() else ' (it does not exist)'}; pass "
            f"the folder that holds the {name} files, or an empty data_dir for the defaults")
    return data_dir


def ensure_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = False,
                   debian_dir: str | Path = DEBIAN_FASHION_MNIST) -> str:
    """Check that both splits of ``name`` are on disk (downloading them first if allowed) and return the source.

    The files are checked as :func:`load_image_dataset` reads them, but no tensors are built: a sweep calls
    this once, before it starts any worker, so that missing data are refused up front and a download
    happens once rather than in every run at the same time.

    Raises:
        DatasetNotFoundError: as :func:`load_image_dataset`.
    """
    data_dir = _data_dir(name, data_dir, download)
    if name in ("fake", "digits"):
        return "offline"
    for split in SPLITS:
        if name == "fashion_mnist":
            source = _fashion_mnist_torchvision(split, data_dir, download, Path(debian_dir))[1]
        else:
            source = str(_torchvision_dataset(name, split, data_dir, download)[1])
    return source


def num_pixels(ds: ImageDataset) -> int:
    """d = C * H * W, the input dimension of the theory's ``eps * sqrt(d)`` radius."""
    return math.prod(ds.shape)
