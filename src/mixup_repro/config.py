"""Strict parameter schemas for the notebooks: one frozen dataclass per notebook.

A papermill parameter travels: ``-p name value`` or a profile file (``notebooks/params/<profile>.yml``)
-> ``Schema.from_mapping`` (refuses unknown names, wrong types, out-of-range values) -> a frozen
config object whose ``config_hash()`` names the saved result. Papermill itself only warns about an
unknown parameter; ``from_namespace`` is called in the notebook right after the injected cell so that
the run fails instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import yaml

from .data.catalog import IMAGE_DATASETS
from .results import config_hash as _hash
from .vision_models import VISION_MODELS

__all__ = [
    "ConfigError",
    "NotebookConfig",
    "param",
    "register",
    "REGISTRY",
    "PROFILES",
    "profile_of",
    "get_schema",
    "from_namespace",
    "load_profile",
    "Lemma31Config",
    "Thm31Config",
    "Thm32Config",
    "Fig1aConfig",
    "GLMRegularizationConfig",
    "RademacherConfig",
    "ReLURademacherConfig",
    "GeneralizationGapConfig",
    "Fig3Config",
]

PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")
"""Named parameter profiles: seconds (smoke), the reference CPU run (cpu), GPU scale (paper)."""

_SCALARS = (int, float, str, bool)
# IPython puts these into the user namespace; they are never parameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
# Papermill only injects literals, so other values (modules, functions, figures, results) are skipped.
_LITERAL_TYPES = (int, float, str, bool, list, tuple, dict, type(None))


#: Largest seed: scikit-learn's and numpy's legacy generators take seeds below 2**32.
SEED_MAX = 2**32 - 1
#: The ``threads`` parameter of the image notebooks (each theory chapter fixes its own in ``chapters/``).
THREADS_HELP = "torch CPU threads during the run, 0 for torch's default; 1 suits small models on a busy 2-core machine"
#: The ``dtype`` parameter of the image notebooks: float64 makes their checked outputs the same on any x86 CPU.
IMAGE_DTYPE_HELP = ("torch dtype of the data, the model and the attacks: float64 (cpu, smoke: the same numbers on "
                    "any x86 CPU) or float32 (paper, GPU)")
#: A float literal, including the exponent forms (``1e-3``) that YAML 1.1 reads as strings.
FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _number_text(x: float) -> str:
    """A bound as written: integers exactly (``4294967295``, ``1000000``), other values with ``g``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 2**53 else f"{x:g}"


class ConfigError(ValueError):
    """A parameter, profile or notebook name was refused; the message says what to change."""


