"""Weights resolution: local directory, Hub cache, Drive failures, strict checks, fast offline failure."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conr import weights
from conr.errors import WeightsError
from conr.network.decoder import RGBADecoder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env weights dir, an empty Hub cache and Drive cache, offline Hub."""
    monkeypatch.delenv("CONR_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("CONR_WEIGHTS_REPO", raising=False)
    monkeypatch.setenv("CONR_CACHE_DIR", str(tmp_path / "conr-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    return tmp_path


def decoder_state() -> dict[str, torch.Tensor]:
    """rgbadecodernet's keys and shapes (the smallest part), all zeros."""
    return {k: torch.zeros_like(v) for k, v in RGBADecoder().state_dict().items()}


def test_nothing_found_fails_fast_listing_every_source(isolated, monkeypatch):
    """Offline, the one network use is a short probe of Google Drive (no Hub request, no download): it fails fast."""
    probes = []

    def unreachable(address, timeout=None, *args, **kwargs):
        probes.append((address, timeout))
        raise OSError("unreachable (test)")

    monkeypatch.setattr(weights.socket, "create_connection", unreachable)
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights()
    assert probes == [(("drive.google.com", 443), weights.PROBE_TIMEOUT_S)]
    message = str(info.value)
    assert "local directory: none given" in message
    assert "Hugging Face space nev/CoNR" in message and "HF_HUB_OFFLINE" in message
    assert "Google Drive" in message
    assert "--weights DIR" in message and "CONR_WEIGHTS_DIR" in message


def test_env_directory_is_used(isolated, recipe_weights_dir, monkeypatch):
    monkeypatch.setenv("CONR_WEIGHTS_DIR", str(recipe_weights_dir))
    resolved = weights.resolve_weights()
    assert resolved.directory == recipe_weights_dir
    assert "CONR_WEIGHTS_DIR" in resolved.sources["shader"]


def test_mirror_repo_in_local_hub_cache(isolated, recipe_weights_dir, monkeypatch):
    """A mirror named by CONR_WEIGHTS_REPO is found in the Hub cache without network."""
    monkeypatch.setenv("CONR_WEIGHTS_REPO", "someone/conr-mirror")
    monkeypatch.setenv("CONR_WEIGHTS_REPO_TYPE", "model")
    repo = isolated / "hub" / "models--someone--conr-mirror"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit / "weights"
    snapshot.mkdir(parents=True)
    for part in weights.PARTS:
        os.symlink(recipe_weights_dir / f"{part}.pth", snapshot / f"{part}.pth")
    resolved = weights.resolve_weights()
    assert resolved.sources["shader"] == "Hugging Face model someone/conr-mirror (local Hub cache)"
    assert resolved.paths["shader"].resolve() == (recipe_weights_dir / "shader.pth").resolve()


def test_missing_and_truncated_files_in_directory(tmp_path, recipe_weights_dir):
    folder = tmp_path / "w"
    folder.mkdir()
    for part in weights.PARTS[:-1]:
        os.symlink(recipe_weights_dir / f"{part}.pth", folder / f"{part}.pth")
    with pytest.raises(WeightsError, match=r"is missing rgbadecodernet.pth"):
        weights.resolve_weights(folder)
    (folder / "rgbadecodernet.pth").write_bytes((recipe_weights_dir / "rgbadecodernet.pth").read_bytes()[:1000])
    with pytest.raises(WeightsError, match=r"rgbadecodernet.pth .* is only 1,000 bytes"):
        weights.resolve_weights(folder)


def test_wrong_shape_names_file_key_and_both_shapes(tmp_path):
    state = decoder_state()
    state["conv_rgba.0.weight"] = torch.zeros(3, 64, 3, 3)
    path = tmp_path / "rgbadecodernet.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as info:
        weights.load_part(RGBADecoder(), "rgbadecodernet", path)
    assert "rgbadecodernet.pth" in str(info.value)
    assert "'conv_rgba.0.weight' has shape [3, 64, 3, 3] in the file but the network expects [4, 64, 3, 3]" in str(
        info.value
    )


def test_missing_and_unexpected_keys(tmp_path):
    state = decoder_state()
    del state["bottleneck.r0.norm1.bias"]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "rgbadecodernet.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"missing key 'bottleneck.r0.norm1.bias'.*unexpected key 'extra.weight'"):
        weights.load_part(RGBADecoder(), "rgbadecodernet", path)


def test_dataparallel_prefix_is_stripped(tmp_path):
    state = {f"module.{k}": v + 1 for k, v in decoder_state().items()}
    path = tmp_path / "rgbadecodernet.pth"
    torch.save(state, path)
    module = RGBADecoder()
    weights.load_part(module, "rgbadecodernet", path)
    assert float(module.conv_rgba[0].bias.detach()[0]) == 1.0


def test_pickled_code_is_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "rgbadecodernet.pth"
    torch.save({"x": Boom()}, path)
    with pytest.raises(WeightsError, match=r"cannot be read as a PyTorch checkpoint"):
        weights.read_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_drive_quota_refusal_gets_its_own_message(isolated, monkeypatch):
    import gdown
    from gdown.exceptions import FileURLRetrievalError

    def refuse(**kwargs):
        raise FileURLRetrievalError("Too many users have viewed or downloaded this file recently.")

    monkeypatch.setattr(gdown, "download", refuse)
    with pytest.raises(WeightsError, match=r"too many people downloaded it recently"):
        weights._drive_download("shader", isolated / "shader.pth", progress=False)


def test_truncated_drive_download_is_deleted(isolated, monkeypatch):
    import gdown

    def short(output, **kwargs):
        Path(output).write_bytes(b"\0" * 1234)
        return output

    monkeypatch.setattr(gdown, "download", short)
    target = isolated / "rgbadecodernet.pth"
    with pytest.raises(WeightsError, match=r"incomplete and has been deleted.*1,234 bytes"):
        weights._drive_download("rgbadecodernet", target, progress=False)
    assert not target.exists() and not target.with_suffix(".pth.part").exists()


def poisoned_copy(recipe_weights_dir: Path, folder: Path, key: str = "conv_rgba.0.weight") -> Path:
    """The four recipe files (links), with rgbadecodernet.pth (the smallest) a copy holding one NaN and one Inf."""
    folder.mkdir()
    for part in weights.PARTS[:-1]:
        os.symlink(recipe_weights_dir / f"{part}.pth", folder / f"{part}.pth")
    state = torch.load(recipe_weights_dir / "rgbadecodernet.pth", weights_only=True)
    state[key].view(-1)[5] = float("nan")
    state[key].view(-1)[7] = float("inf")
    torch.save(state, folder / "rgbadecodernet.pth")
    return folder


def test_nan_weights_are_refused_naming_file_and_tensor(tmp_path, recipe_weights_dir):
    folder = poisoned_copy(recipe_weights_dir, tmp_path / "w")
    with pytest.raises(WeightsError) as info:
        weights.load_part(RGBADecoder(), "rgbadecodernet", folder / "rgbadecodernet.pth")
    message = str(info.value)
    assert "rgbadecodernet.pth" in message and "'conv_rgba.0.weight'" in message
    assert "1 NaN and 1 infinite values" in message and "download it again" in message
    # the short version for the app names the file but no server path
    assert "rgbadecodernet.pth" in info.value.user_message and str(tmp_path) not in info.value.user_message


def test_weights_status_reports_nan_file(tmp_path, recipe_weights_dir):
    import subprocess
    import sys

    from conftest import ROOT

    folder = poisoned_copy(recipe_weights_dir, tmp_path / "w", key="bottleneck.r0.norm1.bias")
    result = subprocess.run(
        [sys.executable, "-m", "conr", "weights", "status", "--weights", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    broken = [line for line in lines if line.startswith("rgbadecodernet.pth")]
    assert len(broken) == 1 and "BROKEN" in broken[0] and "'bottleneck.r0.norm1.bias'" in broken[0]
    assert sum("  ok" in line for line in lines) == 3


def test_user_message_hides_server_paths_and_pytorch_hints(tmp_path):
    from conr.errors import public_message

    class Boom:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "rgbadecodernet.pth"
    torch.save({"x": Boom()}, path)
    with pytest.raises(WeightsError) as info:
        weights.read_state_dict(path)
    assert str(tmp_path) in str(info.value) and "weights_only" in str(info.value)  # details stay for the log
    short = public_message(info.value)
    assert short == info.value.user_message
    assert "rgbadecodernet.pth" in short and "download it again" in short
    assert str(tmp_path) not in short and "weights_only" not in short and "torch" not in short.lower()
    with pytest.raises(WeightsError) as info:
        weights.resolve_weights(tmp_path / "nowhere")
    assert str(tmp_path) in str(info.value)
    assert str(tmp_path) not in public_message(info.value) and "CONR_WEIGHTS_DIR" in public_message(info.value)


def test_a_released_size_with_the_wrong_sha256_is_refused(tmp_path, monkeypatch):
    """The part table's SHA-256, where known, is checked after the size: same size, other bytes, refused."""
    import dataclasses
    import hashlib

    part = "rgbadecodernet"
    path = tmp_path / "rgbadecodernet.pth"
    path.write_bytes(np.random.default_rng(0).bytes(weights.FILES[part].size))
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert weights.file_sha256(path) == good
    monkeypatch.setitem(weights.FILES, part, dataclasses.replace(weights.FILES[part], sha256=good))
    weights.check_size(part, path, weights.FILES[part].size)
    monkeypatch.setitem(weights.FILES, part, dataclasses.replace(weights.FILES[part], sha256="0" * 64))
    with pytest.raises(WeightsError, match="SHA-256"):
        weights.check_size(part, path, weights.FILES[part].size)
