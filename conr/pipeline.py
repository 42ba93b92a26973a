"""The renderer: loaded CoNR models plus a device, shared by every request.

    renderer = ConrRenderer.from_pretrained().to("cpu", dtype="auto")  # load (mmap), then place
    sheet = renderer.parse_sheet(["front.png", "back.png"])
    for rgba in renderer.render_iter(open_udp_sequence("dance.zip"), sheet):
        ...                                            # straight-alpha RGBA uint8, pose canvas size

``parse_sheet`` runs the parser once per character (results are cached by
content); ``render`` / ``render_iter`` run any number of frames in batches,
preparing the next batch and pasting the previous one on CPU threads while
the device computes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from .crop import SquareCrop
from .errors import InputError, check_cancelled
from .network import PARTS, CoNRNetwork, SheetFeatures
from .precision import DTYPES, FLOAT32, Precision, PrecisionChoice, native_dtypes, parse_dtype, parse_precision  # noqa: F401 (DTYPES, parse_dtype re-exported)
from .progress import STAGE_DETECT, STAGE_RENDER, Progress
from .runtime import StageClock, keep_freed_memory
from .sheet import NETWORK_SIZE, ImageInput, describe, load_image, premultiply, prepare_sheet
from .udp import PreparedPose, prepare_pose, validate_udp
from .weights import ResolvedWeights, load_part, resolve_weights


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA when available, else CPU; an explicit request for CUDA without it is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was requested but PyTorch sees no CUDA GPU here; use --device cpu.")
    return device


def reduced_precisions(device: torch.device) -> list[str]:
    """Reduced dtypes this device computes natively (see ``conr.precision.native_dtypes``)."""
    return native_dtypes(device)


@dataclass
class CharacterSheet:
    """A parsed character: the network's features of every view, on the renderer's device."""

    key: str
    names: list[str]
    features: SheetFeatures

    @property
    def views(self) -> int:
        return self.features.reference.shape[0]

    @property
    def udp(self) -> np.ndarray:
        """The parser's UDP estimate of each view, (M, 256, 256, 4) float32."""
        return self.features.udp.float().permute(0, 2, 3, 1).cpu().numpy()


