"""`retail-sim audit` and `retail-sim sql`: SQL checks over a prepared folder.

Each file in sql/audits/ returns the rows that violate one rule (none = pass). Its first comment
line `-- check: ...` says what it checks; `-- checked: VIEW` names the view whose rows it checks.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.prepared import Prepared
from retail_sim.sqlrun import SQL_DIR, sql_file

AUDIT_DIR = SQL_DIR / "audits"


@dataclass
class AuditResult:
    name: str
    description: str
    rows_checked: int
    violations: int
    sample: list[tuple]
    seconds: float


def describe(path: Path) -> tuple[str, str]:
    text = path.read_text()
    check = re.search(r"^--\s*check:\s*(.+(?:\n--\s{6,}.+)*)", text, re.M)
    checked = re.search(r"^--\s*checked:\s*(\w+)", text, re.M)
    description = " ".join(line.lstrip("- ").strip() for line in check.group(1).splitlines()) if check else path.stem
    return description, checked.group(1) if checked else "samples"


def run_audit(con, path: Path) -> AuditResult:
    description, view = describe(path)
    start = time.perf_counter()
    rel = con.execute(path.read_text())
    rows = rel.fetchall()
    checked = con.execute(f"select count(*) from {view}").fetchone()[0]  # view name from our own file
    return AuditResult(path.stem, description, checked, len(rows), rows[:5], time.perf_counter() - start)


def run_audits(prepared: Path, cfg: Config | None = None) -> list[AuditResult]:
    con = Prepared(prepared).connect(cfg)
    try:
        return [run_audit(con, p) for p in sorted(AUDIT_DIR.glob("[0-9]*.sql"))]
    finally:
        con.close()


def print_audits(results: list[AuditResult]) -> None:
    width = max(len(r.name) for r in results)
    print(f"{'check':<{width}}  {'rows checked':>12}  {'violations':>10}  what it checks")
    for r in results:
        print(f"{r.name:<{width}}  {r.rows_checked:>12,}  {r.violations:>10,}  {r.description}")
        for row in r.sample:
            print(f"{'':<{width}}    e.g. {row}")
    failed = [r.name for r in results if r.violations]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")


def run_sql(file: Path, prepared: Path, cfg: Config | None = None, limit: int = 50) -> None:
    """Run one SQL file against the prepared views and print its result table."""
    path = sql_file(file)
    if not path.is_file():
        raise UserError(f"{file}: no such SQL file")
    con = Prepared(prepared).connect(cfg)
    try:
        rel = con.execute(path.read_text())
    except duckdb.Error as exc:
        raise UserError(f"{path}: {str(exc).splitlines()[0]}") from None
    if rel.description is None:
        print("(no result)")
        return
    names = [d[0] for d in rel.description]
    rows = rel.fetchmany(limit + 1)
    cells = [[str(v) for v in row] for row in rows[:limit]]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    more = " (more not shown)" if len(rows) > limit else ""
    print(f"({len(cells)} rows{more})")
