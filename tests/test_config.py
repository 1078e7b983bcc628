"""Strict notebook parameter schemas: every refusal, round trips, hashes and the profile files."""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from mixup_repro import config
from mixup_repro.config import ConfigError, Lemma31Config

PARAMS_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "params"


# -- refusals ---------------------------------------------------------------------------------------

def test_unknown_name_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown parameter 'alhpa' for notebook 'lemma31_fig2' "
                                          r"\(did you mean 'alpha'\?\); known parameters: n_samples"):
        Lemma31Config.from_mapping({"alhpa": 1.0})


def test_unknown_name_without_close_match_names_source():
    with pytest.raises(ConfigError, match=r"unknown parameter 'zzz'.*known parameters:.*fix the name in my.yml"):
        Lemma31Config.from_mapping({"zzz": 1}, source="my.yml")


def test_wrong_type_names_expected_and_received():
    with pytest.raises(ConfigError, match=r"parameter 'hidden' .* must be an int, got str '32'"):
        Lemma31Config.from_mapping({"hidden": "32"})
    with pytest.raises(ConfigError, match=r"parameter 'hidden' .* must be an int, got float 32.0"):
        Lemma31Config.from_mapping({"hidden": 32.0})


def test_bool_is_not_an_int_nor_a_float():
    with pytest.raises(ConfigError, match=r"parameter 'epochs' .* must be an int, got bool True"):
        Lemma31Config.from_mapping({"epochs": True})
    with pytest.raises(ConfigError, match=r"parameter 'lr' .* must be a float, got bool False"):
        Lemma31Config.from_mapping({"lr": False})


def test_int_accepted_for_float_and_list_for_tuple():
    cfg = Lemma31Config.from_mapping({"alpha": 2, "scale_grid": [1, 2.5]})
    assert cfg.alpha == 2.0 and type(cfg.alpha) is float
    assert cfg.scale_grid == (1.0, 2.5) and all(type(v) is float for v in cfg.scale_grid)


@pytest.mark.parametrize("key, value, allowed", [
    ("alpha", 0.0, r"\(0, 64\]"), ("alpha", 64.5, r"\(0, 64\]"), ("n_samples", 7, r"\[8, 20000\]"),
    ("noise", -0.1, r"\[0, 1\]"), ("seed", -1, r"\[0, 4294967295\]"),
    ("seed", 2**32, r"\[0, 4294967295\]"), ("lr", float("nan"), r"\(0, 100\]"),
])
def test_out_of_range_names_value_and_range(key, value, allowed):
    with pytest.raises(ConfigError, match=rf"parameter '{key}' .* must be in {allowed}, got"):
        Lemma31Config.from_mapping({key: value})


def test_range_bounds_are_inclusive_where_declared():
    cfg = Lemma31Config.from_mapping({"alpha": 64, "n_samples": 8, "noise": 0})
    assert (cfg.alpha, cfg.n_samples, cfg.noise) == (64.0, 8, 0.0)


def test_bad_choice():
    with pytest.raises(ConfigError, match=r"parameter 'dtype' .* must be one of 'float64', 'float32', got 'float16'"):
        Lemma31Config.from_mapping({"dtype": "float16"})


@pytest.mark.parametrize("value, message", [
    ([0.5, "a"], r"'alpha_grid' .* element \[1\] must be a float, got str 'a'"),
    ([0.5, 0.0], r"'alpha_grid' .* element \[1\] must be in \(0, 64\], got 0.0"),
    ([True], r"'alpha_grid' .* element \[0\] must be a float, got bool True"),
    ([], r"'alpha_grid' .* must be a non-empty list of float, got an empty list"),
    (0.5, r"'alpha_grid' .* must be a list of float, got float 0.5"),
])
def test_bad_tuple(value, message):
    with pytest.raises(ConfigError, match=message):
        Lemma31Config.from_mapping({"alpha_grid": value})


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match=r"parameter 'beta' .* must be in \(0, 64\], got -1.0; fix it in arguments"):
        Lemma31Config(beta=-1.0)


def test_non_mapping_refused():
    with pytest.raises(ConfigError, match=r"must be a mapping of name -> value, got list"):
        Lemma31Config.from_mapping([("alpha", 1.0)])


def test_unknown_notebook_lists_known():
    with pytest.raises(ConfigError, match=r"unknown notebook 'lemma99'; known notebooks: .*lemma31_fig2"):
        config.get_schema("lemma99")


