"""The Space as an attacker and a careless user meet it: the real app, launched, driven over HTTP.

- client-chosen session ids never become paths (heartbeats and queue joins with '..');
- cancel (Gradio's /cancel, a disconnected API client, a closed tab) stops a render within a batch,
  deletes its partial files, and the next job runs;
- outputs expire by age;
- a full queue still lets light events (page load, picture uploads) through.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from gradio_client import Client, handle_file
from test_app import EXAMPLE_SHEET, RunningApp, base_env, gallery

from conr.video import probe_video

MAX_FRAMES = 8


def tree(folder: Path, skip: Path) -> dict[str, tuple[int, float]]:
    """Every file under ``folder`` except under ``skip``, with size and mtime."""
    out = {}
    for path in folder.rglob("*"):
        if path.is_file() and skip not in path.parents:
            stat = path.stat()
            out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime)
    return out


def render_kwargs(dance="idle-sway", fps=2, seconds=1, sheet=None, **extra) -> dict:
    """``/render``'s arguments for a short render; the options left out take the endpoint's defaults."""
    items = gallery(*(sheet or EXAMPLE_SHEET[:1]))
    return dict(items=items, dance=dance, fps=fps, seconds=seconds, size="256", matting_model="u2netp") | extra


def job_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/job-*") if p.is_dir())


def app_children(pid: int) -> list[str]:
    """Command names of every descendant process of ``pid`` (ffmpeg encoders left behind, say)."""
    names, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                try:
                    names.append(Path(f"/proc/{child}/comm").read_text().strip())
                except OSError:
                    continue
                todo.append(child)
    return names


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait_for_log(app: RunningApp, text: str, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = app.log.read_text()
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the app's log:\n{app.log.read_text()[-3000:]}")


def wait_for_rendering(job, timeout: float = 180) -> None:
    """Until the job reports its first rendered frame."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = job.status()
        for unit in status.progress_data or []:
            if (unit.desc or "").startswith("Rendering") and (unit.index or 0) >= 1:
                return
        if job.done():
            raise AssertionError(f"the job ended before rendering: {job.result()}")
        time.sleep(0.1)
    raise AssertionError("the job did not start rendering")


@pytest.fixture(scope="module")
def hosted(recipe_weights_dir, rembg_dir, tmp_path_factory):
    """The app with its output root two levels down, and canary files around it."""
    tmp = tmp_path_factory.mktemp("hosted")
    root = tmp / "root" / "conr-space"
    canaries = [tmp / "canary.txt", tmp / "root" / "canary.txt", tmp / "root" / "sibling" / "canary.txt"]
    for canary in canaries:
        canary.parent.mkdir(parents=True, exist_ok=True)
        canary.write_text("still here")
    env = {
        **base_env(tmp, rembg_dir),
        "CONR_WEIGHTS_DIR": str(recipe_weights_dir),
        "CONR_OUTPUT_DIR": str(root),
        "CONR_MAX_FRAMES": str(MAX_FRAMES),
        "CONR_QUEUE_SIZE": "4",
        "GRADIO_HEARTBEAT_INTERVAL": "0.5",
        "CONR_OUTPUT_TTL_MINUTES": "1",
    }
    running = RunningApp(env, tmp_path_factory.mktemp("hosted-logs"))
    running.root, running.tmp, running.canaries = root, tmp, canaries
    yield running
    running.stop()


def close_heartbeat(url: str, session: str) -> int:
    """Open the heartbeat stream of ``session`` as a browser tab does, then close it (the tab closes)."""
    try:
        with requests.get(f"{url}gradio_api/heartbeat/{session}", stream=True, timeout=5) as response:
            if response.status_code == 200:
                next(response.iter_lines(), None)
            return response.status_code
    except requests.RequestException:
        return -1


