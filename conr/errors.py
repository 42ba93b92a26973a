"""Errors the pipeline raises for problems a user can fix.

Every message says which input is wrong, what is wrong with it and what to do,
so the CLI can print it without a traceback and the app can show it as is.
Where the full message holds details only the operator should see (server
paths, PyTorch's wording), ``user_message`` is a short version for the page;
``public_message(exc)`` picks it.
"""

from __future__ import annotations


class ConrError(Exception):
    """Base class: a problem with the user's input or set-up, not a bug."""

    def __init__(self, message: str = "", *, user_message: str | None = None):
        super().__init__(message)
        self._user_message = user_message

    @property
    def user_message(self) -> str:
        """What a visitor of the app may read: the message itself unless a shorter one was given."""
        return self._user_message or str(self)


class InputError(ConrError, ValueError):
    """A sheet image, UDP frame, archive or option the pipeline cannot use."""


class WeightsError(ConrError):
    """The CoNR checkpoint files are missing, damaged or of the wrong layout.

    The message is for logs and the CLI (it names paths and sources);
    ``user_message`` says what to do without them.
    """

    def __init__(self, message: str = "", *, user_message: str | None = None):
        super().__init__(message, user_message=user_message or WEIGHTS_SUMMARY)


class OutputError(ConrError):
    """A result file cannot be written: the disk is full, the folder is missing or read-only, the encoder failed."""


WEIGHTS_SUMMARY = (
    "The CoNR model weights are missing or damaged on this machine, so nothing can be rendered. "
    "Whoever runs the app must put the four checkpoint files (udpparsernet.pth, target_pose_encoder.pth, "
    "shader.pth, rgbadecodernet.pth) in one folder, set CONR_WEIGHTS_DIR to it and restart; "
    "the server log says what was wrong."
)


def public_message(exc: BaseException) -> str:
    """The message to show a user of the app: ``user_message`` of a ConrError, else a neutral line."""
    if isinstance(exc, ConrError):
        return exc.user_message
    return "Something went wrong on the server; the details are in its log. Please try again."


class Cancelled(ConrError):
    """The user (or a closed tab, or a disconnected client) stopped the job; partial outputs are removed."""


def is_cancelled(cancel) -> bool:
    """Whether a cancel signal is set: a ``threading.Event``, any callable answering "stop now?", or None."""
    if cancel is None:
        return False
    return cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())


def check_cancelled(cancel, what: str = "The job") -> None:
    """Raise ``Cancelled`` if ``cancel`` says so; long loops call this between steps."""
    if is_cancelled(cancel):
        raise Cancelled(f"{what} was cancelled.")