def test_unknown_profile_lists_profiles():
    with pytest.raises(ConfigError, match=r"unknown profile 'gpu'; known profiles: smoke, cpu, paper"):
        config.load_profile("gpu", "lemma31_fig2", PARAMS_DIR)


def test_profile_without_the_notebook(tmp_path):
    (tmp_path / "cpu.yml").write_text("other_notebook: {}\n")
    with pytest.raises(ConfigError, match=r"profile 'cpu' .* has no entry for notebook 'lemma31_fig2'; add a"):
        config.load_profile("cpu", "lemma31_fig2", tmp_path)


def test_profile_missing_a_parameter(tmp_path):
    entry = Lemma31Config().to_dict()
    del entry["lr"]
    (tmp_path / "cpu.yml").write_text(yaml.safe_dump({"lemma31_fig2": entry}))
    with pytest.raises(ConfigError, match=r"profile 'cpu' .* lacks parameters lr for notebook 'lemma31_fig2'"):
        config.load_profile("cpu", "lemma31_fig2", tmp_path)


def test_profile_errors_name_the_file(tmp_path):
    (tmp_path / "smoke.yml").write_text(yaml.safe_dump({"lemma31_fig2": {"epochs": 0}}))
    with pytest.raises(ConfigError, match=r"'epochs' .* fix it in .*smoke.yml"):
        config.load_profile("smoke", "lemma31_fig2", tmp_path)


def test_profile_file_absent(tmp_path):
    with pytest.raises(ConfigError, match=r"profile file .*paper.yml not found"):
        config.load_profile("paper", "lemma31_fig2", tmp_path)


# -- from_namespace ---------------------------------------------------------------------------------

def _namespace(**params):
    return {"In": [], "Out": {}, "get_ipython": lambda: None, "_": 1, "_i1": "x", "np": types,
            "config": config, "Path": Path, **params}


def test_from_namespace_ignores_ipython_modules_and_private_names():
    cfg = config.from_namespace("lemma31_fig2", _namespace(epochs=5, alpha_grid=[0.5]))
    assert cfg.epochs == 5 and cfg.alpha_grid == (0.5,) and cfg.hidden == Lemma31Config().hidden


def test_from_namespace_refuses_injected_bogus_parameter():
    with pytest.raises(ConfigError, match=r"unknown parameter 'bogus' for notebook 'lemma31_fig2'.*papermill"):
        config.from_namespace("lemma31_fig2", _namespace(bogus=1))


# -- round trip and hash ----------------------------------------------------------------------------

def test_round_trip():
    cfg = Lemma31Config.from_mapping({"alpha": 0.5, "alpha_grid": [0.1, 3], "dtype": "float32"})
    d = cfg.to_dict()
    assert isinstance(d["alpha_grid"], list) and list(d) == Lemma31Config.field_names()
    assert Lemma31Config.from_mapping(d) == cfg
    assert yaml.safe_load(yaml.safe_dump(d)) == d


def test_with_overrides_blames_the_overrides():
    base = Lemma31Config()
    assert base.with_overrides({"epochs": 7}).epochs == 7 and base.with_overrides(None) is base
    with pytest.raises(ConfigError, match=r"unknown parameter 'epoch' .*did you mean 'epochs'.*fix the name in -p"):
        base.with_overrides({"epoch": 7}, source="-p")


def test_hash_stable_and_sensitive():
    cfg = Lemma31Config()
    assert cfg.config_hash() == Lemma31Config.from_mapping(cfg.to_dict()).config_hash()
    assert len(cfg.config_hash()) == 12 and int(cfg.config_hash(), 16) >= 0
    assert Lemma31Config(alpha=2).config_hash() == Lemma31Config(alpha=2.0).config_hash()
    changed = {Lemma31Config(**{k: v}).config_hash() for k, v in
               [("seed", 1), ("alpha", 0.5), ("alpha_grid", (0.05, 0.1)), ("dtype", "float32")]}
    assert cfg.config_hash() not in changed and len(changed) == 4


def test_hash_includes_notebook_name():
    from mixup_repro.results import config_hash

    cfg = Lemma31Config()
    assert cfg.config_hash() == config_hash(cfg.to_dict(), name="lemma31_fig2")
    assert cfg.config_hash() != config_hash(cfg.to_dict(), name="other")


# -- the schemas and profile files ------------------------------------------------------------------

