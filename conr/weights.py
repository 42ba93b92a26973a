"""Finding, downloading, checking and loading the four released CoNR checkpoints.

Where the files come from, in order:

1. a local directory: ``weights_dir`` (the CLI's ``--weights DIR``) or the
   environment variable ``CONR_WEIGHTS_DIR``; it must hold all four files;
2. the Hugging Face Hub: by default the copy of the official files inside
   the public Space ``nev/CoNR`` (``weights/<name>.pth``), or a mirror named
   by ``CONR_WEIGHTS_REPO`` / ``CONR_WEIGHTS_REPO_TYPE`` /
   ``CONR_WEIGHTS_REVISION``; the local Hub cache is used first and
   ``HF_HUB_OFFLINE=1`` is respected;
3. the authors' Google Drive files, downloaded with ``gdown`` into
   ``CONR_CACHE_DIR`` (default ``~/.cache/conr``).

Every file is checked before use: its size first, then a strict state-dict
load whose errors name the file, the key and both shapes. Network sources are
probed with a short timeout first, so an offline machine fails in well under
a second with one message listing what was tried and how to fix it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
from torch import nn

from .errors import WeightsError
from .network import PARTS
from .runtime import cache_folder

DEFAULT_REPO = "nev/CoNR"
DEFAULT_REPO_TYPE = "space"


@dataclass(frozen=True)
class WeightFile:
    """One released checkpoint: where it is published and what it must be."""

    part: str  # the network's sub-module (``conr.network.PARTS``)
    drive_id: str  # the authors' Google Drive file
    size: int  # bytes of the official file (the copy in the Space nev/CoNR)
    parameters: int  # float32 parameters: a file must hold at least 4 bytes each
    #: SHA-256 of the official file, where known; ``python -m conr weights status`` prints a local file's.
    sha256: str | None = None

    @property
    def file(self) -> str:
        return f"{self.part}.pth"

    @property
    def hub_path(self) -> str:
        return f"weights/{self.file}"


#: The four released files, in the network's order: the one table of names, places, sizes and counts.
FILES = {
    f.part: f
    for f in (
        WeightFile("udpparsernet", "19jM1-GcqgGoE1bjmQycQw_vqD9C5e-Jm", 228_957_615, 57_220_420),
        WeightFile("target_pose_encoder", "1AOWZxBvTo9nUf2_9Y7Xe27ZFQuPrnx9i", 107_891_883, 26_963_745),
        WeightFile("shader", "1YvZy3NHkJ6gC3pq_j8agcbEJymHCwJy0", 384_615_535, 96_135_096),
        WeightFile("rgbadecodernet", "1M1LEpx70tJ72AIV2TQKr6NE_7mJ7tLYx", 341_897, 84_484),
    )
}
assert tuple(FILES) == PARTS, "the table follows conr.network.PARTS"
PROBE_TIMEOUT_S = 3.0

HOW_TO_FIX = (
    "How to fix: download the four files udpparsernet.pth, target_pose_encoder.pth, shader.pth and "
    "rgbadecodernet.pth (from https://huggingface.co/spaces/nev/CoNR/tree/main/weights or the links in "
    "https://github.com/megvii-research/CoNR), put them in one folder and pass it with --weights DIR or "
    "the environment variable CONR_WEIGHTS_DIR."
)


def file_name(part: str) -> str:
    return FILES[part].file


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face repository holding ``weights/<part>.pth``."""

    repo: str = DEFAULT_REPO
    repo_type: str = DEFAULT_REPO_TYPE
    revision: str | None = None

    @classmethod
    def from_env(cls) -> HubSource:
        return cls(
            os.environ.get("CONR_WEIGHTS_REPO") or DEFAULT_REPO,
            os.environ.get("CONR_WEIGHTS_REPO_TYPE") or DEFAULT_REPO_TYPE,
            os.environ.get("CONR_WEIGHTS_REVISION") or None,
        )

    @property
    def official(self) -> bool:
        return self.repo == DEFAULT_REPO

    def describe(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"Hugging Face {self.repo_type} {self.repo}{rev}"


@dataclass
class ResolvedWeights:
    """Where each of the four files is, and where it came from."""

    paths: dict[str, Path]
    sources: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.paths[PARTS[0]].parent


# ---------------------------------------------------------------- checks


def minimum_size(part: str) -> int:
    return FILES[part].parameters * 4


def damaged(name: str) -> str:
    """The user-facing summary for one bad file: no server path, no PyTorch wording."""
    return (
        f"The weights file {name} on this machine is damaged or not the released CoNR file, so nothing can be "
        "rendered. Whoever runs the app must download it again (see the README, section Weights) and restart; "
        "the server log says what was wrong."
    )


def check_size(part: str, path: Path, expected: int | None = None) -> None:
    """Cheap check before loading: truncated downloads fail here."""
    size = path.stat().st_size
    if expected is not None and size != expected:
        raise WeightsError(
            f"{path.name} at {path} is {size:,} bytes but the released file is {expected:,} bytes: "
            "it is truncated or a different file.",
            user_message=damaged(path.name),
        )
    if size < minimum_size(part):
        raise WeightsError(
            f"{path.name} at {path} is only {size:,} bytes; the {FILES[part].parameters:,} float32 parameters "
            f"need at least {minimum_size(part):,}. The file is truncated: download it again.",
            user_message=damaged(path.name),
        )
    if expected is not None and FILES[part].sha256 and file_sha256(path) != FILES[part].sha256:
        raise WeightsError(
            f"{path.name} at {path} has the released file's size but not its SHA-256 ({FILES[part].sha256}): "
            "it is damaged or a different file.",
            user_message=damaged(path.name),
        )


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MB blocks (about a second for the largest checkpoint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a checkpoint without unpickling code; strip a DataParallel ``module.`` prefix."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except Exception as exc:  # zip errors, pickle refusals, truncation
        raise WeightsError(
            f"{path.name} at {path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {exc}). "
            "It is damaged or not one of the CoNR files: download it again.",
            user_message=damaged(path.name),
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(
            f"{path.name} at {path} does not hold a state dict of tensors.", user_message=damaged(path.name)
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def check_state_dict(module: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise WeightsError naming every key that is missing, unexpected, of the wrong shape or not finite.

    A NaN or infinite value anywhere makes every rendered frame blank, so such
    a file is refused here rather than loaded.
    """
    expected = module.state_dict()
    problems = []
    for key in expected:
        if key not in state:
            problems.append(f"missing key '{key}' (expected shape {list(expected[key].shape)})")
        elif tuple(state[key].shape) != tuple(expected[key].shape):
            problems.append(
                f"key '{key}' has shape {list(state[key].shape)} in the file but the network expects "
                f"{list(expected[key].shape)}"
            )
    for key in state:
        if key not in expected:
            problems.append(f"unexpected key '{key}' (shape {list(state[key].shape)})")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise WeightsError(
            f"{name} does not match the CoNR network: {shown}. Is it the right file?", user_message=damaged(name)
        )
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
            raise WeightsError(
                f"{name}: tensor '{key}' holds {nan:,} NaN and {inf:,} infinite values of {tensor.numel():,}, "
                "so every render would come out blank. The file is damaged: download it again.",
                user_message=damaged(name),
            )


def load_part(module: nn.Module, part: str, path: Path, assign: bool = False) -> None:
    """Check and load one checkpoint into ``module`` (strict).

    ``assign=True`` makes the file's memory-mapped tensors the module's own
    (no copy: for a module built on the meta device).
    """
    state = read_state_dict(path)
    check_state_dict(module, state, path.name)
    module.load_state_dict(state, strict=True, assign=assign)


# ---------------------------------------------------------------- sources


def _reachable(url: str) -> bool:
    host = urlparse(url).hostname or url
    port = urlparse(url).port or 443
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _from_directory(directory: Path, label: str) -> ResolvedWeights:
    if not directory.is_dir():
        raise WeightsError(f"The weights directory {directory} ({label}) does not exist. {HOW_TO_FIX}")
    paths = {part: directory / file_name(part) for part in PARTS}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise WeightsError(
            f"The weights directory {directory} ({label}) is missing {', '.join(missing)}. "
            f"It needs all four files: {', '.join(file_name(p) for p in PARTS)}."
        )
    for part, path in paths.items():
        check_size(part, path)
    return ResolvedWeights(paths, {part: f"local directory {directory} ({label})" for part in PARTS})


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _from_hub(source: HubSource, allow_download: bool, tried: list[str], progress: bool) -> ResolvedWeights | None:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover
        tried.append(f"{source.describe()}: huggingface_hub is not installed")
        return None
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    online = allow_download and not _hub_offline() and _reachable(endpoint)
    paths: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for part in PARTS:
        kwargs = dict(
            repo_id=source.repo, filename=FILES[part].hub_path, repo_type=source.repo_type, revision=source.revision
        )
        try:
            path = Path(hf_hub_download(**kwargs, local_files_only=True))
            sources[part] = f"{source.describe()} (local Hub cache)"
        except Exception:
            if not online:
                reason = "HF_HUB_OFFLINE is set" if _hub_offline() else f"{endpoint} is unreachable"
                if not allow_download:
                    reason = "downloads are disabled"
                tried.append(f"{source.describe()}: {file_name(part)} is not in the local Hub cache and {reason}")
                return None
            try:
                if progress:
                    print(f"Downloading {file_name(part)} from {source.describe()} ...", file=sys.stderr, flush=True)
                path = Path(hf_hub_download(**kwargs, etag_timeout=PROBE_TIMEOUT_S * 3))
                sources[part] = f"{source.describe()} (downloaded)"
            except Exception as exc:
                tried.append(
                    f"{source.describe()}: downloading {file_name(part)} failed ({type(exc).__name__}: {str(exc)[:200]})"
                )
                return None
        try:
            check_size(part, path, FILES[part].size if source.official else None)
        except WeightsError as exc:
            tried.append(f"{source.describe()}: {exc}")
            return None
        paths[part] = path
    return ResolvedWeights(paths, sources)


def _drive_download(part: str, target: Path, progress: bool) -> None:
    import gdown
    from gdown.exceptions import FileURLRetrievalError

    partial = target.with_suffix(".pth.part")
    try:
        gdown.download(id=FILES[part].drive_id, output=str(partial), quiet=not progress, timeout=30)
    except FileURLRetrievalError as exc:
        partial.unlink(missing_ok=True)
        text = str(exc)
        if "Too many users" in text or "too many" in text.lower() or "quota" in text.lower():
            raise WeightsError(
                f"Google Drive refuses {file_name(part)} for now: too many people downloaded it recently "
                "(Drive's download quota). Try again in a few hours, or use the Hugging Face copy.",
                user_message="The CoNR weights could not be downloaded now (Google Drive's download quota). Try again in a few hours.",
            ) from None
        raise WeightsError(f"Google Drive did not serve {file_name(part)}: {text[:300]}") from None
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    if not partial.is_file():
        raise WeightsError(f"Google Drive returned nothing for {file_name(part)}.")
    try:
        check_size(part, partial, FILES[part].size)
    except WeightsError as exc:
        partial.unlink(missing_ok=True)
        raise WeightsError(
            f"The download of {file_name(part)} from Google Drive was incomplete and has been deleted: {exc}"
        ) from None
    partial.replace(target)


def _from_drive(allow_download: bool, tried: list[str], progress: bool) -> ResolvedWeights | None:
    directory = cache_folder("weights")
    paths = {part: directory / file_name(part) for part in PARTS}
    sources = {}
    need = []
    for part, path in paths.items():
        if path.is_file():
            try:
                check_size(part, path, FILES[part].size)
                sources[part] = f"Google Drive (cached in {directory})"
                continue
            except WeightsError:
                path.unlink(missing_ok=True)
        need.append(part)
    if need:
        if not allow_download:
            tried.append(
                f"Google Drive cache {directory}: missing {', '.join(map(file_name, need))}; downloads are disabled"
            )
            return None
        if not _reachable("https://drive.google.com"):
            tried.append(
                f"Google Drive: drive.google.com is unreachable (cache {directory} lacks {', '.join(map(file_name, need))})"
            )
            return None
        try:
            import gdown  # noqa: F401
        except ImportError:
            tried.append("Google Drive: gdown is not installed (pip install gdown)")
            return None
        directory.mkdir(parents=True, exist_ok=True)
        for part in need:
            try:
                _drive_download(part, paths[part], progress)
            except WeightsError as exc:
                tried.append(f"Google Drive: {exc}")
                return None
            except Exception as exc:
                tried.append(
                    f"Google Drive: downloading {file_name(part)} failed ({type(exc).__name__}: {str(exc)[:200]})"
                )
                return None
            sources[part] = "Google Drive (downloaded)"
    return ResolvedWeights(paths, sources)


def resolve_weights(
    weights_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
    hub: HubSource | None = None,
    progress: bool = True,
) -> ResolvedWeights:
    """Find the four checkpoint files (see the module docstring for the order).

    Raises WeightsError listing every source tried when none has them.
    """
    if weights_dir is not None:
        return _from_directory(Path(weights_dir).expanduser(), "--weights")
    env_dir = os.environ.get("CONR_WEIGHTS_DIR")
    if env_dir:
        return _from_directory(Path(env_dir).expanduser(), "CONR_WEIGHTS_DIR")
    tried: list[str] = ["local directory: none given (--weights DIR or CONR_WEIGHTS_DIR)"]
    hub = hub or HubSource.from_env()
    found = _from_hub(hub, allow_download, tried, progress)
    if found is None:
        found = _from_drive(allow_download, tried, progress)
    if found is None:
        lines = "\n".join(f"  - {t}" for t in tried)
        raise WeightsError(f"The CoNR weights were not found. Tried:\n{lines}\n{HOW_TO_FIX}")
    return found


# ---------------------------------------------------------------- upload


def push_to_hub(
    repo: str,
    weights_dir: str | os.PathLike | None = None,
    repo_type: str = "model",
    private: bool = False,
    token: str | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Upload the four files as ``weights/<name>.pth`` to a repository of your own."""
    from huggingface_hub import HfApi

    resolved = resolve_weights(weights_dir)
    from .network import CoNRNetwork

    network = CoNRNetwork()
    for part in PARTS:  # never mirror a broken file
        load_part(getattr(network, part), part, resolved.paths[part])
    api = HfApi(token=token)
    api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True)
    for part in PARTS:
        log(f"uploading {file_name(part)} to {repo} ...")
        api.upload_file(
            path_or_fileobj=str(resolved.paths[part]),
            path_in_repo=f"weights/{file_name(part)}",
            repo_id=repo,
            repo_type=repo_type,
            commit_message=f"Add CoNR {file_name(part)}",
        )
    return f"https://huggingface.co/{'' if repo_type == 'model' else repo_type + 's/'}{repo}"
