"""What a default `keras-flows train MODEL` costs on this machine: the `Cost:`
line of each recipe's `--help` (docs/results.md, "What a run costs").

Each recipe runs as a user runs it, `keras-flows train MODEL --epochs 2` with
its defaults, in a fresh process, the run folder in a temporary directory. From
the run: the wall time of the whole command (start-up, tracing, the epochs,
the held-out numbers and pictures at the end), the median seconds of an epoch
(`metrics.json`), and from them the estimate for the recipe's default epochs:
`wall + (default epochs - 2) x epoch seconds`. With `--folder-size 64`, Glow and
f-VAE also run on a folder of 256 random 64x64 RGB images (the default image
size for a folder) to give the seconds per step at CelebA's size.

    python bench/recipe_cost.py                      # about 15 min
    python bench/recipe_cost.py --models nice,realnvp
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Record, arguments, print_table

MODELS = ("nice", "realnvp", "glow", "fvae")


def run_recipe(name, out, extra=()):
    """Wall seconds and metrics of `keras-flows train name --epochs 2`."""
    command = [sys.executable, "-m", "keras_flows", "train", name, "--epochs", "2",
               "--out", str(out), *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    return wall, metrics


def image_folder(path, count=256, size=64):
    import imageio.v3 as iio
    import numpy as np

    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = rng.integers(0, 256, (size, size, 3), "uint8")
        iio.imwrite(path / f"{i:04d}.png", image)
    return path


def main():
    parser = arguments(__doc__)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--folder-size", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_flows.recipes import declared

    record = Record("recipe_cost", {"models": args.models, "epochs_run": 2})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.models.split(","):
            defaults = declared(name).defaults
            wall, metrics = run_recipe(name, tmp / name)
            epoch_s = metrics["seconds_per_epoch"]
            rows.append({
                "model": name,
                "data": "default (offline stand-in)",
                "train_size": metrics.get("train_size"),
                "batch": defaults["batch_size"],
                "wall_2_epochs_s": round(wall, 1),
                "epoch_s": round(epoch_s, 1),
                "default_epochs": defaults["epochs"],
                "default_run_min": round(
                    (wall + (defaults["epochs"] - 2) * epoch_s) / 60, 1
                ),
            })  # fmt: skip
            if name in ("glow", "fvae") and args.folder_size:
                folder = tmp / "images"
                if not folder.exists():
                    image_folder(folder, size=args.folder_size)
                size = str(args.folder_size)
                wall, metrics = run_recipe(
                    name, tmp / f"{name}_folder", ["--data", str(folder),
                                                   "--image-size", size]
                )  # fmt: skip
                steps = metrics["train_size"] // defaults["batch_size"]
                rows.append({
                    "model": name,
                    "data": f"{args.folder_size}x{args.folder_size} RGB folder",
                    "train_size": metrics["train_size"],
                    "batch": defaults["batch_size"],
                    "wall_2_epochs_s": round(wall, 1),
                    "epoch_s": round(metrics["seconds_per_epoch"], 1),
                    "s_per_step": round(metrics["seconds_per_epoch"] / steps, 2),
                })  # fmt: skip
    columns = {"model": "", "data": "", "train_size": "", "batch": ""}
    columns.update(wall_2_epochs_s="", epoch_s="", default_run_min="", s_per_step="")
    print_table(rows, columns)
    record.write(rows)


if __name__ == "__main__":
    main()
