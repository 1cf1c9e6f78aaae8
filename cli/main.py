"""flirt-admin: one Typer app per area, joined here."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from cli.analyses_cmd import analyses_app
from cli.api_cmd import api_app
from cli.billing_cmd import billing_app, webhooks_app
from cli.credits_cmd import credits_app, reconcile, reset_daily
from cli.db_cmd import config_app, db_app
from cli.demo_cmd import demo
from cli.dev_cmd import dev_app
from cli.doctor_cmd import doctor
from cli.metrics_cmd import metrics
from cli.users_cmd import users_app
from cli.worker_cmd import worker_app

app = typer.Typer(
    help="AI Flirt Studio admin CLI.", no_args_is_help=True, pretty_exceptions_enable=False
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"flirt-admin {version('flirt-studio-backend')}")
        raise typer.Exit()


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """AI Flirt Studio admin CLI."""


app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(dev_app, name="dev")
app.command("doctor")(doctor)
app.command("metrics")(metrics)
app.add_typer(users_app, name="users")
app.add_typer(credits_app, name="credits")
app.command("reset-daily")(reset_daily)
app.add_typer(analyses_app, name="analyses")
app.command("reconcile")(reconcile)
app.add_typer(worker_app, name="worker")
app.command("demo")(demo)
app.add_typer(api_app, name="api")
app.add_typer(billing_app, name="billing")
app.add_typer(webhooks_app, name="webhooks")
