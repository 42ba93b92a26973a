"""CoNR: render a hand-drawn character sheet into any pose given as Ultra-Dense Pose.

The library knows nothing of the web app. Main entry points:

- ``ConrRenderer`` (``conr.pipeline``): load the released weights, parse a
  sheet, render UDP frames into straight-alpha RGBA frames;
- ``open_udp_sequence`` (``conr.udp``): read pose frames from a folder or zip;
- ``FrameSink`` / ``write_video`` (``conr.video``): MP4, transparent WebM, PNGs.
"""

from .errors import ConrError, InputError, WeightsError

__version__ = "0.1.0"

__all__ = ["ConrError", "InputError", "WeightsError", "ConrRenderer", "open_udp_sequence", "__version__"]


def __getattr__(name: str):
    # Lazy: importing conr stays cheap (no torch) for tools that only read UDP files.
    if name == "ConrRenderer":
        from .pipeline import ConrRenderer

        return ConrRenderer
    if name == "open_udp_sequence":
        from .udp import open_udp_sequence

        return open_udp_sequence
    raise AttributeError(name)
