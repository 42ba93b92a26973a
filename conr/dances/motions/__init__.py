"""The bundled dances, keyframed in code (one module each, sharing ``moves``). ``MOTIONS`` lists them in menu order."""

from ..motion import Motion
from . import bow_finale, cheerful_idol, hip_hop_bounce, idle_sway, running_man, side_pop, spin, step_clap, wave

MOTIONS: dict[str, Motion] = {
    m.name: m
    for m in (
        idle_sway.MOTION,
        wave.MOTION,
        step_clap.MOTION,
        spin.MOTION,
        cheerful_idol.MOTION,
        hip_hop_bounce.MOTION,
        running_man.MOTION,
        side_pop.MOTION,
        bow_finale.MOTION,
    )
}