@dataclass(frozen=True)
class _Spec:
    """Constraints on one field (set by ``param``)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    help: str = ""

    def range_text(self) -> str:
        """The allowed range in interval notation, e.g. ``(0, 64]`` or ``[0, inf)``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is None and self.high is None:
            return "any value"
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        low = "-inf" if self.low is None else _number_text(self.low)
        high = "inf" if self.high is None else _number_text(self.high)
        return f"{left}{low}, {high}{right}"

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in the range (NaN never does)."""
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple | list | None = None,
    help: str = "",
) -> Any:
    """Declare a schema field with its default, allowed range and a ``help`` (meaning, unit, typical range).

    For ``tuple[...]`` fields the range applies to every element and the tuple must be non-empty.
    """
    spec = _Spec(low, high, low_open, high_open, None if choices is None else tuple(choices), help)
    return dataclasses.field(default=default, metadata={"spec": spec})


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"list of {typing.get_args(tp)[0].__name__}"
    return tp.__name__


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


@dataclass(frozen=True)
class NotebookConfig:
    """Base of all notebook schemas: validation on construction, ``to_dict`` and ``config_hash``."""

    NAME: ClassVar[str] = ""
    KIND: ClassVar[str] = "notebook"
    """What the schema configures, for error messages (sweep schemas say "sweep grid", "run")."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self._coerce(f.name, getattr(self, f.name), "arguments"))
        self._check_together()

    def _check_together(self) -> None:
        """Constraints between parameters (a schema overrides this); raises :class:`ConfigError`."""

    def _refuse_together(self, problem: str) -> None:
        raise ConfigError(f"parameters of {self.KIND} '{self.NAME}': {problem}")

    # -- validation -------------------------------------------------------------------------------
    @classmethod
    def _field_types(cls) -> dict[str, Any]:
        # get_type_hints is slow (it evaluates every annotation); sweeps build hundreds of configs.
        cached = cls.__dict__.get("_field_types_cache")
        if cached is None:
            hints = typing.get_type_hints(cls)
            cached = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
            setattr(cls, "_field_types_cache", cached)
        return cached

    @classmethod
    def _coerce(cls, name: str, value: Any, source: str) -> Any:
        """Check ``value`` for field ``name`` and return it converted (int -> float, list -> tuple)."""
        tp = cls._field_types()[name]
        spec: _Spec = next(f for f in dataclasses.fields(cls) if f.name == name).metadata["spec"]
        where = f"parameter '{name}' of {cls.KIND} '{cls.NAME}'"
        fix = f"; fix it in {source} ({spec.help})" if spec.help else f"; fix it in {source}"
        if typing.get_origin(tp) is tuple:
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where} must be a {_type_name(tp)}, got {_describe(value)}{fix}")
            if len(value) == 0:
                raise ConfigError(f"{where} must be a non-empty {_type_name(tp)}, got an empty list{fix}")
            elem = typing.get_args(tp)[0]
            return tuple(cls._coerce_scalar(f"{where} element [{i}]", elem, spec, v, fix)
                         for i, v in enumerate(value))
        return cls._coerce_scalar(where, tp, spec, value, fix)

    @staticmethod
    def _coerce_scalar(where: str, tp: type, spec: _Spec, value: Any, fix: str) -> Any:
        if tp is bool:
            ok = isinstance(value, bool)
        elif tp is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        elif tp is float:
            if isinstance(value, str) and FLOAT_LITERAL.fullmatch(value.strip()):
                value = float(value)  # YAML 1.1 (profiles, sweep grids) reads "1e-3" as a string
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        else:
            ok = isinstance(value, tp)
        if not ok:
            article = "an" if tp.__name__[0] in "aeiou" else "a"
            raise ConfigError(f"{where} must be {article} {tp.__name__}, got {_describe(value)}{fix}")
        value = tp(value)
        if spec.choices is not None:
            if value not in spec.choices:
                raise ConfigError(f"{where} must be {spec.range_text()}, got {value!r}{fix}")
        elif tp in (int, float) and not spec.contains(value):
            raise ConfigError(f"{where} must be in {spec.range_text()}, got {value!r}{fix}")
        return value

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        """The parameter names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, source: str = "parameters") -> "NotebookConfig":
        """Build a validated config; missing names take their default, unknown names are refused.

        ``source`` names where the values came from (a file, ``-p`` overrides) for the error message.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"parameters for {cls.KIND} '{cls.NAME}' in {source} must be a mapping of "
                              f"name -> value, got {type(mapping).__name__}")
        return cls(**cls._checked_values(mapping, source))

    @classmethod
    def _checked_values(cls, mapping: Mapping[str, Any], source: str) -> dict[str, Any]:
        """``mapping`` with every name known and every value coerced (one parameter at a time)."""
        known = cls.field_names()
        for key in mapping:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"unknown parameter '{key}' for {cls.KIND} '{cls.NAME}'{hint}; known "
                                  f"parameters: {', '.join(known)}; fix the name in {source}")
        return {k: cls._coerce(k, v, source) for k, v in mapping.items()}

    def with_overrides(self, overrides: Mapping[str, Any] | None, *, source: str = "overrides") -> "NotebookConfig":
        """A copy with some parameters replaced, validated like ``from_mapping``."""
        if not overrides:
            return self
        type(self)._checked_values(overrides, source)  # blame the overrides, not the base values
        return type(self).from_mapping({**self.to_dict(), **overrides}, source=source)

    # -- export -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists), in declaration order."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))}

    def config_hash(self) -> str:
        """12 hex characters of the sha256 of the canonical JSON of ``NAME`` and the fields."""
        return _hash(self.to_dict(), name=self.NAME)

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """One row per parameter: name, type, default, allowed range, help (for ``mixup-repro list -v``)."""
        types_ = cls._field_types()
        return [{"name": f.name, "type": _type_name(types_[f.name]), "default": repr(f.default),
                 "range": f.metadata["spec"].range_text(), "help": f.metadata["spec"].help}
                for f in dataclasses.fields(cls)]


REGISTRY: dict[str, type[NotebookConfig]] = {}


def register(cls: type[NotebookConfig]) -> type[NotebookConfig]:
    """Class decorator: check the schema (types, specs, defaults) and add it to ``REGISTRY``."""
    if not cls.NAME or cls.NAME in REGISTRY:
        raise TypeError(f"{cls.__name__} needs a unique NAME, got {cls.NAME!r}")
    for f in dataclasses.fields(cls):
        tp = cls._field_types()[f.name]
        ok = tp in _SCALARS or (typing.get_origin(tp) is tuple and len(typing.get_args(tp)) == 2
                                and typing.get_args(tp)[1] is Ellipsis and typing.get_args(tp)[0] in _SCALARS)
        if not ok or "spec" not in f.metadata:
            raise TypeError(f"{cls.__name__}.{f.name}: declare it with param() and one of int, float, str, "
                            f"bool, tuple[int, ...], tuple[float, ...]")
    cls()  # the defaults must pass their own checks
    REGISTRY[cls.NAME] = cls
    return cls


