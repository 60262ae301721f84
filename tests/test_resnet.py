"""Tests of polface.images.resnet (architecture, layouts, preprocessing) and .weights' unpickler."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from polface.images.resnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGGFACE2_MEAN_BGR,
    Bottleneck,
    ResNet50,
    preprocess,
)
from polface.images.weights import check_state_dict, load_pickle_weights, load_weights

# ---------------------------------------------------------------- architecture


@pytest.fixture(scope="module")
def tv() -> ResNet50:
    torch.manual_seed(1)
    return ResNet50("torchvision").eval()


@pytest.fixture(scope="module")
def caffe() -> ResNet50:
    torch.manual_seed(2)
    return ResNet50("caffe").eval()


def test_parameter_counts_match_published_resnet50(tv: ResNet50, caffe: ResNet50) -> None:
    # torchvision's resnet50 has 25,557,032 parameters; without its 1000-way fc 23,508,032.
    assert sum(p.numel() for p in tv.parameters()) == 25_557_032
    assert sum(p.numel() for p in caffe.parameters()) == 23_508_032 + 2048 * 8631 + 8631


def test_state_dict_keys_are_torchvision_names(tv: ResNet50, caffe: ResNet50) -> None:
    sd = tv.state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["bn1.running_var"].shape == (64,)
    assert sd["layer1.0.conv1.weight"].shape == (64, 64, 1, 1)
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd["layer1.0.downsample.1.running_mean"].shape == (256,)
    assert sd["layer3.5.conv2.weight"].shape == (256, 256, 3, 3)
    assert sd["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert sd["fc.weight"].shape == (1000, 2048)
    assert "layer1.1.downsample.0.weight" not in sd
    blocks = {k.split(".")[0] + "." + k.split(".")[1] for k in sd if k.startswith("layer")}
    assert len(blocks) == 3 + 4 + 6 + 3
    csd = caffe.state_dict()
    assert csd.keys() == sd.keys()
    assert csd["fc.weight"].shape == (8631, 2048)
    assert all(csd[k].shape == sd[k].shape for k in sd if not k.startswith("fc."))


def test_stride_placement_differs_between_layouts(tv: ResNet50, caffe: ResNet50) -> None:
    for stage in ("layer2", "layer3", "layer4"):
        tv_block, caffe_block = getattr(tv, stage)[0], getattr(caffe, stage)[0]
        assert tv_block.conv1.stride == (1, 1) and tv_block.conv2.stride == (2, 2)
        assert caffe_block.conv1.stride == (2, 2) and caffe_block.conv2.stride == (1, 1)
        assert tv_block.downsample[0].stride == caffe_block.downsample[0].stride == (2, 2)
    assert tv.layer1[0].conv1.stride == caffe.layer1[0].conv1.stride == (1, 1)


def test_caffe_block_equals_unstrided_block_on_subsampled_input() -> None:
    # A strided 1x1 convolution reads every other pixel, so the Caffe block with stride 2 is the
    # same block with stride 1 applied to x[..., ::2, ::2]. The torchvision block is not.
    torch.manual_seed(0)
    strided = Bottleneck(256, 128, 2, stride_in_1x1=True).eval()
    unstrided = Bottleneck(256, 128, 1, stride_in_1x1=True).eval()
    unstrided.load_state_dict(strided.state_dict())
    x = torch.randn(2, 256, 14, 14)
    with torch.no_grad():
        assert torch.allclose(strided(x), unstrided(x[..., ::2, ::2]), atol=1e-5)
        tv = Bottleneck(256, 128, 2, stride_in_1x1=False).eval()
        tv.load_state_dict(strided.state_dict())
        assert not torch.allclose(tv(x), unstrided(x[..., ::2, ::2]), atol=1e-2)


def test_max_pooling_follows_each_layout(tv: ResNet50, caffe: ResNet50) -> None:
    for size, tv_out, caffe_out in ((112, 56, 56), (113, 57, 56), (8, 4, 4)):
        x = torch.zeros(1, 64, size, size)
        assert tv.maxpool(x).shape[-1] == tv_out
        assert caffe.maxpool(x).shape[-1] == caffe_out


def test_features_shape_and_layout_matters(tv: ResNet50) -> None:
    caffe = ResNet50("caffe", num_classes=10).eval()
    shared = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    caffe.load_state_dict(shared, strict=False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = tv.features(x), caffe.features(x)
        assert a.shape == b.shape == (2, 2048)
        assert torch.isfinite(a).all() and (a >= 0).all()  # pooled after a ReLU
        assert not torch.allclose(a, b, rtol=1e-2)
        assert tv(x).shape == (2, 1000) and caffe(x).shape == (2, 10)
        assert torch.allclose(tv(x), tv.fc(a), atol=1e-4)
    with pytest.raises(ValueError, match="layout"):
        ResNet50("keras")  # type: ignore[arg-type]


def test_preprocess_both_layouts() -> None:
    images = torch.zeros(1, 2, 3, 3, dtype=torch.uint8)
    images[..., 0], images[..., 1], images[..., 2] = 10, 20, 30  # R, G, B
    caffe = preprocess(images, "caffe")
    assert caffe.shape == (1, 3, 2, 3) and caffe.dtype == torch.float32
    # BGR order, minus the VGGFace2 means, no scaling.
    assert caffe[0, :, 0, 0].tolist() == pytest.approx(
        [30 - VGGFACE2_MEAN_BGR[0], 20 - VGGFACE2_MEAN_BGR[1], 10 - VGGFACE2_MEAN_BGR[2]],
        abs=1e-4,
    )
    tv = preprocess(images, "torchvision")
    assert tv[0, :, 1, 2].tolist() == pytest.approx(
        [
            (v / 255 - m) / s
            for v, m, s in zip((10, 20, 30), IMAGENET_MEAN, IMAGENET_STD, strict=True)
        ],
        abs=1e-5,
    )
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        preprocess(torch.zeros(3, 4, 4, dtype=torch.uint8), "caffe")


# ---------------------------------------------------------------- restricted unpickler


class _RunsCode:
    """A pickle payload that runs a shell command when unpickled by the standard unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(
        pickle.dumps({"conv1.weight": np.zeros(3, np.float32), "x": _RunsCode(marker)}, protocol=2)
    )
    with pytest.raises(pickle.UnpicklingError, match=r"refused global posix\.system") as info:
        load_pickle_weights(evil, setting=KEY)
    assert str(info.value).startswith(f"{evil} (config key {KEY}): ")
    assert not marker.exists()
    # The payload is live: the standard unpickler does run it.
    pickle.loads(evil.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(eval, protocol=2),
        pickle.dumps(torch.nn.Linear, protocol=4),
        pickle.dumps(Path("x"), protocol=4),
    ],
)
def test_other_globals_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "other.pkl"
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        load_pickle_weights(path)


