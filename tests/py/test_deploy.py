"""deploy/: the systemd units and the nginx site are valid and agree with the code.

The units are checked with `systemd-analyze verify` and nginx's site with
`nginx -t` (a throwaway certificate made on the fly) when those binaries are
installed; set NGINX_BIN to a binary's path to check with one that is not on PATH.
Without them those two tests skip; the rest always runs.
"""

from __future__ import annotations

import configparser
import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from cli.main import app
from pyworker.settings import ROOT, load_config

DEPLOY = ROOT / "deploy"
UNITS = {"flirt-api@.service": "8001", "flirt-worker@.service": "9101"}
INSTALLED_CLI = "/opt/flirt/current/.venv/bin/flirt-admin"
NGINX_SITE = DEPLOY / "nginx" / "flirt-api.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def exec_args(name: str, instance: str) -> list[str]:
    command = shlex.split(unit(name)["Service"]["ExecStart"].replace("%i", instance))
    assert command[0] == INSTALLED_CLI
    return command[1:]


@pytest.mark.parametrize(("name", "instance"), UNITS.items())
def test_unit_runs_a_real_cli_command_with_options_that_exist(name: str, instance: str) -> None:
    args = exec_args(name, instance)
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    for option in (a for a in args if a.startswith("--")):
        assert option in result.output, option


@pytest.mark.parametrize("name", UNITS)
def test_unit_restarts_stops_with_sigterm_and_is_hardened(name: str) -> None:
    service = unit(name)["Service"]
    assert service["Restart"] == "always"
    assert service["KillSignal"] == "SIGTERM"
    assert service["User"] == "flirt" and service["EnvironmentFile"] == "/etc/flirt/flirt.env"
    assert "FLIRT_CONFIG=/etc/flirt/config.toml" in service["Environment"]
    for option in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"):
        assert service[option] in ("yes", "strict"), option


def test_worker_stop_timeout_outlasts_the_production_grace_period() -> None:
    grace = load_config(DEPLOY / "config.production.toml").worker.shutdown_grace_seconds
    timeout = int(unit("flirt-worker@.service")["Service"]["TimeoutStopSec"])
    # the grace period, then handing back the unfinished analyses and closing connections
    assert timeout >= grace + 15


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "flirt-admin"
    paths = []
    for name, instance in UNITS.items():
        text = (DEPLOY / "systemd" / name).read_text().replace(INSTALLED_CLI, str(cli))
        path = tmp_path / name.replace("@.", f"@{instance}.")
        path.write_text(text)
        paths.append(str(path))
    shutil.copy(DEPLOY / "systemd" / "flirt.target", tmp_path / "flirt.target")
    paths.append(str(tmp_path / "flirt.target"))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert result.returncode == 0, result.stderr
    # unknown keys and misplaced options are warnings, not failures: none allowed
    assert result.stderr.strip() == "", result.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


NGINX = os.environ.get("NGINX_BIN") or shutil.which("nginx")


@pytest.mark.skipif(NGINX is None, reason="nginx absent (set NGINX_BIN to a binary to check)")
def test_nginx_site_passes_nginx_t_with_a_throwaway_certificate(tmp_path: Path) -> None:
    assert NGINX is not None
    cert, key = _self_signed(tmp_path)
    site = NGINX_SITE.read_text()
    site = site.replace("/etc/letsencrypt/live/api.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/api.example.com/privkey.pem", str(key))
    assert str(cert) in site and str(key) in site
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/logs/error.log;\n"
        "events {}\n"
        "http {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n" for kind in TEMP_PATHS)
        + f"  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [NGINX, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
        # nginx reads NGINX itself (inherited sockets)
        env={k: v for k, v in os.environ.items() if k != "NGINX"},
    )
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr, result.stderr


def test_nginx_site_proxies_only_the_public_routes() -> None:
    site = NGINX_SITE.read_text()
    proxied = re.findall(r"location (=|~) (\S+) \{", site)
    assert proxied == [
        ("=", "/api/webhook/stripe"),
        ("~", "^/api/user/(buy_pack|buy_quick_pack|subscribe|cancel_subscription|billing_portal)$"),
        ("~", "^/(healthz|readyz)$"),
    ]
    # every billing route of the app is in the list, and nothing else it serves
    from pyworker.api import billing

    user_paths = {r.path for r in billing.router.routes if hasattr(r, "path")}
    pattern = re.compile(proxied[1][1])
    assert user_paths and all(pattern.match(p) for p in user_paths), user_paths
    assert not any(re.search(p[1], "/metrics") for p in proxied[1:])
    assert re.search(r"location / \{\s*return 404;", site)
    max_webhook = load_config(DEPLOY / "config.production.toml").api.max_webhook_bytes
    assert f"client_max_body_size {max_webhook // 1024}k;" in site
    assert "large_client_header_buffers" in site