def get_schema(name: str) -> type[NotebookConfig]:
    """The schema class of notebook ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown notebook '{name}'; known notebooks: {', '.join(REGISTRY)}") from None


def from_namespace(name: str, namespace: Mapping[str, Any]) -> NotebookConfig:
    """Validate the parameters a notebook holds in its globals (call it right after the parameters cells).

    Skips private names, IPython's own names and non-literal values (modules, functions, objects), so a
    stray ``papermill -p bogus 1`` is refused. Re-running the notebook in a live kernel can trip over
    later literal globals: restart the kernel first.
    """
    params = {k: v for k, v in namespace.items()
              if not k.startswith("_") and k not in _IPYTHON_NAMES
              and not isinstance(v, types.ModuleType) and isinstance(v, _LITERAL_TYPES)}
    return get_schema(name).from_mapping(params, source="the notebook's parameters (papermill -p / -f)")


def load_profile(profile: str, name: str, params_dir: str | Path = Path("notebooks/params")) -> NotebookConfig:
    """The validated config of notebook ``name`` in ``<params_dir>/<profile>.yml``.

    A profile lists every parameter of every notebook explicitly, so a missing name is refused too.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile '{profile}'; known profiles: {', '.join(PROFILES)}; pick one with "
                          f"--profile (they are the files {Path(params_dir)}/<profile>.yml)")
    schema = get_schema(name)
    path = Path(params_dir) / f"{profile}.yml"
    if not path.is_file():
        raise ConfigError(f"profile file {path} not found; run from the repository root or pass its "
                          f"notebooks/params directory")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or name not in data:
        raise ConfigError(f"profile '{profile}' ({path}) has no entry for notebook '{name}'; add a "
                          f"'{name}:' section listing its parameters: {', '.join(schema.field_names())}")
    entry = data[name] or {}
    missing = [k for k in schema.field_names() if isinstance(entry, dict) and k not in entry]
    cfg = schema.from_mapping(entry, source=str(path))
    if missing:
        raise ConfigError(f"profile '{profile}' ({path}) lacks parameters {', '.join(missing)} for notebook "
                          f"'{name}'; profiles list every parameter explicitly, so add them")
    return cfg


def profile_of(name: str, config: Mapping[str, Any], start: str | Path | None = None) -> str:
    """The profile whose parameters for notebook ``name`` equal ``config``: ``smoke``, ``cpu``, ``paper``,
    or ``custom`` (overridden parameters), or ``unknown`` outside a checkout.

    The profile files are looked up in ``notebooks/params`` at or above ``start`` (default: cwd).
    """
    start = Path(start or Path.cwd()).resolve()
    params_dir = next((d / "notebooks" / "params" for d in (start, *start.parents)
                       if (d / "notebooks" / "params").is_dir()), None)
    if params_dir is None:
        return "unknown"
    schema = get_schema(name)
    try:
        wanted = schema.from_mapping(dict(config)).config_hash()
    except ConfigError:
        return "custom"
    for profile in PROFILES:
        try:
            if load_profile(profile, name, params_dir).config_hash() == wanted:
                return profile
        except ConfigError:
            continue
    return "custom"


def _refuse_bf16_in_float64(cfg: NotebookConfig) -> None:
    """bf16 autocast belongs to float32 runs on a GPU; with float64 data and weights it would mix three precisions."""
    if cfg.bf16 and cfg.dtype == "float64":
        cfg._refuse_together("bf16 autocast needs dtype float32 (the paper profile's GPU setting); set bf16: false "
                             "or dtype: float32")


# ---------------------------------------------------------------------------------------------------
# Schemas, one per notebook. Defaults are the cpu reference run (notebooks/params/cpu.yml).
# ---------------------------------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class Lemma31Config(NotebookConfig):
    """Lemma 3.1 / Figure 2: exact mixup loss vs its second-order expansion on two moons."""

    NAME: ClassVar[str] = "lemma31_fig2"

    n_samples: int = param(128, low=8, high=20000, help="two-moons training points, typically 100-2000")
    noise: float = param(0.1, low=0, high=1, help="std of the Gaussian noise added to two moons, typically 0.05-0.3")
    data_seed: int = param(0, low=0, high=SEED_MAX, help="seed of the two-moons sample")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of model initialisation and mixing")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="first Beta parameter of lam, typically 0.1-2")
    beta: float = param(1.0, low=0, high=64, low_open=True, help="second Beta parameter of lam, typically 0.1-2")
    hidden: int = param(32, low=1, high=4096, help="MLP hidden width in units, typically 8-256")
    epochs: int = param(300, low=1, high=100000, help="training epochs, typically 100-2000")
    lr: float = param(0.5, low=0, high=100, low_open=True, help="learning rate, typically 0.05-1")
    eval_every: int = param(15, low=1, high=100000, help="epochs between evaluations, typically 5-50")
    quad_order: int = param(24, low=4, high=512, help="Gauss-Jacobi nodes for the exact lam integral, typically 16-64")
    alpha_grid: tuple[float, ...] = param((0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0), low=0, high=64, low_open=True,
                                          help="alpha = beta values at which the trained models' remainder is measured, each in (0, 64]")
    scale_grid: tuple[float, ...] = param((0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), low=0, low_open=True,
                                          help="factors multiplying the trained models' logits for the remainder sweep, each > 0, typically 0.25-16")
    dtype: str = param("float64", choices=("float64", "float32"), help="torch dtype of all computations")


