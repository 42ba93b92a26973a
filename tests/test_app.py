"""The Space, launched for real and driven over HTTP with gradio_client, and in headless Chromium."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import FIXTURES, ROOT
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conr.udp import encode_udp, read_udp
from conr.video import probe_video, read_video_frames

EXAMPLE_SHEET = sorted((ROOT / "examples" / "sheet").glob("*.png"))
MAX_FRAMES = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    def __init__(self, env: dict[str, str], tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp / f"app-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"app.py did not start: {self.log.read_text()[-3000:]}")
        self.client = Client(self.url, verbose=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def base_env(tmp: Path, rembg_dir: Path) -> dict[str, str]:
    return {
        "HF_HUB_OFFLINE": "1",
        "CONR_OFFLINE": "1",
        "CONR_REMBG_DIR": str(rembg_dir),
        "CONR_OUTPUT_DIR": str(tmp / "outputs"),
        "CONR_CACHE_DIR": str(ROOT / ".cache" / "conr"),
        "CONR_MAX_FRAMES": str(MAX_FRAMES),
        "CONR_MAX_PIXELS": "4000000",
        "CONR_QUEUE_SIZE": "1",
        "CONR_DTYPE": "float32",  # the automatic choice is measured (minutes) and tested in test_precision.py
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="module")
def app(recipe_weights_dir, rembg_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    running = RunningApp({**base_env(tmp, rembg_dir), "CONR_WEIGHTS_DIR": str(recipe_weights_dir)}, tmp)
    yield running
    running.stop()


#: The /render parameters that take an uploaded file.
FILE_FIELDS = {"udp_zip", "video", "mmd_model", "mmd_motion", "mmd_camera", "song"}


def gallery(*paths) -> list[dict]:
    return [{"image": handle_file(str(p)), "caption": None} for p in paths]


def render(app: RunningApp, sheet, dance="idle-sway", fps=2, seconds=1, matting_model="u2netp", **options):
    """``/render`` with the sheet's pictures; every option left out takes the endpoint's default."""
    uploads = {name: handle_file(str(path)) for name, path in options.items() if name in FILE_FIELDS and path}
    form = dict(items=gallery(*sheet), dance=dance, fps=fps, seconds=seconds, matting_model=matting_model)
    return app.client.predict(**form, **{**options, **uploads}, api_name="/render")


def check_outputs(result, frames: int, size: tuple[int, int]):
    video, webm, frames_zip, status = result
    mp4 = video["video"] if isinstance(video, dict) else video
    info = probe_video(mp4)
    assert (info.codec, info.pix_fmt, (info.width, info.height), info.frames) == ("h264", "yuv420p", size, frames)
    data = Path(mp4).read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "faststart"
    webm_info = probe_video(webm)
    assert webm_info.codec == "vp9" and webm_info.alpha and webm_info.frames == frames
    decoded = read_video_frames(webm, rgba=True)
    assert decoded.shape == (frames, size[1], size[0], 4)
    with zipfile.ZipFile(frames_zip) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{i:05d}.png" for i in range(frames)]
        pngs = [Image.open(io.BytesIO(archive.read(name))) for name in names]
    assert all(png.mode == "RGBA" and png.size == size for png in pngs)
    alphas = np.stack([np.asarray(png)[:, :, 3] for png in pngs]).astype(np.int16)
    assert alphas.min() == 0 and alphas.max() > 100, "the frames are cut-outs"
    # the WebM's alpha plane is the frames' alpha, up to VP9's lossy coding
    assert np.abs(decoded[..., 3].astype(np.int16) - alphas).mean() < 4
    assert f"{frames} frames" in status
    return mp4


def test_example_sheet_with_a_bundled_dance(app):
    result = render(app, EXAMPLE_SHEET, dance="idle-sway", fps=2, seconds=1)
    mp4 = check_outputs(result, frames=2, size=(512, 512))
    first = read_video_frames(mp4)[0]
    assert (first.reshape(-1, 3) < 200).any(axis=1).mean() > 0.01, "something was drawn over the white background"
    green = render(app, EXAMPLE_SHEET[:1], dance="idle-sway", fps=1, seconds=1, size="256", background="Green screen")
    corner = read_video_frames(green[0]["video"] if isinstance(green[0], dict) else green[0])[0][:8, :8].reshape(-1, 3)
    assert np.abs(corner.astype(int) - [0, 177, 64]).max() < 12, "chroma-key green behind the figure"


def test_uploaded_udp_zip(app, tmp_path):
    pose = read_udp(FIXTURES / "inputs" / "poses" / "1.npz")
    archive = tmp_path / "my-dance.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("frames/10.npz", encode_udp(np.zeros_like(pose), "npz"))
        z.writestr("frames/2.exr", encode_udp(pose, "exr"))
    result = render(
        app,
        EXAMPLE_SHEET[:2],
        source="Upload UDP frames (.zip)",
        udp_zip=archive,
        fps=12,
        seconds=0,
        size="256",
        background="Checkerboard",
    )
    mp4 = check_outputs(result, frames=2, size=(256, 256))
    frames = read_video_frames(mp4).astype(int)
    assert frames[0].std() > 1, "pose first (2 before 10)"
    empty = frames[1]  # then the empty frame: the MP4 shows transparency as a light checkerboard
    assert abs(empty[:16, :16].mean() - 255) < 4 and abs(empty[:16, 16:32].mean() - 204) < 4


def test_rembg_cuts_out_an_uploaded_scan(app, tmp_path):
    rgba = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "0.png").convert("RGBA"))
    alpha = rgba[:, :, 3:4] / 255.0
    scan = tmp_path / "scan.jpg"
    Image.fromarray((rgba[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)).save(scan, quality=95)
    items, status = app.client.predict(gallery(scan), "u2netp", False, api_name="/prepare_sheet")
    assert "❌" not in status and "background removed (u2netp)" in status
    cut = np.asarray(Image.open(items[0]["image"]))
    assert cut.shape == (*rgba.shape[:2], 4)
    assert ((cut[:, :, 3] > 127) == (rgba[:, :, 3] > 127)).mean() > 0.95


def test_dance_from_a_video(app, tmp_path):
    from test_video_pose import moving_character_video

    clip = tmp_path / "dancer.mp4"
    moving_character_video(clip, frames=10, fps=10)
    preview, archive, summary = app.client.predict(
        video=handle_file(str(clip)), fps=4, seconds=0, smooth=3, matting_model="u2netp", api_name="/detect_poses"
    )
    assert "4 poses detected in dancer.mp4 at 4 fps" in summary
    preview_info = probe_video(preview["video"] if isinstance(preview, dict) else preview)
    assert preview_info.frames == 4 and preview_info.width > preview_info.height, "raw | smoothed side by side"
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == [f"{i:05d}.png" for i in range(4)]  # 16-bit PNG frames
    result = render(app, EXAMPLE_SHEET[:1], source="From a video", video=clip, fps=4, seconds=0, size="256")
    check_outputs(result, frames=4, size=(256, 208))


def test_your_own_mmd_dance(app, tmp_path):
    """Our character exported as PMX and the wave as VMD (the test-only writers), rendered through the app."""
    from mmd_writers import character_spec, dance_keys, pmx_bytes, vmd_bytes

    from conr.dances.character import build_character
    from conr.dances.motions import MOTIONS

    character = build_character()
    model = tmp_path / "our-character.zip"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("model/character.pmx", pmx_bytes(character_spec(character, version=2.1)))
        z.writestr("model/tex/skin.png", b"unused texture")
    keys, switches = dance_keys(MOTIONS["wave"], character, "consistent")
    motion = tmp_path / "wave.vmd"
    motion.write_bytes(vmd_bytes(keys, switches))
    result = render(
        app,
        EXAMPLE_SHEET[:1],
        source="Your own MMD dance (.pmx + .vmd)",
        mmd_model=model,
        mmd_motion=motion,
        fps=2,
        seconds=1,
        size="256",
    )
    check_outputs(result, frames=2, size=(256, 256))
    assert "your MMD dance wave.vmd on our-character.zip" in result[3]
    later = app.client.predict(
        items=gallery(EXAMPLE_SHEET[0]),
        source="Your own MMD dance (.pmx + .vmd)",
        mmd_model=handle_file(str(model)),
        mmd_motion=handle_file(str(motion)),
        fps=2,
        seconds=1,
        size="256",
        mmd_start=1.0,
        mmd_physics=False,
        api_name="/render",
    )
    check_outputs(later, frames=2, size=(256, 256))
    assert not np.array_equal(read_video_frames(result[0])[0], read_video_frames(later[0])[0]), "1 s later in the dance"


@pytest.mark.parametrize(
    "case, message",
    [
        ("zip_traversal", r"unsafe path '../../evil/0.npz'"),  # a cheap check, refused by the handler
        ("unreadable", r"'notes.png' is not an image"),  # refused inside the job, on its worker thread
    ],
)
def test_library_refusals_reach_the_client_as_their_message(app, tmp_path, case, message):
    """A ConrError becomes gr.Error: the API client gets an AppError with the library's message (every refusal's
    message is tested in-process in test_job.py)."""
    from test_job import bad_drawing, bad_zip

    zip_source = {"source": "Upload UDP frames (.zip)", "udp_zip": bad_zip(tmp_path, "traversal")}
    kwargs = zip_source if case == "zip_traversal" else {}
    with pytest.raises(AppError, match=message):
        render(app, bad_drawing(tmp_path, case), **kwargs)


def test_full_queue_refuses_extra_jobs_and_finishes_the_rest(app):
    from gradio_client.utils import QueueError

    jobs = [
        app.client.submit(
            items=gallery(EXAMPLE_SHEET[0]), dance="idle-sway", fps=1, seconds=1, size="256", api_name="/render"
        )
        for _ in range(4)
    ]
    done, refused = 0, 0
    for job in jobs:
        try:
            video, *_ = job.result(timeout=300)
            assert probe_video(video["video"] if isinstance(video, dict) else video).frames == 1
            done += 1
        except QueueError as exc:
            assert "Queue is full" in str(exc)
            refused += 1
    assert done >= 1 and refused >= 1 and done + refused == 4, (done, refused)


def test_missing_weights_page_opens_and_render_explains(rembg_dir, tmp_path):
    env = {
        **base_env(tmp_path, rembg_dir),
        "CONR_WEIGHTS_DIR": "",
        "CONR_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
    }
    running = RunningApp(env, tmp_path)
    try:
        assert requests.get(running.url, timeout=10).status_code == 200
        with pytest.raises(
            AppError, match=r"The CoNR model weights are missing or damaged on this machine.*CONR_WEIGHTS_DIR"
        ) as error:
            render(running, EXAMPLE_SHEET[:1])
        shown = str(error.value)
        assert str(tmp_path) not in shown and "empty-cache" not in shown and "weights_only" not in shown, shown
        assert "were not found" in running.log.read_text(), "the details go to the server log"
    finally:
        running.stop()


def test_browser_shows_upload_dropdown_button_and_video(app, output_dir):
    from playwright import sync_api as playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is needed for the browser test: apt-get install chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url, wait_until="domcontentloaded")
        boxes = {}
        for selector in ("#sheet-gallery", "#dance-dropdown", "#render-button", "#result-video"):
            element = page.locator(selector)
            element.wait_for(state="visible", timeout=30_000)
            boxes[selector] = element.bounding_box()
        assert page.get_by_text("Render the dance").is_visible()
        assert page.get_by_text("Idle sway").first.is_visible(), "the dance dropdown shows the first bundled dance"
        shot = output_dir / "app-screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    image = Image.open(shot)
    assert image.size[0] == 1400 and np.asarray(image.convert("L")).std() > 10
    for selector, box in boxes.items():  # every element lies inside the screenshot, at a useful size
        assert box["width"] > 100 and box["height"] > 30, (selector, box)
        assert 0 <= box["x"] and box["x"] + box["width"] <= image.size[0], (selector, box)
        assert 0 <= box["y"] and box["y"] + box["height"] <= image.size[1], (selector, box)
    assert boxes["#render-button"]["y"] + boxes["#render-button"]["height"] <= 1000, (
        "Render is visible without scrolling"
    )


def test_simple_dance_endpoint_as_the_readme_shows(app):
    """The README's gradio_client call, verbatim apart from the address and the dance."""
    from gradio_client import Client, handle_file

    from conr.dances import list_dances

    client = Client(app.url)
    mp4, webm, frames_zip = client.predict(
        drawings=[handle_file(str(EXAMPLE_SHEET[0])), handle_file(str(EXAMPLE_SHEET[1]))],
        dance=list_dances()[0].name,
        fps=2,
        seconds=1,
        api_name="/dance",
    )
    assert probe_video(mp4).frames == 2 and probe_video(webm).alpha
    with zipfile.ZipFile(frames_zip) as archive:
        assert len(archive.namelist()) == 2
    readme = (ROOT / "README.md").read_text()
    assert 'api_name="/dance"' in readme and "handle_file(" in readme
    api = requests.get(f"{app.url}gradio_api/info", timeout=10).json()["named_endpoints"]
    assert {"/dance", "/render", "/prepare_sheet", "/detect_poses"} <= set(api)
    assert not any(name.startswith(("/lambda", "/selected_index", "/remove_selected", "/render_plan")) for name in api)
    render_params = {p["parameter_name"]: p for p in api["/render"]["parameters"]}
    assert all(render_params[name]["parameter_has_default"] for name in ("udp_zip", "video", "mmd_model", "mmd_motion"))
    assert [r["label"] for r in api["/dance"]["returns"]] == ["mp4", "webm", "frames_zip"]


