"""Songs for the videos: reading them safely, their tempo, and retiming a dance to it.

A song is MP3, WAV, OGG or M4A, recognised by its content (not its name)
and decoded with the ffmpeg binary that ships with ``imageio-ffmpeg``, told
which demuxer to use, so a file posing as a song (a playlist, say) is never
followed. The tempo comes from numpy alone: an onset-strength envelope
(spectral flux of a short-time spectrum), its autocorrelation scored at the
first four multiples of each beat period from 60 to 200 BPM, a log-normal
prior around 120 BPM to pick between tempo octaves, and the autocorrelation
height as the confidence. Muxing a song into the videos is
``conr.video.mux_audio``.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: Content sniffed -> (ffmpeg demuxer, the name users know).
SONG_FORMATS = {"mp3": "MP3", "wav": "WAV", "ogg": "OGG", "mov": "M4A"}
SONG_SUFFIXES = (".mp3", ".wav", ".ogg", ".m4a")
MAX_SONG_MB = 30
MAX_SONG_SECONDS = 600.0
#: ffmpeg must finish reading or muxing a song within this long (a hostile file must not hang a worker).
FFMPEG_TIMEOUT = 120

#: Analysis: mono at 16 kHz, 32 ms windows every 8 ms (a 125 Hz onset envelope).
RATE = 16000
N_FFT = 512
HOP = 128
MIN_BPM, MAX_BPM = 60.0, 200.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # the prior on tempo: log-normal, one octave wide
#: Below this the beat is too weak to follow (white noise scores about 0.05, a click track 0.9, pop music 0.3-0.6).
MIN_CONFIDENCE = 0.15
#: Quieter than this (RMS, full scale 1) counts as silence: -70 dBFS.
SILENCE_RMS = 10 ** (-70 / 20)
#: At most this much of the song is analysed, and at least this much when the video is shorter.
MAX_ANALYSIS_SECONDS, MIN_ANALYSIS_SECONDS = 60.0, 15.0


def _ffmpeg() -> str:
    from .video import ffmpeg_exe

    return ffmpeg_exe()


def clock(seconds: float) -> str:
    """Seconds as m:ss for messages."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---------------------------------------------------------------- reading


def sniff_song(head: bytes) -> str | None:
    """The ffmpeg demuxer for a song's first bytes (see SONG_FORMATS), None when it is none of ours."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mov"  # MP4 audio (.m4a); ffmpeg's mov demuxer never follows external references by default
    if head[:3] == b"ID3":
        return "mp3"
    # An MPEG audio frame header: 11 sync bits, then a layer other than the reserved 00 (which is AAC's ADTS).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    return None


_OTHER_FORMATS = {b"fLaC": "FLAC", b"FORM": "AIFF", b"\x1aE\xdf\xa3": "WebM/Matroska", b"#EXT": "a playlist"}


@dataclass(frozen=True)
class Song:
    """A song that passed the checks: ``demuxer`` is what ffmpeg is told, ``seconds`` its length."""

    path: Path
    name: str  # what messages call it: the uploaded file's name
    demuxer: str
    seconds: float
    codec: str

    @property
    def kind(self) -> str:
        return SONG_FORMATS[self.demuxer]

    def input_args(self, start: float = 0.0) -> list[str]:
        """ffmpeg arguments reading the song from ``start`` seconds (exact: ffmpeg decodes up to it)."""
        seek = ["-ss", f"{start:.6f}"] if start > 0 else []
        return [*seek, "-f", self.demuxer, "-i", str(self.path)]


def open_song(
    path, name: str | None = None, max_mb: float = MAX_SONG_MB, max_seconds: float = MAX_SONG_SECONDS
) -> Song:
    """Check a song file (format by content, size, length, an audio stream ffmpeg can read); InputError naming it."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise InputError(f"The song '{name}' does not exist.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"The song '{name}' is an empty file.")
    if size > max_mb * 1024**2:
        raise InputError(
            f"The song '{name}' is {size / 1024**2:.0f} MB; the limit is {max_mb:g} MB. "
            "Cut it to the part you need or save it as an MP3."
        )
    with open(path, "rb") as handle:
        head = handle.read(16)
    demuxer = sniff_song(head)
    if demuxer is None:
        other = next((kind for magic, kind in _OTHER_FORMATS.items() if head.startswith(magic)), None)
        what = f"is {other}" if other else "is not an audio file this app reads"
        raise InputError(f"The song '{name}' {what}; use MP3, WAV, OGG or M4A.")
    proc = _run([_ffmpeg(), "-hide_banner", "-nostdin", "-f", demuxer, "-i", str(path)], name)
    log = proc.stderr.decode(errors="replace")
    stream = re.search(r"Stream #0:\d+(?:\[\w+\])?(?:\(\w+\))?: Audio: (\w+)", log)
    if stream is None:
        kind = SONG_FORMATS[demuxer]
        if "Invalid data" in log or "could not find codec" in log.lower() or "Stream #" not in log:
            raise InputError(f"The song '{name}' looks like {kind} but ffmpeg cannot read it; the file may be damaged.")
        raise InputError(
            f"The song '{name}' has no sound in it (no audio stream); use MP3, WAV, OGG or M4A with audio."
        )
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", log)
    if duration:
        hours, minutes, secs = duration.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    else:  # no length in the header (a streamed OGG, say): decode it, at most just past the limit
        seconds = len(_decode(path, demuxer, name, 0.0, max_seconds + 1, 8000)) / 8000
    if seconds > max_seconds:
        raise InputError(
            f"The song '{name}' is {clock(seconds)} long; the limit is {clock(max_seconds)}. Cut it to the part you need."
        )
    if seconds <= 0:
        raise InputError(f"The song '{name}' holds no sound (its length is 0 s).")
    return Song(path, name, demuxer, seconds, stream.group(1))