@register
@dataclass(frozen=True)
class Thm31Config(NotebookConfig):
    """Theorem 3.1: the mixup/adversarial chain for logistic regression on separable data and two-moons."""

    NAME: ClassVar[str] = "thm31_logistic"

    n_samples: int = param(200, low=8, high=20000, help="training points per dataset, typically 100-2000")
    dim: int = param(10, low=2, high=1000, help="input dimension d of the separable Gaussian data, typically 2-50")
    separation: float = param(6.0, low=0, high=100, low_open=True, help="distance between the two Gaussian means (input units), typically 4-10")
    noise: float = param(0.1, low=0, high=1, help="std of the two-moons noise, typically 0.05-0.3")
    data_seed: int = param(0, low=0, high=SEED_MAX, help="seed of the data samples")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of initialisation and mixing")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="first Beta parameter of lam, typically 0.1-2")
    beta: float = param(1.0, low=0, high=64, low_open=True, help="second Beta parameter of lam, typically 0.1-2")
    epochs: int = param(200, low=1, high=100000, help="full-batch mixup epochs, typically 100-2000")
    lr: float = param(0.5, low=0, high=100, low_open=True, help="learning rate of gradient descent, typically 0.05-1")
    eval_every: int = param(10, low=1, high=100000, help="epochs between two checks of the chain, typically 1-20")
    quad_order: int = param(24, low=4, high=512, help="Gauss-Jacobi nodes for the exact mixup loss, typically 16-64")
    radius_grid: tuple[float, ...] = param((0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0), low=0, high=100,
                                           help="l2 radii for the final models' adversarial-loss curves, in units of the median input norm, each in [0, 100]")


@register
@dataclass(frozen=True)
class Thm32Config(NotebookConfig):
    """Theorem 3.2: the chain for a bias-free ReLU MLP, PGD-l2 estimates, and a network with biases."""

    NAME: ClassVar[str] = "thm32_relu"

    n_samples: int = param(200, low=8, high=20000, help="training points, typically 100-2000")
    dim: int = param(2, low=2, high=1000, help="input dimension of the XOR-cones data, typically 2-20")
    margin: float = param(0.2, low=0, high=0.78, help="angular margin of the XOR-cones data (radians), typically 0-0.4")
    data_seed: int = param(0, low=0, high=SEED_MAX, help="seed of the data sample")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of initialisation, mixing and PGD starts")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="first Beta parameter of lam, typically 0.1-2")
    beta: float = param(1.0, low=0, high=64, low_open=True, help="second Beta parameter of lam, typically 0.1-2")
    hidden: int = param(64, low=1, high=4096, help="hidden units of the one-hidden-layer ReLU MLPs, typically 16-256")
    epochs: int = param(300, low=1, high=100000, help="full-batch mixup epochs, typically 100-2000")
    lr: float = param(0.5, low=0, high=100, low_open=True, help="learning rate of gradient descent, typically 0.05-1")
    eval_every: int = param(15, low=1, high=100000, help="epochs between two checks of the chain, typically 5-50")
    pgd_steps: int = param(20, low=1, high=10000, help="PGD-l2 iterations per restart, typically 20-200")
    pgd_restarts: int = param(2, low=1, high=100, help="PGD-l2 random restarts (the worst is kept), typically 1-10")
    radius_grid: tuple[float, ...] = param((0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0), low=0, high=100,
                                           help="l2 radii for the final models' adversarial-loss curves, in units of the median input norm, each in [0, 100]")