def test_client_session_ids_never_become_paths(hosted):
    # a real user's finished render, which '%2E' used to delete
    user = Client(hosted.url, verbose=False)
    video, *_ = user.predict(**render_kwargs(), api_name="/render")
    mp4 = Path(video["video"] if isinstance(video, dict) else video)
    ours = job_folders(hosted.root)
    assert len(ours) == 1 and (ours[0] / "conr-dance.mp4").is_file()
    outside_before = tree(hosted.tmp, hosted.root)

    statuses = {s: close_heartbeat(hosted.url, s) for s in ("%2E%2E", "%2E", "..%2F..", "%2E%2E%2F%2E%2E", ".", "..")}
    assert any(code == 200 for code in statuses.values()), statuses
    time.sleep(3)  # unload runs once the server notices the closed streams (heartbeat every 0.5 s here)

    # queue joins and direct calls with session '..': everything they write stays under the root
    attacker = Client(hosted.url, verbose=False)
    attacker.session_hash = ".."
    items, status = attacker.predict(gallery(EXAMPLE_SHEET[0]), "u2netp", False, api_name="/prepare_sheet")
    assert "1 drawing(s) ready" in status
    video2, *_ = attacker.predict(**render_kwargs(), api_name="/render")
    attacker.close()
    for weird in ("../..", "/tmp", "%2E"):
        attacker = Client(hosted.url, verbose=False)
        attacker.session_hash = weird
        attacker.predict(gallery(EXAMPLE_SHEET[0]), "u2netp", False, api_name="/prepare_sheet")
        attacker.close()
    time.sleep(3)  # their heartbeats closed: unload ran for each

    for canary in hosted.canaries:
        assert canary.read_text() == "still here", canary
    assert (ours[0] / "conr-dance.mp4").is_file(), "another visitor's outputs survive"
    outside_after = tree(hosted.tmp, hosted.root)
    new_outside = {k for k in outside_after if k not in outside_before}
    assert not new_outside, f"written outside the output root: {new_outside}"
    for path in hosted.root.rglob("*"):
        assert path.resolve().is_relative_to(hosted.root.resolve())
        assert ".." not in path.relative_to(hosted.root).parts
    for session in hosted.root.iterdir():  # server-made names only
        assert session.name == "previews" or (len(session.name) == 32 and set(session.name) <= set("0123456789abcdef"))
    assert mp4.is_file() and Path(video2["video"] if isinstance(video2, dict) else video2).is_file()
    user.close()


def test_cancel_stops_the_render_and_the_next_job_runs(hosted):
    client = Client(hosted.url, verbose=False)
    job = client.submit(**render_kwargs(fps=MAX_FRAMES, seconds=1), api_name="/render")
    wait_for_rendering(job)
    job.cancel()
    log = wait_for_log(hosted, "render cancelled after")
    line = [text for text in log.splitlines() if "render cancelled after" in text][-1]
    done = int(line.split("render cancelled after ")[1].split(" of ")[0])
    assert 1 <= done < MAX_FRAMES, line
    # the worker is free: the next job runs and completes
    video, *_, status = client.predict(**render_kwargs(fps=2, seconds=1), api_name="/render")
    assert probe_video(video["video"] if isinstance(video, dict) else video).frames == 2
    for folder in job_folders(hosted.root):  # the cancelled job's partial files are gone
        assert {p.name for p in folder.iterdir()} == {
            "conr-dance.mp4",
            "conr-dance-transparent.webm",
            "conr-frames.zip",
        }
    assert "ffmpeg" not in app_children(hosted.proc.pid)
    client.close()


