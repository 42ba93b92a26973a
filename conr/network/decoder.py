"""The RGBA decoder: turns the shader's fused features into an image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResConv(nn.Module):
    """Pre-activation residual block whose "norms" are learned 1x1 convolutions."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.norm1 = nn.Conv2d(channels, channels, 1)
        self.norm2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class RGBADecoder(nn.Module):
    """64 feature channels -> RGBA in [0, 1], RGB premultiplied by A."""

    def __init__(self, channels: int = 64, blocks: int = 1):
        super().__init__()
        self.conv_rgba = nn.Sequential(nn.Conv2d(channels, 4, 3, 1, 1))
        self.bottleneck = nn.Sequential()
        for i in range(blocks):
            self.bottleneck.add_module(f"r{i}", ResConv(channels))

    def forward(self, features: Tensor) -> Tensor:
        rgba = torch.sigmoid(self.conv_rgba(self.bottleneck(features)))
        alpha = rgba[:, 3:4]
        return torch.cat([rgba[:, :3] * alpha, alpha], 1)