def test_non_array_content_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([np.zeros(2)], protocol=4))
    with pytest.raises(ValueError, match="expected a dict"):
        load_pickle_weights(path)
    path.write_bytes(pickle.dumps({"a": 1.5}, protocol=4))
    with pytest.raises(ValueError, match="'a' is float"):
        load_pickle_weights(path)


class _Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes ``bytes`` as Python 2 ``str`` (BINSTRING), as the VGGFace2 conversion's pickle."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_load_from_python2_and_python3_pickles(tmp_path: Path, protocol: int) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "conv1.weight": rng.standard_normal((4, 3, 7, 7)).astype(np.float32),
        "bn1.running_var": np.arange(4, dtype=np.float32) + 0.5,
        "fc.bias": np.asfortranarray(rng.standard_normal((3, 2))),
    }
    path = tmp_path / "w.pkl"
    if protocol == 2:
        # Python 2 wrote byte strings (names and array data) as str: emulate that exactly.
        with open(path, "wb") as fh:
            _Python2Pickler(fh, protocol=2).dump({k.encode(): v for k, v in arrays.items()})
        assert b"_codecs" not in path.read_bytes()
    else:
        path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    loaded = load_pickle_weights(path)
    assert loaded.keys() == arrays.keys()
    for key, value in arrays.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)


#: Where a weights file comes from in the config, for the messages.
KEY = "image_sets.faces.embed.weights.vggface2.path"


def _reconstruct_huge(count: int) -> bytes:
    """117 bytes asking numpy for ``count`` bytes: ``_reconstruct(ndarray, (count,), b"b")``."""
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01J"
        + struct.pack("<i", count)
        + b"\x85q\x02c_codecs\nencode\nq\x03X\x01\x00\x00\x00bq\x04X\x06\x00\x00\x00latin1"
        b"q\x05\x86q\x06Rq\x07\x87q\x08Rq\x09."
    )


