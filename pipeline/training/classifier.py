"""Train the gender classifier (ResNet-18) on aligned faces and write it to weights/.

Train: `gender/train` and every CelebA photo not held out, with CelebA's own `Male` label,
aligned by the pipeline's own detect → landmarks → align path. The photos are seen
`celeba_repeat` times an epoch: they are the kind of face users give the tool (whole photos,
real light and pose), where the `gender/` crops are tight and padded. Reported, never trained
on: `gender/val` and the held-out CelebA photos (`dataset.held_out_photos`, listed on the card).

A run saves a checkpoint after every epoch; the same command resumes it where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ..classify import CARD_KIND, CARD_NAME, CARD_VERSION, CLASSES, InputSpec, load_weights
from ..device import resolve_device
from ..resnet import ResNet18
from ..weights import user_cache_dir, write_card
from .augment import colour_jitter, degrade, jpeg, random_affine
from .dataset import HELD_OUT_FRACTION, HELD_OUT_SEED, PHOTO, kind_of, list_sources
from .facecache import FaceSet, prepare_faces

CROP_SIZE = 192  # training crops: the classifier window is 144×154 pixels of them
MARGIN = 16  # crop pixels around the window for the random affine to draw from


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 96
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    ema_decay: float = 0.998
    celeba_repeat: int = 2  # each training CelebA photo is seen this often an epoch
    # the network's input, width × height (None: InputSpec's, sized for ≤ 10 ms a face at
    # batch 8 on a 2-core CPU); a GPU run may afford a finer one
    input_size: tuple[int, int] | None = None
    # start from these classifier weights (a .pt file) instead of random ones: a fine-tune,
    # e.g. at a finer input, with a lower learning rate
    init: Path | None = None
    seed: int = 1234
    device: str = "auto"


def learning_rate(peak: float, progress: float, warmup: float = 0.1) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero, over training progress 0–1."""
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def warmed_up_ema(decay: float):
    """An AveragedModel update whose decay grows as min(decay, (1 + n) / (10 + n)), so the
    average follows the fast early changes instead of remembering the random start."""

    def update(
        averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor | int
    ) -> None:
        step = int(n)
        rate = min(decay, (1 + step) / (10 + step))
        floats = [(a, c) for a, c in zip(averaged, current, strict=True) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1 - rate)
        for a, c in zip(averaged, current, strict=True):
            if not a.is_floating_point():
                a.copy_(c)

    return update


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Reduced precision on a GPU; None on the CPU, where bfloat16 measured no faster than
    float32 even with AVX-512 BF16 (0.63 against 0.55 s a step of 96 faces, 2 cores)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def accuracy_table(
    model: ResNet18, spec: InputSpec, faces: FaceSet, device: torch.device, batch_size: int = 256
) -> dict[str, float]:
    """Overall and per-class accuracy (percent), one pass a face, as the pipeline runs."""
    model.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(faces), batch_size):
            windows = spec.windows(np.asarray(faces.crops[start : start + batch_size]))
            x = spec.normalise(torch.from_numpy(windows).to(device))
            logits = model(x)
            predictions.append(logits.argmax(1).cpu().numpy())
    predicted = np.concatenate(predictions) if predictions else np.zeros(0, int)
    labels = faces.labels.astype(int)
    table = {"overall": float((predicted == labels).mean() * 100), "count": len(labels)}
    for index, gender in enumerate(CLASSES):
        mine = labels == index
        table[gender.value] = float((predicted[mine] == index).mean() * 100)
    return table


