"""The image datasets this package knows: their names, image shapes, classes and split sizes.

The notebook and sweep schemas take their choices from here and :mod:`mixup_repro.data.images` loads them; this
module imports nothing, so the schemas can use it without loading the data code.
"""

from __future__ import annotations

__all__ = ["DATASETS", "IMAGE_DATASETS", "SPLIT_SIZES"]

#: name -> (channels, height, width, classes); ``fake`` is generated in any shape (``images.fake_image_dataset``).
DATASETS = {
    "fashion_mnist": (1, 28, 28, 10),
    "kmnist": (1, 28, 28, 10),
    "digits": (1, 8, 8, 10),
    "svhn": (3, 32, 32, 10),
    "cifar10": (3, 32, 32, 10),
    "cifar100": (3, 32, 32, 100),
    "fake": None,
}
#: The names, in the order above.
IMAGE_DATASETS = tuple(DATASETS)
#: (training, test) examples of each real dataset as loaded here (digits: our 75/25 split of scikit-learn's 1,797).
SPLIT_SIZES = {"fashion_mnist": (60_000, 10_000), "kmnist": (60_000, 10_000), "digits": (1_348, 449),
               "cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "svhn": (73_257, 26_032)}