def test_render_with_a_song_then_a_quick_preview(app, tmp_path):
    """A click track at 120 BPM: the MP4 and WebM carry it, trimmed to the video; the dance follows its tempo."""
    from test_audio import click_track, write_wav

    from conr.dances import list_dances
    from conr.video import probe_audio

    song = write_wav(tmp_path / "my song.wav", click_track(120, 6.0))
    dance = next(d for d in list_dances() if d.name == "idle-sway")
    result = app.client.predict(
        items=gallery(EXAMPLE_SHEET[0]),
        dance="idle-sway",
        fps=2,
        seconds=1.5,
        size="256",
        matting_model="u2netp",
        song=handle_file(str(song)),
        song_start=0.5,
        api_name="/render",
    )
    mp4 = check_outputs(result, frames=3, size=(256, 256))
    audio = probe_audio(mp4)
    assert audio is not None and audio.codec == "aac" and abs(audio.seconds - 1.5) < 0.5 / 2, audio
    assert probe_audio(result[1]).codec == "opus"
    assert "song at 120 BPM" in result[3] and (f"from {dance.bpm:g}" in result[3] or "keeps" in result[3])

    preview = app.client.predict(
        items=gallery(*EXAMPLE_SHEET),
        dance="idle-sway",
        fps=3,
        seconds=1,
        size="256",
        matting_model="u2netp",
        api_name="/quick_preview",
    )
    first = read_video_frames(preview[0]["video"] if isinstance(preview[0], dict) else preview[0])[0]
    assert "draft: 2 drawings" in preview[3] and "3 frames" in preview[3]
    assert first[:24, :80].std() > 10, "the DRAFT mark in the top-left corner"


