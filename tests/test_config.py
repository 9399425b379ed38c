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


def changed_everywhere() -> Config:
    """A Config in which every key differs from its default (a valid value of the same type)."""
    from retail_sim.config import choices, leaves

    special = {  # keys whose valid values depend on others
        "splits.train_weeks": [1, 14], "splits.validation_weeks": [15, 46], "splits.test_weeks": [47, 117],
        "splits.max_seq_len": 40, "splits.bucket_edges": [8, 16, 40], "calendar.origin_date": "2006-04-17",
        "synth.weeks": 52, "synth.products": 5000, "synth.stores": 800, "synth.gzip_level": 5,
        "duckdb.memory_limit": "2GB", "masking.mask_prob": 0.2, "model.dropout": 0.2,
    }
    new = {}
    for key, value in leaves(Config()).items():
        if key in special:
            new[key] = special[key]
        elif choices(key):
            new[key] = next(c for c in choices(key) if c != value)
        elif isinstance(value, bool):
            new[key] = not value
        elif isinstance(value, float):
            new[key] = value / 2 if value else 0.5
        elif isinstance(value, int):
            new[key] = value + 1
        elif isinstance(value, str):
            new[key] = value + "-x" if value else "x"
        else:
            raise AssertionError(f"no changed value for {key} = {value!r}: add it to `special`")
    return apply(Config(), new)


def test_toml_round_trip_every_key(tmp_path):
    """`retail-sim config --toml` writes every key; --config reads each back to the same value."""
    from retail_sim.config import leaves, to_toml

    cfg = changed_everywhere()
    assert all(v != leaves(Config())[k] for k, v in leaves(cfg).items())  # every key moved
    path = tmp_path / "all.toml"
    path.write_text(to_toml(cfg, "a header line\nand another"))
    back = load_config(path)
    assert leaves(back) == leaves(cfg)
    assert {type(v) for v in leaves(back).values()} == {type(v) for v in leaves(cfg).values()}
    assert to_toml(back) == to_toml(cfg)


def test_cli_config_toml_reads_back(tmp_path):
    import subprocess
    import sys

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "retail_sim", "config", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    first = cli("--toml", "--set", "train.lr=1e-3", "--set", "splits.train_weeks=[1, 14]",
                "--set", "splits.validation_weeks=[15,46]", "--set", "model.preset=base", "--set", "duckdb.memory_limit=4GB")
    path = tmp_path / "c.toml"
    path.write_text(first)
    assert cli("--toml", "--config", str(path)) == first
    cfg = load_config(path)
    assert cfg.train.lr == 1e-3 and cfg.splits.train_weeks == [1, 14] and cfg.model.preset == "base"
    assert cfg.duckdb.memory_limit == "4GB"


def test_set_values_are_toml_or_plain_strings():
    from retail_sim.config import parse_assignments

    got = parse_assignments(["train.lr=3e-4", "train.bf16=false", "splits.train_weeks=[1, 14]",
                             "train.device=cuda", "duckdb.memory_limit=\"8GB\"", "duckdb.temp_directory="])
    assert got == {"train.lr": 3e-4, "train.bf16": False, "splits.train_weeks": [1, 14], "train.device": "cuda",
                   "duckdb.memory_limit": "8GB", "duckdb.temp_directory": ""}
    with pytest.raises(UserError, match="section.key=value"):
        parse_assignments(["train.lr"])
    with pytest.raises(UserError, match="unknown key 'train.lrr'"):
        apply(Config(), parse_assignments(["train.lrr=1"]))


@pytest.mark.parametrize("key, value, message", [
    ("train.lr", -1.0, "train.lr = -1.0: must be >= 0"),
    ("cache.graph.lr", 0.0, "cache.graph.lr = 0.0: must be > 0"),
    ("train.epochs", 0, "train.epochs = 0: must be >= 1"),
    ("train.max_steps", -5, "train.max_steps = -5: must be >= 0"),
    ("loader.batch_size", 0, "loader.batch_size = 0: must be >= 1"),
    ("train.eval_batch_size", 0, "train.eval_batch_size = 0: must be >= 1"),
    ("masking.mask_prob", 0.0, r"masking.mask_prob = 0.0: must be in \(0, 1\]"),
    ("cache.graph.id_dropout", 1.5, r"cache.graph.id_dropout = 1.5: must be in \[0, 1\]"),
    ("model.preset", "huge", "model.preset = 'huge': choose tiny or base"),
    ("model.item_head", "dot", "model.item_head = 'dot': choose linear or tied"),
    ("model.product_input", "x", "model.product_input = 'x': choose cache or learned"),
    ("cache.graph.edge_weight", "lifts", "cache.graph.edge_weight = 'lifts': choose count or lift"),
    ("cache.graph.positive_weight", "x", "cache.graph.positive_weight = 'x': choose count, lift or uniform"),
    ("loader.eval_trip_context", "shown", "loader.eval_trip_context = 'shown': choose hidden, dropout or visible"),
    ("train.device", "gpu", "train.device = 'gpu': choose auto, cpu or cuda"),
    ("synth.header", "old", "synth.header = 'old': choose seg or named"),
    ("calendar.origin_date", "10/04/2006", "calendar.origin_date = '10/04/2006': give a date as YYYY-MM-DD"),
])
def test_validate_names_the_key(key, value, message):
    with pytest.raises(UserError, match=f"^{message}"):
        apply(Config(), {key: value})


def test_choices_match_the_code_that_uses_them():
    from retail_sim.config import choices
    from retail_sim.model import PRESETS

    assert set(choices("model.preset")) == set(PRESETS)
    assert choices("train.device") == ("auto", "cpu", "cuda") and choices("train.lr") == ()


def test_retired_width_keys(tmp_path):
    """The cache.*_dim keys are fixed widths now: their one value is still read (old manifests), any other refused."""
    from retail_sim.config import from_dict
    from retail_sim.widths import AFFINITY_DIM, CUSTOMER_DIM, PRODUCT_DIM

    old = Config().to_dict()
    old["cache"].update(product_dim=256, store_dim=96, segment_dim=64, history_dim=96, affinity_dim=32)
    assert from_dict(old) == Config()
    old["cache"]["store_dim"] = 48
    with pytest.raises(UserError, match="cache.store_dim.*no longer a setting"):
        from_dict(old)
    from retail_sim.cache.customer_state import AFFINITY_COLUMNS

    assert len(AFFINITY_COLUMNS) == AFFINITY_DIM and CUSTOMER_DIM == 192 and PRODUCT_DIM == 256


@pytest.mark.parametrize("name", ["demo", "sample", "gpu"])
def test_example_configs_load_and_name_their_commands(name):
    """configs/*.toml read back, and open with the exact commands that use them."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / f"{name}.toml"
    cfg = load_config(path)
    commands = [line for line in path.read_text().splitlines() if line.startswith("#   retail-sim ")]
    assert commands and all(f"--config configs/{name}.toml" in c for c in commands)
    assert {"demo": cfg.train.max_steps == 1500, "sample": cfg.splits.test_weeks == [47, 117],
            "gpu": cfg.train.device == "cuda"}[name]