def check_start(song: Song, start: float) -> float:
    """The start offset into the song, refused when negative or past its end."""
    start = float(start or 0.0)
    if not math.isfinite(start) or start < 0:
        raise InputError(f"The song's start offset must be 0 or more seconds, not {start:g}.")
    if start >= song.seconds:
        raise InputError(
            f"The start offset {start:g} s is past the end of the song '{song.name}' ({song.seconds:.1f} s long); "
            "choose an earlier start."
        )
    return start


def _run(cmd: list[str], name: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(
            f"Reading the song '{name}' took longer than {FFMPEG_TIMEOUT} s; the file may be damaged."
        ) from None


def _decode(path: Path, demuxer: str, name: str, start: float, seconds: float, rate: int) -> np.ndarray:
    seek = ["-ss", f"{start:.6f}"] if start > 0 else []
    cmd = [
        _ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *seek,
        "-f",
        demuxer,
        "-i",
        str(path),
        "-t",
        f"{seconds:.6f}",
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(rate),
        "-f",
        "f32le",
        "-",
    ]
    proc = _run(cmd, name)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"The song '{name}' could not be decoded ({(reason or ['no reason given'])[-1][:200]}).")
    return np.frombuffer(proc.stdout, np.float32)


def read_samples(song: Song, start: float = 0.0, seconds: float | None = None, rate: int = RATE) -> np.ndarray:
    """The song as mono float32 samples at ``rate``, from ``start`` for ``seconds`` (default: to its end)."""
    seconds = song.seconds - start if seconds is None else seconds
    return _decode(song.path, song.demuxer, song.name, start, max(seconds, 0.0), rate)


# ---------------------------------------------------------------- tempo


@dataclass(frozen=True)
class Tempo:
    """A song's tempo: ``bpm`` None when there is no beat to follow (silence, too weak), and ``note`` says why."""

    bpm: float | None
    confidence: float  # 0..1: the envelope's autocorrelation at the beat period, averaged over 4 multiples
    first_beat: float = 0.0  # seconds from the start of the analysed audio to the first beat
    note: str = ""


