"""Output folders of a server: per-session job folders that clients can never name.

A web client chooses its own session id, so that id must never become a
path. ``OutputFolders`` maps it through a keyed hash (HMAC-SHA256 with a
secret made at start-up) to 32 hex digits, deletes only what lies strictly
inside its root, and expires folders by age and by the root's total size so
that API users, who never close a browser tab, do not fill the disk.

    folders = OutputFolders("/tmp/conr-space", ttl_seconds=7200, max_bytes=4 << 30)
    with folders.job(request.session_hash) as job_dir:   # deleted again if the job fails
        ...write the outputs into job_dir...
    folders.remove_session(request.session_hash)        # when the tab closes
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[0-9a-f]{32}")


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves to a strict descendant of ``root`` (links and '..' resolved)."""
    try:
        resolved, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):
        return False
    return resolved != base and base in resolved.parents


def tree_size_and_mtime(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` and the newest modification time in it (the folder's own included)."""
    size, newest = 0, 0.0
    try:
        newest = path.stat().st_mtime
    except OSError:
        return 0, 0.0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.stat(os.path.join(folder, name), follow_symlinks=False)
            except OSError:
                continue
            size += stat.st_size
            newest = max(newest, stat.st_mtime)
    return size, newest


class OutputFolders:
    """Job folders ``ROOT/<session id>/<kind>-<hex>`` with age and size limits.

    Args:
        root: the folder that holds everything; created if missing.
        ttl_seconds: folders untouched for longer are deleted by ``sweep``.
        max_bytes: after the age rule, the oldest folders go until the root holds at most this.
        secret: key of the session-id hash; random per process by default.
    """

    def __init__(
        self, root: str | os.PathLike, ttl_seconds: float = 7200, max_bytes: int = 4 << 30, secret: bytes | None = None
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self._secret = secret or secrets.token_bytes(32)
        self._live: set[Path] = set()
        self._lock = threading.Lock()
        self._sweeping = threading.Lock()

    # ------------------------------------------------------------ naming

    def session_id(self, client_key: str | None) -> str:
        """32 hex digits made by the server from whatever the client sent (or nothing)."""
        key = (client_key or "anonymous").encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, key, hashlib.sha256).hexdigest()[:32]
        assert SESSION_ID.fullmatch(digest)
        return digest

    def session_dir(self, client_key: str | None, create: bool = True) -> Path:
        directory = self.root / self.session_id(client_key)
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        return directory

    def folder(self, client_key: str | None, name: str) -> Path:
        """A named folder of the session (``sheet``, ``mmd``...); ``name`` is ours, never the client's."""
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name):
            raise ValueError(f"not a folder name of ours: {name!r}")
        directory = self.root / self.session_id(client_key) / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def unique_path(self, folder: Path, name: str, suffix: str) -> Path:
        """``folder/<random>/<stem of name><suffix>``: a fresh file that keeps the user's file name."""
        stem = re.sub(r"[^\w.\- ]+", "_", Path(name).stem)[:80].strip(". ") or "file"
        directory = Path(folder) / uuid.uuid4().hex[:12]
        if not is_inside(directory, self.root):
            raise ValueError(f"{folder} is not inside the output root")
        directory.mkdir(parents=True)
        return directory / f"{stem}{suffix}"

    # ------------------------------------------------------------ jobs

    @contextmanager
    def job(self, client_key: str | None, kind: str = "job", replace: bool = True) -> Iterator[Path]:
        """A fresh folder for one job, protected from sweeps while it runs.

        With ``replace`` the session's earlier finished ``kind`` folders go
        first (one result per session and kind). If the body raises (a
        failure, a cancel), the folder and its partial files are deleted.
        """
        self.sweep()
        session = self.session_dir(client_key)
        if replace:
            for old in session.glob(f"{kind}-*"):
                if old not in self._live:
                    self.remove(old)
        directory = session / f"{kind}-{uuid.uuid4().hex[:12]}"
        directory.mkdir(parents=True)
        with self._lock:
            self._live.add(directory)
        try:
            yield directory
        except BaseException:
            self.remove(directory)
            raise
        finally:
            with self._lock:
                self._live.discard(directory)

    def live_jobs(self) -> list[Path]:
        with self._lock:
            return sorted(self._live)

    # ------------------------------------------------------------ deleting

    def remove(self, path: str | os.PathLike) -> bool:
        """Delete ``path`` only if it lies strictly inside the root; returns whether it did."""
        path = Path(path)
        if not is_inside(path, self.root):
            log.warning("refusing to delete %s: not inside the output root %s", path, self.root)
            return False
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return True

    def remove_session(self, client_key: str | None) -> bool:
        """Delete a session's folders (the tab closed), except jobs still running."""
        session = self.session_dir(client_key, create=False)
        if not session.is_dir():
            return False
        with self._lock:
            live = {p for p in self._live if p.parent == session}
        if live:
            for child in session.iterdir():
                if child not in live:
                    self.remove(child)
            return True
        return self.remove(session)

    def sweep_every(self, seconds: float) -> threading.Thread:
        """Sweep now and then every ``seconds`` on a daemon thread, so an idle server frees its disk too."""

        def loop() -> None:
            while True:
                self.sweep()
                time.sleep(seconds)

        thread = threading.Thread(target=loop, name="conr-sweep", daemon=True)
        thread.start()
        return thread

    def sweep(self, now: float | None = None) -> list[Path]:
        """Delete folders older than the TTL, then the oldest ones while the root is over its size.

        Only session folders (32 hex digits) and their children are
        considered; running jobs are never touched. Returns what was deleted.
        """
        if not self._sweeping.acquire(blocking=False):
            return []  # another thread is sweeping right now
        try:
            return self._sweep(time.time() if now is None else now)
        finally:
            self._sweeping.release()

    def _sweep(self, now: float) -> list[Path]:
        with self._lock:
            live = set(self._live)
        entries: list[tuple[float, int, Path]] = []
        removed: list[Path] = []
        for session in self.root.iterdir() if self.root.is_dir() else []:
            if not (session.is_dir() and SESSION_ID.fullmatch(session.name)):
                continue
            children = list(session.iterdir())
            for child in children:
                if child in live:
                    continue
                size, mtime = tree_size_and_mtime(child)
                if now - mtime > self.ttl_seconds:
                    if self.remove(child):
                        removed.append(child)
                else:
                    entries.append((mtime, size, child))
        total = sum(size for _, size, _ in entries) + sum(tree_size_and_mtime(p)[0] for p in live)
        for mtime, size, child in sorted(entries):
            if total <= self.max_bytes:
                break
            if self.remove(child):
                removed.append(child)
                total -= size
        for session in self.root.iterdir() if self.root.is_dir() else []:
            if session.is_dir() and SESSION_ID.fullmatch(session.name) and not any(session.iterdir()):
                try:
                    session.rmdir()  # fails harmlessly if a job was just created in it
                except OSError:
                    pass
        if removed:
            log.info("output folders: deleted %d expired or over-quota folder(s)", len(removed))
        return removed
