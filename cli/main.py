"""flirt-admin: one Typer app per area, joined here."""

from __future__ import annotations

import typer

from cli.db_cmd import config_app, db_app
from cli.dev_cmd import dev_app
from cli.doctor_cmd import doctor

app = typer.Typer(
    help="AI Flirt Studio admin CLI.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(dev_app, name="dev")
app.command("doctor")(doctor)
