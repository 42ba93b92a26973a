"""Bundled dances made by our own code: a procedural character and keyframed motions, rendered by ``conr.render3d``.

    from conr.dances import list_dances, dance_udp, dance_preview
    for info in list_dances():
        print(info.name, info.title, info.description)
    poses = dance_udp("wave")          # UdpSequence of 512x512x4 float32 frames, cached on disk
    dance_preview("wave", "wave.mp4")  # the UDP colour preview

This package is content; the engine (quaternions, skinning, spring solver,
camera, UDP convention and its calibration, rasterizers, ``render_udp``) is
``conr.render3d``, shared with ``conr.mmd``. Modules: ``catalog`` (the names
below), ``character`` (mesh and skin weights), ``skeleton`` (its bones,
spring chains and body capsules), ``posing`` (a pose and the posed mesh),
``motion`` and ``motions/`` (keyframes, one file per dance sharing
``motions/moves``), ``secondary`` (hair and skirt baked per dance),
``generator`` (a dance's camera and UDP frames), ``metrics`` (pose variety,
foot-skate), ``toon`` (the example sheet's shading), ``views`` (the sheet's
views and the calibration drawings), ``cache``, ``examples``, ``cli`` and
``bench``.

The names below are imported from ``catalog`` on first use, so
``import conr.dances.cli`` (done by every ``python -m conr`` call) does not
build the dances.
"""

from __future__ import annotations

_EXPORTS = ("DanceInfo", "list_dances", "dance_info", "get_motion", "dance_udp", "dance_preview")

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from . import catalog

        return getattr(catalog, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