def test_every_field_documented():
    for schema in config.REGISTRY.values():
        for row in schema.describe():
            assert row["help"], f"{schema.NAME}.{row['name']} has no help text"


def test_cpu_profile_is_the_schema_default():
    for name, schema in config.REGISTRY.items():
        assert config.load_profile("cpu", name, PARAMS_DIR) == schema()


@pytest.mark.parametrize("profile", config.PROFILES)
def test_profiles_validate_and_list_exactly_the_schema_names(profile):
    data = yaml.safe_load((PARAMS_DIR / f"{profile}.yml").read_text())
    assert set(data) == set(config.REGISTRY), "profile sections must match the registered notebooks"
    for name, schema in config.REGISTRY.items():
        assert list(data[name]) == schema.field_names()
        assert isinstance(config.load_profile(profile, name, PARAMS_DIR), schema)


def test_register_refuses_unsupported_field_type():
    with pytest.raises(TypeError, match=r"declare it with param\(\)"):
        @config.register
        @dataclass(frozen=True)
        class Bad(config.NotebookConfig):
            NAME: ClassVar[str] = "bad_notebook"
            x: complex = config.param(1j, help="h")
    assert "bad_notebook" not in config.REGISTRY


def test_profile_of_names_the_profile_a_config_came_from(tmp_path):
    from mixup_repro.config import load_profile, profile_of

    root = Path(__file__).resolve().parents[1]
    params = root / "notebooks" / "params"
    for profile in ("smoke", "cpu", "paper"):
        cfg = load_profile(profile, "lemma31_fig2", params)
        assert profile_of("lemma31_fig2", cfg.to_dict(), start=root) == profile
    changed = load_profile("cpu", "lemma31_fig2", params).to_dict() | {"epochs": 7}
    assert profile_of("lemma31_fig2", changed, start=root) == "custom"
    assert profile_of("lemma31_fig2", changed, start=tmp_path) == "unknown"


def test_exponent_floats_from_yaml_files_are_floats(tmp_path):
    """YAML 1.1 reads 1e-3 as a string; a float parameter takes it (profiles and sweep grids are YAML)."""
    cfg = Lemma31Config.from_mapping(yaml.safe_load("lr: 5e-1\nnoise: 1E-2\nalpha_grid: [1e-1, 2]"))
    assert (cfg.lr, cfg.noise, cfg.alpha_grid) == (0.5, 0.01, (0.1, 2.0))
    with pytest.raises(ConfigError, match=r"parameter 'lr' .* must be a float, got str '5e-1x'"):
        Lemma31Config.from_mapping({"lr": "5e-1x"})
    with pytest.raises(ConfigError, match=r"parameter 'epochs' .* must be an int, got str '1e3'"):
        Lemma31Config.from_mapping({"epochs": "1e3"})  # only float parameters read strings


@pytest.mark.parametrize("name, values, message", [
    ("glm_regularization", {"d": 10, "rank": 12, "rank_grid": [1, 2]},
     r"rank \(12\) and every rank_grid value \(largest 2\) must be <= d \(10\); lower them or raise d"),
    ("glm_regularization", {"d": 10, "rank": 2, "rank_grid": [1, 20]}, r".*largest 20\) must be <= d \(10\)"),
    ("rademacher", {"d": 10, "rank_grid": [5, 11]}, r"every rank_grid value \(largest 11\) must be <= d \(10\)"),
    ("generalization_gap", {"datasets": ["fake"]},
     r"datasets, models, train_sizes and test_sizes must have the same length .*got 1, 2, 2, 2"),
])
def test_constraints_between_parameters_are_checked_with_the_config(name, values, message):
    """Refused when the config is built, so a notebook run fails before its kernel starts."""
    schema = config.get_schema(name)
    with pytest.raises(ConfigError, match=rf"parameters of notebook '{name}': {message}"):
        schema.from_mapping(values)


def test_overrides_are_checked_against_the_profile_not_the_defaults():
    """-p d 8 on a profile whose ranks fit in 8 is fine even though the schema's default rank_grid does not."""
    base = config.get_schema("rademacher").from_mapping({"d": 12, "rank_grid": [1, 5]})
    assert max(config.get_schema("rademacher")().rank_grid) > 8
    assert base.with_overrides({"d": 8}).d == 8
    with pytest.raises(ConfigError, match=r"every rank_grid value \(largest 5\) must be <= d \(4\)"):
        base.with_overrides({"d": 4})
