"""Well-known architectures in plain torch, faithful to the torchvision / timm definitions
(layer structure and shapes; weights are random), plus ONNX export.

torchvision cannot be installed next to this torch, so the models are written out here,
following torchvision's ``models/*.py`` (timm's ``vision_transformer.py`` for ViT/DeiT).
``CATALOG`` holds every architecture with its published cost (GMACs, millions of
parameters, at its reference resolution); ``ZOO`` maps a name to its constructor;
``ENTRIES`` lists the (name, resolution) pairs measured into the corpus as space ``"zoo"``
(every catalog model at its reference resolution plus ``RESOLUTION_VARIANTS``).

None of these networks is in a training search space (``datasets/spaces/``): they are the
"real architectures never seen in training" test set.
"""

from __future__ import annotations

import inspect
import io
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _inplace(act: type[nn.Module]) -> nn.Module:
    return act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU) else act()


class ConvBNAct(nn.Sequential):
    """torchvision ``Conv2dNormActivation``: conv (no bias), BatchNorm, optional activation."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU6, eps: float = 1e-5) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=eps),
        ]
        if act is not None:
            layers.append(_inplace(act))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision ``ops.SqueezeExcitation``: global pool, 1x1 conv, act, 1x1 conv, gate."""

    def __init__(self, cin: int, squeeze: int, act: type[nn.Module] = nn.ReLU,
                 scale_act: type[nn.Module] = nn.Hardsigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(cin, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, cin, 1)
        self.relu = act()
        self.scale_act = scale_act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_act(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
        return s * x


class Permute(nn.Module):
    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


# ---------------------------------------------------------------- ResNet, ResNeXt, Wide ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # torchvision v1.5: the stride sits on the 3x3 conv
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 1000,
                 groups: int = 1, width_per_group: int = 64):
        super().__init__()
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(block, 64, layers[0])
        self.layer2 = self._layer(block, 128, layers[1], 2)
        self.layer3 = self._layer(block, 256, layers[2], 2)
        self.layer4 = self._layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, down, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnext50_32x4d(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, groups=32, width_per_group=4)


def wide_resnet50_2(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, width_per_group=128)


# ---------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, 1))
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
               [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        self.last = _make_divisible(1280 * max(1.0, width_mult))
        feats: list[nn.Module] = [ConvBNAct(3, cin, stride=2)]
        for t, c, n, s in self.SETTING:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(ConvBNAct(cin, self.last, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV2:
    return MobileNetV2(num_classes, width_mult)


# ---------------------------------------------------------------- MobileNetV3
class MBV3Block(nn.Module):
    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, act: str, stride: int):
        super().__init__()
        a = nn.Hardswish if act == "HS" else nn.ReLU
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(ConvBNAct(cin, exp, 1, act=a))
        layers.append(ConvBNAct(exp, exp, k, stride, groups=exp, act=a))
        if se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4, 8)))
        layers.append(ConvBNAct(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res else self.block(x)


# (in, kernel, expanded, out, SE, activation, stride) as in torchvision
_V3_LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
             (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
             (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
             (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
             (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
             (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
             (160, 5, 960, 160, True, "HS", 1)]
_V3_SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
             (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
             (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
             (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
             (96, 5, 576, 96, True, "HS", 1)]


class MobileNetV3(nn.Module):
    def __init__(self, setting: list[tuple], last_channel: int, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish)]
        layers += [MBV3Block(*s) for s in setting]
        last_in = setting[-1][3]
        layers.append(ConvBNAct(last_in, 6 * last_in, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * last_in, last_channel), nn.Hardswish(inplace=True),
            nn.Dropout(0.2, inplace=True), nn.Linear(last_channel, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def mobilenet_v3_large(num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(_V3_LARGE, 1280, num_classes)


def mobilenet_v3_small(num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(_V3_SMALL, 1024, num_classes)


# ---------------------------------------------------------------- MNASNet (torchvision, B1 without SE)
class _MnasResidual(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.apply_residual = cin == cout and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + x if self.apply_residual else self.layers(x)


def _mnas_depth(v: float, divisor: int = 8, round_up_bias: float = 0.9) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new if new >= round_up_bias * v else new + divisor


class MNASNet(nn.Module):
    # (out-depth index, kernel, stride, expansion, repeats) of the six stacks
    STACKS = [(2, 3, 2, 3, 3), (3, 5, 2, 3, 3), (4, 5, 2, 6, 3), (5, 3, 1, 6, 2), (6, 5, 2, 6, 4), (7, 3, 1, 6, 1)]

    def __init__(self, alpha: float, num_classes: int = 1000):
        super().__init__()
        d = [_mnas_depth(c * alpha) for c in (32, 16, 24, 40, 80, 96, 192, 320)]
        layers: list[nn.Module] = [
            nn.Conv2d(3, d[0], 3, 2, 1, bias=False), nn.BatchNorm2d(d[0]), nn.ReLU(inplace=True),
            nn.Conv2d(d[0], d[0], 3, 1, 1, groups=d[0], bias=False), nn.BatchNorm2d(d[0]), nn.ReLU(inplace=True),
            nn.Conv2d(d[0], d[1], 1, bias=False), nn.BatchNorm2d(d[1]),
        ]
        cin = d[1]
        for i, k, s, e, n in self.STACKS:
            layers += [_MnasResidual(cin if j == 0 else d[i], d[i], k, s if j == 0 else 1, e) for j in range(n)]
            cin = d[i]
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(x).mean([2, 3]))


# ---------------------------------------------------------------- ShuffleNetV2
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(b, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        f = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin if stride > 1 else f, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
            nn.Conv2d(f, f, 3, stride, 1, groups=f, bias=False), nn.BatchNorm2d(f),
            nn.Conv2d(f, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, repeats: list[int], channels: list[int], num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]),
                                   nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, stages = channels[0], []
        for n, cout in zip(repeats, channels[1:4], strict=True):
            stages.append(nn.Sequential(ShuffleUnit(cin, cout, 2), *[ShuffleUnit(cout, cout, 1) for _ in range(n - 1)]))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(cin, channels[-1], 1, bias=False), nn.BatchNorm2d(channels[-1]),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.conv5(x).mean([2, 3]))


_SHUFFLE = {"x0_5": [24, 48, 96, 192, 1024], "x1_0": [24, 116, 232, 464, 1024],
            "x1_5": [24, 176, 352, 704, 1024], "x2_0": [24, 244, 488, 976, 2048]}


# ---------------------------------------------------------------- SqueezeNet
class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x), inplace=True)
        return torch.cat([F.relu(self.expand1x1(x), inplace=True), F.relu(self.expand3x3(x), inplace=True)], 1)


class SqueezeNet(nn.Module):
    def __init__(self, version: str = "1_0", num_classes: int = 1000):
        super().__init__()

        def pool() -> nn.Module:
            return nn.MaxPool2d(3, 2, ceil_mode=True)

        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, 7, 2), nn.ReLU(inplace=True), pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"unknown SqueezeNet version {version!r}")
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# ---------------------------------------------------------------- EfficientNet (B0-B2)
class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        mid = _make_divisible(cin * expand, 8)
        layers: list[nn.Module] = []
        if mid != cin:
            layers.append(ConvBNAct(cin, mid, 1, act=nn.SiLU))
        layers.append(ConvBNAct(mid, mid, k, stride, groups=mid, act=nn.SiLU))
        layers.append(SqueezeExcitation(mid, max(1, cin // 4), act=nn.SiLU, scale_act=nn.Sigmoid))
        layers.append(ConvBNAct(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + x if self.use_res else self.block(x)  # stochastic depth: identity at inference


class EfficientNet(nn.Module):
    # expand, kernel, stride, in, out, layers
    SETTING = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
               (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]

    def __init__(self, width_mult: float, depth_mult: float, dropout: float, num_classes: int = 1000):
        super().__init__()

        def ch(c: int) -> int:
            return _make_divisible(c * width_mult, 8)

        layers: list[nn.Module] = [ConvBNAct(3, ch(32), 3, 2, act=nn.SiLU)]
        for e, k, s, cin, cout, n in self.SETTING:
            reps = int(math.ceil(n * depth_mult))
            stage = [MBConv(ch(cin) if i == 0 else ch(cout), ch(cout), k, s if i == 0 else 1, e) for i in range(reps)]
            layers.append(nn.Sequential(*stage))
        last_in = ch(self.SETTING[-1][4])
        layers.append(ConvBNAct(last_in, 4 * last_in, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True), nn.Linear(4 * last_in, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------- RegNet (X and Y)
class RegNetBlock(nn.Module):
    """torchvision ``ResBottleneckBlock`` with its ``BottleneckTransform`` (bottleneck multiplier 1)."""

    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float | None):
        super().__init__()
        self.proj = ConvBNAct(cin, cout, 1, stride, act=None) if cin != cout or stride != 1 else None
        layers: list[nn.Module] = [ConvBNAct(cin, cout, 1, act=nn.ReLU),
                                   ConvBNAct(cout, cout, 3, stride, groups=cout // group_width, act=nn.ReLU)]
        if se_ratio:
            layers.append(SqueezeExcitation(cout, int(round(se_ratio * cin)), act=nn.ReLU, scale_act=nn.Sigmoid))
        layers.append(ConvBNAct(cout, cout, 1, act=None))
        self.f = nn.Sequential(*layers)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.proj is None else self.proj(x)
        return self.activation(idt + self.f(x))


def regnet_stages(depth: int, w_0: int, w_a: float, w_m: float, group_width: int) -> list[tuple[int, int, int]]:
    """(width, depth, group width) per stage, as torchvision's ``BlockParams.from_init_params``."""
    widths_cont = torch.arange(depth) * w_a + w_0
    capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    block_widths = (torch.round(torch.divide(w_0 * torch.pow(w_m, capacity), 8)) * 8).int().tolist()
    stages: list[list[int]] = []
    for w in block_widths:
        if stages and stages[-1][0] == w:
            stages[-1][1] += 1
        else:
            stages.append([w, 1])
    out = []
    for w, d in stages:
        g = min(group_width, w)
        out.append((int(_make_divisible(w, g)), d, g))
    return out


class RegNet(nn.Module):
    def __init__(self, depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
                 se_ratio: float | None = None, num_classes: int = 1000):
        super().__init__()
        self.stem = ConvBNAct(3, 32, 3, 2, act=nn.ReLU)
        cin, stages = 32, []
        for w, d, g in regnet_stages(depth, w_0, w_a, w_m, group_width):
            stages.append(nn.Sequential(*[RegNetBlock(cin if i == 0 else w, w, 2 if i == 0 else 1, g, se_ratio)
                                          for i in range(d)]))
            cin = w
        self.trunk_output = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.trunk_output(self.stem(x))), 1))


_REGNET = {  # depth, w_0, w_a, w_m, group width, SE ratio (torchvision)
    "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, None), "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25),
    "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, None), "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_x_1_6gf": (18, 80, 34.01, 2.25, 24, None), "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25),
}


# ---------------------------------------------------------------- DenseNet
class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(F.relu(self.norm1(torch.cat(features, 1)), inplace=True))
        return self.conv2(F.relu(self.norm2(x), inplace=True))


class DenseBlock(nn.ModuleList):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    def __init__(self, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16), init: int = 64,
                 bn_size: int = 4, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, init, 7, 2, 3, bias=False), nn.BatchNorm2d(init),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        c = init
        for i, n in enumerate(blocks):
            layers.append(DenseBlock([DenseLayer(c + j * growth, growth, bn_size) for j in range(n)]))
            c += n * growth
            if i != len(blocks) - 1:  # transition
                layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                           nn.AvgPool2d(2, 2)]
                c //= 2
        layers.append(nn.BatchNorm2d(c))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(F.relu(self.features(x), inplace=True), (1, 1))
        return self.classifier(torch.flatten(out, 1))


# ---------------------------------------------------------------- GoogLeNet (Inception v1)
def _basic_conv(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding, bias=False), nn.BatchNorm2d(cout, eps=0.001),
                         nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int):
        super().__init__()
        self.branch1 = _basic_conv(cin, c1, 1)
        self.branch2 = nn.Sequential(_basic_conv(cin, c3r, 1), _basic_conv(c3r, c3, 3, padding=1))
        # torchvision keeps a 3x3 conv in the "5x5" branch (its documented deviation from the paper)
        self.branch3 = nn.Sequential(_basic_conv(cin, c5r, 1), _basic_conv(c5r, c5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), _basic_conv(cin, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision GoogLeNet at inference (the auxiliary classifiers only run in training)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(
            _basic_conv(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, ceil_mode=True),
            _basic_conv(64, 64, 1), _basic_conv(64, 192, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True),
        )
        self.body = nn.Sequential(
            Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
            Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
            Inception(528, 256, 160, 320, 32, 128, 128), nn.MaxPool2d(2, 2, ceil_mode=True),
            Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.body(self.stem(x))), 1)))


# ---------------------------------------------------------------- VGG, AlexNet
class VGG(nn.Module):
    def __init__(self, cfg: list[int | str], num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


_VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------- ConvNeXt
class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute([0, 2, 3, 1]), nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_scale * self.block(x) + x


class ConvNeXt(nn.Module):
    def __init__(self, dims: tuple[int, ...] = (96, 192, 384, 768), depths: tuple[int, ...] = (3, 3, 9, 3),
                 num_classes: int = 1000):
        super().__init__()
        norm = partial(LayerNorm2d, eps=1e-6)
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), norm(dims[0]))]
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            layers.append(nn.Sequential(*[CNBlock(dim) for _ in range(depth)]))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(norm(dim), nn.Conv2d(dim, dims[i + 1], 2, 2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(norm(dims[-1]), nn.Flatten(1), nn.Linear(dims[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


# ---------------------------------------------------------------- Vision Transformer (timm), DeiT
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al.) as in timm's ``VisionTransformer``: conv patch embedding,
    class token, learned position embedding, pre-norm blocks, linear head."""

    def __init__(self, img: int = 224, patch: int = 16, dim: int = 192, depth: int = 12, heads: int = 3,
                 num_classes: int = 1000):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def vit_tiny_16(num_classes: int = 1000, img: int = 224) -> VisionTransformer:
    """ViT-Ti/16 = DeiT-Ti (timm ``vit_tiny_patch16_224`` / ``deit_tiny_patch16_224``)."""
    return VisionTransformer(img=img, dim=192, depth=12, heads=3, num_classes=num_classes)


def vit_small_16(num_classes: int = 1000, img: int = 224) -> VisionTransformer:
    """ViT-S/16 = DeiT-S (timm ``vit_small_patch16_224`` / ``deit_small_patch16_224``)."""
    return VisionTransformer(img=img, dim=384, depth=12, heads=6, num_classes=num_classes)


# ---------------------------------------------------------------- Swin Transformer (torchvision v1)
def _window_mask(size: int, window: int, shift: int) -> torch.Tensor:
    """The shifted-window attention mask torchvision builds in every forward pass (0 / -100)."""
    mask = torch.zeros(size, size)
    cuts = ((0, -window), (-window, -shift), (-shift, None))
    count = 0
    for h in cuts:
        for w in cuts:
            mask[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    n = size // window
    mask = mask.view(n, window, n, window).permute(0, 2, 1, 3).reshape(n * n, window * window)
    mask = mask.unsqueeze(1) - mask.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class ShiftedWindowAttention(nn.Module):
    """torchvision ``ShiftedWindowAttention`` for a square ``size`` x ``size`` feature map: the
    padding, shift and mask depend only on the size, so they are fixed here (the exported graph
    then has static shapes, as a fixed-resolution deployment does)."""

    def __init__(self, dim: int, heads: int, size: int, window: int, shift: int):
        super().__init__()
        self.dim, self.heads, self.window, self.size = dim, heads, window, size
        self.padded = size + (window - size % window) % window
        # torchvision: no shift once a window covers the whole (padded) feature map
        self.shift = 0 if window >= self.padded else shift
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        coords = torch.flatten(torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                                          indexing="ij")), 1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += window - 1
        rel[:, :, 1] += window - 1
        rel[:, :, 0] *= 2 * window - 1
        self.register_buffer("relative_position_index", rel.sum(-1).flatten(), persistent=False)
        mask = _window_mask(self.padded, window, self.shift) if self.shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, win, s, p, n, heads = self.dim, self.window, self.shift, self.padded, self.window ** 2, self.heads
        if p != self.size:
            x = F.pad(x, (0, 0, 0, p - self.size, 0, p - self.size))
        if s:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        k = p // win
        x = x.view(-1, k, win, k, win, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, n, c)
        qkv = self.qkv(x).reshape(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, kk, v = qkv[0] * self.scale, qkv[1], qkv[2]
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1)
        attn = q.matmul(kk.transpose(-2, -1)) + bias.permute(2, 0, 1).contiguous().unsqueeze(0)
        if s:
            attn = attn.view(-1, k * k, heads, n, n) + self.attn_mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        x = self.proj(F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(-1, n, c))
        x = x.view(-1, k, k, win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, p, p, c)
        if s:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        return x[:, :self.size, :self.size, :].contiguous() if p != self.size else x


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, size: int, window: int, shift: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftedWindowAttention(dim, heads, size, window, shift)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int, size: int):
        super().__init__()
        self.odd = size % 2
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.odd:
            x = F.pad(x, (0, 0, 0, 1, 0, 1))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    """torchvision ``swin_t`` (v1). The shift mask is built once for the input size ``img``."""

    def __init__(self, img: int = 224, dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 heads: tuple[int, ...] = (3, 6, 12, 24), window: int = 7, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dim, 4, 4), Permute([0, 2, 3, 1]), nn.LayerNorm(dim))]
        size = img // 4
        for i, (depth, nh) in enumerate(zip(depths, heads, strict=True)):
            d = dim * 2 ** i
            layers.append(nn.Sequential(*[SwinBlock(d, nh, size, window, 0 if j % 2 == 0 else window // 2)
                                          for j in range(depth)]))
            if i + 1 < len(depths):
                layers.append(PatchMerging(d, size))
                size = (size + 1) // 2
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim * 2 ** (len(depths) - 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim * 2 ** (len(depths) - 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.features(x)).permute(0, 3, 1, 2)
        return self.head(torch.flatten(self.avgpool(x), 1))


def swin_t(num_classes: int = 1000, img: int = 224) -> SwinTransformer:
    return SwinTransformer(img=img, num_classes=num_classes)


# ---------------------------------------------------------------- catalog
@dataclass(frozen=True)
class ZooModel:
    """A catalog entry: constructor and published cost at ``resolution`` (torchvision model
    cards unless ``source`` says otherwise; GMACs = torchvision's "GFLOPS", which count
    multiply-accumulates)."""

    name: str
    build: Callable[..., nn.Module]
    gmacs: float
    mparams: float
    resolution: int = 224
    source: str = "torchvision"


_M = ZooModel
CATALOG: dict[str, ZooModel] = {m.name: m for m in (
    _M("resnet18", resnet18, 1.81, 11.69),
    _M("resnet34", resnet34, 3.66, 21.80),
    _M("resnet50", resnet50, 4.09, 25.56),
    _M("resnet101", resnet101, 7.80, 44.55),
    _M("resnext50_32x4d", resnext50_32x4d, 4.23, 25.03),
    _M("wide_resnet50_2", wide_resnet50_2, 11.40, 68.88),
    _M("mobilenet_v2", mobilenet_v2, 0.300, 3.50),
    # MobileNetV2 width multipliers: paper table / TF-slim checkpoints (same rounding rule as torchvision)
    _M("mobilenet_v2_050", partial(mobilenet_v2, width_mult=0.5), 0.097, 1.95, source="MobileNetV2 paper"),
    _M("mobilenet_v2_075", partial(mobilenet_v2, width_mult=0.75), 0.209, 2.61, source="MobileNetV2 paper"),
    _M("mobilenet_v2_140", partial(mobilenet_v2, width_mult=1.4), 0.582, 6.06, source="MobileNetV2 paper"),
    _M("mobilenet_v3_small", mobilenet_v3_small, 0.056, 2.54, source="MobileNetV3 paper (MACs)"),
    _M("mobilenet_v3_large", mobilenet_v3_large, 0.217, 5.48, source="MobileNetV3 paper (MACs)"),
    _M("mnasnet0_5", partial(MNASNet, 0.5), 0.10, 2.22),
    _M("mnasnet0_75", partial(MNASNet, 0.75), 0.21, 3.17),
    _M("mnasnet1_0", partial(MNASNet, 1.0), 0.31, 4.38),
    _M("mnasnet1_3", partial(MNASNet, 1.3), 0.53, 6.28),
    _M("shufflenet_v2_x0_5", partial(ShuffleNetV2, [4, 8, 4], _SHUFFLE["x0_5"]), 0.041, 1.37,
       source="ShuffleNetV2 paper (MACs)"),
    _M("shufflenet_v2_x1_0", partial(ShuffleNetV2, [4, 8, 4], _SHUFFLE["x1_0"]), 0.146, 2.28,
       source="ShuffleNetV2 paper (MACs)"),
    _M("shufflenet_v2_x1_5", partial(ShuffleNetV2, [4, 8, 4], _SHUFFLE["x1_5"]), 0.299, 3.50,
       source="ShuffleNetV2 paper (MACs)"),
    _M("shufflenet_v2_x2_0", partial(ShuffleNetV2, [4, 8, 4], _SHUFFLE["x2_0"]), 0.591, 7.39,
       source="ShuffleNetV2 paper (MACs)"),
    _M("squeezenet1_0", partial(SqueezeNet, "1_0"), 0.82, 1.25),
    _M("squeezenet1_1", partial(SqueezeNet, "1_1"), 0.35, 1.24),
    _M("efficientnet_b0", partial(EfficientNet, 1.0, 1.0, 0.2), 0.39, 5.29),
    _M("efficientnet_b1", partial(EfficientNet, 1.0, 1.1, 0.2), 0.69, 7.79, resolution=240),
    _M("efficientnet_b2", partial(EfficientNet, 1.1, 1.2, 0.3), 1.09, 9.11, resolution=288),
    *(_M(n, partial(RegNet, *_REGNET[n]), g, p) for n, g, p in (
        ("regnet_x_400mf", 0.41, 5.50), ("regnet_y_400mf", 0.40, 4.34), ("regnet_x_800mf", 0.80, 7.26),
        ("regnet_y_800mf", 0.83, 6.43), ("regnet_x_1_6gf", 1.60, 9.19), ("regnet_y_1_6gf", 1.61, 11.20))),
    _M("densenet121", DenseNet, 2.83, 7.98),
    _M("googlenet", GoogLeNet, 1.50, 6.62),
    _M("vgg11", partial(VGG, _VGG11), 7.61, 132.86),
    _M("alexnet", AlexNet, 0.71, 61.10),
    _M("convnext_tiny", ConvNeXt, 4.46, 28.59),
    _M("swin_t", swin_t, 4.49, 28.29),
    _M("vit_tiny_16", vit_tiny_16, 1.26, 5.72, source="timm vit_tiny_patch16_224 / DeiT-Ti"),
    _M("vit_small_16", vit_small_16, 4.6, 22.05, source="DeiT paper, DeiT-S"),
)}

#: the input resolutions edge deployments use besides the reference one (measured too)
RESOLUTION_VARIANTS: dict[str, tuple[int, ...]] = {
    "resnet18": (160, 192), "resnet50": (160, 192), "mobilenet_v2": (128, 160, 192),
    "mobilenet_v3_large": (160, 192), "mobilenet_v3_small": (160,), "efficientnet_b0": (192,),
    "shufflenet_v2_x1_0": (160,), "mnasnet1_0": (192,), "squeezenet1_1": (160,), "regnet_y_400mf": (160,),
    "vit_tiny_16": (160,),
}

#: (name, resolution) pairs of the zoo corpus: every model at its reference resolution, then the variants
ENTRIES: list[tuple[str, int]] = [(n, m.resolution) for n, m in CATALOG.items()] + [
    (n, r) for n, rs in RESOLUTION_VARIANTS.items() for r in rs]

ZOO: dict[str, Callable[..., nn.Module]] = {n: m.build for n, m in CATALOG.items()}

#: the family of each catalog model: variants of one design (depth, width, resolution) share it, so a
#: test of "a real network never seen" can keep a whole family out of what a model is fitted on
_FAMILY_PREFIXES = (("resnet", "resnext", "wide_resnet"), ("mobilenet_v2",), ("mobilenet_v3",), ("mnasnet",),
                    ("shufflenet",), ("squeezenet",), ("efficientnet",), ("regnet",), ("densenet",),
                    ("googlenet",), ("vgg",), ("alexnet",), ("convnext",), ("swin",), ("vit",),
                    # datasets.zoo_keras only (the TFLite zoo)
                    ("mobilenet_v1",), ("nasnet",), ("inception",))


def family(name: str) -> str:
    """``resnet`` for resnet18 .. wide_resnet50_2, ``mobilenet_v2`` for its width variants, etc.
    Accepts a catalog name (of this module or of :mod:`datasets.zoo_keras`, whose shared names are
    the same designs) or a zoo ``arch_id`` (``zoo-resnet18-224``)."""
    if name.startswith("zoo-"):
        name = parse_arch_id(name)[0]
    for prefixes in _FAMILY_PREFIXES:
        if name.startswith(prefixes):
            return prefixes[0]
    raise KeyError(f"no family for {name!r}; known models: {sorted(CATALOG)}")

#: published multiply-accumulate counts at the reference resolution (GMACs)
PUBLISHED_GMACS: dict[str, float] = {n: m.gmacs for n, m in CATALOG.items()}


def arch_id(name: str, resolution: int) -> str:
    return f"zoo-{name}-{resolution}"


def spec_of(name: str, resolution: int) -> dict:
    """The corpus spec of a zoo network (what ``datasets.measure.build_model`` builds to ONNX)."""
    return {"space": "zoo", "name": name, "resolution": int(resolution)}


def catalog(fmt: str):
    """The zoo of a model format, a module with ``CATALOG``, ``ENTRIES`` and ``spec_of``: this one
    (torch definitions) for ``"onnx"``, :mod:`datasets.zoo_keras` (``keras.applications``) for ``"tflite"``."""
    if fmt == "tflite":
        from datasets import zoo_keras

        return zoo_keras
    if fmt != "onnx":
        raise ValueError(f"no zoo for format {fmt!r}; known: onnx, tflite")
    return sys.modules[__name__]


def parse_arch_id(arch_id: str) -> tuple[str, int]:
    """``zoo-resnet18-224`` -> (``resnet18``, 224): the inverse of :func:`arch_id`."""
    name, _, res = arch_id.removeprefix("zoo-").rpartition("-")
    return name, int(res)


def build(name: str, resolution: int | None = None, **kwargs) -> nn.Module:
    """The named model in eval mode with seed-0 random weights. ``resolution`` matters only to
    models whose structure depends on it (ViT position embedding, Swin shift masks)."""
    if name not in ZOO:
        raise KeyError(f"unknown architecture {name!r}; known: {sorted(ZOO)}")
    ctor = ZOO[name]
    if resolution is not None and "img" in inspect.signature(ctor).parameters:
        kwargs.setdefault("img", resolution)
    torch.manual_seed(0)
    return ctor(**kwargs).eval()


def export_onnx(
    model: nn.Module | str,
    input_shape: tuple[int, ...] = (1, 3, 224, 224),
    *,
    opset: int = 17,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> bytes:
    """Export a module (or a ZOO name) to ONNX bytes with the TorchScript exporter."""
    module = build(model, resolution=input_shape[-1]) if isinstance(model, str) else model.eval()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module, (torch.randn(*input_shape),), buf, opset_version=opset,
            input_names=["input"], output_names=["output"], dynamic_axes=dynamic_axes, dynamo=False,
        )
    return buf.getvalue()
