"""The two ResNet bodies of CoNR's U-Nets, with instance norm instead of batch norm.

They follow torchvision's ResNet layouts (v1.5: the stride sits in the 3x3
convolution) flattened into one ``nn.Sequential`` so that the checkpoint keys
read ``backbone.<index>...``. Written here so that CoNR does not depend on
torchvision.
"""

from __future__ import annotations

from torch import Tensor, nn


class Norm(nn.Module):
    """Affine instance norm held in a submodule called ``norm``.

    The released checkpoints store it as ``...bn1.norm.weight``, so the
    wrapper exists only to produce that key.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, eps=1e-5, affine=True, track_running_stats=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), Norm(out_ch))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, 1, bias=False)
        self.bn1 = Norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = Norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, width, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 with a residual connection (ResNet-50+)."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = Norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = Norm(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = Norm(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _stage(block: type, in_ch: int, width: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [block(in_ch, width, stride)]
    layers += [block(width * block.expansion, width) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def resnet_body(
    block: type,
    blocks_per_stage: tuple[int, int, int, int],
    in_channels: int,
    strided_conv_stem: bool,
) -> nn.Sequential:
    """Stem + four stages as ``nn.Sequential`` indices 0..7.

    ``strided_conv_stem`` replaces the stem's max-pool (index 3) by a bias-free
    3x3 stride-2 convolution, as CoNR's ResNet-50 does.
    """
    pool: nn.Module
    if strided_conv_stem:
        pool = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
    else:
        pool = nn.MaxPool2d(3, 2, 1)
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
        Norm(64),
        nn.ReLU(inplace=True),
        pool,
    ]
    in_ch = 64
    for i, blocks in enumerate(blocks_per_stage):
        width = 64 * 2**i
        layers.append(_stage(block, in_ch, width, blocks, 1 if i == 0 else 2))
        in_ch = width * block.expansion
    return nn.Sequential(*layers)


def resnet50_body(in_channels: int = 3) -> nn.Sequential:
    """CoNR's ``resnet50_danbo``: Bottleneck 3/4/6/3, strided-conv stem."""
    return resnet_body(Bottleneck, (3, 4, 6, 3), in_channels, strided_conv_stem=True)


def resnet18_body(in_channels: int = 4) -> nn.Sequential:
    """CoNR's ``resnet18_danbo-4``: BasicBlock 2/2/2/2, max-pool stem."""
    return resnet_body(BasicBlock, (2, 2, 2, 2), in_channels, strided_conv_stem=False)