@register
@dataclass(frozen=True)
class Fig1aConfig(NotebookConfig):
    """Figure 1a: robust accuracy of ERM and mixup models under FGSM, and under PGD-l_inf and PGD-l2."""

    NAME: ClassVar[str] = "fig1a_fgsm"

    dataset: str = param("fashion_mnist", choices=IMAGE_DATASETS,
                         help="image dataset; fashion_mnist (cpu) and svhn (paper, as in the paper)")
    data_dir: str = param("", help="folder holding the dataset files; empty for the defaults (Debian package, cache)")
    download: bool = param(False, help="allow a torchvision download of a missing dataset (needs internet)")
    n_train: int = param(0, low=0, help="training images used, 0 for all")
    n_test: int = param(0, low=0, help="test images for clean accuracy and FGSM, 0 for all")
    model: str = param("mlp", choices=VISION_MODELS, help="architecture; mlp (cpu), wrn16_8 (paper)")
    mlp_hidden: tuple[int, ...] = param((256,), low=1, high=65536, help="hidden widths of the mlp model, typically (256,) to (1024, 1024)")
    seeds: tuple[int, ...] = param((0, 1, 2, 3, 4), low=0, high=SEED_MAX, help="one ERM and one mixup model per seed; at least 3 for a spread")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="mixup Beta(alpha, beta), typically 0.2-2 (1 in the mixup reference code)")
    beta: float = param(1.0, low=0, high=64, low_open=True, help="second Beta parameter, typically equal to alpha")
    epochs: int = param(4, low=1, high=1000, help="training epochs, typically 4-10 (cpu) or 30-100 (paper)")
    batch_size: int = param(256, low=1, high=65536, help="minibatch size, typically 128-512")
    lr: float = param(0.05, low=0, high=10, low_open=True, help="initial SGD learning rate, typically 0.01-0.1")
    momentum: float = param(0.9, low=0, high=1, high_open=True, help="SGD momentum, typically 0.9")
    weight_decay: float = param(5e-4, low=0, high=1, help="SGD weight decay, typically 1e-4 to 5e-4")
    lr_schedule: str = param("cosine", choices=("constant", "cosine"), help="learning-rate schedule over the epochs")
    fgsm_eps: tuple[float, ...] = param((0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15), low=0, high=1,
                                        help="FGSM l_inf radii in [0, 1] pixel units (8/255 is about 0.031)")
    pgd_eps: tuple[float, ...] = param((0.0, 0.02, 0.04, 0.06, 0.1), low=0, high=1,
                                       help="PGD-l_inf radii in [0, 1] pixel units")
    l2_eps: tuple[float, ...] = param((0.0, 0.5, 1.0, 1.5, 2.0), low=0, high=100,
                                      help="PGD-l2 radii in [0, 1] pixel units (the l2 ball containing l_inf eps has radius eps sqrt(d))")
    pgd_steps: int = param(10, low=1, high=1000, help="PGD iterations per restart, typically 10-50")
    pgd_restarts: int = param(2, low=1, high=100, help="PGD random restarts (the worst per point is kept), typically 1-10")
    n_pgd: int = param(500, low=1, help="test images attacked by PGD (the first ones), typically 500-10000")
    eval_batch_size: int = param(2000, low=1, high=1000000, help="images per attack batch (memory), typically 500-10000")
    device: str = param("auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA if available, else the CPU")
    bf16: bool = param(False, help="bf16 autocast for training forward passes and per-epoch evaluations (GPU)")
    compile: bool = param(False, help="torch.compile the training forward passes; pays on long GPU runs only (compiling adds start-up time per model)")
    threads: int = param(1, low=0, high=1024, help=THREADS_HELP)
    dtype: str = param("float64", choices=("float64", "float32"), help=IMAGE_DTYPE_HELP)

    def _check_together(self) -> None:
        _refuse_bf16_in_float64(self)


