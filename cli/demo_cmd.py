"""`flirt-admin demo`: one user's whole flow on the local stack, step by step.

Signup (as Supabase Auth does it), credits, perform_action through the
PostgREST path, the worker's result, and a saved reply.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import typer

from cli.common import DbUrl, config, console, errors_as_lines, fail, secrets
from pyworker import worker as analysis_worker
from pyworker.db import ApiError, Connection, UndefinedFunction, api_connect, connect, user_rpc
from pyworker.queries import Q

DEMO_CHAT = (
    "them: haha you really climbed that in the rain?\n"
    "me: guilty. the view was worth it though\n"
    "them: ok that's kind of impressive. next time take me with you\n"
)


def _step(n: int, text: str) -> None:
    console.print(f"\n[bold cyan]{n}.[/bold cyan] [bold]{text}[/bold]")


def _worker_running(conn: Connection[Any]) -> bool:
    row = conn.execute(
        Q["sessions_named"],
        [analysis_worker.APPLICATION_NAME],
    ).fetchone()
    return bool(row and row["n"])


def _wait_for(api: Connection[Any], user_id: str, analysis_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        analysis = user_rpc(api, user_id, "get_analysis", analysis_id=analysis_id)
        if analysis["status"] in ("done", "failed") or time.monotonic() > deadline:
            return analysis
        time.sleep(0.2)


def demo(
    db: DbUrl = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the worker.")] = 30.0,
) -> None:
    """Walk one user's flow: signup, credits, perform_action, worker, result, saved reply."""
    cfg = config()
    url = db or secrets().database_url
    if not url:
        from cli.dev_cmd import database_url

        url = database_url()
    with errors_as_lines():
        owner = connect(url, autocommit=True)
        api = api_connect(url)
    with errors_as_lines(), owner, api:
        _step(1, "Sign up (insert into auth.users, as Supabase Auth does)")
        user_id = str(uuid.uuid4())
        email = f"demo+{user_id[:8]}@example.test"
        owner.execute(Q["demo_sign_up"], [user_id, email])
        console.print(f"user {user_id} <{email}>")

        _step(2, "get_credits() as that user (role authenticated, JWT claims)")
        credits = user_rpc(api, user_id, "get_credits")
        console.print(credits)

        _step(3, "perform_action('short_chat', {chat, context})")
        action = user_rpc(
            api,
            user_id,
            "perform_action",
            action_type="short_chat",
            input={"chat": DEMO_CHAT, "context": {"goal": "ask for a date", "tone": "playful"}},
        )
        console.print(action)
        analysis_id = action["analysis_id"]

        _step(4, "The worker analyses it")
        if _worker_running(owner):
            console.print("a worker is running (started by `flirt-admin dev up`); waiting…")
        else:
            console.print("no worker is running: processing the queue in this process")
            try:
                analysis_worker.run_worker(url, cfg, exit_when_empty=True)
            except analysis_worker.WorkerSetupError as exc:
                fail(str(exc))
        analysis = _wait_for(api, user_id, analysis_id, timeout)
        if analysis["status"] != "done":
            fail(f"analysis {analysis_id} is {analysis['status']}: {analysis.get('error') or ''}")

        _step(5, "get_analysis(): the result")
        result = analysis["result"]
        console.print(f"model {analysis['model']}, usage {analysis['usage']}")
        console.print(f"summary: {result['summary']}")
        console.print(f"interest level: {result['interest_level']}/10, tone: {result['tone']}")
        console.print(f"red flags: {', '.join(result['red_flags']) or 'none'}")
        for i, s in enumerate(result["suggestions"], 1):
            console.print(f"  {i}. ({s['style']}) {s['reply']}  — {s['rationale']}", markup=False)
        console.print(f"credits now: {user_rpc(api, user_id, 'get_credits')['credits_remaining']}")

        _step(6, "save_reply() with the first suggestion")
        try:
            saved = user_rpc(
                api,
                user_id,
                "save_reply",
                analysis_id=analysis_id,
                reply=result["suggestions"][0]["reply"],
            )
        except UndefinedFunction:
            console.print("save_reply is not deployed in this database yet: skipped")
            return
        except ApiError as exc:
            fail(f"save_reply: {exc.code}: {exc.hint}")
        console.print(saved)
        console.print("\n[green]demo complete[/green]")
