"""`retail-sim audit` and `retail-sim sql`: SQL checks over a prepared folder.

Each file in sql/audits/ returns the rows that violate one rule (none = pass). Its first comment
line `-- check: ...` says what it checks; `-- checked: VIEW` names the view whose rows it checks.
Before them, `00_file_hashes` hashes every file the manifests list (prepared folder and tensor
cache) against its recorded blake2b; after them, the quality profile's warnings (exit 0).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.integrity import hash_mismatches
from retail_sim.manifest import MANIFEST
from retail_sim.prepared import Prepared
from retail_sim.quality import flag_weeks
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


def file_hashes(prep: Prepared) -> AuditResult:
    """00_file_hashes: every file of the prepared folder, and of its tensor cache when built, hashes to
    the blake2b its manifest records (a flipped bit keeps a file's size and row count)."""
    start = time.perf_counter()
    records = prep.manifest["files"]
    problems = hash_mismatches(prep.path, records)
    checked = len(records)
    if (prep.cache_dir / MANIFEST).is_file():
        cache_records = prep.cache_manifest.get("files", {})
        problems += [f"tensor_cache/{p}" for p in hash_mismatches(prep.cache_dir, cache_records)]
        checked += len(cache_records)
    return AuditResult("00_file_hashes", "every file hashes to the blake2b its manifest records",
                       checked, len(problems), [(p,) for p in problems[:5]], time.perf_counter() - start)


def run_audits(prepared: Path, cfg: Config | None = None) -> list[AuditResult]:
    prep = Prepared(prepared)
    results = [file_hashes(prep)]
    con = prep.connect(cfg)
    try:
        return results + [run_audit(con, p) for p in sorted(AUDIT_DIR.glob("[0-9]*.sql"))]
    finally:
        con.close()


def print_quality(prepared: Path, cfg: Config) -> None:
    """The quality profile's warnings (quality.flag_weeks with cfg's thresholds), or one line saying none."""
    weeks = Prepared(prepared).manifest.get("quality", {}).get("weeks", [])
    lines = flag_weeks(weeks, cfg.quality)
    for line in lines:
        print(f"warning: {line}")
    if weeks and not lines:
        print(f"quality: {len(weeks)} weeks, none far from the rest in replayed baskets or volume")


def print_audits(results: list[AuditResult]) -> None:
    width = max(len(r.name) for r in results)
    print(f"{'check':<{width}}  {'rows checked':>12}  {'violations':>10}  what it checks")
    for r in results:
        print(f"{r.name:<{width}}  {r.rows_checked:>12,}  {r.violations:>10,}  {r.description}")
        for row in r.sample:
            print(f"{'':<{width}}    e.g. {row}")
    failed = [r.name for r in results if r.violations]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")


def run_sql(file: Path, prepared: Path, cfg: Config | None = None, limit: int = 50) -> int:
    """Run every statement of one SQL file against the prepared views, printing each one's result
    table (at most `limit` rows shown); return the rows of the last statement. A failing statement is
    a UserError holding DuckDB's full message."""
    path = sql_file(file)
    if not path.is_file():
        raise UserError(f"{file}: no such SQL file")
    con = Prepared(prepared).connect(cfg)
    try:
        try:
            statements = con.extract_statements(path.read_text())
        except duckdb.Error as exc:
            raise UserError(f"{path}: DuckDB cannot parse it:\n{exc}") from None
        rows = 0
        for i, statement in enumerate(statements, 1):
            head = next((line.strip() for line in statement.query.splitlines()
                         if line.strip() and not line.strip().startswith("--")), "")
            print(f"-- statement {i} of {len(statements)}: {head[:100]}")
            try:
                rel = con.execute(statement.query)
            except duckdb.Error as exc:
                raise UserError(f"{path}: statement {i} of {len(statements)} failed:\n{exc}") from None
            rows = _print_result(rel, limit)
        return rows
    finally:
        con.close()


def _print_result(rel, limit: int) -> int:
    """Print the first `limit` rows of a result as a table; return its row count (0: no result)."""
    if rel.description is None:
        print("(no result)")
        return 0
    names = [d[0] for d in rel.description]
    rows = rel.fetchmany(limit + 1)
    total = len(rows)
    while batch := rel.fetchmany(10_000):
        total += len(batch)
    cells = [[str(v) for v in row] for row in rows[:limit]]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    more = f", {limit} shown" if total > limit else ""
    print(f"({total} rows{more})")
    return total
