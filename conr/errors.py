"""Errors the pipeline raises for problems a user can fix.

Every message says which input is wrong, what is wrong with it and what to do,
so the CLI can print it without a traceback and the app can show it as is.
"""


class ConrError(Exception):
    """Base class: a problem with the user's input or set-up, not a bug."""


class InputError(ConrError, ValueError):
    """A sheet image, UDP frame, archive or option the pipeline cannot use."""


class WeightsError(ConrError):
    """The CoNR checkpoint files are missing, damaged or of the wrong layout."""


class Cancelled(ConrError):
    """The user (or a closed tab, or a disconnected client) stopped the job; partial outputs are removed."""


#: A cancel signal: a ``threading.Event`` or any callable answering "stop now?".
def is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())


def check_cancelled(cancel, what: str = "The job") -> None:
    """Raise ``Cancelled`` if ``cancel`` says so; long loops call this between steps."""
    if is_cancelled(cancel):
        raise Cancelled(f"{what} was cancelled.")
