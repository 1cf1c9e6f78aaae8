"""Screenshots: Supabase Storage through the supabase client (against a local fake), or a folder."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pyworker.providers import ProviderError
from pyworker.settings import Config, Secrets, load_config
from pyworker.storage import ScreenshotStore

PNG = b"\x89PNG\r\n\x1a\nscreenshot"
KEY = "service-role-key"


@pytest.fixture
def storage_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Answers GET /storage/v1/object/<bucket>/<path> like Supabase Storage."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            if self.path == "/storage/v1/object/screenshots/u1/chat.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)
                return
            status = 503 if "busy" in self.path else 400
            body = json.dumps(
                {
                    "statusCode": "404" if status == 400 else "503",
                    "error": "not_found",
                    "message": "Object not found",
                }
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def storage_config(**fields: Any) -> Config:
    """config.toml with some `[storage]` settings changed."""
    cfg = load_config()
    return cfg.model_copy(update={"storage": cfg.storage.model_copy(update=fields)})


def test_screenshot_is_downloaded_with_the_supabase_client_and_service_key(
    storage_api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = storage_api
    store = ScreenshotStore(load_config(), Secrets(supabase_url=url, supabase_service_role_key=KEY))
    assert store.source == "supabase"
    data, mime = asyncio.run(store.load("u1/chat.png"))
    assert (data, mime) == (PNG, "image/png")
    assert seen[0]["auth"] == f"Bearer {KEY}"


def test_missing_screenshot_in_storage_is_a_permanent_error(
    storage_api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = storage_api
    store = ScreenshotStore(load_config(), Secrets(supabase_url=url, supabase_service_role_key=KEY))
    with pytest.raises(ProviderError) as info:
        asyncio.run(store.load("u1/gone.png"))
    assert info.value.code == "image_not_found" and not info.value.retryable


def test_storage_outage_is_retryable(storage_api: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = storage_api
    store = ScreenshotStore(load_config(), Secrets(supabase_url=url, supabase_service_role_key=KEY))
    with pytest.raises(ProviderError) as info:
        asyncio.run(store.load("u1/busy.png"))
    assert info.value.retryable


def test_screenshot_over_the_size_limit_in_storage_is_refused_for_good(
    storage_api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = storage_api
    cfg = storage_config(max_screenshot_bytes=len(PNG) - 1)
    store = ScreenshotStore(cfg, Secrets(supabase_url=url, supabase_service_role_key=KEY))
    with pytest.raises(ProviderError) as info:
        asyncio.run(store.load("u1/chat.png"))
    assert info.value.code == "image_too_large" and not info.value.retryable
    assert f"at most {len(PNG) - 1}" in str(info.value)


def test_local_screenshot_over_the_limit_or_of_another_type_is_refused_unread(
    tmp_path: Path,
) -> None:
    cfg = storage_config(local_dir=str(tmp_path), max_screenshot_bytes=100)
    folder = tmp_path / "screenshots" / "u1"
    folder.mkdir(parents=True)
    (folder / "big.png").write_bytes(PNG + b"\0" * 100)
    (folder / "fits.webp").write_bytes(PNG)
    for name in ("drawing.svg", "scan.tiff", "photo.bmp"):
        (folder / name).write_bytes(PNG)
    store = ScreenshotStore(cfg, Secrets())

    assert asyncio.run(store.load("u1/fits.webp")) == (PNG, "image/webp")
    with pytest.raises(ProviderError) as info:
        asyncio.run(store.load("u1/big.png"))
    assert info.value.code == "image_too_large" and not info.value.retryable
    for name in ("drawing.svg", "scan.tiff", "photo.bmp"):
        with pytest.raises(ProviderError) as info:
            asyncio.run(store.load(f"u1/{name}"))
        assert info.value.code == "unsupported_image" and not info.value.retryable


def test_local_folder_is_used_without_supabase_and_paths_cannot_escape(tmp_path: Path) -> None:
    cfg = storage_config(local_dir=str(tmp_path))
    (tmp_path / "screenshots" / "u1").mkdir(parents=True)
    (tmp_path / "screenshots" / "u1" / "chat.jpg").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(b"not yours")
    store = ScreenshotStore(cfg, Secrets())
    assert store.source == "local"
    assert asyncio.run(store.load("u1/chat.jpg")) == (PNG, "image/jpeg")
    for bad in ("../secret.png", "/etc/passwd.png", "u1/missing.png", "u1/notes.txt"):
        with pytest.raises(ProviderError) as info:
            asyncio.run(store.load(bad))
        assert not info.value.retryable
