import pytest

from retail_sim.config import Config, apply, load_config
from retail_sim.errors import UserError


def test_defaults_match_design():
    cfg = Config()
    assert cfg.splits.train_weeks == [1, 80]
    assert cfg.splits.validation_weeks == [81, 95]
    assert cfg.splits.test_weeks == [96, 117]
    assert cfg.splits.bucket_edges == [10, 20, 35, 50]
    assert cfg.splits.max_seq_len == 50


def test_toml_overrides_and_unknown_key(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("seed = 7\n[splits]\ntrain_weeks = [1, 10]\nvalidation_weeks = [11, 12]\ntest_weeks = [13, 20]\n")
    cfg = load_config(good)
    assert cfg.seed == 7 and cfg.splits.train_weeks == [1, 10]
    bad = tmp_path / "bad.toml"
    bad.write_text("[splits]\ntrain_wekes = [1, 10]\n")
    with pytest.raises(UserError, match="splits.train_wekes"):
        load_config(bad)
    nested = tmp_path / "nested.toml"
    nested.write_text("[cache.graph]\nstepz = 3\n")
    with pytest.raises(UserError, match="cache.graph.stepz"):
        load_config(nested)


def test_wrong_type_and_validation(tmp_path):
    with pytest.raises(UserError, match="splits.max_seq_len"):
        apply(Config(), {"splits.max_seq_len": "fifty"})
    with pytest.raises(UserError, match="bucket_edges"):
        load_config_text(tmp_path, "[splits]\nbucket_edges = [10, 20, 35]\n")


def test_cli_override_wins():
    cfg = apply(Config(), {"seed": 3, "synth.customers": 10})
    assert cfg.seed == 3 and cfg.synth.customers == 10


def load_config_text(tmp_path, text):
    path = tmp_path / "x.toml"
    path.write_text(text)
    return load_config(path)
