"""ResNet-50 in plain torch (no torchvision), in the torchvision and the Caffe (VGGFace2) layout.

Both layouts share the architecture of He et al. (2016), *Deep residual learning for image
recognition*: a 7x7/2 convolution with 64 channels, batch norm, ReLU, 3x3/2 max pooling, then
four stages of 3, 4, 6 and 3 bottleneck blocks (1x1 reduce, 3x3, 1x1 expand by 4; widths 64, 128,
256, 512) with a projection shortcut (1x1 convolution + batch norm) in the first block of each
stage, global average pooling to 2048 features and a fully connected classifier. No convolution
has a bias. Parameter names are torchvision's: ``conv1.weight``, ``bn1.{weight,bias,
running_mean,running_var}``, ``layer1.0.conv1.weight``, ``layer1.0.bn1.*``, ...,
``layer1.0.downsample.0.weight`` (the projection convolution), ``layer1.0.downsample.1.*`` (its
batch norm), ``fc.weight``, ``fc.bias``.

The layouts differ in where a stage downsamples, in max pooling, in the classifier and in the
input normalisation:

``torchvision``  (ResNet "v1.5", torchvision's ``resnet50``): stride 2 in the 3x3 convolution
                 of the first block of stages 2-4; max pooling 3x3/2 with padding 1; 1000
                 ImageNet classes; input RGB in [0, 1] normalised with the ImageNet mean
                 (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225).
``caffe``        (the original ResNet as in the VGGFace2 Caffe models ``resnet50_ft``, and in
                 the common PyTorch conversion ``resnet50_ft_weight.pkl``): stride 2 in the first
                 1x1 convolution of those blocks; max pooling 3x3/2 without padding and with
                 ``ceil_mode`` (Caffe rounds pooling output sizes up); 8631 classes (the
                 VGGFace2 training identities); input BGR in [0, 255] minus the per-channel
                 mean B 91.4953, G 103.8827, R 131.0912 (``resnet50_ft.prototxt``), with no
                 division by a standard deviation.

Names and shapes are identical in the two layouts, so the VGGFace2 pickle also loads without any
error into a torchvision-layout ResNet-50 (several public projects do this) and then computes
different features: the layout must be chosen explicitly, never inferred from the file.
At 224 x 224 both poolings give 56 x 56 maps. Batch norm uses eps = 1e-5 (the default of both
Caffe's BatchNorm layer and torch). The pickle conversion has no ``num_batches_tracked``
buffers; they are unused in evaluation and treated as optional by :mod:`polface.images.weights`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Layout = Literal["torchvision", "caffe"]
LAYOUTS: tuple[Layout, ...] = ("torchvision", "caffe")

#: Features returned by :meth:`ResNet50.features`.
FEATURE_DIM = 2048
#: Default number of classes of the final layer per layout.
NUM_CLASSES: dict[str, int] = {"torchvision": 1000, "caffe": 8631}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)

_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


class Bottleneck(nn.Module):
    """A ResNet bottleneck block; ``stride_in_1x1`` selects the Caffe placement of the stride."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, stride_in_1x1: bool) -> None:
        super().__init__()
        out = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))) + shortcut)."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class ResNet50(nn.Module):
    """ResNet-50 in the ``torchvision`` or ``caffe`` layout (see the module docstring)."""

    def __init__(self, layout: Layout = "torchvision", num_classes: int | None = None) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout: Layout = layout
        self.num_classes = NUM_CLASSES[layout] if num_classes is None else num_classes
        caffe = layout == "caffe"
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        if caffe:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
        else:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for index, (planes, blocks, stride) in enumerate(_STAGES, start=1):
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(inplanes, planes, stride if block == 0 else 1, caffe))
                inplanes = planes * Bottleneck.expansion
            self.add_module(f"layer{index}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURE_DIM, self.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (fan-out) normal convolutions, unit/zero batch norms (use ``torch.manual_seed``)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.fc.reset_parameters()

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map ``(N, 2048, H / 32, W / 32)`` (7 x 7 at 224 px), before pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features, ``(N, 2048)``, of preprocessed input ``x``."""
        return torch.flatten(self.avgpool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, num_classes)`` of preprocessed input ``x``."""
        return self.fc(self.features(x))


def preprocess(images: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Turn a ``uint8`` batch ``(N, H, W, 3)`` of RGB crops into the network input ``(N, 3, H, W)``.

    ``torchvision``: RGB / 255, minus the ImageNet mean, divided by its standard deviation.
    ``caffe``: channels reversed to BGR, in [0, 255], minus the VGGFace2 mean (B, G, R).
    The result is float32 on ``images``' device.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected a (N, H, W, 3) batch, got shape {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2).to(torch.float32)
    if layout == "caffe":
        mean = torch.tensor(VGGFACE2_MEAN_BGR, dtype=torch.float32, device=x.device)
        return x.flip(1) - mean.view(1, 3, 1, 1)
    if layout == "torchvision":
        return imagenet_normalise(x)
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    """Float RGB ``(N, 3, H, W)`` in [0, 255] → RGB / 255 minus the ImageNet mean, divided by its
    standard deviation (torchvision's ImageNet weights), in ``x``'s dtype and on its device."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std
