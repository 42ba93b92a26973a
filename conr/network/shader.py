"""CINN, CoNR's shader: warps and fuses reference views into the target pose.

Six levels, coarse to fine. At each level every reference view predicts a
flow update, messages and confidence masks from its warped reference image
and features, the target pose features and what the views agreed on at the
previous level; the views' results are then fused with a softmax over views.

This implementation folds the views into the batch dimension (frame-major:
index ``frame * views + view``), so one convolution call serves all views of
all frames, where the original looped over views in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .warp import WarpGrids

FLOW_GROUP_CHANNELS = 32  # 16 flow pairs for a message tensor


def _prelu_conv(in_ch: int, out_ch: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, stride, 1), nn.PReLU(out_ch)]


@dataclass(frozen=True)
class BlockOutputs:
    """Channel counts of one level's prediction, in the order they are stacked."""

    messages: int
    locals: int
    masks: int

    @property
    def message_flows(self) -> int:
        return FLOW_GROUP_CHANNELS if self.messages else 0

    @property
    def local_flows(self) -> int:
        return FLOW_GROUP_CHANNELS if self.locals else 0

    @property
    def total(self) -> int:
        return 2 + self.messages + self.message_flows + self.locals + self.local_flows + self.masks

    def split(self, x: Tensor) -> dict[str, Tensor | None]:
        sizes = {
            "flow": 2,
            "message": self.messages,
            "message_flow": self.message_flows,
            "local": self.locals,
            "local_flow": self.local_flows,
            "mask": self.masks,
        }
        out: dict[str, Tensor | None] = {}
        start = 0
        for name, size in sizes.items():
            out[name] = x[:, start : start + size] if size else None
            start += size
        out["mask"] = torch.sigmoid(out["mask"])
        return out


class DecoderBlock(nn.Module):
    """One shader level: /4 strided convs, residual groups, x4 transposed convs."""

    def __init__(self, in_channels: int, outputs: BlockOutputs, width: int = 224, groups: int = 1):
        super().__init__()
        self.outputs = outputs
        self.conv0 = nn.Sequential(*_prelu_conv(in_channels, width, 2), *_prelu_conv(width, width, 2))
        self.convblocks = nn.ModuleList(
            nn.Sequential(*[m for _ in range(6) for m in _prelu_conv(width, width, 1)]) for _ in range(groups)
        )
        self.conv_last = nn.Sequential(
            nn.ConvTranspose2d(width, width, 4, 2, 1),
            nn.PReLU(width),
            nn.ConvTranspose2d(width, outputs.total, 4, 2, 1),
        )

    def forward(self, x: Tensor) -> dict[str, Tensor | None]:
        feat = self.conv0(x)
        for group in self.convblocks:
            feat = group(feat) + feat
        return self.outputs.split(self.conv_last(feat))


