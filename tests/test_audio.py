"""Music: songs read and refused by content, tempo of click tracks of known BPM, dances retimed to them,
and the sound muxed into real MP4/WebM files (probed with ffmpeg) without touching the video stream."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from conr.audio import RATE, Tempo, check_start, estimate_tempo, match_tempo, open_song, read_samples, song_tempo
from conr.errors import InputError, OutputError
from conr.udp import UdpSequence
from conr.video import (
    FrameSink,
    add_audio,
    ffmpeg_exe,
    mux_audio,
    probe_audio,
    probe_video,
    read_video_frames,
)


def click_track(bpm: float, seconds: float, rate: int = 44100, offset: float = 0.0, accent=(1.0,)) -> np.ndarray:
    """A metronome: 20 ms decaying 1.5 kHz clicks at ``bpm`` from ``offset`` s, over a little noise; mono float32."""
    out = np.random.default_rng(int(bpm)).normal(0, 0.003, int(round(seconds * rate))).astype(np.float32)
    t = np.arange(int(0.02 * rate)) / rate
    click = (np.sin(2 * np.pi * 1500 * t) * np.exp(-t / 0.004)).astype(np.float32)
    index = 0
    while (time := offset + index * 60.0 / bpm) < seconds:
        start = int(round(time * rate))
        piece = click[: len(out) - start] * accent[index % len(accent)]
        out[start : start + len(piece)] += piece
        index += 1
    return np.clip(out * 0.8, -1, 1)


def write_wav(path: Path, samples: np.ndarray, rate: int = 44100, channels: int = 1) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def encode(source: Path, target: Path, *codec: str) -> Path:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(source), *codec, str(target)], check=True)
    return target


# ---------------------------------------------------------------- tempo


@pytest.mark.parametrize("bpm", [90, 120, 128, 150])
def test_click_track_tempo_within_2_bpm(tmp_path, bpm):
    song = open_song(
        write_wav(tmp_path / f"click{bpm}.wav", click_track(bpm, 20, offset=0.25, accent=(1, 0.6, 0.6, 0.6)))
    )
    assert (song.kind, song.codec) == ("WAV", "pcm_s16le") and abs(song.seconds - 20) < 0.01
    tempo = song_tempo(song)
    assert tempo.bpm is not None and abs(tempo.bpm - bpm) <= 2, tempo
    assert tempo.confidence > 0.5 and tempo.note == ""
    beat = 60 / bpm
    assert min(abs((tempo.first_beat - 0.25) / beat - k) for k in range(4)) * beat < 0.03, "the phase lands on a click"


@pytest.mark.parametrize(
    "suffix, codec, kind",
    [
        (".mp3", ("-c:a", "libmp3lame", "-b:a", "128k"), "MP3"),
        (".ogg", ("-c:a", "libvorbis", "-q:a", "4"), "OGG"),
        (".m4a", ("-c:a", "aac", "-b:a", "128k"), "M4A"),
    ],
)
def test_tempo_through_lossy_codecs(tmp_path, suffix, codec, kind):
    wav = write_wav(tmp_path / "click.wav", click_track(128, 16, offset=0.1), channels=2)
    song = open_song(encode(wav, tmp_path / f"song{suffix}", *codec))
    assert song.kind == kind and abs(song.seconds - 16) < 0.1
    tempo = song_tempo(song, start=3.0)  # from an offset into the song
    assert abs(tempo.bpm - 128) <= 2, tempo
    # recognised by content: the same MP3/OGG/M4A under a wrong name reads the same
    renamed = tmp_path / "renamed.wav"
    renamed.write_bytes(song.path.read_bytes())
    assert open_song(renamed).kind == kind


def test_silence_and_noise_give_no_retiming_and_a_note(tmp_path):
    silent = open_song(write_wav(tmp_path / "silence.wav", np.zeros(44100 * 10, np.float32)))
    tempo = song_tempo(silent)
    assert tempo.bpm is None and "silent" in tempo.note and "silence.wav" in tempo.note
    retiming = match_tempo(tempo, 120)
    assert retiming.speed == 1.0 and not retiming.retimed
    assert "silence.wav" in retiming.message and "keeps its own tempo (120 BPM)" in retiming.message

    noise = np.random.default_rng(1).normal(0, 0.2, RATE * 15).astype(np.float32)
    weak = estimate_tempo(noise, RATE)
    assert weak.bpm is None and "too weak" in weak.note
    assert match_tempo(weak, 96).speed == 1.0


def test_retiming_a_dance_to_the_song():
    retiming = match_tempo(Tempo(128.0, 0.8, first_beat=0.2), 120)
    assert retiming.message == "song at 128 BPM; dance retimed from 120"
    assert retiming.speed == pytest.approx(128 / 120) and retiming.target_bpm == 128
    # a slow song: the dance steps twice a beat rather than crawling
    slow = match_tempo(Tempo(70.0, 0.8), 120)
    assert slow.target_bpm == 140 and slow.speed == pytest.approx(140 / 120)
    assert slow.message == "song at 70 BPM; dance retimed from 120 to 140 (twice the song's beat)"
    assert match_tempo(Tempo(180.0, 0.8), 96).message.endswith("to 90 (half the song's beat)")
    assert match_tempo(Tempo(120.0, 0.8), 120).speed == 1.0
    assert "no tempo" in match_tempo(Tempo(128.0, 0.8), None).message  # an uploaded sequence plays as it is
    assert match_tempo(None, 120).message == ""  # no song

    # the frame mapping: 2 s loop of 60 frames at 30 fps, video at 15 fps
    poses = UdpSequence([f"{i}" for i in range(60)], loader=lambda i: b"")
    once = retiming.indices(60, 30, 15, loop=False)
    assert len(once) == round(2 / retiming.speed * 15) and once[0] == 0 and once == sorted(once)
    same = match_tempo(Tempo(120.0, 0.8), 120).indices(60, 30, 15, loop=False)
    assert [poses.names.index(n) for n in poses.retime(30, 15).names] == same, "speed 1: UdpSequence.retime's frames"
    looped = retiming.apply(poses, 30, 15, seconds=5)
    assert len(looped) == 75
    beat_frame = round(0.2 * 15)  # the video frame on the song's first beat shows the dance's beat 0
    assert looped.names[beat_frame] == "0"
    steps = np.diff([int(n) for n in looped.names]) % 60
    assert set(steps) <= {2, 3}, "every video frame moves 128/120 * 2 dance frames"


def test_dances_carry_a_tempo():
    from conr.dances import list_dances

    dances = list_dances()
    assert dances and all(60 <= d.bpm <= 200 for d in dances)
    for dance in dances:
        assert 1 / 1.5 < match_tempo(Tempo(128.0, 0.9), dance.bpm).speed < 1.5


# ---------------------------------------------------------------- refusals


def test_songs_are_refused_by_content_size_and_length(tmp_path):
    def refused(path: Path, *words: str, **limits):
        with pytest.raises(InputError) as info:
            open_song(path, **limits)
        assert path.name in str(info.value), str(info.value)
        for word in words:
            assert word in str(info.value), str(info.value)

    png = tmp_path / "cover.mp3"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    refused(png, "not an audio file", "MP3, WAV, OGG or M4A")
    flac = tmp_path / "song.flac"
    flac.write_bytes(b"fLaC" + bytes(100))
    refused(flac, "is FLAC", "use MP3, WAV, OGG or M4A")
    playlist = tmp_path / "list.mp3"
    playlist.write_text("#EXTM3U\nhttp://example.com/a.mp3\n")
    refused(playlist, "is a playlist")
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4)
    refused(damaged, "cannot read it")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    refused(empty, "empty")
    long = write_wav(tmp_path / "long.wav", np.zeros(44100 * 12, np.float32))
    refused(long, "0:12 long", "limit is 0:10", max_seconds=10)
    refused(long, "MB; the limit is 0.5 MB", max_mb=0.5)
    with pytest.raises(InputError, match="past the end of the song 'long.wav'"):
        check_start(open_song(long), 12.5)
    with pytest.raises(InputError, match="0 or more seconds"):
        check_start(open_song(long), -1)
    assert check_start(open_song(long), 3) == 3.0


# ---------------------------------------------------------------- muxing


def video_stream_md5(path: Path) -> str:
    """A hash of the video stream's packets: equal when the stream was copied bit for bit."""
    out = subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip()


