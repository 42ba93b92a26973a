"""CoNR's U-Nets on ResNet bodies: the UDP parser and the target pose encoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .resnet import Norm, resnet18_body, resnet50_body

#: ``backbone`` indices whose outputs feed the decoder's skip connections.
SKIP_INDICES = (2, 4, 5, 6)
#: Index of the encoder output.
ENCODER_INDEX = 7
DECODER_WIDTHS = (512, 384, 256, 128, 32)


class UpsampleBlock(nn.Module):
    """Transposed conv x2 -> norm -> ReLU -> concat skip -> conv3x3 -> norm -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, skip_ch: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)
        self.bn1 = Norm(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch + skip_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = Norm(out_ch)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = self.relu(self.bn1(self.up(x)))
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.relu(self.bn2(self.conv2(x)))


class ResUNet(nn.Module):
    """A ResNet encoder with a U-Net decoder.

    ``forward`` returns the decoder's logits and the multi-scale feature list
    ``[encoder_out, skip6, skip5, skip4, skip2]`` (coarse to fine) that the
    shader consumes; ``encode`` returns only the features and skips the
    decoder, which is how CoNR uses the target pose encoder.
    """

    def __init__(
        self,
        backbone: nn.Sequential,
        skip_channels: tuple[int, int, int, int],
        encoder_channels: int,
        classes: int,
        decoder_widths: tuple[int, ...] = DECODER_WIDTHS,
    ):
        super().__init__()
        self.backbone = backbone
        # Skips coarse to fine, the finest decoder block has none.
        skips = list(reversed(skip_channels)) + [0]
        ins = [encoder_channels, *decoder_widths[:-1]]
        self.upsample_blocks = nn.ModuleList(UpsampleBlock(i, o, s) for i, o, s in zip(ins, decoder_widths, skips))
        self.final_conv = nn.Conv2d(decoder_widths[-1], classes, 1)

    def encode(self, x: Tensor) -> list[Tensor]:
        skips = []
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index in SKIP_INDICES:
                skips.append(x)
        return [x, *reversed(skips)]

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = self.encode(x)
        y = features[0]
        skips = features[1:] + [None]
        for block, skip in zip(self.upsample_blocks, skips):
            y = block(y, skip)
        return self.final_conv(y), features


def udp_parser_net() -> ResUNet:
    """``udpparsernet``: RGB drawing -> UDP (XYZ + visibility) and reference features."""
    return ResUNet(resnet50_body(3), (64, 256, 512, 1024), 2048, classes=4)


def target_pose_encoder_net() -> ResUNet:
    """``target_pose_encoder``: masked UDP (4 channels) -> pose features."""
    return ResUNet(resnet18_body(4), (64, 64, 128, 256), 512, classes=1)
