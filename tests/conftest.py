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
def fixture_sheet() -> list[Path]:
    return sorted((FIXTURES / "inputs" / "sheet").glob("*.png"))


@pytest.fixture(scope="session")
def fixture_poses() -> list[Path]:
    return sorted((FIXTURES / "inputs" / "poses").glob("*.npz"))


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
