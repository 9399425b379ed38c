"""Prepared(path): the one reader of a prepared folder, on a small hand-made folder."""

import pytest

from retail_sim.config import Config
from retail_sim.data.testing import FakeCache, tiny_samples, write_prepared
from retail_sim.errors import UserError
from retail_sim.prepared import Prepared


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    config = {"seed": 5, "splits": {"train_weeks": [1, 10], "validation_weeks": [11, 12], "test_weeks": [13, 14]}}
    return write_prepared(tmp_path_factory.mktemp("prep") / "p",
                          {"train": tiny_samples(40, weeks=(1, 10), seed=0),
                           "validation": tiny_samples(10, weeks=(11, 12), seed=1)}, config=config)


def test_manifest_config_fingerprint_and_weeks(folder):
    prep = Prepared(folder).check()
    assert prep.manifest["complete"] and prep.fingerprint == prep.manifest["fingerprint"]
    assert isinstance(prep.config, Config) and prep.config.seed == 5  # through config.from_dict
    assert prep.weeks("train") == (1, 10) and prep.weeks("test") == (13, 14)
    assert prep.cache_dir == folder / "tensor_cache"
    with pytest.raises(UserError, match="split 'dev' unknown"):
        prep.weeks("dev")


def test_connect_has_the_views_and_split_variables(folder):
    con = Prepared(folder).connect()
    assert con.execute("select count(*) from samples where split = 'train'").fetchone()[0] == 40
    assert con.execute("select count(distinct basket_id) from items").fetchone()[0] == 50
    assert con.execute("select getvariable('validation_last')").fetchone()[0] == 12
    con.close()


def test_refuses_incomplete_folders_and_a_missing_cache(folder, tmp_path):
    with pytest.raises(UserError, match="no manifest.json .* run `make splits`"):
        Prepared(tmp_path)
    prep = Prepared(folder)
    with pytest.raises(UserError, match="run `make cache`"):
        prep.cache_fingerprint()
    fake = FakeCache(fingerprint="stand-in")
    assert prep.cache_fingerprint(fake) == "stand-in" and prep.open_cache(fake) is fake


def test_dataset_never_reads_the_working_directory_config(folder, tmp_path, monkeypatch):
    """WorldModelDataset(config=None) takes the folder's config (seed 5), not ./retail_sim.toml."""
    from retail_sim.data.dataset import WorldModelDataset

    (tmp_path / "retail_sim.toml").write_text("seed = 99\n[loader]\nbatch_size = 3\n")
    monkeypatch.chdir(tmp_path)
    ds = WorldModelDataset(folder, "train", cache=FakeCache())
    assert ds.config.seed == 5 and ds.settings.seed == 5 and ds.request.batch_size == 64
    assert WorldModelDataset(folder, "train", cache=FakeCache(), seed=7).settings.seed == 7  # explicit override
