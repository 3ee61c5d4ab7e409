"""The pix2pixHD backend: published checkpoints load key for key; the full path runs on a tiny
generator; missing or wrong files fail with one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.errors import WeightsError
from pipeline.pix2pixhd import (
    CHECKPOINTS,
    GeneratorSettings,
    GlobalGenerator,
    Pix2PixHDSwapper,
    load_generator,
)
from pipeline.types import AlignedCrop, Alignment, Gender

TINY = GeneratorSettings(ngf=8, n_downsample=2, n_blocks=1, size=64)


def published_layout(ngf: int = 64, n_down: int = 4, n_blocks: int = 9) -> dict[str, tuple]:
    """Parameter names and shapes of pix2pixHD's GlobalGenerator (networks.py), written out
    from its layer list: pad, conv 7×7, norm, relu; per downsampling conv, norm, relu; resnet
    blocks (pad, conv, norm, relu, pad, conv, norm); per upsampling convT, norm, relu; pad,
    conv 7×7, tanh. Instance norm has no parameters."""
    layout: dict[str, tuple] = {}
    index = 1
    layout[f"model.{index}.weight"], layout[f"model.{index}.bias"] = (ngf, 3, 7, 7), (ngf,)
    index += 3
    for i in range(n_down):
        c = ngf * 2**i
        layout[f"model.{index}.weight"], layout[f"model.{index}.bias"] = (c * 2, c, 3, 3), (c * 2,)
        index += 3
    width = ngf * 2**n_down
    for _ in range(n_blocks):
        for conv in (1, 5):
            layout[f"model.{index}.conv_block.{conv}.weight"] = (width, width, 3, 3)
            layout[f"model.{index}.conv_block.{conv}.bias"] = (width,)
        index += 1
    for i in range(n_down):
        c = ngf * 2 ** (n_down - i)
        # ConvTranspose2d weights are (in, out, k, k)
        layout[f"model.{index}.weight"], layout[f"model.{index}.bias"] = (
            (c, c // 2, 3, 3),
            (c // 2,),
        )
        index += 3
    index += 1
    layout[f"model.{index}.weight"], layout[f"model.{index}.bias"] = (3, ngf, 7, 7), (3,)
    return layout


def test_default_generator_has_the_published_layout():
    with torch.device("meta"):
        generator = GlobalGenerator()
    ours = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    assert ours == published_layout()


@pytest.mark.slow
def test_a_full_size_checkpoint_loads_key_for_key(tmp_path):
    """Writes a freshly initialised full-size generator as a checkpoint (fp16, ~360 MB) and
    loads it the way a user's downloaded file would be loaded."""
    generator = GlobalGenerator()
    state = {k: v.half() for k, v in generator.state_dict().items()}
    path = tmp_path / CHECKPOINTS[Gender.MALE]
    torch.save(state, path)
    del generator, state
    loaded = load_generator(path, GeneratorSettings())
    assert sum(p.numel() for p in loaded.parameters()) > 100_000_000


def tiny_checkpoints(folder, prefix: str = "") -> None:
    torch.manual_seed(0)
    for name in CHECKPOINTS.values():
        state = GlobalGenerator(TINY).state_dict()
        torch.save({prefix + k: v for k, v in state.items()}, folder / name)
    (folder / "pix2pixhd.json").write_text(
        json.dumps({"ngf": 8, "n_downsample": 2, "n_blocks": 1, "size": 64})
    )


def crop(seed: int, size: int = 96) -> AlignedCrop:
    image = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    eye = np.eye(2, 3)
    return AlignedCrop(image, np.zeros((68, 2), np.float32), Alignment(size, eye, eye))


def test_tiny_generators_swap_a_batch_in_both_directions(tmp_path):
    tiny_checkpoints(tmp_path, prefix="module.")  # DataParallel-saved files load too
    swapper = Pix2PixHDSwapper.load(tmp_path, device="cpu")
    crops = [crop(i) for i in range(3)]
    out = swapper.swap(crops, [Gender.MALE, Gender.FEMALE, Gender.MALE])
    assert len(out) == 3
    for before, after in zip(crops, out, strict=True):
        assert after.image.shape == before.image.shape and after.image.dtype == np.uint8
        assert after.alignment is before.alignment
        assert not np.array_equal(after.image, before.image)
        assert after.mask is not None and after.mask.max() > 0.99 and after.mask[0, 0] < 0.01
    # strength 0 keeps the input
    kept = swapper.swap(crops[:1], [Gender.MALE], strength=0.0)[0]
    assert np.array_equal(kept.image, crops[0].image)


def test_missing_folder_or_files_fail_clearly(tmp_path):
    with pytest.raises(WeightsError, match="--weights-dir"):
        Pix2PixHDSwapper.load(None)
    with pytest.raises(WeightsError, match=r"to_female_net_G\.pth"):
        Pix2PixHDSwapper.load(tmp_path)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    tiny_checkpoints(tmp_path)
    (tmp_path / "pix2pixhd.json").unlink()  # now the default (published) settings are expected
    with pytest.raises(WeightsError, match="not a pix2pixHD global generator"):
        Pix2PixHDSwapper.load(tmp_path)