class _ArrayState:
    """Pickles as numpy does an array, with any state: (version, shape, dtype, fortran, data)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, data: object) -> None:
        self.state = (1, shape, dtype, False, data)

    def __reduce__(self) -> tuple[object, ...]:
        return (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), self.state)


@pytest.mark.parametrize(
    ("payload", "refusal"),
    [
        # numpy itself, through the allowed _reconstruct: 1.3 GB from 117 bytes.
        (_reconstruct_huge(1_342_177_280), r"shape \(1342177280,\) declares 1,342,177,280 bytes"),
        # An object array: numpy allocates it (8 bytes an item) before reading the list.
        (pickle.dumps({"w": _ArrayState((1 << 20,), np.dtype("O"), [])}, 2), "holds objects"),
        # A float array whose state claims more items than its data has.
        (
            pickle.dumps({"w": _ArrayState((1 << 28,), np.dtype("f4"), b"\0" * 8)}, 2),
            r"declares 1,073,741,824 bytes",
        ),
        # A byte string declaring 1 TiB (the C unpickler allocates it before reading).
        (b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc.", "ends before its pickle does"),
        # A codec other than latin1 through the allowed _codecs.encode.
        (
            b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x03\x00\x00\x00hex\x86R.",
            "encoding 'hex'",
        ),
    ],
    ids=["reconstruct", "object-array", "state-shape", "binbytes8", "codec"],
)
def test_hostile_pickles_are_refused_before_allocating(
    tmp_path: Path, payload: bytes, refusal: str
) -> None:
    path = tmp_path / "resnet50_ft_weight.pkl"
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match=refusal) as info:
        load_pickle_weights(path, setting=KEY)
    assert str(info.value).startswith(f"{path} (config key {KEY}): ")


def test_a_memo_index_cannot_size_a_table(tmp_path: Path) -> None:
    """LONG_BINPUT 2**31: the C unpickler would zero a 16 GiB memo table (under 4 GiB: fails)."""
    path = tmp_path / "memo.pkl"
    path.write_bytes(b"\x80\x02}r" + struct.pack("<I", 1 << 31) + b".")
    code = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "from polface.images.weights import load_pickle_weights\n"
        f"print(load_pickle_weights({str(path)!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "{}", done.stderr[-2000:]


def test_weights_errors_name_the_file_and_the_config_key(tmp_path: Path) -> None:
    model = ResNet50("caffe")
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps({"conv1.weight": np.zeros((2, 2), np.float32)}, protocol=2))
    with pytest.raises(ValueError, match=rf"{wrong} \(config key {KEY}\) do not fit the model"):
        load_weights(model, wrong, setting=KEY)
    assert not (tmp_path / "wrong.safetensors").exists()  # nothing cached from a refused file
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match=rf"{damaged} \(config key {KEY}\): cannot be read"):
        load_weights(model, damaged, setting=KEY)
    with pytest.raises(FileNotFoundError, match=rf"absent\.pth \(config key {KEY}\)"):
        load_weights(model, tmp_path / "absent.pth", setting=KEY)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.pkl")  # reading it would block for ever
        with pytest.raises(ValueError, match=r"pipe\.pkl .*: not a regular file"):
            load_weights(model, tmp_path / "pipe.pkl", setting=KEY)


def test_check_state_dict_names_every_problem() -> None:
    expected = {
        "conv1.weight": torch.zeros(64, 3, 7, 7),
        "fc.weight": torch.zeros(8631, 2048),
        "bn1.num_batches_tracked": torch.zeros((), dtype=torch.long),
        "bn1.weight": torch.zeros(64),
    }
    good = {
        "conv1.weight": np.zeros((64, 3, 7, 7)),
        "fc.weight": np.zeros((8631, 2048)),
        "bn1.weight": np.zeros(64),
    }
    check_state_dict(good, expected)  # num_batches_tracked may be absent
    bad = {
        "conv1.weight": np.zeros((64, 3, 7, 7)),
        "fc.weight": np.zeros((1000, 2048)),
        "extra.bias": np.zeros(3),
    }
    with pytest.raises(ValueError) as info:
        check_state_dict(bad, expected, source="w.pkl")
    text = str(info.value)
    assert "fc.weight: (1000, 2048) in w.pkl, (8631, 2048) in the model" in text
    assert "missing keys (1): bn1.weight" in text
    assert "unexpected keys (1): extra.bias" in text
