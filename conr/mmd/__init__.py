"""Bring your own 3D: a MikuMikuDance model (.pmx or .pmd) and motion (.vmd) turned into UDP frames.

    from conr.mmd import udp_from_mmd
    poses = udp_from_mmd("miku.zip", "dance.vmd", out="dance-udp.zip", size=512, fps=30,
                         start=12.5, max_seconds=20, physics=True, camera=None,
                         progress=lambda stage, done, total: ...)

Our own readers and posing, in plain Python and numpy, one module each:
``binary`` (bounds-checked reading), ``pmx``, ``pmd`` and ``vmd`` (the formats),
``files`` (files and .zip uploads), ``axes`` (MMD units and axes to ours),
``interpolation`` (VMD Bezier easing), ``ik`` (CCD with angle limits),
``posing`` (forward kinematics, inheritance, skinning), ``physics`` (physics
bones as spring chains), ``framing`` (our camera), ``camera`` (an MMD camera
motion's), ``to_udp`` (frames through the UDP convention and renderer of
``conr.render3d``, the engine the bundled dances use too) and ``cli``
(``python -m conr udp-from-mmd``).

Every file is untrusted: counts, indices, lengths and offsets are checked,
sizes capped, loops bounded; a malformed file raises ``InputError``.
The names below are imported on first use, so ``import conr.mmd.cli``
(done by every ``python -m conr`` call) stays cheap.
"""

from __future__ import annotations

_EXPORTS = {"udp_from_mmd": "to_udp", "load_model": "files", "load_motion": "files"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
