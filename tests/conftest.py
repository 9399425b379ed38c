"""Shared fixtures: the real LGSR sample (../shared/data/lgsr-sample) prepared once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_sim.config import Config, apply, load_config

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RAW = REPO.parent / "shared" / "data" / "lgsr-sample"
SAMPLE_CONFIG = REPO / "configs" / "sample.toml"


def sample_config(**extra) -> Config:
    """The config the real-sample fixtures use: configs/sample.toml (split weeks that give every split
    of the sample's weeks 1, 3–14 and 44–48 data; a small DuckDB footprint), then `extra`."""
    return apply(load_config(SAMPLE_CONFIG), extra)


@pytest.fixture(scope="session")
def sample_raw() -> Path:
    if not SAMPLE_RAW.is_dir():
        pytest.fail(f"real LGSR sample missing at {SAMPLE_RAW} (CI lays ../shared beside the clone)")
    return SAMPLE_RAW


@pytest.fixture(scope="session")
def prepared_sample(tmp_path_factory, sample_raw) -> Path:
    """The real sample through `splits`: a complete prepared folder (read-only by convention)."""
    from retail_sim.prepare import run_splits

    out = tmp_path_factory.mktemp("prepared") / "sample"
    run_splits(sample_config(), str(sample_raw), out)
    return out


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: on 2 shared cores more threads only spin."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- fixtures of later stages go below this line (cache, loader, train) ---


# cache: few GraphSAGE steps so the session fixture stays fast (tests/test_cache_sample.py)
CACHE_TEST_OVERRIDES = {"cache.graph.steps": 40, "cache.graph.eval_pairs": 5000}


@pytest.fixture(scope="session")
def cached_sample(prepared_sample) -> Path:
    """The prepared real sample with its tensor cache built (`<prepared>/tensor_cache/`); returns
    the prepared folder. Read-only by convention."""
    from retail_sim.cache.build import build_cache

    build_cache(sample_config(**CACHE_TEST_OVERRIDES), prepared_sample)
    return prepared_sample
