"""Synthetic LGSR data: weekly transaction files calibrated to the real distributions.

`generate(cfg, out, gzip)` writes them (`retail-sim synth`); `bench(rows, out)` times it
(`retail-sim bench synth`).
"""

from retail_sim.synth.bench import bench
from retail_sim.synth.generate import generate

__all__ = ["bench", "generate"]
