"""OutputFolders: names clients cannot choose, deletes that stay inside the root, expiry by age and size."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conr.outputs import OutputFolders, is_inside


@pytest.fixture
def area(tmp_path):
    root = tmp_path / "root" / "conr-space"
    canary = tmp_path / "root" / "canary.txt"
    canary.parent.mkdir(parents=True)
    canary.write_text("x")
    return OutputFolders(root, ttl_seconds=60, max_bytes=10_000, secret=b"k" * 32), canary


@pytest.mark.parametrize("key", ["..", ".", "../..", "/tmp", "%2E%2E", "a/../../b", "", None, "\x00", "é" * 500])
def test_any_client_key_becomes_a_hex_folder_inside(area, key):
    folders, canary = area
    session = folders.session_dir(key)
    assert session.parent == folders.root and len(session.name) == 32 and int(session.name, 16) >= 0
    with folders.job(key) as job:
        (job / "out.mp4").write_bytes(b"v")
    assert is_inside(job, folders.root)
    assert folders.remove_session(key)
    assert canary.read_text() == "x" and folders.root.is_dir()


def test_same_key_same_folder_other_secret_other_folder(tmp_path):
    a = OutputFolders(tmp_path / "r", secret=b"a" * 32)
    b = OutputFolders(tmp_path / "r", secret=b"b" * 32)
    assert a.session_id("abc") == a.session_id("abc") != b.session_id("abc")
    assert a.session_id("abc") != a.session_id("abd")


def test_remove_refuses_the_root_its_parents_and_escaping_links(area, tmp_path):
    folders, canary = area
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("k")
    link = folders.session_dir("s") / "link"
    link.symlink_to(outside, target_is_directory=True)
    for target in (folders.root, folders.root / "..", tmp_path, link / "keep.txt", Path("/")):
        assert not folders.remove(target), target
    assert (outside / "keep.txt").is_file() and canary.is_file()
    assert folders.remove(link) is False  # the link resolves outside: left alone
    assert folders.remove(folders.session_dir("s"))


def test_failed_job_leaves_nothing_and_replaces_earlier_results(area):
    folders, _ = area
    with folders.job("s") as first:
        (first / "a.mp4").write_bytes(b"1")
    with pytest.raises(RuntimeError):
        with folders.job("s", replace=False) as failed:
            (failed / "partial.mp4").write_bytes(b"2")
            raise RuntimeError("encoder died")
    assert not failed.exists() and first.exists()
    with folders.job("s") as second:
        pass
    assert not first.exists() and second.exists()


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for p in [path, *path.rglob("*")]:
        os.utime(p, (stamp, stamp))


def test_sweep_by_age_keeps_fresh_and_running_jobs(area):
    folders, _ = area
    with folders.job("old") as old:
        (old / "a.mp4").write_bytes(b"1")
    age(old, 3600)
    with folders.job("fresh") as fresh:
        (fresh / "a.mp4").write_bytes(b"1")
        with folders.job("running") as running:
            (running / "a.mp4").write_bytes(b"1")
            age(running, 3600)
            removed = folders.sweep()
            assert running.exists(), "a running job is never swept"
    assert not old.exists() and not old.parent.exists(), "swept when the next job starts; empty session folders go too"
    assert removed == [], "nothing else was due"
    assert fresh.exists()


def test_sweep_by_size_drops_the_oldest_first(area):
    folders, _ = area
    jobs = []
    for i in range(4):
        with folders.job(f"user{i}") as job:
            (job / "a.mp4").write_bytes(b"x" * 4000)
        age(job, 50 - i * 10)  # user0 oldest, all younger than the TTL
        jobs.append(job)
    folders.sweep()
    assert [j.exists() for j in jobs] == [False, False, True, True]  # 16 kB -> under 10 kB
