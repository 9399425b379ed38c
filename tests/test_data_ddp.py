"""Two ranks on CPU (gloo): disjoint baskets, the same number of batches, rank from torch.distributed."""

import numpy as np
import torch.multiprocessing as mp

from retail_sim.data.testing import ddp_worker, tiny_samples, write_prepared


def test_two_rank_gloo(tmp_path):
    prepared = write_prepared(tmp_path / "prepared", {"train": tiny_samples(300, seed=4)}, row_group_size=16)
    out = tmp_path / "out"
    out.mkdir()
    args = (2, str(tmp_path / "init"), str(prepared), str(out))
    mp.start_processes(ddp_worker, args=args, nprocs=2, join=True, start_method="fork")  # fork: no re-import
    ids = [np.load(out / f"rank{r}.npy") for r in range(2)]
    steps = [np.load(out / f"steps{r}.npy").tolist() for r in range(2)]
    assert steps[0][0] == steps[1][0] == steps[0][1] > 0  # same batch count, = len(loader)
    assert [s[2:] for s in steps] == [[0, 2], [1, 2]]  # rank and world size from torch.distributed
    assert len(np.intersect1d(ids[0], ids[1])) == 0
    assert len(ids[0]) == len(ids[1]) == 16 * steps[0][0]