def onset_envelope(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Onset strength at ``rate / HOP`` Hz: the summed increase of the log spectrum from one window to the next."""
    samples = np.asarray(samples, np.float32)
    if len(samples) < N_FFT + HOP:
        return np.zeros(0, np.float32)
    padded = np.pad(samples, (N_FFT // 2, N_FFT // 2))  # window i is centred on sample i * HOP
    count = 1 + (len(padded) - N_FFT) // HOP
    window = np.hanning(N_FFT).astype(np.float32)
    flux = np.zeros(count, np.float32)
    previous = None
    for begin in range(0, count, 2048):  # in blocks: a long song's spectrum need not sit in memory whole
        idx = np.arange(begin, min(count, begin + 2048))[:, None] * HOP + np.arange(N_FFT)[None, :]
        spectrum = np.abs(np.fft.rfft(padded[idx] * window, axis=1)).astype(np.float32)
        logmag = np.log1p(1000.0 * spectrum)  # compress: quiet onsets count too
        stacked = logmag if previous is None else np.concatenate([previous, logmag])
        rise = np.maximum(0.0, np.diff(stacked, axis=0)).mean(axis=1)
        flux[begin + (1 if previous is None else 0) : begin + len(logmag)] = rise
        previous = logmag[-1:]
    # Remove the slow trend (crescendos), keeping the beats.
    width = max(1, int(round(rate / HOP)))  # one second
    trend = np.convolve(flux, np.ones(width, np.float32) / width, mode="same")
    return np.maximum(0.0, flux - trend)


def _interp(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.interp(positions, np.arange(len(values)), values, right=0.0)


def estimate_tempo(samples: np.ndarray, rate: int = RATE, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM) -> Tempo:
    """The tempo of mono ``samples`` in [min_bpm, max_bpm], with a confidence and the first beat's time."""
    samples = np.asarray(samples, np.float32)
    seconds = len(samples) / rate
    if len(samples) == 0 or float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < SILENCE_RMS:
        return Tempo(None, 0.0, note="it is silent there")
    envelope = onset_envelope(samples, rate)
    env_rate = rate / HOP
    longest_lag = 4 * 60.0 * env_rate / min_bpm
    if len(envelope) < 2 * 60.0 * env_rate / min_bpm or not envelope.any():
        return Tempo(None, 0.0, note=f"{seconds:.1f} s is too short to find a beat")
    centred = envelope - envelope.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(centred))))
    spectrum = np.fft.rfft(centred, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(centred)]
    if acf[0] <= 0:
        return Tempo(None, 0.0, note="there is no beat in it")
    acf = acf / acf[0]
    # Score every tempo (0.05 BPM steps) by the autocorrelation at 1-4 beat periods; lags past the
    # envelope's end count as 0, so a short excerpt favours neither octave unfairly.
    bpms = np.arange(min_bpm, max_bpm + 1e-9, 0.05)
    periods = 60.0 * env_rate / bpms
    multiples = np.arange(1, 5)[:, None] * periods[None, :]
    heights = _interp(acf, multiples.ravel()).reshape(multiples.shape)
    valid = multiples < min(len(acf) - 1, longest_lag + 1)
    score = np.where(valid, heights, 0.0).sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    prior = np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    best = int(np.argmax(score * prior))
    bpm, confidence = float(bpms[best]), float(np.clip(score[best], 0.0, 1.0))
    if confidence < MIN_CONFIDENCE:
        return Tempo(None, confidence, note=f"its beat is too weak to follow (confidence {confidence:.2f})")
    # Phase: where a comb of beats at this period collects the most onset strength.
    period = periods[best]
    phases = np.arange(0.0, period, 0.25)
    comb = np.arange(0.0, len(envelope) - 1, period)
    strength = [_interp(envelope, comb + phase).sum() for phase in phases]
    first_beat = float(phases[int(np.argmax(strength))] / env_rate)
    return Tempo(round(bpm, 1), round(confidence, 3), first_beat)


def song_tempo(song: Song, start: float = 0.0, seconds: float | None = None) -> Tempo:
    """The tempo of the part of ``song`` a video uses (from ``start``, ``seconds`` long; at least 15 s, at most 60 s)."""
    length = MIN_ANALYSIS_SECONDS if not seconds else min(max(seconds, MIN_ANALYSIS_SECONDS), MAX_ANALYSIS_SECONDS)
    tempo = estimate_tempo(read_samples(song, start, length), RATE)
    if tempo.bpm is None:
        where = f" from {clock(start)}" if start else ""
        return Tempo(None, tempo.confidence, tempo.first_beat, f"no tempo found in '{song.name}'{where}: {tempo.note}")
    return tempo