@register
@dataclass(frozen=True)
class GLMRegularizationConfig(NotebookConfig):
    """Mixup as data-adaptive regularization for GLMs, and what moves the exact mixup optimum."""

    NAME: ClassVar[str] = "glm_regularization"

    d: int = param(40, low=2, high=2000, help="input dimension, typically 20-200")
    rank: int = param(5, low=1, high=2000, help="rank of the input covariance (<= d), typically 1-20")
    n_train: int = param(100, low=8, high=100000, help="training examples of the single-size experiments, typically 50-1000")
    n_test: int = param(5000, low=100, high=1000000, help="test examples drawn from the same distribution, typically 2000-20000")
    signal_logistic: float = param(2.0, low=0, high=20, help="std of the true linear predictor for logistic data, typically 1-4")
    signal_poisson: float = param(0.5, low=0, high=3, help="std of the true linear predictor for Poisson data, typically 0.3-1")
    signal_squared: float = param(1.0, low=0, high=20, help="std of the true linear predictor for the squared-loss control, typically 0.5-2")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="first Beta parameter of lam for the mixup fits, typically 0.2-2")
    beta: float = param(1.0, low=0, high=64, low_open=True, help="second Beta parameter of lam, typically equal to alpha")
    optimum_seeds: int = param(20, low=2, high=10000, help="data draws on which ERM and the exact mixup optimum are compared, typically 10-100")
    epochs: int = param(400, low=1, high=100000, help="full-batch gradient steps of the tracked fits, typically 200-2000")
    lr_logistic: float = param(0.5, low=0, high=100, low_open=True, help="learning rate of the tracked logistic fits, typically 0.1-1")
    lr_poisson: float = param(0.05, low=0, high=100, low_open=True, help="learning rate of the tracked Poisson fits, typically 0.01-0.1")
    n_grid: tuple[int, ...] = param((50, 100, 200, 400), low=8, high=100000, help="training sizes of the gap-versus-n sweep, each >= 8")
    rank_grid: tuple[int, ...] = param((1, 2, 5, 10, 20), low=1, high=2000, help="covariance ranks of the gap-versus-rank sweep, each <= d")
    sweep_n: int = param(200, low=8, high=100000, help="training size of the gap-versus-rank sweep, typically 100-1000")
    n_seeds: int = param(20, low=2, high=1000, help="data draws per point of the gap sweeps, typically 10-100")
    alpha_grid: tuple[float, ...] = param((0.2, 0.5, 1.0, 2.0, 4.0), low=0, high=64, low_open=True,
                                          help="alpha = beta values of the constant's check and the squared-loss check, each in (0, 64]")
    quad_order: int = param(16, low=4, high=512, help="Gauss-Jacobi nodes in lam for the exact mixup loss, typically 12-32")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of the data, the mixing draws and the initialisation")

    def _check_together(self) -> None:
        if self.rank > self.d or max(self.rank_grid) > self.d:
            self._refuse_together(f"rank ({self.rank}) and every rank_grid value (largest {max(self.rank_grid)}) "
                                  f"must be <= d ({self.d}); lower them or raise d")


@register
@dataclass(frozen=True)
class RademacherConfig(NotebookConfig):
    """The Rademacher complexity of W_gamma measured directly, on one sample and over resampled samples, against the
    theorem's bound as gamma and the rank vary."""

    NAME: ClassVar[str] = "rademacher"

    d: int = param(50, low=2, high=5000, help="input dimension, typically 20-500")
    n: int = param(200, low=4, high=100000, help="sample size, typically 100-2000")
    rank_grid: tuple[int, ...] = param((1, 2, 5, 10, 20, 50), low=1, high=5000, help="covariance ranks, each <= d")
    gamma_grid: tuple[float, ...] = param((0.01, 0.03, 0.1, 0.3, 1.0, 3.0), low=0, low_open=True,
                                          help="constraint levels gamma of W_gamma, each > 0, typically 0.01-10 (the level where the bound is tightest is added)")
    gamma_rank: float = param(0.3, low=0, low_open=True, help="gamma of the rank sweep, typically 0.1-1")
    q_max: float = param(16.0, low=0, low_open=True, help="bound on theta^T Sigma theta defining Theta (needed for rho > 0), typically 4-100")
    n_samples: int = param(100, low=2, high=100000, help="resampled samples S per rank, typically 20-1000")
    n_draws: int = param(2000, low=2, high=10000000, help="sign vectors per sample (Monte Carlo over sigma), typically 500-20000")
    n_confirm: int = param(20000, low=2, high=10000000, help="fresh sign vectors that re-measure the sample closest to exceeding the bound, typically 10000-100000")
    direct_gammas: tuple[float, ...] = param((0.1, 0.3, 1.0), low=0, low_open=True, help="gamma values of the direct maximisation, each > 0")
    direct_rank: int = param(5, low=1, high=5000, help="covariance rank of the direct maximisation's sample (<= d)")
    direct_draws: int = param(50, low=2, high=100000, help="sign vectors of the direct maximisation, typically 50-1000")
    direct_restarts: int = param(4, low=1, high=1000, help="random starting directions per sign vector, typically 2-10")
    direct_steps: int = param(40, low=1, high=10000, help="projected gradient-ascent steps per start, typically 10-100")
    rho_sample: int = param(5000, low=100, high=10000000, help="inputs drawn to estimate rho, typically 2000-100000")
    rho_directions: int = param(64, low=1, high=100000, help="random directions tried in the rho estimate, typically 32-512")
    loss: str = param("logistic", choices=("logistic", "poisson"), help="GLM whose A'' defines W_gamma and rho")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of the data, the sign vectors and the rho directions")

    def _check_together(self) -> None:
        if max(self.rank_grid) > self.d:
            self._refuse_together(f"every rank_grid value (largest {max(self.rank_grid)}) must be <= d ({self.d}); "
                                  f"lower it or raise d")
        if self.direct_rank > self.d:
            self._refuse_together(f"direct_rank ({self.direct_rank}) must be <= d ({self.d}); lower it or raise d")


