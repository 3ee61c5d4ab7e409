"""Train the gender classifier (ResNet-18) on aligned faces and write it to weights/.

Train: `gender/train` plus half of the labelled CelebA photos, with their labels, and the
unlabelled CelebA photos with the soft labels of a face-recogniser teacher (`teacher.py`: a
logistic regression on dlib face descriptors, fitted on that labelled half). The unlabelled
photos bring faces like the held-out ones, with the hair, light and pose of real photos.
Reported, never trained on: `gender/val`, and the other half of the labelled CelebA photos
(the held-out test set).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ..classify import CARD_KIND, CARD_NAME, CARD_VERSION, CLASSES, InputSpec, mirror_logits
from ..device import resolve_device
from ..resnet import ResNet18
from ..weights import write_card
from .augment import colour_jitter, degrade, jpeg, random_affine
from .facecache import FaceSet, default_cache_dir, prepare_faces
from .teacher import DescriptorTeacher, face_descriptors

CROP_SIZE = 192  # training crops: the classifier window is 144×154 pixels of them
MARGIN = 16  # crop pixels around the window for the random affine to draw from


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch_size: int = 96
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    ema_decay: float = 0.998
    teacher: bool = True  # unlabelled photos join, labelled by the descriptor teacher
    # the network's input, width × height (None: InputSpec's, sized for ≤ 10 ms a face at
    # batch 8 on a 2-core CPU); a GPU run may afford a finer one
    input_size: tuple[int, int] | None = None
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
    """Overall and per-class accuracy (percent) with mirror averaging, as the pipeline runs."""
    model.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(faces), batch_size):
            windows = spec.windows(np.asarray(faces.crops[start : start + batch_size]))
            x = spec.normalise(torch.from_numpy(windows).to(device))
            logits = mirror_logits(model, x)
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
    """Train, evaluate on the held-out sets, save fp16 weights and their card; return the card."""
    called = time.time()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    amp = autocast_dtype(device)
    spec = InputSpec()
    if config.input_size is not None:
        spec = replace(spec, width=config.input_size[0], height=config.input_size[1])
    cache_dir = Path(cache_dir or default_cache_dir())
    faces = prepare_faces(data, size=CROP_SIZE, cache_dir=cache_dir, quiet=quiet)
    train = faces.where("train")
    held_out = {"gender/val": faces.where("val"), "celeba held-out": faces.where("test")}
    progress_set = held_out["gender/val"].subset(np.arange(len(held_out["gender/val"])) % 4 == 0)

    region = _load_regions(train.crops, spec)
    targets = F.one_hot(torch.from_numpy(train.labels.astype(np.int64)), len(CLASSES)).float()
    teacher_record = None
    unlabelled = faces.where("unlabelled", labelled=False)
    if config.teacher and len(unlabelled):
        probabilities, teacher_record = _teacher_labels(
            train, unlabelled, held_out["celeba held-out"], cache_dir, quiet
        )
        region = np.concatenate([region, _load_regions(unlabelled.crops, spec)])
        targets = torch.cat([targets, torch.from_numpy(probabilities)])
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)

    # channels-last memory pays on GPUs; on the CPU's oneDNN it measured ~12 % slower here.
    layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = ResNet18(num_classes=len(CLASSES)).to(device).to(memory_format=layout)
    ema = AveragedModel(model, multi_avg_fn=warmed_up_ema(config.ema_decay), use_buffers=True)
    optimiser = torch.optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    started = time.time()
    for epoch in range(config.epochs):
        model.train()
        steps = math.ceil(len(region) / config.batch_size)
        order = torch.randperm(len(region), generator=generator)
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
        if not quiet:
            val = accuracy_table(ema.module, spec, progress_set, device)
            tqdm.write(
                f"epoch {epoch + 1}: accuracy {val['overall']:.2f} % on {len(progress_set)} "
                "gender/val faces (EMA weights)"
            )
    minutes = (time.time() - started) / 60

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
    joined = teacher_record["photos"] if teacher_record else 0
    card = {
        "architecture": "resnet18",
        "classes": [c.value for c in CLASSES],
        "input": asdict(spec),
        "precision": "float16",
        "training": {
            "data": f"{len(train)} aligned faces of gender/train and the 'train' half of labelled "
            f"CelebA (split by CRC32 of the file name), with their labels, plus {joined} "
            "unlabelled CelebA photos with the soft labels of the descriptor teacher",
            "teacher_model": teacher_record,
            "crop_size": CROP_SIZE,
            **asdict(config),
            "device": str(device),
            "autocast": str(amp) if amp else "none",
            "minutes": round(minutes, 1),  # the epochs
            # the whole call: aligning (unless cached), teacher descriptors, epochs, evaluation
            "minutes_total": round((time.time() - called) / 60, 1),
            "augmentation": "mirror, rotate ±8°, scale ±8%, shift ±5%, colour jitter, blur, "
            "resolution loss, noise, JPEG 20–80",
            "weights": "exponential moving average of the training weights "
            f"(decay {config.ema_decay}, warmed up)",
        },
        "accuracy_percent": results,
        "measured": "faceanon train classifier: held-out faces aligned by the pipeline's own "
        "detector/landmarks/align; prediction averaged with the mirror image; "
        "float16 weights as shipped",
    }
    write_card(out_dir, CARD_NAME, CARD_KIND, CARD_VERSION, weights_path, **card)
    return card


def _teacher_labels(
    train: FaceSet, unlabelled: FaceSet, test: FaceSet, cache_dir: Path, quiet: bool
) -> tuple[np.ndarray, dict]:
    """The descriptor teacher, fitted on the labelled CelebA photos of `train` (the gender/
    crops' labels are noisier: adding them measured no better), and its class probabilities
    for the unlabelled photos; with a record for the card (its own accuracy on `test` too)."""
    photos = train.subset(np.char.startswith(train.names.astype(str), "celeba/"))
    if len(photos) < 20 or len(np.unique(photos.labels)) < len(CLASSES):
        photos = train  # a data folder without (enough) labelled photos
    fitted_on = face_descriptors(photos, cache_dir, quiet=quiet)
    teacher = DescriptorTeacher.fit(fitted_on, photos.labels.astype(np.int64))
    probabilities = teacher.probabilities(face_descriptors(unlabelled, cache_dir, quiet=quiet))
    record = {
        "model": "logistic regression on dlib's 128-D face descriptors "
        "(dlib_face_recognition_resnet_model_v1)",
        "fitted_on": f"{len(photos)} labelled faces of the training split",
        "photos": len(unlabelled),
        "female_share": round(float(probabilities[:, 1].mean()), 4),
    }
    if len(test):
        verdicts = teacher.probabilities(face_descriptors(test, cache_dir, quiet=quiet))
        labels = test.labels.astype(int)
        right = verdicts.argmax(axis=1) == labels
        record["celeba_held_out_percent"] = {
            "overall": round(float(right.mean() * 100), 2),
            **{
                g.value: round(float(right[labels == i].mean() * 100), 2)
                for i, g in enumerate(CLASSES)
            },
        }
    if not quiet:
        tqdm.write(f"teacher: {len(unlabelled)} unlabelled photos labelled")
    return probabilities, record


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