def rendered_videos(folder: Path, frames: int = 37, fps: float = 15) -> tuple[Path, Path]:
    """A real MP4 and transparent WebM from FrameSink, as a render writes them."""
    mp4, webm = folder / "dance.mp4", folder / "dance.webm"
    rng = np.random.default_rng(0)
    with FrameSink(64, 48, fps, mp4=mp4, webm=webm, background=(255, 255, 255)) as sink:
        for _ in range(frames):
            rgba = rng.integers(0, 256, (48, 64, 4), dtype=np.uint8)
            rgba[:, :32, 3] = 0  # half of each frame transparent
            sink.write(rgba)
    return mp4, webm


@pytest.mark.parametrize(
    "seconds, start", [(10.0, 1.5), (1.0, 0.0), (4.0, 3.5)], ids=["trimmed", "padded", "offset-past-half"]
)
def test_mux_into_mp4_and_webm(tmp_path, seconds, start):
    frames, fps = 37, 15
    mp4, webm = rendered_videos(tmp_path, frames, fps)
    before = {path: video_stream_md5(path) for path in (mp4, webm)}
    song = open_song(write_wav(tmp_path / "song.wav", click_track(120, seconds), channels=2))
    add_audio([mp4, webm, None], song, start, frames / fps)
    for path, codec in ((mp4, "aac"), (webm, "opus")):
        audio = probe_audio(path)
        assert audio is not None and audio.codec == codec and audio.channels == 2
        assert abs(audio.seconds - frames / fps) <= 1 / fps, (path.name, audio)
        assert probe_video(path).frames == frames
        assert video_stream_md5(path) == before[path], "the video stream is copied, not re-encoded"
    assert not list(tmp_path.glob(".*")), "no temporary file left"
    data = mp4.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "still faststart"
    assert probe_video(webm).alpha and read_video_frames(webm, rgba=True)[:, :, :32, 3].max() < 20, "alpha kept"
    # the sound is the song from the offset, and silence after its end
    heard = subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            str(mp4),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    heard = np.frombuffer(heard, np.float32)
    expected = read_samples(song, start, frames / fps, 16000)
    assert np.abs(heard[: len(expected)]).max() > 0.1
    if len(expected) < len(heard) - 1600:
        assert np.abs(heard[len(expected) + 800 :]).max() < 0.01, "padded with silence"


