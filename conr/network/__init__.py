"""The CoNR network as plain modules whose state-dict keys match the released files.

``CoNRNetwork`` holds the four parts under the names of the four checkpoint
files (``udpparsernet.pth`` ...). It computes, in float32 on the CPU, what
the original implementation computes, to within 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .decoder import RGBADecoder
from .shader import Shader
from .unet import ResUNet, target_pose_encoder_net, udp_parser_net

#: Inputs to both U-Nets are normalised as ``(x - MEAN) / STD``.
INPUT_MEAN = 0.6
INPUT_STD = 0.2970

#: The checkpoint files, by stem, in the order the pipeline runs them.
PARTS = ("udpparsernet", "target_pose_encoder", "shader", "rgbadecodernet")


@dataclass
class SheetFeatures:
    """What the network keeps of a parsed character sheet (M views)."""

    reference: Tensor  # (M, 4, H, W): premultiplied RGB times alpha again, and alpha
    features: list[Tensor]  # parser features, coarse to fine, each (M, C, h, w)
    udp: Tensor  # (M, 4, H, W): the parser's UDP estimate, clipped to [0, 1]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "SheetFeatures":
        return SheetFeatures(
            self.reference.to(device=device, dtype=dtype),
            [f.to(device=device, dtype=dtype) for f in self.features],
            self.udp.to(device=device, dtype=dtype),
        )


def normalise(x: Tensor) -> Tensor:
    return (x - INPUT_MEAN) / INPUT_STD


class CoNRNetwork(nn.Module):
    """The four released parts, each loadable from its own checkpoint file."""

    def __init__(self) -> None:
        super().__init__()
        self.udpparsernet: ResUNet = udp_parser_net()
        self.target_pose_encoder: ResUNet = target_pose_encoder_net()
        self.shader = Shader()
        self.rgbadecodernet = RGBADecoder()

    def parse_sheet(self, rgb: Tensor, alpha: Tensor) -> SheetFeatures:
        """Parse M views: ``rgb`` (M, 3, H, W) premultiplied, ``alpha`` (M, 1, H, W), in [0, 1]."""
        udp, features = self.udpparsernet(normalise(rgb))
        # The original multiplies the already premultiplied RGB by alpha once more.
        reference = torch.cat([alpha * rgb, alpha], 1)
        return SheetFeatures(reference, features, udp.clamp(0, 1))

    def detect_udp(self, rgb: Tensor) -> Tensor:
        """UDP estimate (N, 4, H, W) in [0, 1] of premultiplied drawings (N, 3, H, W)."""
        udp, _ = self.udpparsernet(normalise(rgb))
        return udp.clamp(0, 1)

    def encode_pose(self, target: Tensor) -> list[Tensor]:
        """Pose features of ``target`` = cat(XYZ * mask, mask), (N, 4, H, W)."""
        return self.target_pose_encoder.encode(normalise(target))

    def render(
        self,
        sheet: SheetFeatures,
        target: Tensor,
        shader_dtype: torch.dtype = torch.float32,
        encoder_dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """RGBA (N, 4, H, W), RGB premultiplied, for N targets (see ``encode_pose``).

        ``shader_dtype`` runs the shader's convolutions (almost all of the
        cost) under autocast in float16 or bfloat16, ``encoder_dtype`` the
        pose U-Net's. The decoder stays float32 (it makes the 8-bit colours,
        and costs little); whether a reduced precision is good enough is
        measured on rendered frames (``conr.precision``), not assumed.
        """
        device = target.device.type
        with torch.autocast(device, dtype=encoder_dtype, enabled=encoder_dtype != torch.float32):
            pose_features = self.encode_pose(target)
        with torch.autocast(device, dtype=shader_dtype, enabled=shader_dtype != torch.float32):
            fused = self.shader([f.float() for f in pose_features], sheet.reference, sheet.features)
        return self.rgbadecodernet(fused.float())


__all__ = ["CoNRNetwork", "SheetFeatures", "PARTS", "INPUT_MEAN", "INPUT_STD", "normalise"]
