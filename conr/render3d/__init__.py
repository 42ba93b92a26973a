"""The 3D-to-UDP engine: a skinned, posed mesh and a camera in, UDP frames out; no content of its own.

Used by ``conr.dances`` (our character and its keyframed dances) and by
``conr.mmd`` (imported MMD models and motions); it imports neither.

    from conr.render3d.frames import render_udp
    frame = render_udp(posed, rest, triangles, part_ids, camera, size=512)  # (512, 512, 4) float32

Modules: ``quaternions`` (rotations, (w, x, y, z), angles in radians),
``skinning`` (bone hierarchy, linear blend skinning), ``springs`` (the damped
spring-chain solver: our hair and skirt, MMD physics bones), ``camera``
(level perspective camera, framing), ``convention`` (the one UDP
convention), ``calibrate`` (fitting it to the released UDP detector),
``gbuffer``, ``raster_numpy`` / ``raster_gl`` / ``raster`` (rasterizers and
the choice between them) and ``frames`` (``render_udp``).
"""
