"""CoNR Space: upload drawings of a character, pick a dance, get a video.

Layout and wiring only: a click becomes a ``conr.service.RenderForm``, the
work is ``conr.job`` and the files are ``conr.outputs``. Run locally with
``python app.py`` (http://127.0.0.1:7860; ``--share``, ``--port``) or as a
Hugging Face Space (README front matter). Limits come from the environment
(``conr.limits``).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
from contextlib import contextmanager
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import gradio as gr

try:  # ZeroGPU on Hugging Face; a no-op decorator elsewhere
    import spaces
except ImportError:  # pragma: no cover
    spaces = None

from conr import dances, matting
from conr.errors import Cancelled, ConrError, WeightsError, public_message
from conr.job import VideoPoses
from conr.progress import ProgressText
from conr.service import BACKGROUNDS, SOURCE_DANCE, SOURCE_VIDEO, SOURCES, RenderForm, Service, gallery_paths

log = logging.getLogger("conr.app")
ROOT = Path(__file__).resolve().parent
SPACE = Service.from_env(ROOT / "examples")  # starts nothing: main() starts the engine and the sweeper
LIMITS = SPACE.limits


def _on_gpu(duration):
    """``spaces.GPU`` on ZeroGPU (``duration`` in seconds, from the call's arguments), else unchanged."""
    return spaces.GPU(duration=duration) if spaces is not None and hasattr(spaces, "GPU") else (lambda fn: fn)


def _event_alive() -> bool:
    """False once Gradio has marked this event's client as gone (its stream closed)."""
    try:  # Gradio keeps this in its queue; if its internals change we only lose disconnect detection
        from gradio.context import LocalContext

        blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
        for job in blocks._queue.active_jobs if blocks and event_id else []:
            for event in job or []:
                if event._id == event_id:
                    return bool(event.alive)
    except Exception:  # pragma: no cover
        pass
    return True


@contextmanager
def refusals(title: str):
    """The library's errors as the message people see (``gr.Error``: no paths, no tracebacks)."""
    try:
        yield
    except Cancelled:
        raise gr.Error("The work was cancelled.", title="Cancelled") from None
    except ConrError as exc:
        log.info("%s: %s", title, exc)
        title = "CoNR weights missing" if isinstance(exc, WeightsError) else title
        raise gr.Error(public_message(exc), title=title) from None


async def _run(work, request: gr.Request, progress: gr.Progress):
    """``work(bar, cancel)`` on a job thread, its progress on Gradio's bar, cancelled with the event or its client."""
    bar = ProgressText(lambda done, total, text: progress((done, total), desc=text, unit="frames"))
    return await SPACE.runner.run(lambda cancel: work(bar, cancel), request.session_hash, _event_alive)


def form_handler(fn, names: list[str] | None = None):
    """``fn(form, request, progress)`` as a handler whose parameters are ``RenderForm`` fields: the API's names."""
    names = names or RenderForm.names()

    async def handler(*values):
        *given, request, progress = values
        return await fn(RenderForm(**dict(zip(names, given))), request, progress)

    P, defaults = inspect.Parameter, {f.name: f.default for f in fields(RenderForm)}
    params = [P(name, P.POSITIONAL_OR_KEYWORD, default=defaults[name]) for name in names]
    params += [P("request", P.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)]
    handler.__signature__ = inspect.Signature(params + [P("progress", P.POSITIONAL_OR_KEYWORD, default=gr.Progress())])
    handler.__annotations__, handler.__name__, handler.__doc__ = {"request": gr.Request}, fn.__name__, fn.__doc__
    return handler


# ---------------------------------------------------------------- handlers


def add_drawings(items, matting_model: str, force: bool, request: gr.Request):
    """Cut out every new drawing; kept ones stay in the gallery under the names the user gave them."""
    return SPACE.add_drawings(request.session_hash, gallery_paths(items), matting_model, force)


def selected_index(event: gr.SelectData) -> int:
    return event.index


def remove_selected(items, selected: int | None):
    """Drop the drawing the user clicked; with none clicked, a gentle hint and the gallery untouched."""
    paths = gallery_paths(items)
    if selected is None or not 0 <= selected < len(paths):
        return gr.update(), None, "👆 Click a drawing in the gallery first, then **Remove selected drawing**."
    removed = Path(paths.pop(selected)).name
    return [(p, Path(p).name) for p in paths], None, f"**{len(paths)} drawing(s) ready.** Removed {removed}."


def render_plan(items, source: str, dance: str, fps: float, seconds: float) -> str:
    return SPACE.plan(RenderForm(items, source, dance, fps=fps, seconds=seconds))


def validate_render(*values):
    """The Render button's cheap checks, each shown on the control that is wrong."""
    found = RenderForm(*values).problems(LIMITS)
    if found:
        log.info("render refused: %s", " | ".join(found.values()))
    return [gr.validate(name not in found, found.get(name, "")) for name in RenderForm.names()]


run_job = _on_gpu(lambda job, *args: job.gpu_seconds())(SPACE.render)
run_detection = _on_gpu(lambda source, fps, seconds, *args: VideoPoses.gpu_seconds(fps, seconds, LIMITS))(SPACE.detect)


async def render_form(form: RenderForm, request: gr.Request, progress: gr.Progress, draft: bool = False):
    """The Render button: drawings + dance (+ a song) -> MP4, transparent WebM, zip of RGBA PNG frames."""
    with refusals("Cannot render"):
        job = form.job(draft)
        job.check(LIMITS)
        result = await _run(partial(run_job, job, request.session_hash), request, progress)
    notes = "".join(f"\n\n{note}" for note in result.notes if not note.startswith(("✂️", "✅")))
    return result.render.mp4, result.render.webm, result.render.frames_zip, f"**Done:** {result.summary()}.{notes}"


async def draft_form(form: RenderForm, request: gr.Request, progress: gr.Progress):
    """The Preview button: a draft (2 drawings, 1 frame in 3 through the network), marked DRAFT."""
    return await render_form(form, request, progress, draft=True)


async def dance_api(drawings, dance, fps=30, seconds=0, request: gr.Request = None, progress=gr.Progress()):
    """Drawings of a character + a bundled dance -> (mp4, webm, frames_zip)."""
    form = RenderForm(drawings, SOURCE_DANCE, dance, fps=fps, seconds=seconds)
    return (await render_form(form, request, progress))[:3]


async def detect_video_poses(form: RenderForm, request: gr.Request, progress: gr.Progress):
    """The "Detect the poses" button: preview (raw | smoothed), the UDP zip to download, a summary."""
    fps, seconds = float(form.fps or 15), float(form.seconds or 0)
    with refusals("Cannot use this video"):
        source = replace(form, source=SOURCE_VIDEO, detected=None).pose_source()
        found = await _run(partial(run_detection, source, fps, seconds), request, progress)
    preview, archive, summary = SPACE.save_detection(request.session_hash, found, fps)
    return preview, archive, summary, {**(form.detected or {}), form.detection_key(): archive}


DETECTION_FIELDS = ["video", "fps", "seconds", "smooth", "matting_model", "detected"]
render, quick_preview = form_handler(render_form), form_handler(draft_form)
detection_handler = form_handler(detect_video_poses, DETECTION_FIELDS)


def cleanup_session(request: gr.Request) -> None:
    SPACE.end_session(request.session_hash)


def banner() -> str:
    error = SPACE.engine.wait_error()
    return f"### ⚠️ This server cannot render yet\n{error}\n\nYou can still prepare your drawings." if error else ""


# ---------------------------------------------------------------- layout

ON_GPU = bool(os.environ.get("SPACES_ZERO_GPU")) or __import__("torch").cuda.is_available()
DEFAULT_FPS, DEFAULT_SECONDS = (30, 0) if ON_GPU else (10, 2)
CSS = """
#render-button {min-height: 3em; font-size: 1.1em}
#render-plan {min-height: 3.2em}
#sheet-gallery .grid-container {grid-template-columns: repeat(4, minmax(0, 1fr)) !important; padding-top: 2.6em !important}
#sheet-gallery .thumbnail-item {aspect-ratio: 3 / 4; height: auto}
#sheet-gallery .thumbnail-item img {object-fit: contain !important}
.conr-banner {border-left: 4px solid #f59e0b; padding-left: 1em}
#colour-picker .dialog-button {border: 1px solid #9ca3af; border-radius: 6px; min-height: 2.2em; min-width: 5em}
"""
INTRO = (
    "# 💃 CoNR Dance\nUpload a few drawings of your character, pick a dance, get a video. Powered by "
    "[CoNR](https://arxiv.org/abs/2207.05378) (Collaborative Neural Rendering using Anime Character Sheets)."
)
LOOPING = dict(autoplay=True, loop=True, interactive=False)  # videos people watch, not upload
LIGHT = dict(queue=False, api_visibility="private")  # never queued: a full queue must not block them
FILE = dict(type="filepath")
GALLERY = dict(file_types=["image"], columns=4, height=220, object_fit="contain", allow_preview=False)
VIDEO_TYPES, SONG_TYPES = [".mp4", ".webm", ".gif", ".mov", ".mkv", ".zip"], [".mp3", ".wav", ".ogg", ".m4a"]
#: The longer texts of the page, by control.
TEXT = {
    "items": f"Character sheet: 1 to {LIMITS.max_images} drawings of one character (front, back, side...)",
    "udp_zip": "UDP sequence: a .zip of 16-bit .png, .npz (key 'i') or float .exr frames",
    "video": "A video of one dancing anime character (MP4, WebM, GIF or a .zip of frames; "
    f"up to {LIMITS.max_video_seconds} s)",
    "mmd_model": "MMD model: .pmx/.pmd, or a .zip holding it (textures are not needed)",
    "seconds": "Length in seconds (0 = the whole dance)",
    "mp4": "An MP4 has no transparency; the WebM and the PNG frames are transparent.",
    "force": "Remove the background even from pictures that already have transparency",
    "inbetween": "Faster long renders on a CPU: 1 frame in 3 through the network, the others in-betweened along the poses",
    "song": "A song (MP3, WAV, OGG or M4A): in the MP4 and WebM; a bundled dance follows its tempo",
    "examples": "Examples: our character with each dance (click one; it renders with the options above, by default "
    f"{DEFAULT_SECONDS or 'the whole'} s at {DEFAULT_FPS} fps)",
}


def build_demo() -> gr.Blocks:
    """The page; builds components and wires events, with no side effects (no threads, no models).

    Each control of the render form is a local variable named like its ``RenderForm`` field.
    """
    choices = [(f"{d.title} ({d.seconds:.0f} s)", d.name) for d in dances.list_dances()]
    with gr.Blocks(title="CoNR Dance", delete_cache=(1800, 7200)) as demo:
        gr.Markdown(INTRO)
        banner_text = gr.Markdown(elem_classes="conr-banner")
        selected, detected = gr.State(None), gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                gr.Markdown("### 1. Your character")
                items = gr.Gallery(label=TEXT["items"], interactive=True, elem_id="sheet-gallery", **GALLERY, **FILE)
                sheet_status = gr.Markdown("Drop PNG, JPEG or WebP drawings above. Backgrounds are removed for you.")
                remove_button = gr.Button("Remove selected drawing", size="sm")
                gr.Markdown("### 2. The dance")
                source = gr.Radio(list(SOURCES), value=SOURCE_DANCE, label="Dance source")
                with gr.Row(equal_height=False) as dance_group:
                    with gr.Column(scale=3, min_width=200):
                        dance = gr.Dropdown(choices, value=choices[0][1], label="Dance", elem_id="dance-dropdown")
                        dance_about = gr.Markdown()
                    preview = gr.Video(label="Pose preview", height=200, scale=2, min_width=160, **LOOPING)
                with gr.Group(visible=False) as upload_group:
                    udp_zip = gr.File(label=TEXT["udp_zip"], file_types=[".zip"], elem_id="udp-zip", **FILE)
                with gr.Group(visible=False) as video_group:
                    video = gr.File(label=TEXT["video"], file_types=VIDEO_TYPES, **FILE)
                    smooth = gr.Slider(1, 9, value=3, step=2, label="Steadiness: median over N frames (1 = off)")
                    detect_button = gr.Button("Detect the poses", size="sm")
                    video_preview = gr.Video(label="Detected poses: raw | smoothed", height=200, **LOOPING)
                    video_status = gr.Markdown()
                    video_udp = gr.File(label="Detected poses as a UDP sequence (.zip)", interactive=False)
                with gr.Group(visible=False) as mmd_group:
                    with gr.Row():
                        mmd_model = gr.File(label=TEXT["mmd_model"], file_types=[".pmx", ".pmd", ".zip"], **FILE)
                        mmd_motion = gr.File(label="MMD motion: .vmd", file_types=[".vmd", ".zip"], **FILE)
                    with gr.Row():
                        mmd_start = gr.Number(0, minimum=0, label="Start at second (skip the intro)")
                        mmd_physics = gr.Checkbox(True, label="Hair and skirt physics (springs)")
                        mmd_camera = gr.File(label="Camera motion (.vmd, optional)", file_types=[".vmd"], **FILE)
                with gr.Accordion("3. Options and music", open=False):
                    fps = gr.Slider(1, 60, value=DEFAULT_FPS, step=1, label="Frames per second", elem_id="fps-slider")
                    seconds = gr.Slider(
                        0, 60, DEFAULT_SECONDS, step=0.5, label=TEXT["seconds"], elem_id="seconds-slider"
                    )
                    background = gr.Radio(list(BACKGROUNDS), value="Colour", label="MP4 background", info=TEXT["mp4"])
                    colour = gr.ColorPicker("#ffffff", label="Background colour", elem_id="colour-picker")
                    sizes = ["Pose canvas", "256", "384", "512", "768", "1024"]
                    size = gr.Dropdown(sizes, value="Pose canvas", label="Output size (longest side, pixels)")
                    models = [(f"{name}: {why}", name) for name, (_, why) in matting.MODELS.items()]
                    matting_model = gr.Dropdown(models, value=matting.DEFAULT_MODEL, label="Background removal model")
                    force = gr.Checkbox(False, label=TEXT["force"])
                    inbetween = gr.Checkbox(True, label=TEXT["inbetween"])
                    song = gr.File(label=TEXT["song"], file_types=SONG_TYPES, elem_id="song-file", **FILE)
                    song_start = gr.Number(0, minimum=0, label="The song starts at second")
                with gr.Row():
                    render_button = gr.Button("Render the dance", variant="primary", elem_id="render-button", scale=4)
                    preview_button = gr.Button("Preview", elem_id="preview-button", scale=2, min_width=90)
                    cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-button", scale=1, min_width=80)
                plan = gr.Markdown(elem_id="render-plan")
            with gr.Column(scale=6):
                gr.Markdown("### Your video")
                result_video = gr.Video(label="Dance (MP4)", elem_id="result-video", **LOOPING)
                with gr.Row():
                    webm = gr.File(label="Transparent video (WebM, VP9 + alpha)", interactive=False)
                    frames_zip = gr.File(label="Frames (zip of RGBA PNGs)", interactive=False)
                status = gr.Markdown(elem_id="render-status")
        with gr.Row(visible=False):  # the simple public endpoint /dance
            api_in = [gr.File(label="drawings", file_count="multiple", file_types=["image"], **FILE)]
            api_in += [gr.Textbox(label="dance"), gr.Number(30, label="fps"), gr.Number(0, label="seconds")]
            api_out = [gr.File(label="mp4"), gr.File(label="webm"), gr.File(label="frames_zip")]
            api_button, api_render = gr.Button(), gr.Button()

        controls = locals()
        form = [controls[name] for name in RenderForm.names()]  # the /render API's parameters, in order
        detect_in = [controls[name] for name in DETECTION_FIELDS]
        outputs, plan_inputs = [result_video, webm, frames_zip, status], [items, source, dance, fps, seconds]
        gpu = dict(concurrency_limit=LIMITS.concurrency, concurrency_id="gpu")
        shown = dict(show_progress_on=[plan, result_video], **gpu)
        demo.load(banner, None, banner_text, **LIGHT)
        demo.load(SPACE.dance_preview, dance, [preview, dance_about], **LIGHT)
        demo.load(render_plan, plan_inputs, plan, **LIGHT)
        demo.unload(cleanup_session)
        items.upload(
            add_drawings, [items, matting_model, force], [items, sheet_status], api_name="prepare_sheet", queue=False
        )
        items.select(selected_index, None, selected, **LIGHT)
        remove_button.click(remove_selected, [items, selected], [items, selected, sheet_status], **LIGHT)
        groups = [dance_group, upload_group, video_group, mmd_group]
        source.change(lambda chosen: [gr.update(visible=chosen == s) for s in SOURCES], source, groups, **LIGHT)
        dance.change(SPACE.dance_preview, dance, [preview, dance_about], **LIGHT)
        background.change(lambda b: gr.update(visible=b == "Colour"), background, colour, **LIGHT)
        # One event for every control, so two quick edits never answer out of order with a stale plan.
        gr.on([c.change for c in plan_inputs], render_plan, plan_inputs, plan, trigger_mode="always_last", **LIGHT)
        detect_out = [video_preview, video_udp, video_status, detected]
        detection = detect_button.click(detection_handler, detect_in, detect_out, api_name="detect_poses", **gpu)
        # The page's Render validates first (errors painted on the wrong control); /render is the same job for API
        # clients, whose refusals arrive as AppError with the message.
        private = dict(api_visibility="private", **shown)
        renders = render_button.click(render, form, outputs, validator=validate_render, api_name="render_ui", **private)
        api_render.click(render, form, outputs, api_name="render", **gpu)
        previewing = preview_button.click(quick_preview, form, outputs, api_name="quick_preview", **shown)
        cancel_button.click(None, None, None, cancels=[renders, previewing, detection], **LIGHT)
        if SPACE.example_sheet and choices:
            sheet = SPACE.example_sheet
            examples = gr.Examples([[sheet, name] for _, name in choices], [items, dance], label=TEXT["examples"])
            examples.load_input_event.then(render, form, outputs, api_name="render_example", **private)
        api_button.click(dance_api, api_in, api_out, api_name="dance", **gpu)
    demo.queue(default_concurrency_limit=LIMITS.concurrency, max_size=LIMITS.queue_size)
    return demo


demo = build_demo()  # what `gradio app.py` and Spaces look for; building starts no thread and loads no model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CoNR Space: a dancing video from your character drawings")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    SPACE.start()
    theme, upload, examples = gr.themes.Soft(primary_hue="pink"), f"{LIMITS.max_upload_mb}mb", [str(ROOT / "examples")]
    server = dict(server_name=args.host, server_port=args.port, share=args.share, max_file_size=upload)
    demo.launch(**server, css=CSS, theme=theme, allowed_paths=examples)


if __name__ == "__main__":
    main()