@register
@dataclass(frozen=True)
class ReLURademacherConfig(NotebookConfig):
    """The two-layer ReLU network's hidden-feature class (reconstructed): its covariance's rank and the measured
    complexity against the input rank, the width and the input dimension."""

    NAME: ClassVar[str] = "relu_rademacher"

    n: int = param(200, low=4, high=100000, help="sample size, typically 100-2000")
    d: int = param(50, low=1, high=100000, help="input dimension, typically 20-500")
    rank: int = param(5, low=1, high=100000, help="input rank of the width and d sweeps and of the bound checks (<= d)")
    width: int = param(64, low=1, high=100000, help="hidden units of the rank sweep and of the bound checks, typically 16-256")
    rank_grid: tuple[int, ...] = param((1, 2, 3, 5, 10, 20, 50), low=1, high=100000, help="input ranks, each <= d")
    width_grid: tuple[int, ...] = param((8, 16, 32, 64, 128, 256), low=1, high=100000, help="hidden widths of the width sweep")
    width_ranks: tuple[int, ...] = param((2, 5), low=1, high=100000, help="input ranks of the width sweep, each <= d")
    d_grid: tuple[int, ...] = param((5, 20, 50, 200, 1000), low=1, high=100000, help="input dimensions of the d sweep, each >= rank")
    rtols: tuple[float, ...] = param((1e-3, 1e-6, 1e-10), low=0, high=1, low_open=True, high_open=True,
                                     help="relative eigenvalue tolerances of the numerical ranks, each in (0, 1)")
    gamma: float = param(1.0, low=0, low_open=True, help="constraint level of the class theta^T Sigma_h theta <= gamma (squared loss)")
    n_samples: int = param(20, low=2, high=100000, help="samples S drawn from each population, typically 10-100")
    n_draws: int = param(2000, low=2, high=10000000, help="sign vectors per sample (Monte Carlo over sigma), typically 500-20000")
    n_confirm: int = param(20000, low=2, high=10000000, help="fresh sign vectors that re-measure the sample closest to exceeding the bound")
    mc_draws: int = param(100000, low=2, high=100000000, help="Gaussian draws of the Monte Carlo check of Sigma_h, typically 1e5-1e6")
    seed: int = param(0, low=0, high=SEED_MAX, help="seed of the populations (subspace, first layer), samples and sign vectors")

    def _check_together(self) -> None:
        ranks = (self.rank, *self.rank_grid, *self.width_ranks)
        if max(ranks) > self.d:
            self._refuse_together(f"rank, rank_grid and width_ranks (largest {max(ranks)}) must be <= d ({self.d}); "
                                  f"lower them or raise d")
        if min(self.d_grid) < self.rank:
            self._refuse_together(f"every d_grid value (smallest {min(self.d_grid)}) must be >= rank ({self.rank})")


@register
@dataclass(frozen=True)
class GeneralizationGapConfig(NotebookConfig):
    """Figures 1b and 5-8: test loss - clean training loss over epochs, ERM against mixup, several seeds."""

    NAME: ClassVar[str] = "generalization_gap"

    datasets: tuple[str, ...] = param(("fashion_mnist", "digits"), choices=IMAGE_DATASETS,
                                      help="image datasets, one panel each (fake: generated, for tests)")
    models: tuple[str, ...] = param(("mlp", "mlp"), choices=VISION_MODELS,
                                    help="model per dataset, same length as datasets: mlp, cnn, wrn16_8, preact_resnet18")
    train_sizes: tuple[int, ...] = param((2000, 0), low=0, help="training images per dataset (first n; 0 = all), same length as datasets")
    test_sizes: tuple[int, ...] = param((0, 0), low=0, help="test images per dataset (first n; 0 = all), same length as datasets")
    alphas: tuple[float, ...] = param((0.0, 0.2, 1.0), low=0, high=64, help="mixup alpha = beta per method; 0 is ERM")
    n_seeds: int = param(5, low=1, high=100, help="seeds (initialisation, batch order, mixing) per method, typically 3-5")
    epochs: int = param(15, low=1, high=10000, help="training epochs (the gap is read at the final one), typically 15-200")
    batch_size: int = param(64, low=1, high=65536, help="minibatch size, typically 64-128")
    lr: float = param(0.05, low=0, high=10, low_open=True, help="SGD learning rate, typically 0.01-0.1")
    momentum: float = param(0.9, low=0, high=1, high_open=True, help="SGD momentum, typically 0.9")
    weight_decay: float = param(0.0, low=0, high=1, help="SGD weight decay, typically 0-5e-4")
    lr_schedule: str = param("constant", choices=("constant", "cosine"), help="learning-rate schedule over the epochs")
    mlp_hidden: int = param(128, low=1, high=65536, help="hidden width of the mlp model, typically 128-1024")
    device: str = param("cpu", choices=("cpu", "auto", "cuda"), help="where to train: cpu, cuda or auto (cuda if available)")
    bf16: bool = param(False, help="bf16 autocast for training forward passes and per-epoch evaluations (GPU)")
    compile: bool = param(False, help="torch.compile the training forward passes; pays on long GPU runs only (compiling adds start-up time per model)")
    threads: int = param(1, low=0, high=1024, help=THREADS_HELP)
    download: bool = param(False, help="let torchvision download missing datasets (needs internet; KMNIST, CIFAR, SVHN)")
    data_dir: str = param("", help="folder with the dataset files ('' = the defaults, see mixup_repro.data.images)")
    seed: int = param(0, low=0, high=SEED_MAX, help="base seed; run seeds are derived from it")
    dtype: str = param("float64", choices=("float64", "float32"), help=IMAGE_DTYPE_HELP)

    def _check_together(self) -> None:
        _refuse_bf16_in_float64(self)
        lengths = [len(self.datasets), len(self.models), len(self.train_sizes), len(self.test_sizes)]
        if len(set(lengths)) > 1:
            self._refuse_together(f"datasets, models, train_sizes and test_sizes must have the same length (one "
                                  f"entry per panel), got {', '.join(map(str, lengths))}; give each of them one "
                                  f"value per dataset")