def raw_render_until_first_frame(url: str, session: str) -> requests.Response:
    """Join the queue over plain HTTP and read the event stream until a frame is rendered; returns the open stream."""
    config = requests.get(f"{url}config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "render")
    upload = requests.post(f"{url}gradio_api/upload", files={"files": open(EXAMPLE_SHEET[0], "rb")}, timeout=30).json()
    image = {"path": upload[0], "meta": {"_type": "gradio.FileData"}}
    data = [
        [{"image": image, "caption": None}],
        "Bundled dance",
        "idle-sway",
        None,
        MAX_FRAMES,
        1,
        "Colour",
        "#ffffff",
        "256",
        "u2netp",
        False,
        None,
        3,
        None,
        None,
        0,
        True,
        None,
        0,
        True,
        {},
        None,
    ]
    joined = requests.post(
        f"{url}gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
        timeout=10,
    )
    assert joined.status_code == 200, joined.text
    stream = requests.get(f"{url}gradio_api/queue/data", params={"session_hash": session}, stream=True, timeout=300)
    for line in stream.iter_lines():
        if not line.startswith(b"data:"):
            continue
        message = json.loads(line[5:])
        if message.get("msg") == "process_completed":
            raise AssertionError(f"completed before it could be cancelled: {message}")
        for unit in message.get("progress_data") or []:
            if (unit.get("desc") or "").startswith("Rendering") and (unit.get("index") or 0) >= 1:
                return stream
    raise AssertionError("the stream ended before the first frame")


@pytest.mark.parametrize("how", ["client disconnects", "tab closes"])
def test_a_gone_client_cancels_its_render(hosted, how):
    session = uuid.uuid4().hex[:11]
    before = hosted.log.read_text().count("render cancelled after")
    if how == "tab closes":
        heartbeat = requests.get(f"{hosted.url}gradio_api/heartbeat/{session}", stream=True, timeout=30)
        next(heartbeat.iter_lines(), None)
    stream = raw_render_until_first_frame(hosted.url, session)
    if how == "tab closes":
        heartbeat.close()  # the unload event cancels the session's jobs
    else:
        stream.close()
    deadline = time.time() + 120
    while hosted.log.read_text().count("render cancelled after") == before and time.time() < deadline:
        time.sleep(0.2)
    assert hosted.log.read_text().count("render cancelled after") > before, hosted.log.read_text()[-2000:]
    stream.close()
    client = Client(hosted.url, verbose=False)
    video, *_ = client.predict(**render_kwargs(fps=1, seconds=1), api_name="/render")
    assert probe_video(video["video"] if isinstance(video, dict) else video).frames == 1
    client.close()
    assert "ffmpeg" not in app_children(hosted.proc.pid)


def test_light_events_pass_a_full_queue(hosted):
    """Renders queue (4 places here); the page and picture uploads, which the browser sends outside the queue,
    are served while it is full."""
    from gradio_client.utils import QueueError

    client = Client(hosted.url, verbose=False)
    jobs = [client.submit(**render_kwargs(fps=2, seconds=1), api_name="/render") for _ in range(7)]
    time.sleep(3)
    full = False
    for job in jobs:
        try:
            job.status()
            if job.done():
                job.result()
        except QueueError:
            full = True
    assert full, "the queue filled up"
    assert requests.get(hosted.url, timeout=10).status_code == 200
    config = requests.get(f"{hosted.url}config", timeout=10).json()
    upload = next(d for d in config["dependencies"] if d.get("api_name") == "prepare_sheet")
    assert upload["queue"] is False
    uploaded = requests.post(
        f"{hosted.url}gradio_api/upload", files={"files": open(EXAMPLE_SHEET[1], "rb")}, timeout=30
    ).json()
    item = {"image": {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}}, "caption": None}
    answer = requests.post(
        f"{hosted.url}gradio_api/run/prepare_sheet", json={"data": [[item], "u2netp", False]}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert "1 drawing(s) ready" in answer.json()["data"][1]
    for job in jobs:
        job.cancel()
    for job in jobs:
        try:
            job.result(timeout=300)
        except Exception:
            pass
    client.close()


def test_outputs_expire(hosted):
    """CONR_OUTPUT_TTL_MINUTES=1: a folder untouched for longer goes at the next job."""
    stale = hosted.root / ("f" * 32) / "job-old"
    stale.mkdir(parents=True)
    (stale / "conr-dance.mp4").write_bytes(b"old")
    old = time.time() - 3600
    os.utime(stale / "conr-dance.mp4", (old, old))
    os.utime(stale, (old, old))
    client = Client(hosted.url, verbose=False)
    client.predict(**render_kwargs(fps=1, seconds=1), api_name="/render")
    client.close()
    assert not stale.exists() and not stale.parent.exists()


def bomb_zip(tmp_path: Path, kind: str, index: int) -> Path:
    """A UDP zip holding one frame that declares 12000x12000 (a small file that would decode to gigabytes)."""
    import zipfile

    from bombs import exr_bomb, npz_bomb, png16_bomb

    builders = {"npz": npz_bomb, "png": png16_bomb, "exr": exr_bomb}
    frame = builders[kind](tmp_path / f"bomb{index}.{kind}")
    archive = tmp_path / f"bomb{index}-{kind}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        z.write(frame, f"0.{kind}")
    return archive


def upload_kwargs(archive: Path) -> dict:
    return render_kwargs(source="Upload UDP frames (.zip)", udp_zip=handle_file(str(archive)), seconds=0)


def idle_rss(app: RunningApp) -> float:
    """The app's resident memory once warm (a render done) and settled."""
    client = Client(app.url, verbose=False)
    client.predict(**render_kwargs(fps=2, seconds=1), api_name="/render")
    client.close()
    time.sleep(1)
    return rss_mb(app.proc.pid)


def test_frame_bombs_are_refused_and_leave_no_memory_behind(hosted, tmp_path):
    from gradio_client.exceptions import AppError

    idle = idle_rss(hosted)
    client = Client(hosted.url, verbose=False)
    peaks = []
    for index, kind in enumerate(["npz", "png", "exr", "npz", "png"]):
        with pytest.raises(AppError, match=r"12000x12000|12000 x 12000|declares"):
            client.predict(**upload_kwargs(bomb_zip(tmp_path, kind, index)), api_name="/render")
        peaks.append(rss_mb(hosted.proc.pid))
    client.close()
    after = rss_mb(hosted.proc.pid)
    print(f"server RSS: idle {idle:.0f} MB, after each bomb {[round(p) for p in peaks]}, after all {after:.0f} MB")
    assert after - idle < 300, (idle, peaks, after)


def test_soak_mixed_requests(hosted, tmp_path):
    """30 requests of every kind against one app: it keeps serving, keeps its memory, leaves nothing behind."""
    import zipfile

    from gradio_client.exceptions import AppError

    idle = idle_rss(hosted)
    not_a_zip = tmp_path / "notes.zip"
    not_a_zip.write_text("not a zip")
    traversal = tmp_path / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as z:
        z.writestr("../../evil/0.npz", b"x")
    kinds = ["render", "bomb", "bad zip", "cancel", "render", "traversal", "bomb", "cancel queued", "render", "bad fps"]
    outcomes: dict[str, int] = {}
    clients = [Client(hosted.url, verbose=False) for _ in range(3)]  # three visitors
    for step in range(30):
        kind, client = kinds[step % len(kinds)], clients[step % len(clients)]
        if kind == "render":
            video, *_ = client.predict(**render_kwargs(fps=2, seconds=1), api_name="/render")
            assert probe_video(video["video"] if isinstance(video, dict) else video).frames == 2
        elif kind == "cancel":
            job = client.submit(**render_kwargs(fps=MAX_FRAMES, seconds=1), api_name="/render")
            wait_for_rendering(job)
            job.cancel()
        elif kind == "cancel queued":
            running = client.submit(**render_kwargs(fps=2, seconds=1), api_name="/render")
            waiting = clients[(step + 1) % 3].submit(**render_kwargs(fps=2, seconds=1), api_name="/render")
            waiting.cancel()
            running.result(timeout=300)
        else:
            archive = {
                "bomb": lambda: bomb_zip(tmp_path, ["npz", "png", "exr"][step % 3], step),
                "bad zip": lambda: not_a_zip,
                "traversal": lambda: traversal,
            }.get(kind)
            kwargs = upload_kwargs(archive()) if archive else render_kwargs(fps=0.5)
            with pytest.raises(AppError):
                client.predict(**kwargs, api_name="/render")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    time.sleep(2)  # the last cancel's thread has stopped and cleaned up

    assert requests.get(hosted.url, timeout=10).status_code == 200, "still serving"
    items, status = clients[0].predict(gallery(EXAMPLE_SHEET[0]), "u2netp", False, api_name="/prepare_sheet")
    assert "1 drawing(s) ready" in status
    after = rss_mb(hosted.proc.pid)
    print(f"soak {outcomes}: server RSS idle {idle:.0f} MB, after {after:.0f} MB")
    assert after - idle < 300, (idle, after)
    assert app_children(hosted.proc.pid) == [], "no encoder or other process left behind"
    for folder in job_folders(hosted.root):  # only finished jobs, each complete; no partial or temporary files
        assert {p.name for p in folder.iterdir()} == {
            "conr-dance.mp4",
            "conr-dance-transparent.webm",
            "conr-frames.zip",
        }
    assert len(job_folders(hosted.root)) <= 3 + 3, "one result per visitor (and the earlier tests' visitors)"
    assert not [p for p in hosted.root.rglob("*") if p.name.startswith(".") or p.suffix in (".tmp", ".part")]
    for client in clients:
        client.close()
