"""Backward warping by dense flow, as CoNR's shader does it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class WarpGrids:
    """Caches the identity sampling grid per (height, width, device, dtype).

    The shader warps at six sizes, hundreds of times per frame; building the
    grid once per size saves the allocations. Owned by a module instance, so
    there is no global state.
    """

    def __init__(self) -> None:
        self._grids: dict[tuple, tuple[Tensor, Tensor]] = {}

    def get(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Return ``(base, scale)``: base grid (1, H, W, 2) in [-1, 1] and the
        pixel-to-normalised divisor ``((W-1)/2, (H-1)/2)``."""
        key = (h, w, device, dtype)
        if key not in self._grids:
            xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
            ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
            base = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).unsqueeze(0)
            scale = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0], device=device, dtype=dtype)
            self._grids[key] = (base, scale)
        return self._grids[key]

    def warp(self, x: Tensor, flow: Tensor) -> Tensor:
        """Sample ``x`` (B, C, H, W) at ``pixel + flow`` (B, 2, H, W, in pixels).

        Bilinear, border padding, ``align_corners=True``: the convention the
        released weights were trained with.
        """
        b, _, h, w = x.shape
        # Always in float32: half-precision sampling coordinates are off by pixels.
        base, scale = self.get(h, w, flow.device, torch.float32)
        grid = base + flow.float().permute(0, 2, 3, 1) / scale
        with torch.autocast(x.device.type, enabled=False):
            return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)

    def warp_grouped(self, x: Tensor, flow: Tensor) -> Tensor:
        """Warp channel groups of ``x`` by their own flows.

        ``flow`` has 2*G channels; ``x``'s channels split into G equal,
        contiguous groups, group g moved by flow pair g.
        """
        b, c, h, w = x.shape
        groups = flow.shape[1] // 2
        out = self.warp(x.reshape(b * groups, c // groups, h, w), flow.reshape(b * groups, 2, h, w))
        return out.reshape(b, c, h, w)
