"""Where the image files are looked for: the Debian package, the cache, the download server.

Standard library only: ``mixup_repro.doctor`` reads these before ``make`` has installed anything, to find or fetch
Fashion-MNIST first and fail at once when it cannot. :mod:`.images` loads the files from the same places.
"""

from __future__ import annotations

import os
from pathlib import Path

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package puts its four ``.gz`` files."""
CACHE_ENV = "MIXUP_REPRO_DATA"
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                       "t10k-labels-idx1-ubyte")
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz"
"""The first file on torchvision's download mirror (``FashionMNIST.mirrors[0]``; a test keeps them equal)."""


def default_cache_dir() -> Path:
    """``$MIXUP_REPRO_DATA`` or ``~/.cache/mixup-repro/data``: where unpacked and downloaded files go."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mixup-repro" / "data")


def fashion_mnist_on_disk() -> Path | None:
    """The folder holding the four Fashion-MNIST files the notebooks will read by default, or None.

    The unpacked files in the cache (``FashionMNIST/raw``) come first, then the Debian package's ``.gz`` files
    (unpacked into the cache on first use). Only presence is checked here; the loader validates the contents.
    """
    raw = default_cache_dir() / "FashionMNIST" / "raw"
    if all((raw / stem).is_file() for stem in FASHION_MNIST_FILES):
        return raw
    if all((DEBIAN_FASHION_MNIST / f"{stem}.gz").is_file() or (DEBIAN_FASHION_MNIST / stem).is_file()
           for stem in FASHION_MNIST_FILES):
        return DEBIAN_FASHION_MNIST
    return None
