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
