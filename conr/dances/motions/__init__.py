"""The bundled dances, keyframed in code (one module each). ``MOTIONS`` lists them in menu order."""

from ..motion import Motion
from . import idle_sway, spin, step_clap, wave

MOTIONS: dict[str, Motion] = {m.name: m for m in (idle_sway.MOTION, wave.MOTION, step_clap.MOTION, spin.MOTION)}
