"""The commands that (re)build a folder, written as the user would type them: a hint repeats the
user's own --config and folders, not the Makefile's defaults.

    hints.command("cache", prepared="data/p")   # "`retail-sim cache --config my.toml --prepared data/p`"
"""

from __future__ import annotations

import shlex
from pathlib import Path

_config: list[str] = []  # the --config FILE of this invocation (set by the CLI), if one was given


def use_config(path: str | Path | None) -> None:
    """Record the --config FILE of the running command; later hints repeat it."""
    _config[:] = [str(path)] if path is not None else []


def command(name: str, **options: object) -> str:
    """`retail-sim NAME [--config FILE] --option value ...` in backticks (None options left out)."""
    parts = ["retail-sim", *name.split()]
    if _config:
        parts += ["--config", _config[0]]
    for key, value in options.items():
        if value is not None:
            parts += [f"--{key.replace('_', '-')}", str(value)]
    return "`" + shlex.join(parts) + "`"


def splits(out: str | Path, raw: str | Path | None = None) -> str:
    """The command that writes the prepared folder `out` (from `raw`, when known)."""
    return command("splits", raw=raw if raw is not None else "YOUR_CSV_FOLDER", out=out)


def cache(prepared: str | Path) -> str:
    """The command that builds the tensor cache of `prepared`."""
    return command("cache", prepared=prepared)
