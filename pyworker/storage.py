"""Screenshots for image analyses: Supabase Storage, or a local folder in the local stack."""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from pyworker.providers.base import ProviderError
from pyworker.settings import ROOT, Config, Secrets


class ScreenshotStore:
    """Reads `<bucket>/<path>`: with the supabase client when SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY are set, else from `[storage] local_dir`."""

    def __init__(self, cfg: Config, secrets: Secrets) -> None:
        self.bucket = cfg.storage.screenshot_bucket
        self.max_bytes = cfg.storage.max_screenshot_bytes
        self.types = frozenset(cfg.storage.screenshot_types)
        self.local_dir = (ROOT / cfg.storage.local_dir).resolve()
        self._client: Any = None
        if secrets.supabase_url and secrets.supabase_service_role_key:
            from supabase import create_client  # imported only when used: it is slow to load

            self._client = create_client(secrets.supabase_url, secrets.supabase_service_role_key)

    @property
    def source(self) -> str:
        return "supabase" if self._client else "local"

    async def load(self, path: str) -> tuple[bytes, str]:
        """The image bytes and MIME type; a missing object, a type other than
        `[storage] screenshot_types` or a file over `max_screenshot_bytes` is a
        permanent error (the analysis fails and is refunded)."""
        if not path or ".." in path.split("/") or path.startswith("/"):
            raise ProviderError("image_not_found", "invalid image path", retryable=False)
        mime = mimetypes.guess_type(path)[0] or "image/png"
        if mime not in self.types:
            raise ProviderError(
                "unsupported_image",
                f"not a screenshot type: {mime} (allowed: {', '.join(sorted(self.types))})",
                retryable=False,
            )
        if self._client is not None:
            data = await asyncio.to_thread(self._download, path)
        else:
            file = (self.local_dir / self.bucket / path).resolve()
            if not file.is_relative_to(self.local_dir) or not file.is_file():
                raise ProviderError("image_not_found", "screenshot does not exist", retryable=False)
            self._check_size(file.stat().st_size)  # before reading it
            data = await asyncio.to_thread(file.read_bytes)
        self._check_size(len(data))
        return data, mime

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise ProviderError(
                "image_too_large",
                f"screenshot of {size} bytes (at most {self.max_bytes})",
                retryable=False,
            )

    def _download(self, path: str) -> bytes:
        from storage3.exceptions import StorageApiError

        try:
            data: bytes = self._client.storage.from_(self.bucket).download(path)
            return data
        except StorageApiError as exc:
            status = int(getattr(exc, "status", 0) or 0)
            # Storage answers a missing object with 400 (statusCode "404" in the body)
            if status in (400, 404):
                raise ProviderError(
                    "image_not_found", "screenshot does not exist", retryable=False
                ) from exc
            raise ProviderError(
                "storage_error",
                f"storage answered {status}",
                retryable=status >= 500 or status in (408, 429),
            ) from exc
        except Exception as exc:  # network errors of the storage client
            raise ProviderError("storage_error", type(exc).__name__, retryable=True) from exc

    async def delete(self, path: str, uploaded_before: datetime | None = None) -> int:
        """Delete one screenshot, or a whole folder when `path` ends with '/'; how many
        files went. Deleting what is already gone is not an error. A screenshot last
        uploaded after `uploaded_before` (a new upload under the same name) is kept."""
        parts = path.rstrip("/").split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a screenshot path: {path!r}")
        if self._client is not None:
            return await asyncio.to_thread(self._delete_remote, path, uploaded_before)
        return await asyncio.to_thread(self._delete_local, path, uploaded_before)

    def _delete_local(self, path: str, uploaded_before: datetime | None) -> int:
        target = (self.local_dir / self.bucket / path).resolve()
        if not target.is_relative_to(self.local_dir / self.bucket):
            raise ValueError(f"not a screenshot path: {path!r}")
        if path.endswith("/"):
            if not target.is_dir():
                return 0
            count = sum(1 for f in target.rglob("*") if f.is_file())
            shutil.rmtree(target)
            return count
        if not target.is_file():
            return 0
        if uploaded_before and target.stat().st_mtime > uploaded_before.timestamp():
            return 0
        target.unlink()
        return 1

    def _delete_remote(self, path: str, uploaded_before: datetime | None) -> int:
        bucket = self._client.storage.from_(self.bucket)
        if not path.endswith("/"):
            folder, _, name = path.rpartition("/")
            found = [
                i
                for i in bucket.list(folder, {"limit": 100, "offset": 0, "search": name})
                if i.get("name") == name and i.get("id")
            ]
            if not found:
                return 0
            stamp = found[0].get("updated_at") or found[0].get("created_at")
            if uploaded_before and stamp and datetime.fromisoformat(stamp) > uploaded_before:
                return 0
            return self._remove(bucket, [path])
        count = 0
        folders = [path.rstrip("/")]
        while folders:  # Storage lists one level at a time; sub-folders have no id
            folder = folders.pop()
            offset = 0  # removed files leave the listing, sub-folders stay until emptied
            while True:
                items = bucket.list(folder, {"limit": LIST_PAGE, "offset": offset})
                files = [f"{folder}/{i['name']}" for i in items if i.get("id")]
                subfolders = [f"{folder}/{i['name']}" for i in items if not i.get("id")]
                folders += subfolders
                if files:
                    count += self._remove(bucket, files)
                if len(items) < LIST_PAGE:
                    break
                offset += len(subfolders)
        return count

    @staticmethod
    def _remove(bucket: Any, paths: list[str]) -> int:
        removed = len(bucket.remove(paths))
        if removed < len(paths):  # e.g. no permission: report it, the deletion is retried
            raise RuntimeError(f"Storage removed {removed} of {len(paths)} files")
        return removed


LIST_PAGE = 1000


def local_path(cfg: Config, path: str) -> Path:
    """Where the local stack keeps `<bucket>/<path>` (used by the demo and tests)."""
    return ROOT / cfg.storage.local_dir / cfg.storage.screenshot_bucket / path
