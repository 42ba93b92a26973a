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
    """One shader level: /4 strided convs, residual groups, x4 transposed convs.

    The input is given in two parts, so that what is shared by every view of
    a frame is convolved once per frame rather than once per view: the first
    convolution is linear, so ``conv(cat(a, b)) = conv_a(a) + conv_b(b)``.
    ``frame_channels`` lists which input channels (in the released weight's
    order) are per-frame; the rest are per view.
    """

    def __init__(
        self,
        in_channels: int,
        outputs: BlockOutputs,
        width: int = 224,
        groups: int = 1,
        frame_channels: tuple[int, ...] = (),
    ):
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
        frame = set(frame_channels)
        self.frame_channels = [c for c in range(in_channels) if c in frame]
        self.view_channels = [c for c in range(in_channels) if c not in frame]
        self.channels_last = False
        self._split: tuple[tuple, Tensor, Tensor] | None = None

    def _split_weight(self) -> tuple[Tensor, Tensor]:
        weight = self.conv0[0].weight
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, self.channels_last)
        if self._split is None or self._split[0] != key:
            fmt = torch.channels_last if self.channels_last else torch.contiguous_format
            per_view = weight[:, self.view_channels].contiguous(memory_format=fmt)
            per_frame = weight[:, self.frame_channels].contiguous(memory_format=fmt)
            self._split = (key, per_view, per_frame)
        return self._split[1], self._split[2]

    def _layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _concat(self, parts: list[Tensor]) -> Tensor:
        """Concatenate along channels straight into the layout the convolutions want (one copy, not two)."""
        if not self.channels_last:
            return torch.cat(parts, 1)
        first = parts[0]
        out = torch.empty(
            (first.shape[0], sum(p.shape[1] for p in parts), *first.shape[2:]),
            dtype=first.dtype,
            device=first.device,
            memory_format=torch.channels_last,
        )
        offset = 0
        for part in parts:
            out[:, offset : offset + part.shape[1]].copy_(part)
            offset += part.shape[1]
        return out

    def forward(
        self, per_view: list[Tensor], per_frame: list[Tensor], frames: int, views: int
    ) -> dict[str, Tensor | None]:
        """``per_view``: tensors (frames*views or views, c, h, w); ``per_frame``: tensors (frames, c, h, w), maybe none."""
        first = self.conv0[0]
        if not per_frame:
            feat = first(self._concat(per_view))
        else:
            w_view, w_frame = self._split_weight()
            feat = F.conv2d(self._concat(per_view), w_view, first.bias, first.stride, first.padding)
            shared = F.conv2d(self._concat(per_frame), w_frame, None, first.stride, first.padding)
            if feat.shape[0] == views:  # the per-view part is the same for every frame
                feat = feat.unsqueeze(0) + shared.unsqueeze(1)
                feat = self._layout(feat.reshape(frames * views, *feat.shape[2:]))
            else:
                feat.view(frames, views, *feat.shape[1:]).add_(shared.unsqueeze(1))
        feat = self.conv0[1:](feat)
        for group in self.convblocks:
            feat = group(feat) + feat
        # Flows, masks and messages continue in float32 (plain layout: they are sliced by
        # channel): warping coordinates need its precision under reduced-precision autocast.
        out = self.conv_last(feat).to(torch.float32, memory_format=torch.contiguous_format)
        return self.outputs.split(out)


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
        self.decoder_blocks = nn.ModuleList()
        for level in range(levels):
            has_features = level < len(feature_channels)
            # The block input, in the released weights' channel order: (name, channels, shared by a frame's views?)
            first = level == 0  # level 0 has no fusion yet: the "fused" inputs are each view's own
            layout = [
                ("flow", 2, False),
                ("target", target_channels[level] if has_features else 0, True),
                ("reference", reference_channels, False),
                ("features", feature_channels[level] if has_features else 0, False),
                ("fused flow", 2, not first),
                ("fused reference", reference_channels, not first),
                ("fused message", in_messages[level], True),
                ("local message", in_locals[level], False),
            ]
            frame_channels, offset = [], 0
            for _, channels, shared in layout:
                if shared:
                    frame_channels += range(offset, offset + channels)
                offset += channels
            masks = 2 + (local_channels[level] if has_features else message_channels[level])
            outputs = BlockOutputs(message_channels[level], local_channels[level], masks)
            self.decoder_blocks.append(DecoderBlock(offset, outputs, width, groups[level], tuple(frame_channels)))
        self.grids = WarpGrids()

    def set_channels_last(self, enabled: bool = True) -> Shader:
        """Run the convolutions in NHWC (faster with oneDNN on CPUs and with tensor cores)."""
        fmt = torch.channels_last if enabled else torch.contiguous_format
        for block in self.decoder_blocks:
            block.channels_last = enabled
            block.to(memory_format=fmt)
        return self

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

        def fuse(weights: Tensor, x: Tensor) -> Tensor:  # weights (N, M, c, h, w)
            return torch.sum(weights * x.view(n, m, *x.shape[1:]), dim=1)

        def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
            return (
                x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            )

        def rescale_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
            ratio = size[1] / flow.shape[-1]
            return flow if ratio == 1 else resize(flow, size) * ratio

        # Level 0 starts from zero flow: every view input is the same for all frames (M, not N*M).
        size = tuple(reference_features[0].shape[-2:])
        zero_flow = reference.new_zeros(m, 2, *size)
        small_reference = resize(reference, size)
        view_parts = [zero_flow, small_reference, reference_features[0], zero_flow, small_reference]
        frame_parts = [target_features[0]]

        last = len(self.decoder_blocks) - 1
        flow = per_view(zero_flow)
        for level, block in enumerate(self.decoder_blocks):
            out = block(view_parts, frame_parts, n, m)

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
            warped_reference = warp(per_view(resize(reference, size)), flow)
            view_parts = [flow, warped_reference]
            if has_next_features:
                view_parts.append(warp(per_view(reference_features[level + 1]), flow))
            if out["local"] is not None:
                local = warp_grouped(resize(out["local"], size), rescale_flow(out["local_flow"], size))
            frame_parts = []
            if level + 1 < len(target_features):
                frame_parts.append(target_features[level + 1])
            frame_parts += [fuse(weights[:, :, 0:1], flow), fuse(weights[:, :, 0:1], warped_reference), fused_message]
            if out["local"] is not None:
                view_parts.append(local)
        raise AssertionError("unreachable: the last level returns")
