"""`keras-flows` command line: train a recipe into a run folder, sample from one,
move images along an attribute's direction with one.

keras-flows train {nice,realnvp,glow,fvae} [--epochs N] [--batch-size B]
                  [--data PATH] [--out DIR] [--resume DIR] [--overwrite]
                  [--devices N|all] [--precision P] [the recipe's own flags]
keras-flows train --resume DIR [flags to change]
keras-flows sample DIR [--temperature T] [--grid N] [--seed S] [--out PNG]
keras-flows manipulate DIR --data FOLDER --attributes FILE --attribute NAME
                  [--rows R] [--strengths S,S,...] [--limit N] [--out PNG]

`keras-flows train MODEL --help` lists that recipe's flags with its defaults
and what a default run costs (`keras_flows.cli.flags`). Every argument is
checked before anything is created: a mistake gets one line and exit status 2.
Warnings are one line each. Heavy modules (Keras, TensorFlow) are imported only
once a command runs, so `--help` is instant.

`--devices N|all` trains data-parallel (`keras_flows.training.devices`):
`MirroredStrategy` on TensorFlow, `keras.distribution.DataParallel` on JAX;
`--batch-size` is the global batch. With a `TF_CONFIG` cluster every worker runs
the same command (`MultiWorkerMirroredStrategy`) and only the chief writes the
run folder (see docs/multi_device.md).
"""

import argparse
import contextlib
import json
import os
import pathlib
import sys
import warnings

from keras_flows.cli import flags
from keras_flows.cli.flags import UserError
from keras_flows.recipes import NAMES
from keras_flows.training import devices as device_setup


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line, without the usage block before them."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(
        prog="keras-flows",
        description="Flow models (NICE, RealNVP, Glow, f-VAE) in Keras 3: train a "
        "model into a run folder, draw samples from one, move images along an "
        "attribute's direction with one.",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up logs"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a model, write a run folder",
        description="Train a recipe into a run folder; `keras-flows train MODEL "
        "--help` lists its flags, defaults and cost.",
    )
    flags.add_train_commands(train)
    sample = commands.add_parser("sample", help="draw samples from a run folder")
    sample.add_argument("run", help="a run folder written by `train`")
    sample.add_argument(
        "--temperature", type=flags.temperature, default=0.75, help="(default: 0.75)"
    )
    sample.add_argument(
        "--grid", type=flags.positive(int), default=15, help="N x N (default: 15)"
    )
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--out", help="PNG path (default: RUN/sample_T{T}.png)")
    manipulate = commands.add_parser(
        "manipulate",
        help="move images along an attribute's direction in the latent",
        description="The Glow paper's manipulation: the direction from the mean "
        "code of images without an attribute to those with it (CelebA's "
        "list_attr_celeba.txt), added at each strength to the codes of other "
        "images, decoded exactly; one row per image.",
    )
    manipulate.add_argument("run", help="a run folder written by `train`")
    manipulate.add_argument("--data", required=True, help="the image folder")
    manipulate.add_argument(
        "--attributes", required=True, help="the attribute file (list_attr_celeba.txt)"
    )
    manipulate.add_argument("--attribute", required=True, help="e.g. Smiling, Young")
    manipulate.add_argument(
        "--rows",
        type=flags.positive(int),
        default=4,
        help="images to move, one row each: half without the attribute, half "
        "with it (default: 4)",
    )
    manipulate.add_argument(
        "--strengths",
        type=flags.numbers,
        default=[-1.0, -0.5, 0.0, 0.5, 1.0],
        help="multiples of the direction, one column each (default: -1,-0.5,0,0.5,1)",
    )
    manipulate.add_argument(
        "--limit",
        type=flags.positive(int),
        default=1000,
        help="images per side for the direction (default: 1000)",
    )
    manipulate.add_argument("--out", help="PNG path (default: RUN/ATTRIBUTE.png)")
    return parser


def _with_stored_model(argv):
    """`train --resume DIR ...` without the model: the model from DIR/run.json."""
    if "train" not in argv or {"-h", "--help"} & set(argv):
        return argv
    at = argv.index("train") + 1
    if "--resume" not in argv:
        if at < len(argv) and argv[at].startswith("-"):
            raise UserError(
                f"train needs the model first: keras-flows train "
                f"{{{','.join(NAMES)}}} [flags]"
            )
        return argv
    index = argv.index("--resume") + 1
    if at < len(argv) and argv[at] in NAMES or index >= len(argv):
        return argv  # the model is given, or argparse says --resume needs a value
    run = pathlib.Path(argv[index])
    try:
        name = json.loads((run / "run.json").read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"cannot resume {run}: no readable run.json in it") from None
    return [*argv[:at], name, *argv[at:]]


@contextlib.contextmanager
def _stderr_to_devnull():
    """File descriptor 2 to /dev/null for a while (C++ writes included)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _with_stored_model(argv)
    except UserError as error:
        parser.exit(2, f"keras-flows: error: {error}\n")
    if "--strengths" in argv[:-1]:  # `--strengths -1,0,1` is not a flag
        at = argv.index("--strengths")
        argv[at : at + 2] = [f"--strengths={argv[at + 1]}"]
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        where = f"train {args.model}" if args.command == "train" else args.command
        parser.exit(
            2,
            f"keras-flows {where}: error: no such flag or argument: "
            f"{' '.join(unknown)} (see keras-flows {where} --help)\n",
        )
    if not args.verbose:
        # Hide TensorFlow's start-up lines (CUDA probing on a CPU machine, oneDNN).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if device_setup.backend_name() == "tensorflow":
            with _stderr_to_devnull():  # TF 2.21 logs these before reading it
                import tensorflow  # noqa: F401
    from keras_flows.cli import manipulate, sample, train

    commands = {"train": train.run, "sample": sample.run, "manipulate": manipulate.run}
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            commands[args.command](args)
        except UserError as error:
            parser.exit(2, f"keras-flows: error: {error}\n")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr (no source line, no file name)."""
    print(f"keras-flows: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    main()