@register
@dataclass(frozen=True)
class Fig3Config(NotebookConfig):
    """Figure 3: does mixup training reach zero clean training error (the model in Theta)? And where it cannot."""

    NAME: ClassVar[str] = "fig3_training_error"

    dataset: str = param("digits", choices=IMAGE_DATASETS, help="image dataset of the mixup runs")
    model: str = param("mlp", choices=VISION_MODELS, help="model of the image runs")
    train_size: int = param(0, low=0, help="training images (first n; 0 = all)")
    alpha: float = param(1.0, low=0, high=64, low_open=True, help="mixup alpha = beta of the image runs, typically 0.2-1")
    n_seeds: int = param(3, low=1, high=100, help="seeds per configuration, typically 3-5")
    epochs: int = param(60, low=1, high=10000, help="training epochs of the image runs, typically 60-200")
    batch_size: int = param(64, low=1, high=65536, help="minibatch size, typically 64-128")
    lr: float = param(0.1, low=0, high=10, low_open=True, help="SGD learning rate, typically 0.01-0.1")
    momentum: float = param(0.9, low=0, high=1, high_open=True, help="SGD momentum, typically 0.9")
    lr_schedule: str = param("cosine", choices=("constant", "cosine"), help="learning-rate schedule of the image runs")
    mlp_hidden: int = param(256, low=1, high=65536, help="hidden width of the mlp model, typically 128-1024")
    ncal_points: int = param(8, low=3, high=1000, help="points of the alternating-line dataset, typically 6-20")
    ncal_classes: int = param(2, low=2, high=100, help="classes of the alternating-line dataset (labels i mod classes)")
    ncal_copies: int = param(10, low=1, high=10000, help="copies of each line point per full batch (less gradient noise, same mixup loss), typically 10-50")
    ncal_alphas: tuple[float, ...] = param((0.0, 1.0, 32.0), low=0, high=1024, help="alpha = beta values on the line dataset; 0 is ERM")
    ncal_epochs: int = param(400, low=1, high=100000, help="full-batch Adam steps on the line dataset, typically 500-5000")
    ncal_hidden: int = param(64, low=1, high=4096, help="width of the two hidden layers of the line MLP")
    ncal_lr: float = param(0.02, low=0, high=1, low_open=True, help="Adam learning rate on the line dataset, typically 1e-3-3e-2")
    device: str = param("cpu", choices=("cpu", "auto", "cuda"), help="where to train the image runs: cpu, cuda or auto")
    bf16: bool = param(False, help="bf16 autocast for training forward passes (GPU); evaluations run without it, so zero errors are not decided at bf16 resolution")
    compile: bool = param(False, help="torch.compile the training forward passes; pays on long GPU runs only (compiling adds start-up time per model)")
    threads: int = param(1, low=0, high=1024, help=THREADS_HELP)
    download: bool = param(False, help="let torchvision download missing datasets (needs internet; KMNIST, CIFAR, SVHN)")
    data_dir: str = param("", help="folder with the dataset files ('' = the defaults)")
    seed: int = param(0, low=0, high=SEED_MAX, help="base seed; run seeds are derived from it")
    dtype: str = param("float64", choices=("float64", "float32"), help=IMAGE_DTYPE_HELP)

    def _check_together(self) -> None:
        _refuse_bf16_in_float64(self)
