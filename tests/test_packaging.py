"""The wheel ships what an installed retail-sim needs: pyproject.toml lists every package folder and
its package-data globs cover every SQL file (the wheel itself is built, installed and run by
.ci/wheel-check, `make wheel-check`)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from retail_sim.config import tomllib  # tomllib, or tomli on Python 3.10

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_and_sql_file():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "retail_sim").rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"retail_sim.sql"}
    assert setuptools["package-dir"] == {"retail_sim.sql": "sql"}
    globs = setuptools["package-data"]["retail_sim.sql"]
    sql_files = [p.relative_to(REPO / "sql").as_posix() for p in (REPO / "sql").rglob("*.sql")]
    assert sql_files and all(any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)
                             for f in sql_files)


def test_sql_dir_is_found_in_a_source_checkout():
    from retail_sim.sqlrun import SQL_DIR

    assert (SQL_DIR / "prepared_views.sql").is_file() and (SQL_DIR / "evaluate" / "basket_flags.sql").is_file()