class Shader(nn.Module):
    """CINN with the released configuration by default.

    Args:
        reference_channels: channels of a reference image (RGB premultiplied + A).
        target_channels: target pose feature widths, coarse to fine.
        feature_channels: reference (parser) feature widths, coarse to fine.
        message_channels: fused message width per level (one more level than features).
        local_channels: per-view local message width per level.
        groups: residual groups per level.
        width: hidden width of every level.
    """

    def __init__(
        self,
        reference_channels: int = 4,
        target_channels: tuple[int, ...] = (512, 256, 128, 64, 64),
        feature_channels: tuple[int, ...] = (2048, 1024, 512, 256, 64),
        message_channels: tuple[int, ...] = (2048, 1024, 512, 256, 64, 64),
        local_channels: tuple[int, ...] = (2048, 1024, 512, 256, 64, 0),
        groups: tuple[int, ...] = (1, 1, 1, 1, 1, 2),
        width: int = 224,
    ):
        super().__init__()
        levels = len(message_channels)
        in_messages = (0, *message_channels[:-1])
        in_locals = (0, *local_channels[:-1])
        # own flow, fused flow, own warped reference, fused reference
        base = 2 + 2 + 2 * reference_channels
        self.decoder_blocks = nn.ModuleList()
        for level in range(levels):
            has_features = level < len(feature_channels)
            in_ch = base + in_messages[level] + in_locals[level]
            if has_features:
                in_ch += target_channels[level] + feature_channels[level]
            masks = 2 + (local_channels[level] if has_features else message_channels[level])
            outputs = BlockOutputs(message_channels[level], local_channels[level], masks)
            self.decoder_blocks.append(DecoderBlock(in_ch, outputs, width, groups[level]))
        self.grids = WarpGrids()

    def forward(self, target_features: list[Tensor], reference: Tensor, reference_features: list[Tensor]) -> Tensor:
        """Render fused 64-channel features for N target frames from M views.

        Args:
            target_features: pose encoder features, each (N, C, h, w), coarse to fine.
            reference: the sheet's reference images (M, 4, H, W).
            reference_features: the parser's features of the sheet, each (M, C, h, w).

        Returns:
            The last level's fused message (N, 64, H, W), the RGBA decoder's input.
        """
        n = target_features[0].shape[0]
        m = reference.shape[0]
        warp = self.grids.warp
        warp_grouped = self.grids.warp_grouped

        def per_view(x: Tensor) -> Tensor:  # (M, ...) -> (N*M, ...)
            return x.unsqueeze(0).expand(n, *x.shape).reshape(n * m, *x.shape[1:])

        def per_frame(x: Tensor) -> Tensor:  # (N, ...) -> (N*M, ...)
            return x.unsqueeze(1).expand(n, m, *x.shape[1:]).reshape(n * m, *x.shape[1:])

        def fuse(weights: Tensor, x: Tensor) -> Tensor:  # weights (N, M, c, h, w)
            return torch.sum(weights * x.view(n, m, *x.shape[1:]), dim=1)

        def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
            return x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)

        def rescale_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
            ratio = size[1] / flow.shape[-1]
            return flow if ratio == 1 else resize(flow, size) * ratio

        size = tuple(reference_features[0].shape[-2:])
        flow = reference.new_zeros(n * m, 2, *size)
        warped_reference = per_view(resize(reference, size))
        warped_features: Tensor | None = per_view(reference_features[0])
        fused_flow, fused_reference = flow, warped_reference  # level 0: each view's own
        fused_message: Tensor | None = None
        local: Tensor | None = None

        last = len(self.decoder_blocks) - 1
        for level, block in enumerate(self.decoder_blocks):
            parts = [flow]
            if level < len(target_features):
                parts.append(per_frame(target_features[level]))
            parts.append(warped_reference)
            if warped_features is not None:
                parts.append(warped_features)
            parts += [fused_flow, fused_reference]
            if fused_message is not None:
                parts.append(per_frame(fused_message))
            if local is not None:
                parts.append(local)
            out = block(torch.cat(parts, 1))

            has_next_features = level + 1 < len(reference_features)
            size = tuple((reference_features[level + 1] if has_next_features else reference).shape[-2:])
            flow = rescale_flow(flow + out["flow"], size)
            mask = resize(out["mask"], size)
            weights = mask.view(n, m, *mask.shape[1:])
            weights = weights * torch.softmax(weights, dim=1)
            message = warp_grouped(resize(out["message"], size), rescale_flow(out["message_flow"], size))
            fused_message = fuse(weights[:, :, 2:], message)
            if level == last:
                return fused_message
            if out["local"] is not None:
                local = warp_grouped(resize(out["local"], size), rescale_flow(out["local_flow"], size))
            else:
                local = None
            warped_reference = warp(per_view(resize(reference, size)), flow)
            warped_features = warp(per_view(reference_features[level + 1]), flow) if has_next_features else None
            fused_flow = per_frame(fuse(weights[:, :, 0:1], flow))
            fused_reference = per_frame(fuse(weights[:, :, 0:1], warped_reference))
        raise AssertionError("unreachable: the last level returns")
