"""Frames that declare a huge size are refused by their headers, before anything is allocated.

Each bomb is a small, valid file (tests/bombs.py) that decodes to gigabytes.
It is opened in a fresh Python process, which reports its peak memory
(ru_maxrss) above the idle baseline after imports and one small decode of
every format.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from bombs import exr_bomb, npz_bomb, npz_header_bomb, png16_bomb
from conftest import ROOT

from conr.errors import InputError
from conr.udp import decode_udp, open_udp_sequence, read_udp

#: Peak memory a refused bomb may add, in MB (the bombs decode to 1.1 to 2.3 GB).
PEAK_LIMIT_MB = 500

PROBE = r"""
import json, resource, sys
import numpy as np
from conr.udp import decode_udp, encode_udp, open_udp_sequence

for fmt in ("npz", "exr", "png"):  # load every codec before the baseline
    decode_udp(encode_udp(np.zeros((16, 16, 4), np.float32), fmt), "warm-up")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    open_udp_sequence(sys.argv[1])[0]
    message = None
except Exception as exc:
    message = f"{type(exc).__name__}: {exc}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"message": message, "grown_mb": (peak - baseline) / 1024}))
"""


def probe(path) -> dict:
    """Open ``path`` as a pose source in a fresh process; its error message and peak memory growth."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


SIDES = "is 12000x12000; each side must be between 8 and 4096 pixels"


@pytest.mark.parametrize(
    "build, filename, expected",
    [
        (npz_bomb, "bomb.npz", SIDES),
        (png16_bomb, "bomb.png", SIDES),
        (exr_bomb, "bomb.exr", SIDES),
        (npz_header_bomb, "header.npz", "declares 2,147,483,648 bytes; the limit is 10,000"),
    ],
)
def test_bomb_is_refused_by_its_header(tmp_path, build, filename, expected):
    path = build(tmp_path / filename)
    assert path.stat().st_size < 3 * 1024**2
    report = probe(path)
    assert report["message"] is not None and report["message"].startswith("InputError: ")
    assert f"'{filename}'" in report["message"] and expected in report["message"]
    assert report["grown_mb"] < PEAK_LIMIT_MB, report


def test_bomb_inside_a_zip_sequence(tmp_path):
    bomb = npz_bomb(tmp_path / "bomb.npz")
    archive = tmp_path / "dance.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:  # stored: the outer zip looks harmless
        z.write(bomb, "frames/00000.npz")
    report = probe(archive)
    assert report["message"].startswith("InputError: ") and f"'frames/00000.npz' {SIDES}" in report["message"]
    assert report["grown_mb"] < PEAK_LIMIT_MB, report


RETENTION = r"""
import gc, json, sys
import numpy as np
from conr.errors import InputError
from conr.udp import decode_udp, encode_udp, read_udp

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

decode_udp(encode_udp(np.zeros((16, 16, 4), np.float32), "npz"), "warm-up")
baseline = rss_mb()
kept = []
for _ in range(5):
    try:
        read_udp(sys.argv[1])
    except InputError as exc:
        kept.append(exc)  # as a server might, to show it later
gc.collect()
print(json.dumps({"messages": sorted({str(e) for e in kept}), "count": len(kept), "grown_mb": rss_mb() - baseline}))
"""


def test_refused_frames_are_not_kept_alive_by_their_exceptions(tmp_path):
    # 4096x4096x4 float32 NaNs: a frame within the size limits, decoded (256 MB), then refused for its values.
    path = npz_bomb(tmp_path / "nan.npz", (4096, 4096, 4), fill=b"\xff")
    result = subprocess.run(
        [sys.executable, "-c", RETENTION, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["count"] == 5
    assert report["messages"] == ["UDP frame 'nan.npz' contains 67108864 NaN or infinite values."]
    assert report["grown_mb"] < 300, report  # five kept frames would hold 1.3 GB


def _patched_npz(offsets: dict[int, bytes]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, i=np.zeros((16, 16, 4), np.float32))
    data = bytearray(buffer.getvalue())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    for (local_at, central_at), value in offsets.items():
        data[local + local_at : local + local_at + len(value)] = value
        data[central + central_at : central + central_at + len(value)] = value
    return bytes(data)


def test_encrypted_and_unsupported_npz_members_are_refused():
    encrypted = _patched_npz({(6, 8): b"\x01\x00"})  # general purpose flag bit 0
    with pytest.raises(InputError, match=r"'e.npz': its array 'i' is encrypted. Save it again"):
        decode_udp(encrypted, "e.npz")
    ppmd = _patched_npz({(8, 10): b"\x62\x00"})  # compression method 98 (PPMd)
    with pytest.raises(
        InputError, match=r"'p.npz': its array 'i' uses zip compression method 98, which cannot be read"
    ):
        decode_udp(ppmd, "p.npz")


def test_npz_whose_data_does_not_match_its_shape(tmp_path):
    short = npz_bomb(tmp_path / "short.npz", (16, 16, 4), missing=96)
    with pytest.raises(
        InputError, match=r"'short.npz': its array 'i' declares 16x16x4 float32 \(4,096 bytes\) but holds 4,000"
    ):
        read_udp(short)
    assert read_udp(npz_bomb(tmp_path / "fine.npz", (16, 16, 4))).shape == (16, 16, 4)


def test_png_headers_are_read_before_decoding(tmp_path):
    grey = png16_bomb(tmp_path / "tall.png", 8, 5000)
    with pytest.raises(InputError, match=r"'tall.png' is 8x5000; each side must be between 8 and 4096"):
        read_udp(grey)
    assert open_udp_sequence(png16_bomb(tmp_path / "ok.png", 8, 9))[0].shape == (9, 8, 4)
    with pytest.raises(InputError, match=r"'cut.png' is a damaged PNG"):
        decode_udp(png16_bomb(tmp_path / "cut.png", 64, 64).read_bytes()[:70], "cut.png")
