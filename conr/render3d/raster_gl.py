"""The same rasterization as ``raster_numpy`` on OpenGL through moderngl, headless (EGL).

On this machine EGL runs on Mesa's llvmpipe (CPU), which is still an order
of magnitude faster than numpy. Vertices arrive already in clip space (the
skinning and camera are shared numpy code), so both rasterizers see exactly
the same triangles; the shaders only interpolate. Depth is a 32-bit float
buffer and colour attachments are float32, read back and flipped so row 0
is the top.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

from .gbuffer import GBuffer

VERTEX_SHADER = """
#version 330
in vec4 in_clip;
in vec3 in_attr0;
in vec3 in_attr1;
in float in_part;
out vec3 v_attr0;
out vec3 v_attr1;
flat out float v_part;
void main() {
    gl_Position = in_clip;
    v_attr0 = in_attr0;
    v_attr1 = in_attr1;
    v_part = in_part;
}
"""

FRAGMENT_SHADER = """
#version 330
in vec3 v_attr0;
in vec3 v_attr1;
flat in float v_part;
layout(location = 0) out vec4 out0;
layout(location = 1) out vec4 out1;
void main() {
    out0 = vec4(v_attr0, v_part);  // part ids start at 1, so alpha > 0.5 also marks coverage
    out1 = vec4(v_attr1, 1.0);
}
"""


class GLRasterizer:
    """Owns one headless moderngl context; ``rasterize`` matches ``rasterize_numpy``'s signature.

    Calls are serialised with a lock and make the context current, so any
    thread may use one instance.
    """

    name = "moderngl"

    def __init__(self, backend: str = "egl"):
        import moderngl

        self._moderngl = moderngl
        self.ctx = moderngl.create_standalone_context(backend=backend)
        self.program = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        self.renderer = self.ctx.info.get("GL_RENDERER", "unknown")
        self._lock = threading.Lock()
        self._targets: dict[int, tuple] = {}
        self._mesh_key = None
        self._mesh = None

    def _target(self, size: int, attachments: int):
        """Framebuffer with 1 (UDP) or 2 (toon: normals too) float32 colour attachments and a depth texture."""
        key = (size, attachments)
        if key not in self._targets:
            colour = [self.ctx.texture((size, size), 4, dtype="f4") for _ in range(attachments)]
            depth = self.ctx.depth_texture((size, size))
            self._targets[key] = (self.ctx.framebuffer(colour, depth), colour, depth)
        return self._targets[key]

    def _geometry(self, triangles: np.ndarray, vertex_count: int):
        """Vertex buffer, index buffer and vertex array, reused while the mesh stays the same."""
        key = (zlib.crc32(np.ascontiguousarray(triangles, dtype=np.int32)), triangles.shape, vertex_count)
        if self._mesh_key != key:
            if self._mesh is not None:
                for item in self._mesh:
                    item.release()
            vbo = self.ctx.buffer(reserve=vertex_count * 11 * 4, dynamic=True)
            ibo = self.ctx.buffer(np.ascontiguousarray(triangles, dtype=np.int32).tobytes())
            vao = self.ctx.vertex_array(
                self.program,
                [(vbo, "4f 3f 3f 1f", "in_clip", "in_attr0", "in_attr1", "in_part")],
                index_buffer=ibo,
                index_element_size=4,
            )
            self._mesh, self._mesh_key = (vao, vbo, ibo), key
        return self._mesh

    def rasterize(
        self, clip: np.ndarray, triangles: np.ndarray, attributes: np.ndarray, flat: np.ndarray, size: int
    ) -> GBuffer:
        channels = attributes.shape[1]
        if channels > 6:
            raise ValueError("the OpenGL rasterizer interpolates at most 6 attribute channels")
        vertex_data = np.zeros((len(clip), 11), np.float32)
        vertex_data[:, :4] = clip
        vertex_data[:, 4 : 4 + channels] = attributes
        vertex_data[:, 10] = flat
        with self._lock, self.ctx:
            ctx = self.ctx
            vao, vbo, _ = self._geometry(triangles, len(clip))
            vbo.write(vertex_data.tobytes())
            fbo, colour, depth = self._target(size, 2 if channels > 3 else 1)
            fbo.use()
            ctx.viewport = (0, 0, size, size)
            fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            ctx.enable(self._moderngl.DEPTH_TEST | self._moderngl.CULL_FACE)
            ctx.depth_func = "<"
            ctx.front_face = "cw"  # the model is left-handed: outward triangles are clockwise on screen
            ctx.cull_face = "back"
            ctx.provoking_vertex = self._moderngl.FIRST_VERTEX_CONVENTION
            vao.render(self._moderngl.TRIANGLES)
            out0 = np.frombuffer(colour[0].read(), np.float32).reshape(size, size, 4)[::-1]
            out1 = np.frombuffer(colour[1].read(), np.float32).reshape(size, size, 4)[::-1] if channels > 3 else None
            zbuf = np.frombuffer(depth.read(), np.float32).reshape(size, size)[::-1]
        coverage = out0[:, :, 3] > 0.5
        attrs = out0[:, :, :3] if out1 is None else np.concatenate([out0[:, :, :3], out1[:, :, :3]], axis=2)
        return GBuffer(
            coverage=coverage,
            depth=np.where(coverage, zbuf, np.float32(1.0)),
            attributes=np.ascontiguousarray(attrs[:, :, :channels]),
            part=np.rint(out0[:, :, 3]).astype(np.uint8),
        )

    def close(self) -> None:
        self.ctx.release()
