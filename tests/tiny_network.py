"""A CoNR network of 0.5M parameters (the released one has 180M), for tests of the pipeline's logic rather than of the numbers.

``TinyNetwork`` has CoNR's four parts, wired as the released network is
(the same ``ResUNet``, ``Shader`` and ``RGBADecoder`` classes, so the
pipeline runs unchanged), but every width is ``width`` and each ResNet
body is five plain convolutions with the released strides. Parity with the
original is tested on the full network (test_parity.py).
"""

from __future__ import annotations

import torch
from torch import nn

from conr.network import CoNRNetwork
from conr.network.decoder import RGBADecoder
from conr.network.resnet import Norm
from conr.network.shader import Shader
from conr.network.unet import ResUNet


def tiny_body(in_channels: int, width: int) -> nn.Sequential:
    """Eight layers at the released strides (/2 at index 2, /4, /4, /8, /16, /32) for ``ResUNet``'s skips."""

    def conv(stride: int) -> nn.Conv2d:
        return nn.Conv2d(width, width, 3, stride, 1)

    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 2, 1), Norm(width), nn.ReLU(), conv(2), conv(1), conv(2), conv(2), conv(2)
    )


class TinyNetwork(CoNRNetwork):
    """``CoNRNetwork``'s methods on parts of width ``width`` (16, the smallest the shader's grouped flows allow)."""

    def __init__(self, width: int = 16, seed: int = 0):
        nn.Module.__init__(self)
        torch.manual_seed(seed)
        widths = (width,) * 5
        self.udpparsernet = ResUNet(tiny_body(3, width), widths[:4], width, classes=4, decoder_widths=widths)
        self.target_pose_encoder = ResUNet(tiny_body(4, width), widths[:4], width, classes=1, decoder_widths=widths)
        self.shader = Shader(
            target_channels=widths,
            feature_channels=widths,
            message_channels=(width,) * 6,
            local_channels=(*widths, 0),
            width=width,
        )
        self.rgbadecodernet = RGBADecoder(channels=width)


def tiny_renderer(**kwargs):
    """A CPU ``ConrRenderer`` over a ``TinyNetwork`` (float32 unless ``dtype`` says otherwise)."""
    from conr.pipeline import ConrRenderer

    return ConrRenderer(TinyNetwork(), **{"device": "cpu", "dtype": "float32", **kwargs})
