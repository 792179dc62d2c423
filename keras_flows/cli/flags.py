"""The command line's flags: one `train` sub-command per recipe, with the flags
its `train` takes, each showing the recipe's default (`recipes.declared`). A flag
not given parses to `None`, so `--resume` keeps the stored option."""

import argparse
import shlex
import textwrap

from keras_flows.recipes.registry import NAMES, declared
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

# How the command line parses each recipe option (what it means: the registry's
# `HELP`); any other takes a whole number > 0.
FLAGS = {
    "out": dict(metavar="DIR"),
    "data": dict(metavar="PATH"),
    "learning_rate": dict(type=positive(float)),
    "decay": dict(action="store_true"),
    "seed": dict(type=int),
    "precision": dict(choices=("auto", "float32", "bfloat16", "float16")),
    "temperature": dict(type=temperature),
    "noise": dict(choices=("blog", "dequantize")),
    "coupling": dict(choices=("additive", "affine")),
    "permutation": dict(choices=("random", "reverse", "conv1x1")),
    "actnorm_data_init": dict(action="store_true"),
    "conditional": dict(action="store_true"),
}
# Where a flag parses differently for one recipe.
PER_RECIPE = {("fvae", "depth"): dict(type=count)}

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
        if recipe.quick:
            variants = "".join(
                f"; with --{flag}: {as_flags(variant)}"
                for flag, variant in recipe.quick_with.items()
            )
            parser.add_argument(
                "--quick",
                action="store_true",
                help=f"{recipe.quick_cost}: {as_flags(recipe.quick)}{variants} "
                "(flags given as well win)",
            )
        group = parser.add_argument_group(f"{name} options (default: the recipe's)")
        for key, default in recipe.defaults.items():
            if key in NOT_FLAGS:
                continue
            spec = PER_RECIPE.get((name, key)) or FLAGS.get(key, {"type": positive_int})
            text = recipe.flag_help(key)
            if default is not None and spec.get("action") != "store_true":
                text += f" (default: {default})"
            flag = "--" + key.replace("_", "-")
            group.add_argument(flag, dest=key, default=None, help=text, **spec)


def as_flags(options):
    """`options` as the flags that set them, e.g. `--epochs 3 --decay`."""
    words = []
    for key, value in options.items():
        if key == "resume" or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


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
