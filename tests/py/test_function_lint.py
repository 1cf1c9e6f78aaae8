"""Supabase's function linter finds nothing: the check `supabase db lint --level warning` runs.

`supabase db lint` runs plpgsql_check over every plpgsql function of a schema (trigger
functions left out) and reports errors and warnings. Here every plpgsql function of the
project's schemas is checked, trigger functions too (against a table they are attached to),
in a database without pg_cron and in the one where pg_cron runs.
"""

from __future__ import annotations

from pyworker.migrate import PROJECT_SCHEMAS
from tests.py.dbtools import TestDatabase

# plpgsql_check's levels: error, warning, warning extra, performance. `--level warning`
# reports every level but performance (and performance warnings are off by default).
LINT_SQL = """
select p.oid::regprocedure::text as function, r.level, r.message, r.lineno,
       r.detail, r.context, r.query
  from pg_catalog.pg_proc p
  join pg_catalog.pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
  left join lateral (
    select t.tgrelid from pg_catalog.pg_trigger t
     where t.tgfoid = p.oid and not t.tgisinternal order by t.oid limit 1
  ) trg on true
  cross join lateral extensions.plpgsql_check_function_tb(p.oid, coalesce(trg.tgrelid, 0)) r
 where p.pronamespace::regnamespace::text = any(%s)
   and (p.prorettype <> 'pg_catalog.trigger'::regtype or trg.tgrelid is not null)
   and r.level <> 'performance'
 order by 1, r.lineno
"""


def lint_findings(database: TestDatabase) -> list[str]:
    """Every error and warning plpgsql_check reports, one line each."""
    with database.connect("supabase_admin") as conn:
        # Local stack only (supabase/local/plpgsql_check.sql); never in the migrations.
        conn.execute("create extension if not exists plpgsql_check with schema extensions")
        rows = conn.execute(LINT_SQL, [list(PROJECT_SCHEMAS)]).fetchall()
        conn.rollback()
    return [
        f"{r['function']} line {r['lineno']}: {r['level']}: {r['message']}"
        + (f" ({r['detail']})" if r["detail"] else "")
        + (f" in {r['query']!r}" if r["query"] else "")
        for r in rows
    ]


def test_every_function_passes_plpgsql_check_without_pg_cron(db: TestDatabase) -> None:
    assert db.fetchone("select 1 from pg_extension where extname = 'pg_cron'") is None
    findings = lint_findings(db)
    assert findings == [], "\n".join(findings)


def test_every_function_passes_plpgsql_check_where_pg_cron_runs(cron_db: TestDatabase) -> None:
    assert cron_db.fetchone("select 1 from pg_extension where extname = 'pg_cron'")
    findings = lint_findings(cron_db)
    assert findings == [], "\n".join(findings)


def test_lint_reports_a_broken_function(db: TestDatabase) -> None:
    db.execute(
        "create function private.lint_probe() returns integer language plpgsql"
        " set search_path = '' as $$ declare unused integer; begin"
        " return (select count(*) from public.no_such_table); end $$"
    )
    findings = lint_findings(db)
    assert any(f.startswith("private.lint_probe() line") and "no_such_table" in f for f in findings)
    db.execute("drop function private.lint_probe()")
