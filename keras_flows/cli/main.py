"""`keras-flows` command line: `train` a recipe into a run folder, `sample` from
one, `manipulate` images along an attribute's direction with one. A mistake is
one line and exit status 2; Keras starts only once a command runs."""

import argparse
import importlib
import sys
import warnings

from keras_flows.cli import flags
from keras_flows.cli.flags import UserError
from keras_flows.recipes.registry import NAMES
from keras_flows.startup import quiet_start
from keras_flows.training import run_folder


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
    default = "(default: %(default)s)"
    sample.add_argument(
        "--temperature",
        type=flags.temperature,
        help="the std of the prior draw: 1 is the model's own distribution, "
        "lower values give cleaner, less varied samples, 0 the single most "
        "likely one (default: the temperature the run's training drew at)",
    )
    sample.add_argument(
        "--grid",
        type=flags.positive_int,
        help="N x N samples (default: the run's training grid)",
    )
    sample.add_argument(
        "--seed",
        type=int,
        help="seed of the draw: the same seed draws the same noise at every "
        "temperature (default: a new draw each time)",
    )
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
        type=flags.positive_int,
        default=4,
        help="images to move, one row each: half without the attribute, half "
        f"with it {default}",
    )
    manipulate.add_argument(
        "--strengths",
        type=flags.numbers,
        default="-1,-0.5,0,0.5,1",
        help=f"multiples of the direction, one column each {default}",
    )
    manipulate.add_argument(
        "--limit",
        type=flags.positive_int,
        default=1000,
        help=f"images per side for the direction {default}",
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
    try:
        name = run_folder.stored_run(argv[index])["recipe"]
    except ValueError as error:
        raise UserError(str(error)) from None
    return [*argv[:at], name, *argv[at:]]


def main(argv=None):
    """`keras-flows`: a Ctrl-C at any moment (even while TensorFlow imports) is
    one line and exit status 130; `train` says what its run folder kept."""
    try:
        _main(argv)
    except KeyboardInterrupt:
        print("\nkeras-flows: stopped by the user.", file=sys.stderr)
        raise SystemExit(130) from None


def _main(argv):
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--strengths" in argv[:-1]:  # `--strengths -1,0,1` is not a flag
        at = argv.index("--strengths")
        argv[at : at + 2] = [f"--strengths={argv[at + 1]}"]
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            args, unknown = parser.parse_known_args(_with_stored_model(argv))
            if unknown:
                where = f"{args.command} {getattr(args, 'model', '')}".rstrip()
                parser.exit(
                    2,
                    f"keras-flows {where}: error: no such flag or argument: "
                    f"{' '.join(unknown)} (see keras-flows {where} --help)\n",
                )
            if not args.verbose:
                quiet_start()  # TensorFlow's start-up lines and retracing notes
            importlib.import_module(f"keras_flows.cli.{args.command}").run(args)
        except (UserError, FileNotFoundError) as error:  # e.g. no run folder there
            parser.exit(2, f"keras-flows: error: {error}\n")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr (no source line, no file name)."""
    print(f"keras-flows: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    main()
