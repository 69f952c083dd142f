"""Helpers the test folders share: synthetic data, stored runs, CLI calls, drawn digits and
the check every quick experiment must pass. (``tests/`` is on ``sys.path``: pytest puts the
root conftest's folder there.)"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from threefigures.cli import main
from threefigures.config import ModelConfig, RunConfig, TrainConfig
from threefigures.runs.store import Store


def make_synthetic(n_train: int = 600, n_test: int = 200, classes: int = 10, seed: int = 0):
    """Each class is a bright 6×6 block at its own place, plus noise: learnable in an epoch."""
    from threefigures.data import Dataset

    gen = torch.Generator().manual_seed(seed)

    def part(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % classes
        images = torch.randint(0, 60, (n, 28, 28), generator=gen).float()
        for c in range(classes):
            row, col = 3 + 7 * (c // 4), 3 + 7 * (c % 4)
            images[labels == c, row : row + 6, col : col + 6] += 180
        return images.clamp(0, 255).to(torch.uint8), labels

    train_x, train_y = part(n_train)
    test_x, test_y = part(n_test)
    return Dataset(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=[f"c{i}" for i in range(classes)],
        source="synthetic blocks (tests)",
    )


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def digit_image(
    path: Path, *, dark_on_light: bool = True, size=(280, 280), mode="RGB", offset=(0, 0)
) -> Path:
    ink, paper = ((20, 20, 20), (235, 235, 230)) if dark_on_light else ((250, 250, 250), (5, 5, 5))
    img = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(img)
    w, h = size
    cx, cy = w // 2 + offset[0], h // 2 + offset[1]
    r = min(w, h) // 4
    draw.line(
        [(cx - r, cy - r), (cx + r, cy - r), (cx - r // 3, cy + r)], fill=ink, width=max(2, r // 4)
    )
    if mode == "RGBA":
        img = img.convert("RGBA")
    img.save(path)
    return path


def untrained_run(store: Store, run_id: str, model: ModelConfig, folder: Path) -> str:
    """A finished-looking run of an untrained model, in the run-folder format (config.json
    + model.safetensors): seconds cheaper than training when only the plumbing is tested."""
    import torch

    from threefigures.models import create_model
    from threefigures.runs.checkpoint import save_weights
    from threefigures.runs.folder import WEIGHTS_FILE, write_run_config

    config = RunConfig(model=model, train=TrainConfig(epochs=1, device="cpu"))
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_weights(create_model(model.name, model), folder / WEIGHTS_FILE)
    classes = [str(i) for i in range(model.num_classes)]
    write_run_config(folder, run_id, config, classes)
    store.create_run(
        config=config.to_dict(),
        data_name="untrained",
        model_name=model.name,
        epochs=1,
        run_dir=folder,
        info={"classes": classes},
        run_id=run_id,
    )
    store.set_status(run_id, "interrupted")  # never `latest`
    return run_id


VERDICT_LABELS = ("holds", "does not hold here", "mixed")


def check_experiment_written(name: str, out: Path, store: Any) -> dict:
    """What every experiment run in quick mode must leave: its figure, table.md and a
    result.json whose verdict counts its comparisons, and every network it trained stored as
    a finished run with its weights. Returns the result.json."""
    import json

    from PIL import Image

    from threefigures.runs.folder import WEIGHTS_FILE

    folder = out / name
    with Image.open(folder / f"{name}.png") as img:
        img.verify()
    with Image.open(folder / f"{name}.png") as img:
        assert img.width > 400 and img.height > 300
    result = json.loads((folder / "result.json").read_text())
    assert result["verdict"]["label"] in VERDICT_LABELS
    assert result["quick"] is True and result["seeds"] == [0]
    assert (folder / "table.md").read_text().startswith("| ")
    outcomes = [c["outcome"] for c in result["comparisons"]]
    assert outcomes and result["verdict"]["supports"] == outcomes.count("supports")
    assert result["verdict"]["contradicts"] == outcomes.count("contradicts")
    runs = store.list_runs()
    assert runs and len(runs) == len(result["runs"])
    assert all(r.status == "finished" and r.info["experiment"] == name for r in runs)
    assert all((r.run_dir / WEIGHTS_FILE).exists() for r in runs)
    return result


REVIEWS_HEADER = "\tdrugName\tcondition\treview\trating\tdate\tusefulCount\n"


def small_reviews_zip(path: Path, n_train: int = 60, n_test: int = 30) -> Path:
    """The first reviews of the real zip, written back in its own format."""
    from threefigures.data.text import REVIEW_CLASSES, read_reviews, reviews_zip

    parts = read_reviews(reviews_zip())

    def tsv(rows: list[tuple[str, int]]) -> str:
        lines = [
            f'{i}\tDrug\tPain\t"""{text}"""\t{REVIEW_CLASSES[c]}\tMay 1, 2012\t3'
            for i, (text, c) in enumerate(rows)
        ]
        return REVIEWS_HEADER + "\n".join(lines) + "\n"

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("drugsComTrain.tsv", tsv(parts["train"][:n_train]))
        archive.writestr("drugsComTest.tsv", tsv(parts["test"][:n_test]))
    return path