def type_numbers(page, values: dict[str, float], plan, expected: str) -> None:
    """Type each value into its slider's box, then wait until the page's plan shows ``expected``: Render before
    that would send the old values. Gradio mounts a closed accordion's controls when it first opens and then
    applies the state it kept for them, so a number typed a few milliseconds after opening (faster than a person
    can) is sometimes put back (7 in 12 page loads here when a plan update was in flight); the walk types it again,
    as a person who saw the old number would."""
    from playwright.sync_api import expect

    for attempt in range(3):
        for elem_id, value in values.items():
            box = page.locator(f"#{elem_id} input[type=number]")
            box.fill(f"{value:g}")
            box.press("Enter")
        try:
            expect(plan).to_contain_text(expected, timeout=10_000)
            return
        except AssertionError:
            if attempt == 2:
                raise
            print(f"typed again: the plan still says {plan.inner_text().strip()!r}")


def test_browser_walk_fallback_remove_song_cancel_render(app, output_dir, tmp_path):
    """A new visitor's path in Chromium, a screenshot per step (tests/output/walk-*.png):
    an opaque drawing with the default matting model unavailable (falls back, says so) -> Remove with nothing
    selected (a hint, the gallery stays) -> a song, Render, progress with an ETA beside the button, Cancel ->
    Render again -> the MP4 carries the song for the video's length."""
    from playwright import sync_api as playwright
    from playwright.sync_api import expect
    from test_audio import click_track, write_wav

    from conr.video import probe_audio

    rgba = np.asarray(Image.open(EXAMPLE_SHEET[0]).convert("RGBA")).astype(np.float32)
    alpha = rgba[:, :, 3:4] / 255
    scan = tmp_path / "my drawing.jpg"  # opaque: needs background removal
    Image.fromarray((rgba[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)).save(scan, quality=95)
    song = write_wav(tmp_path / "song.wav", click_track(120, 8.0))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url, wait_until="domcontentloaded")
        page.locator("#sheet-gallery").wait_for(state="visible", timeout=30_000)

        page.locator("#sheet-gallery input[type=file]").set_input_files(str(scan))
        page.get_by_text("used u2netp").first.wait_for(timeout=120_000)
        page.screenshot(path=str(output_dir / "walk-1-fallback.png"))
        assert page.get_by_text("my drawing.jpg").first.is_visible() or "my drawing" in page.content()

        page.get_by_text("Remove selected drawing").click()
        page.get_by_text("Click a drawing in the gallery first").wait_for(timeout=10_000)
        assert page.locator("#sheet-gallery img").count() >= 1, "the gallery is still there"
        page.screenshot(path=str(output_dir / "walk-2-remove-nothing.png"))

        page.get_by_text("Upload UDP frames (.zip)").click()  # a mistake: no zip chosen
        page.locator("#render-button").click()
        message = page.get_by_text("Choose a .zip of UDP frames").first
        message.wait_for(timeout=30_000)
        zip_box = page.locator("#udp-zip").bounding_box()
        box = message.bounding_box()
        assert zip_box["y"] - 60 <= box["y"] <= zip_box["y"] + zip_box["height"] + 60, "shown on the zip control"
        assert page.locator("#result-video .error").count() == 0, "not on the outputs"
        page.screenshot(path=str(output_dir / "walk-2b-mistake-on-its-control.png"))
        page.get_by_text("Bundled dance").first.click()

        page.get_by_text("3. Options and music").click()
        plan = page.locator("#render-plan")
        type_numbers(
            page,
            {"fps-slider": 2, "seconds-slider": MAX_FRAMES / 2},
            plan,
            f"{MAX_FRAMES} frames at 2 fps ({MAX_FRAMES / 2:g} s)",
        )
        page.locator("#song-file input[type=file]").set_input_files(str(song))
        # uploaded once the control shows the file's size (its name is split: "song" ".wav")
        expect(page.locator("#song-file")).to_contain_text(
            re.compile(r"song\s*\.wav\s*[\d.]+\s*[kKM]B"), timeout=30_000
        )
        page.locator("#render-button").click()
        page.get_by_text(re.compile(r"Rendering: 1 of 8, about .* left")).first.wait_for(timeout=180_000)
        page.locator("#render-button").scroll_into_view_if_needed()
        page.screenshot(path=str(output_dir / "walk-3-progress.png"))
        page.locator("#cancel-button").click()
        time.sleep(2)
        page.screenshot(path=str(output_dir / "walk-4-cancelled.png"))

        type_numbers(page, {"seconds-slider": 1.5}, plan, "3 frames at 2 fps (1.5 s)")
        page.locator("#render-button").click()
        page.get_by_text(re.compile(r"Done:.*3 frames")).first.wait_for(timeout=300_000)
        page.get_by_text("song at 120 BPM").first.wait_for(timeout=5_000)
        page.screenshot(path=str(output_dir / "walk-5-done.png"), full_page=True)
        src = page.locator("#result-video video").get_attribute("src")
        browser.close()
    mp4 = tmp_path / "walk.mp4"
    mp4.write_bytes(requests.get(src if src.startswith("http") else app.url.rstrip("/") + src, timeout=30).content)
    assert probe_video(mp4).frames == 3
    audio = probe_audio(mp4)
    assert audio is not None and abs(audio.seconds - 1.5) < 0.25, audio


def test_nine_pictures_keep_the_first_eight_and_say_so(app):
    items, status = app.client.predict(gallery(*(EXAMPLE_SHEET * 3)[:9]), "u2netp", False, api_name="/prepare_sheet")
    assert len(items) == 8 and "8 drawing(s) ready" in status and "1 left out" in status


IMPORT_CHECK = """
import json, threading
import app
config = app.demo.get_config_file()
ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
plan = [d for d in config["dependencies"] if d["outputs"] == [ids["render-plan"]] and len(d["targets"]) > 1]
threads = [t.name for t in threading.enumerate()]
print(json.dumps({"threads": threads, "plan": [(len(d["targets"]), d["trigger_mode"]) for d in plan]}))
"""


@pytest.mark.slow
def test_importing_app_starts_nothing_and_the_plan_is_one_event():
    """`import app` (what Spaces do) builds the page and starts no thread; every control that changes the plan
    feeds one event, so quick edits are answered in order, the last one last (never a stale plan)."""
    import json

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CONR_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["threads"] == ["MainThread"], found
    assert found["plan"] == [[5, "always_last"]], found
