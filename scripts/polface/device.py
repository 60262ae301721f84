"""Which torch device a job runs on, and the reduced precision it uses there.

One place for the choice that the embedding backends (:mod:`polface.images.embed`) and the neural
network (:mod:`~polface.models.mlp`) make: ``auto`` is the current CUDA GPU when one is available,
else the CPU; on a GPU the forward passes run under autocast in bfloat16 where the GPU supports
it (float16 otherwise); on the CPU everything stays float32.
"""

from __future__ import annotations

import torch

from polface.errors import InputError


def resolve_device(device: str = "auto") -> torch.device:
    """``'auto'`` → the current CUDA device when available, else CPU; otherwise as named.

    Raises:
        InputError: (a ValueError) a CUDA device is named but CUDA is not available.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return resolved


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bfloat16 on GPUs that support it, float16 on other GPUs, ``None`` (no autocast) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def describe_device(device: torch.device) -> str:
    """A short description of the device and numeric precision, for a file's metadata."""
    if device.type == "cuda":
        amp = autocast_dtype(device)
        name = torch.cuda.get_device_name(device)
        return f"{device} {name} (autocast {str(amp).removeprefix('torch.')}, channels_last)"
    return f"{device} (float32)"