# ---------------------------------------------------------------- retiming


@dataclass(frozen=True)
class Retiming:
    """How a dance keyed at ``dance_bpm`` plays to a song: ``speed`` times faster, its first beat at ``first_beat`` s."""

    speed: float  # 1.0: as keyed
    dance_bpm: float | None
    song_bpm: float | None
    target_bpm: float | None  # the dance's tempo after retiming (the song's, or twice or half of it)
    first_beat: float
    message: str  # the status line, e.g. "song at 128 BPM; dance retimed from 120"

    @property
    def retimed(self) -> bool:
        return self.speed != 1.0

    def indices(
        self, frames: int, dance_fps: float, fps: float, seconds: float | None = None, loop: bool = True
    ) -> list[int]:
        """Frame indices into one loop of ``frames`` dance frames (keyed at ``dance_fps``) for a video at ``fps``.

        With ``loop`` the dance repeats (a bundled dance loops seamlessly on its
        beat grid) and its beat 0 lands on the song's first beat; the video is
        ``seconds`` long, or one loop at the new speed when not given. Without
        ``loop`` it plays once from its start (``UdpSequence.retime``'s rule).
        """
        loop_seconds = frames / dance_fps / self.speed
        duration = seconds or loop_seconds
        if not loop:
            duration = min(duration, loop_seconds)
        count = max(1, int(round(duration * fps)))
        times = np.arange(count) / fps
        if loop:
            position = (times - self.first_beat) * self.speed * dance_fps
            return [int(i) % frames for i in np.round(position)]
        return [min(frames - 1, int(i * self.speed * dance_fps / fps + 1e-6)) for i in range(count)]

    def apply(self, poses, dance_fps: float, fps: float, seconds: float | None = None, loop: bool = True):
        """``poses`` (a ``UdpSequence``, one loop of the dance) retimed: ``poses.select(self.indices(...))``."""
        return poses.select(self.indices(len(poses), dance_fps, fps, seconds, loop))


def match_tempo(tempo: Tempo | None, dance_bpm: float | None) -> Retiming:
    """How to retime a dance keyed at ``dance_bpm`` to a song of ``tempo``.

    The dance follows the song's tempo, or twice or half of it, whichever is
    closest to its own (so a 120 BPM dance to a 70 BPM ballad steps at 140,
    two steps a beat, rather than crawling at 70). No tempo, no dance BPM
    (an uploaded or detected sequence): no retiming, and the message says so.
    """
    if tempo is None:
        return Retiming(1.0, dance_bpm, None, dance_bpm, 0.0, "")
    if tempo.bpm is None:
        keeps = f"; the dance keeps its own tempo ({dance_bpm:g} BPM)" if dance_bpm else ""
        return Retiming(1.0, dance_bpm, None, dance_bpm, 0.0, f"{tempo.note}{keeps}")
    song = f"song at {tempo.bpm:.0f} BPM"
    if not dance_bpm:
        return Retiming(
            1.0, None, tempo.bpm, None, tempo.first_beat, f"{song}; these poses have no tempo, so they play as they are"
        )
    candidates = [tempo.bpm * 2.0**k for k in (-2, -1, 0, 1, 2)]
    target = min(candidates, key=lambda bpm: abs(math.log(bpm / dance_bpm)))
    speed = target / dance_bpm
    if abs(speed - 1.0) < 0.002:
        return Retiming(
            1.0, dance_bpm, tempo.bpm, dance_bpm, tempo.first_beat, f"{song}; the dance's tempo already matches"
        )
    message = f"{song}; dance retimed from {dance_bpm:.0f}"
    if abs(target - tempo.bpm) > 0.01:
        ratio = {0.25: "a quarter of", 0.5: "half", 2.0: "twice", 4.0: "four times"}[round(target / tempo.bpm, 2)]
        message += f" to {target:.0f} ({ratio} the song's beat)"
    return Retiming(speed, dance_bpm, tempo.bpm, target, tempo.first_beat, message)
