"""Screenshots for image analyses: Supabase Storage, or a local folder in the local stack."""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
from pathlib import Path
from typing import Any

from pyworker.providers.base import ProviderError
from pyworker.settings import ROOT, Config, Secrets


class ScreenshotStore:
    """Reads `<bucket>/<path>`: with the supabase client when SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY are set, else from `[storage] local_dir`."""

    def __init__(self, cfg: Config, secrets: Secrets) -> None:
        self.bucket = cfg.storage.screenshot_bucket
        self.local_dir = (ROOT / cfg.storage.local_dir).resolve()
        self._client: Any = None
        if secrets.supabase_url and secrets.supabase_service_role_key:
            from supabase import create_client  # imported only when used: it is slow to load

            self._client = create_client(secrets.supabase_url, secrets.supabase_service_role_key)

    @property
    def source(self) -> str:
        return "supabase" if self._client else "local"

    async def load(self, path: str) -> tuple[bytes, str]:
        """The image bytes and MIME type; a missing object is a permanent error."""
        if not path or ".." in path.split("/") or path.startswith("/"):
            raise ProviderError("image_not_found", "invalid image path", retryable=False)
        mime = mimetypes.guess_type(path)[0] or "image/png"
        if not mime.startswith("image/"):
            raise ProviderError("unsupported_image", f"not an image type: {mime}", retryable=False)
        if self._client is not None:
            return await asyncio.to_thread(self._download, path), mime
        file = (self.local_dir / self.bucket / path).resolve()
        if not file.is_relative_to(self.local_dir) or not file.is_file():
            raise ProviderError("image_not_found", "screenshot does not exist", retryable=False)
        return await asyncio.to_thread(file.read_bytes), mime

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

    async def delete(self, path: str) -> int:
        """Delete one screenshot, or a whole folder when `path` ends with '/'; how many
        files went. Deleting what is already gone is not an error."""
        parts = path.rstrip("/").split("/")
        if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a screenshot path: {path!r}")
        if self._client is not None:
            return await asyncio.to_thread(self._delete_remote, path)
        return await asyncio.to_thread(self._delete_local, path)

    def _delete_local(self, path: str) -> int:
        target = (self.local_dir / self.bucket / path).resolve()
        if not target.is_relative_to(self.local_dir / self.bucket):
            raise ValueError(f"not a screenshot path: {path!r}")
        if path.endswith("/"):
            if not target.is_dir():
                return 0
            count = sum(1 for f in target.rglob("*") if f.is_file())
            shutil.rmtree(target)
            return count
        if target.is_file():
            target.unlink()
            return 1
        return 0

    def _delete_remote(self, path: str) -> int:
        bucket = self._client.storage.from_(self.bucket)
        if not path.endswith("/"):
            return len(bucket.remove([path]))
        count = 0
        folders = [path.rstrip("/")]
        seen = set(folders)
        while folders:  # Storage lists one level at a time; sub-folders have no id
            folder = folders.pop()
            for _ in range(1000):  # removing shrinks the listing: page from the start again
                items = bucket.list(folder, {"limit": LIST_PAGE, "offset": 0})
                files = [f"{folder}/{i['name']}" for i in items if i.get("id")]
                for sub in (f"{folder}/{i['name']}" for i in items if not i.get("id")):
                    if sub not in seen:
                        seen.add(sub)
                        folders.append(sub)
                if files:
                    count += len(bucket.remove(files))
                if len(items) < LIST_PAGE or not files:
                    break
        return count


LIST_PAGE = 1000


def local_path(cfg: Config, path: str) -> Path:
    """Where the local stack keeps `<bucket>/<path>` (used by the demo and tests)."""
    return ROOT / cfg.storage.local_dir / cfg.storage.screenshot_bucket / path