def transparent_frame(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 4), np.uint8)


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA uint8 -> straight alpha, rounding to nearest."""
    alpha = rgba[:, :, 3:4].astype(np.float32)
    rgb = rgba[:, :, :3].astype(np.float32)
    straight = np.where(alpha > 0, rgb * 255.0 / np.maximum(alpha, 1.0), 0.0)
    out = rgba.copy()
    out[:, :, :3] = np.clip(straight + 0.5, 0, 255).astype(np.uint8)
    return out


def paste_render(render: np.ndarray, pose: PreparedPose) -> np.ndarray:
    """A (4, S, S) premultiplied float render -> straight RGBA uint8 on the pose canvas.

    Quantised and resized as the original does (truncate to uint8, then
    INTER_AREA), so its frames are reproduced to within one level.
    """
    premultiplied = np.clip(render.transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8)
    return unpremultiply(pose.crop.paste(premultiplied))


class ConrRenderer:
    """Owns the CoNR network and renders characters into poses; holds no per-request state.

    Load, then place (as diffusers does)::

        renderer = ConrRenderer.from_pretrained(weights_dir).to("cuda", dtype="auto")

    Args:
        network: a ``CoNRNetwork`` with weights loaded.
        device: where to run; default CUDA if available, else CPU.
        dtype: a precision (``conr.precision``): float32 (reference), bfloat16 / float16
            (pose U-Net and shader under autocast), bfloat16-shader / float16-shader, or
            "auto" (the fastest that keeps the measured video quality).
        batch_size: frames per forward pass; default chosen from free memory.
        channels_last: run the shader's convolutions in NHWC (faster with oneDNN and cuDNN).

    The renderer is shared by requests: the sheet is an argument of every
    render, an out-of-memory fallback shrinks the batch of that call only,
    and precisions are measured on copies. Parsed sheets are cached by
    content (a cache, not a "current" sheet).
    """

    def __init__(
        self,
        network: CoNRNetwork,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | Precision | None = None,
        batch_size: int | None = None,
        channels_last: bool = True,
    ):
        self.network = network.eval()
        self.network.shader.set_channels_last(channels_last)
        self.device = torch.device("cpu")
        self.precision: Precision = FLOAT32
        self.precision_choice: PrecisionChoice | None = None
        self.batch_size = batch_size
        self._sheets: OrderedDict[tuple[str, torch.device], CharacterSheet] = OrderedDict()
        self._lock = threading.Lock()
        self.weights: ResolvedWeights | None = None
        self.to(pick_device(device), dtype)

    @property
    def dtype(self) -> torch.dtype:
        """The shader's compute dtype (see ``precision`` for the whole setting)."""
        return self.precision.dtype

    # ------------------------------------------------------------ loading and placement

    @classmethod
    def from_pretrained(
        cls,
        weights_dir: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | Precision | None = None,
        batch_size: int | None = None,
        allow_download: bool = True,
        progress: bool = True,
        channels_last: bool = True,
    ) -> ConrRenderer:
        """Resolve the four checkpoint files (see ``conr.weights``), check them and load them on the CPU.

        The tensors are memory-mapped from the files (no copy, no random
        initialisation first); ``device``/``dtype`` are a shortcut for
        ``.to(device, dtype)`` (device default: CUDA if available).
        """
        resolved = resolve_weights(weights_dir, allow_download=allow_download, progress=progress)
        with torch.device("meta"):
            network = CoNRNetwork()
        for part in PARTS:
            load_part(getattr(network, part), part, resolved.paths[part], assign=True)
        renderer = cls(network, device="cpu", batch_size=batch_size, channels_last=channels_last)
        renderer.weights = resolved
        return renderer.to(pick_device(device), dtype)

    def to(
        self, device: str | torch.device | None = None, dtype: str | torch.dtype | Precision | None = None
    ) -> ConrRenderer:
        """Place the network on ``device`` and set the precision; returns self.

        ``dtype="auto"`` measures the candidates this device computes
        natively (or reads the cached choice, see ``conr.precision``);
        ``precision_choice`` then holds the measurements. Parsed sheets are
        dropped when the device changes.
        """
        if device is not None:
            device = pick_device(device)
            if device != self.device:
                self.network.to(device)
                with self._lock:
                    self._sheets.clear()
                self.device = device
            if device.type == "cpu":
                keep_freed_memory()
        if dtype is not None and str(dtype) == "auto":
            from .precision import choose_precision

            self.precision_choice = choose_precision(self)
            dtype = self.precision_choice.precision
        if dtype is not None or device is not None:
            precision = parse_precision(dtype) if dtype is not None else self.precision
            if (
                precision.dtype == torch.float16
                and self.device.type == "cpu"
                and "float16" not in native_dtypes(self.device)
            ):
                raise InputError(
                    "float16 is for GPUs (or CPUs with AVX512-FP16/AMX); on this CPU use bfloat16 or float32."
                )
            self.precision = precision
        return self

    def copy_with(self, precision: str | torch.dtype | Precision) -> ConrRenderer:
        """A renderer sharing this one's network and sheet cache, computing in ``precision`` (for measuring)."""
        other = copy.copy(self)
        other.precision = parse_precision(precision)
        other.precision_choice = None
        return other

    def compile(self, mode: str | None = None) -> ConrRenderer:
        """Compile the shader with ``torch.compile`` (optional, never required).

        The default mode on CUDA is "reduce-overhead" (CUDA graphs: the
        shader launches a few hundred small kernels per frame); elsewhere the
        default inductor mode. Each new batch shape compiles once more.
        """
        if mode is None:
            mode = "reduce-overhead" if self.device.type == "cuda" else "default"
        self.network.shader.forward = torch.compile(self.network.shader.forward, mode=mode, dynamic=False)
        return self

    # ------------------------------------------------------------ helpers

    def default_batch_size(self, views: int = 4) -> int:
        """Frames per pass: bounded by free device memory (about 0.35 GB per frame and view in float32)."""
        if self.batch_size:
            return self.batch_size
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            per_frame = 0.35e9 * views * (0.6 if self.precision.reduced else 1.0)
            return int(max(1, min(32, (free * 0.7) // per_frame)))
        return 1  # on CPUs larger batches only spill the caches (measured: 6.6 s/frame at 1, 8.4 at 2)

    # ------------------------------------------------------------ sheet

    def parse_sheet(self, images: Sequence[ImageInput], names: Sequence[str] | None = None) -> CharacterSheet:
        """Parse a character sheet (always in float32); the same pictures again hit a small cache.

        ``images`` are paths, PIL images or RGBA arrays with a transparent
        background. Pass the returned sheet to ``render`` / ``render_iter``.
        """
        if len(images) == 0:
            raise InputError("The character sheet is empty: give at least one drawing of the character.")
        names = list(names) if names is not None else [describe(img, i) for i, img in enumerate(images)]
        rgba = [load_image(img, name) for img, name in zip(images, names)]
        prepared = prepare_sheet(rgba, names)
        digest = hashlib.sha1()
        for array in (prepared.rgb, prepared.alpha):
            digest.update(np.ascontiguousarray(array).tobytes())
        key = (digest.hexdigest(), self.device)
        with self._lock:
            if key in self._sheets:
                self._sheets.move_to_end(key)
                return self._sheets[key]
            with torch.inference_mode():
                rgb = torch.from_numpy(prepared.rgb).to(self.device)
                alpha = torch.from_numpy(prepared.alpha).to(self.device)
                features = self.network.parse_sheet(rgb, alpha)
            sheet = CharacterSheet(key[0], names, features)
            self._sheets[key] = sheet
            while len(self._sheets) > 4:
                self._sheets.popitem(last=False)
            return sheet

    def detect_udp(self, images: Sequence[ImageInput]) -> list[np.ndarray]:
        """UDP the parser predicts for each cut-out drawing, (256, 256, 4) float32 each, in the square crop."""
        names = [describe(img, i) for i, img in enumerate(images)]
        prepared = prepare_sheet([load_image(img, n) for img, n in zip(images, names)], names)
        with torch.inference_mode():
            udp = self.network.detect_udp(torch.from_numpy(prepared.rgb).to(self.device))
        return list(udp.float().permute(0, 2, 3, 1).cpu().numpy())

    def detect_poses(
        self,
        frames: Sequence[np.ndarray],
        batch_size: int = 8,
        threshold: float = 0.5,
        progress: Progress | None = None,
    ) -> list[np.ndarray]:
        """UDP of the figure in each cut-out frame (RGBA uint8), on the frame's own canvas.

        The detector's visibility is made binary (and kept inside the
        cut-out), XYZ is zero elsewhere; a frame without a figure gives an
        all-zero UDP frame. Frames go through the network in batches.
        """
        out: list[np.ndarray] = []
        for start in range(0, len(frames), batch_size):
            chunk = frames[start : start + batch_size]
            crops = [SquareCrop.around(f[:, :, 3], ignore_haze=True) for f in chunk]  # cut-outs may carry a haze
            cuts = [c.cut(premultiply(f), NETWORK_SIZE).astype(np.float32) / 255.0 for f, c in zip(chunk, crops) if c]
            if cuts:
                rgb = torch.from_numpy(np.stack([c[:, :, :3].transpose(2, 0, 1) for c in cuts]))
                with torch.inference_mode():
                    predicted = self.network.detect_udp(rgb.to(self.device)).float().cpu().numpy()
            k = 0
            for frame, crop in zip(chunk, crops):
                if crop is None:
                    out.append(np.zeros(frame.shape[:2] + (4,), np.float32))
                    continue
                udp = predicted[k].transpose(1, 2, 0)
                occupied = (udp[:, :, 3] > threshold) & (cuts[k][:, :, 3] > 0.5)
                udp = np.concatenate([udp[:, :, :3] * occupied[:, :, None], occupied[:, :, None]], axis=2)
                out.append(crop.paste(np.ascontiguousarray(udp, dtype=np.float32), nearest=True))
                k += 1
            if progress:
                progress(STAGE_DETECT, len(out), len(frames))
        return out

    # ------------------------------------------------------------ render

    def _check_sheet(self, sheet) -> CharacterSheet:
        if not isinstance(sheet, CharacterSheet):
            raise InputError("No character sheet: pass the sheet from parse_sheet(images) to render().")
        return sheet

    def _launch(self, sheet: CharacterSheet, targets: np.ndarray, limit: list[int]) -> list[torch.Tensor]:
        """Start the network on a batch (asynchronous on CUDA), at most ``limit[0]`` frames per pass.

        On out-of-memory the pass is halved and ``limit[0]`` lowered: the
        caller's list lives for one render call, so the next request starts
        from the renderer's own batch size again.
        """
        if len(targets) > limit[0]:
            return [
                out
                for i in range(0, len(targets), limit[0])
                for out in self._launch(sheet, targets[i : i + limit[0]], limit)
            ]
        features = sheet.features
        if features.reference.device != self.device:
            features = features.to(self.device)
        try:
            with torch.inference_mode():
                target = torch.from_numpy(targets).to(self.device, non_blocking=True)
                return [
                    self.network.render(
                        features, target, shader_dtype=self.precision.dtype, encoder_dtype=self.precision.encoder_dtype
                    )
                ]
        except torch.OutOfMemoryError:
            if len(targets) == 1:
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            limit[0] = max(1, len(targets) // 2)
            return self._launch(sheet, targets, limit)

    @staticmethod
    def _fetch(outputs: list[torch.Tensor]) -> np.ndarray:
        """Wait for a launched batch and bring it to the CPU as float32 (N, 4, S, S)."""
        return np.concatenate([out.float().cpu().numpy() for out in outputs])

    def render_iter(
        self,
        udp_frames: Iterable[np.ndarray] | Sequence[np.ndarray],
        sheet: CharacterSheet,
        batch_size: int | None = None,
        progress: Progress | None = None,
        cancel=None,
        clock: StageClock | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield one straight-alpha RGBA uint8 frame per UDP frame, at its canvas size, in order.

        Frames with no visible body give fully transparent frames. Reading
        and cropping the next batch and pasting the previous one happen on
        worker threads while the network runs. ``cancel`` (a
        ``threading.Event`` or a callable) is checked before every batch:
        once set, ``conr.errors.Cancelled`` is raised within one batch.
        ``clock`` (``conr.runtime.StageClock``) adds up the time of each stage.
        """
        clock = clock or StageClock(enabled=False)
        frames = udp_frames if isinstance(udp_frames, Sequence) else list(udp_frames)
        total = len(frames)
        if total == 0:
            raise InputError("There are no pose frames to render.")
        sheet = self._check_sheet(sheet)
        batch = max(1, batch_size or self.default_batch_size(sheet.views))
        limit = [batch]  # this call's pass size: halved on out-of-memory, never the renderer's
        starts = list(range(0, total, batch))
        names = getattr(frames, "names", None)

        def prepare(start: int) -> list[tuple[np.ndarray, PreparedPose | None]]:
            with clock.stage("read + crop poses (worker)"):
                out = []
                for index in range(start, min(start + batch, total)):
                    frame = validate_udp(frames[index], names[index] if names else f"frame {index}")
                    out.append((frame, prepare_pose(frame, NETWORK_SIZE)))
                return out

        def paste(prepared, renders: np.ndarray | None) -> list[np.ndarray]:
            with clock.stage("paste frames (worker)"):
                out, k = [], 0
                for frame, pose in prepared:
                    if pose is None:
                        out.append(transparent_frame(*frame.shape[:2]))
                    else:
                        out.append(paste_render(renders[k], pose))
                        k += 1
                return out

        # Pipelined: while batch i runs on the device, batch i+1 is read and cropped on a
        # worker thread and the frames of batch i-1 (pasted on another) go to the caller.
        done = 0
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="conr-io") as pool:
            next_batch = pool.submit(prepare, starts[0])
            pending = None
            for i, _ in enumerate(starts):
                check_cancelled(cancel, "The render")
                with clock.stage("wait for poses"):
                    prepared = next_batch.result()
                if i + 1 < len(starts):
                    next_batch = pool.submit(prepare, starts[i + 1])
                targets = [pose.target for _, pose in prepared if pose is not None]
                with clock.stage("forward"):
                    launched = self._launch(sheet, np.stack(targets), limit) if targets else None
                if pending is not None:
                    with clock.stage("wait for pasted frames"):
                        pasted = pending.result()
                    yield from pasted
                with clock.stage("forward"):
                    renders = self._fetch(launched) if launched else None
                pending = pool.submit(paste, prepared, renders)
                done += len(prepared)
                if progress:
                    progress(STAGE_RENDER, done, total)
            if pending is not None:
                with clock.stage("wait for pasted frames"):
                    pasted = pending.result()
                yield from pasted

    def render(
        self,
        udp_frames: Iterable[np.ndarray] | Sequence[np.ndarray],
        sheet: CharacterSheet,
        batch_size: int | None = None,
        progress: Progress | None = None,
        cancel=None,
    ) -> list[np.ndarray]:
        """All frames at once (see ``render_iter``; prefer it for long dances)."""
        return list(self.render_iter(udp_frames, sheet, batch_size, progress, cancel))

    def render_premultiplied_256(self, udp_frames: Sequence[np.ndarray], sheet: CharacterSheet) -> np.ndarray:
        """The network's raw output (N, 4, 256, 256), RGB premultiplied: what the original computes before pasting."""
        sheet = self._check_sheet(sheet)
        poses = [prepare_pose(validate_udp(f, f"frame {i}")) for i, f in enumerate(udp_frames)]
        if any(p is None for p in poses):
            raise InputError("A frame has no visible body; it has no 256x256 render.")
        targets = np.stack([p.target for p in poses])
        return self._fetch(self._launch(sheet, targets, [self.batch_size or len(targets)]))


# ---------------------------------------------------------------- whole jobs


@dataclass
class RenderResult:
    frames: int
    width: int
    height: int
    fps: float
    mp4: str | None = None
    webm: str | None = None
    frames_dir: str | None = None
    frames_zip: str | None = None


def render_to_files(
    renderer: ConrRenderer,
    poses: Sequence[np.ndarray],
    *,
    sheet: CharacterSheet,
    fps: float = 30.0,
    background: tuple[int, int, int] | None = (255, 255, 255),
    mp4: str | os.PathLike | None = None,
    webm: str | os.PathLike | None = None,
    frames_dir: str | os.PathLike | None = None,
    frames_zip: str | os.PathLike | None = None,
    max_side: int | None = None,
    progress: Progress | None = None,
    cancel=None,
    clock: StageClock | None = None,
) -> RenderResult:
    """Render a pose sequence and stream it into the requested files.

    The videos take the first frame's canvas size (rescaled so its longer
    side is ``max_side``); a frame of another size is letterboxed onto it,
    while its PNG keeps its own size (as the original renders each frame).
    Frames are written as they come, so memory does not grow with the
    dance's length. On a failure or a cancel (``cancel``, see
    ``render_iter``) the encoders are stopped and the partial files deleted.
    ``clock`` adds up the time of each stage (see ``conr.runtime.StageClock``).
    """
    from .video import FrameSink, fit_size, resize_rgba

    names = getattr(poses, "names", None)
    first = validate_udp(poses[0], names[0] if names else "frame 0") if len(poses) else None
    if first is None:
        raise InputError("There are no pose frames to render.")
    canvas_h, canvas_w = first.shape[:2]
    width, height = fit_size(canvas_w, canvas_h, max_side)
    clock = clock or StageClock(enabled=False)
    with clock.stage("start encoders"):
        sink = FrameSink(
            width, height, fps, mp4=mp4, webm=webm, frames_dir=frames_dir, frames_zip=frames_zip, background=background
        )
    with sink:
        for rgba in renderer.render_iter(poses, sheet, progress=progress, cancel=cancel, clock=clock):
            with clock.stage("resize + encode (hand-off)"):
                size = fit_size(rgba.shape[1], rgba.shape[0], max_side)
                if size != (rgba.shape[1], rgba.shape[0]):
                    rgba = resize_rgba(rgba, *size)
                sink.write(rgba)
        with clock.stage("finish encoders"):
            sink.close()
    return RenderResult(
        sink.count,
        width,
        height,
        fps,
        mp4=str(mp4) if mp4 else None,
        webm=str(webm) if webm else None,
        frames_dir=str(frames_dir) if frames_dir else None,
        frames_zip=str(frames_zip) if frames_zip else None,
    )
