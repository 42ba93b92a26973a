"""What one request may ask for: one set of limits for the app, the CLI and the library.

Set at launch from the environment (``Limits.from_env()``, the ``CONR_*``
variables in the README); the library's readers take the whole object and
read the fields they need (a video reader ``max_video_seconds``, MMD posing
``max_frames``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .errors import InputError

#: Frame rates every renderer, reader and converter accepts (frames per second).
MIN_FPS, MAX_FPS = 1, 60


def check_fps(fps: float) -> None:
    """InputError unless ``fps`` is a frame rate from MIN_FPS to MAX_FPS: the one check and message."""
    if not MIN_FPS <= fps <= MAX_FPS:
        raise InputError(f"Frames per second must be between {MIN_FPS} and {MAX_FPS}, not {fps:g}.")


#: Environment variable of each limit.
ENV = {
    "max_images": "CONR_MAX_IMAGES",
    "max_pixels": "CONR_MAX_PIXELS",
    "max_frames": "CONR_MAX_FRAMES",
    "max_file_mb": "CONR_MAX_FILE_MB",
    "max_zip_entries": "CONR_MAX_ZIP_ENTRIES",
    "max_zip_mb": "CONR_MAX_ZIP_MB",
    "max_zip_upload_mb": "CONR_MAX_ZIP_UPLOAD_MB",
    "max_video_seconds": "CONR_MAX_VIDEO_SECONDS",
    "max_video_side": "CONR_MAX_VIDEO_SIDE",
    "max_song_seconds": "CONR_MAX_SONG_SECONDS",
    "queue_size": "CONR_QUEUE_SIZE",
    "concurrency": "CONR_CONCURRENCY",
    "output_ttl_minutes": "CONR_OUTPUT_TTL_MINUTES",
    "output_max_mb": "CONR_OUTPUT_MAX_MB",
}


@dataclass(frozen=True)
class Limits:
    """Bounds on one job and on the server that runs jobs."""

    max_images: int = 8  # drawings per sheet
    max_pixels: int = 25_000_000  # per drawing
    max_frames: int = 600  # per render
    max_file_mb: int = 50  # per picture, video, song or MMD upload
    max_zip_upload_mb: int = 200  # per UDP zip upload (a 20 s dance of 16-bit PNG frames is about 60 MB)
    max_zip_entries: int = 2000  # per UDP zip
    max_zip_mb: int = 2048  # unpacked, per UDP zip
    max_video_seconds: int = 20  # of a driving video
    max_video_side: int = 4096  # pixels, of a driving video's frames
    max_song_seconds: int = 600  # of a song
    queue_size: int = 8  # waiting renders
    concurrency: int = 1  # renders at once
    output_ttl_minutes: int = 120
    output_max_mb: int = 4096

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """The defaults, overridden by the ``CONR_*`` variables that are set (positive integers)."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            text = (environ.get(ENV[field.name]) or "").strip()
            if not text:
                continue
            try:
                value = int(text)
            except ValueError:
                value = 0
            if value < 1:
                raise InputError(f"{ENV[field.name]}={text!r}: expected a whole number of at least 1.")
            values[field.name] = value
        return cls(**values)

    @property
    def max_upload_mb(self) -> int:
        """What the web server accepts at all: the largest of the per-kind limits (each checked on its own)."""
        return max(self.max_file_mb, self.max_zip_upload_mb)