def train_classifier(
    data: Path,
    out_dir: Path,
    config: TrainConfig = TrainConfig(),
    cache_dir: Path | None = None,
    quiet: bool = False,
) -> dict:
    """Train (resuming a stopped run of the same config and data), evaluate on the held-out
    sets, save fp16 weights and their card; return the card."""
    called = time.time()
    # read before anything is written: the output may replace the starting weights
    init = _init_entry(config.init) if config.init is not None else None
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    amp = autocast_dtype(device)
    spec = InputSpec()
    if config.input_size is not None:
        spec = replace(spec, width=config.input_size[0], height=config.input_size[1])
    cache_dir = Path(cache_dir or user_cache_dir())
    faces = prepare_faces(data, size=CROP_SIZE, cache_dir=cache_dir, quiet=quiet)
    train = faces.where("train")
    held_out = {"gender/val": faces.where("val"), "celeba held-out": faces.where("test")}
    progress_set = held_out["gender/val"].subset(np.arange(len(held_out["gender/val"])) % 4 == 0)

    photos = np.array([kind_of(str(n)) == PHOTO for n in train.names])
    seen = np.concatenate(
        [np.arange(len(train))] + [np.flatnonzero(photos)] * (config.celeba_repeat - 1)
    )
    region = _load_regions(train.crops, spec)
    targets = F.one_hot(torch.from_numpy(train.labels.astype(np.int64)), len(CLASSES)).float()
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)

    # channels-last memory pays on GPUs; on the CPU's oneDNN it measured ~12 % slower here.
    layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = ResNet18(num_classes=len(CLASSES))
    if config.init is not None:
        load_weights(model, config.init)
    model = model.to(device).to(memory_format=layout)
    ema = AveragedModel(model, multi_avg_fn=warmed_up_ema(config.ema_decay), use_buffers=True)
    optimiser = torch.optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    key = _run_key(config, spec, train, init["sha256"] if init else None)
    checkpoint = Checkpoint(cache_dir / f"classifier-{key}.ckpt")
    first_epoch, minutes_before = checkpoint.restore(model, ema, optimiser, generator, rng, device)
    if first_epoch and not quiet:
        tqdm.write(f"resuming after epoch {first_epoch} from {checkpoint.path}")
    started = time.time()
    for epoch in range(first_epoch, config.epochs):
        model.train()
        steps = math.ceil(len(seen) / config.batch_size)
        order = torch.from_numpy(seen)[torch.randperm(len(seen), generator=generator)]
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=quiet)
        for step in bar:
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(
                    config.learning_rate, (epoch + step / steps) / config.epochs
                )
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            pixels = jpeg(region[batch.numpy()], rng)
            x = torch.from_numpy(pixels).flip(-1).permute(0, 3, 1, 2).float().div_(255)
            x = random_affine(x, (spec.height, spec.width), generator)
            x = degrade(colour_jitter(x, generator), generator)
            x = ((x - mean) / std).to(device).contiguous(memory_format=layout)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = model(x)
            loss = F.cross_entropy(
                logits.float(), targets[batch].to(device), label_smoothing=config.label_smoothing
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            ema.update_parameters(model)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        elapsed = minutes_before + (time.time() - started) / 60
        checkpoint.save(epoch + 1, elapsed, model, ema, optimiser, generator, rng)
        if not quiet:
            val = accuracy_table(ema.module, spec, progress_set, device)
            tqdm.write(
                f"epoch {epoch + 1}: accuracy {val['overall']:.2f} % on {len(progress_set)} "
                f"gender/val faces (EMA weights), {elapsed:.1f} min so far"
            )
    minutes = minutes_before + (time.time() - started) / 60

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{CARD_NAME}.pt"
    final = ema.module.cpu().to(memory_format=torch.contiguous_format)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in final.state_dict().items()}
    torch.save(state, weights_path)
    # Measure the half-precision weights exactly as the pipeline will load them.
    reloaded = ResNet18(num_classes=len(CLASSES))
    reloaded.load_state_dict({k: v.float() for k, v in state.items()})
    results = {
        name: accuracy_table(reloaded, spec, subset, torch.device("cpu"))
        for name, subset in held_out.items()
    }
    held_out_files = sorted(s.path.name for s in list_sources(data) if s.split == "test")
    card = {
        "architecture": "resnet18",
        "classes": [c.value for c in CLASSES],
        "input": asdict(spec),
        "precision": "float16",
        "training": {
            "command": _command(config, spec),
            "data": f"{len(train)} aligned faces: {int((~photos).sum())} of gender/train and "
            f"{int(photos.sum())} CelebA photos (not held out) with CelebA's Male attribute, "
            f"the photos seen {config.celeba_repeat}x an epoch",
            "crop_size": CROP_SIZE,
            **{k: v for k, v in asdict(config).items() if k != "init"},
            **({"init": init} if init is not None else {}),
            "device": str(device),
            "autocast": str(amp) if amp else "none",
            "minutes": round(minutes, 1),  # the epochs
            # the whole call: aligning (unless cached), epochs, evaluation
            "minutes_total": round((time.time() - called) / 60, 1),
            "augmentation": "mirror, rotate ±8°, scale ±8%, shift ±5%, colour jitter, blur, "
            "resolution loss, noise, JPEG 20–80",
            "weights": "exponential moving average of the training weights "
            f"(decay {config.ema_decay}, warmed up)",
        },
        "held_out": {
            "rule": "per class, the labels.csv photos with an odd CRC32 of their name, plus a "
            f"seeded random draw (numpy default_rng({HELD_OUT_SEED})) of the other photos up to "
            f"{HELD_OUT_FRACTION:.0%} of the class; gender/val is held out too",
            "celeba_photos": len(held_out_files),
            "aligned": len(held_out["celeba held-out"]),
            "files": held_out_files,
        },
        "accuracy_percent": results,
        "measured": "faceanon train classifier: held-out faces aligned by the pipeline's own "
        "detector/landmarks/align (photos where no face was found are not counted here; "
        "benchmarks/classifier.py counts them); one pass a face, as the pipeline runs; "
        "float16 weights as shipped",
    }
    write_card(out_dir, CARD_NAME, CARD_KIND, CARD_VERSION, weights_path, **card)
    checkpoint.remove()
    return card