def test_mux_duration_defaults_to_the_videos_own(tmp_path):
    mp4, _ = rendered_videos(tmp_path, 20, 10)
    song = open_song(write_wav(tmp_path / "song.wav", click_track(100, 5)))
    mux_audio(mp4, song)
    assert abs(probe_audio(mp4).seconds - 2.0) <= 0.1 and probe_video(mp4).frames == 20


def test_mux_failure_leaves_no_partial_file(tmp_path):
    mp4, webm = rendered_videos(tmp_path)
    song = open_song(write_wav(tmp_path / "song.wav", click_track(120, 3)))
    original = mp4.read_bytes()
    blocker = tmp_path / ".dance.sound.mp4"  # where the muxed file would go is taken by a folder
    blocker.mkdir()
    with pytest.raises(OutputError, match="Could not write dance.mp4"):
        mux_audio(mp4, song, 0.0, 37 / 15)
    assert mp4.read_bytes() == original and blocker.is_dir()
    assert probe_audio(mp4) is None
    # all or nothing: a render's videos go together
    with pytest.raises(OutputError):
        add_audio([webm, mp4], song, 0.0, 37 / 15)
    assert not mp4.exists() and not webm.exists() and not (tmp_path / ".dance.sound.webm").exists()


# ---------------------------------------------------------------- command line


def test_cli_render_with_a_song(recipe_weights_dir, fixture_sheet, fixture_poses, tmp_path):
    from test_cli import EXACT_CPU, render_args, run_cli

    poses = tmp_path / "poses"
    poses.mkdir()
    for index in range(8):  # a "dance" of 8 frames keyed at 120 BPM and 8 fps: one beat every 4 frames
        (poses / f"{index}.npz").write_bytes(fixture_poses[index % len(fixture_poses)].read_bytes())
    song = write_wav(tmp_path / "song.wav", click_track(132, 20))
    out, webm = tmp_path / "dance.mp4", tmp_path / "dance.webm"
    flags = ("--webm", str(webm), "--fps", "8", "--size", "64", *EXACT_CPU)
    flags += ("--audio", str(song), "--audio-start", "2", "--dance-bpm", "120")
    result = run_cli(*render_args(fixture_sheet[0], out, recipe_weights_dir, *flags, poses=poses))
    assert result.returncode == 0, result.stderr
    assert "note: song at 132 BPM; dance retimed from 120" in result.stderr
    for path, codec in ((out, "aac"), (webm, "opus")):
        assert probe_video(path).frames == 8
        audio = probe_audio(path)
        assert audio.codec == codec and abs(audio.seconds - 1.0) <= 1 / 8


def test_cli_refuses_a_bad_song_before_loading_weights(fixture_sheet, fixture_poses, tmp_path):
    from test_cli import bad_cli

    not_a_song = tmp_path / "song.mp3"
    not_a_song.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    empty_weights = tmp_path / "no-weights"
    empty_weights.mkdir()
    common = [
        "render",
        "--sheet",
        str(fixture_sheet[0]),
        "--poses",
        str(fixture_poses[0]),
        "--weights",
        str(empty_weights),
    ]
    err = bad_cli(*common, "--out", str(tmp_path / "x.mp4"), "--audio", str(not_a_song))
    assert "The song 'song.mp3' is not an audio file" in err and not (tmp_path / "x.mp4").exists()
    err = bad_cli(*common, "--out", str(tmp_path / "x.mp4"), "--dance-bpm", "120")
    assert "need a song" in err
    err = bad_cli(*common, "--frames-dir", str(tmp_path / "f"), "--audio", str(not_a_song))
    assert "--audio needs a video" in err