def _command(config: TrainConfig, spec: InputSpec) -> str:
    """The command line that repeats this run (the data folder as DATA)."""
    words = ["faceanon train classifier --data DATA"]
    if config.epochs != TrainConfig.epochs:
        words.append(f"--epochs {config.epochs}")
    if config.seed != TrainConfig.seed:
        words.append(f"--seed {config.seed}")
    if config.input_size is not None:
        words.append(f"--input {spec.width}x{spec.height}")
    if config.learning_rate != TrainConfig.learning_rate:
        words.append(f"--learning-rate {config.learning_rate:g}")
    if config.init is not None:
        words.append(f"--init {config.init.name}")
    return " ".join(words)


def _init_entry(path: Path) -> dict:
    """What a fine-tune started from: the file's digest and, from the card beside it, the
    command that made it (so the chain of runs can be repeated)."""
    entry = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    card = path.with_suffix(".json")
    if card.is_file():
        training = json.loads(card.read_text()).get("training", {})
        entry["command"] = training.get("command")
        entry["init"] = training.get("init")
    return entry


class Checkpoint:
    """A training run's state after its last whole epoch, in one file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, epoch, minutes, model, ema, optimiser, generator, rng) -> None:
        state = {
            "epoch": epoch,
            "minutes": minutes,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "optimiser": optimiser.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": rng.bit_generator.state,
        }
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        os.replace(partial, self.path)

    def restore(self, model, ema, optimiser, generator, rng, device) -> tuple[int, float]:
        """Load the saved state into the given objects: (epochs done, minutes spent); (0, 0)
        when there is nothing to resume."""
        if not self.path.is_file():
            return 0, 0.0
        state = torch.load(self.path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        rng.bit_generator.state = state["numpy_rng"]
        return int(state["epoch"]), float(state["minutes"])

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _run_key(config: TrainConfig, spec: InputSpec, train: FaceSet, init_sha256: str | None) -> str:
    """What makes two runs the same run: their config (but the device), input and faces."""
    fields = {k: v for k, v in asdict(config).items() if k not in ("device", "init")}
    if init_sha256 is not None:  # the starting weights themselves, wherever they lie
        fields["init"] = init_sha256
    digest = hashlib.sha256(json.dumps([fields, asdict(spec)], sort_keys=True).encode())
    for name, label in zip(train.names, train.labels, strict=True):
        digest.update(f"{name}|{label}\n".encode())
    return digest.hexdigest()[:16]


def _margins(spec: InputSpec) -> tuple[int, int]:
    """The MARGIN crop pixels in network-input pixels, vertically and horizontally."""
    x0, y0, x1, y1 = spec.pixel_window(CROP_SIZE)
    return round(MARGIN * spec.height / (y1 - y0)), round(MARGIN * spec.width / (x1 - x0))


def _load_regions(crops, spec: InputSpec, chunk: int = 2048) -> np.ndarray:
    """Every crop's window plus MARGIN, area-resized (as at run time) so that the window is
    exactly the network's input size: (n, height + 2·my, width + 2·mx, 3) uint8 in memory."""
    x0, y0, x1, y1 = spec.pixel_window(CROP_SIZE)
    my, mx = _margins(spec)
    size = (spec.width + 2 * mx, spec.height + 2 * my)
    out = np.empty((len(crops), size[1], size[0], 3), np.uint8)
    for start in range(0, len(crops), chunk):
        rows = np.asarray(crops[start : start + chunk])
        for i, crop in enumerate(rows, start):
            region = crop[y0 - MARGIN : y1 + MARGIN, x0 - MARGIN : x1 + MARGIN]
            out[i] = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    return out
