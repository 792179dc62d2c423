"""`keras-flows` command line: train a recipe into a run folder, sample from one.

keras-flows train {nice,realnvp,glow,fvae} [--epochs N] [--batch-size B] [--data PATH]
                  [--out DIR] [--resume DIR] [--devices N|all] [--limit N]
                  [--patience N] [--learning-rate LR] [--seed S]
                  [--noise {blog,dequantize}] [--hidden-units H] [--image-size S]
                  [--levels L] [--depth K] [--hidden-channels C] [--coupling C]
                  [--permutation P] [--n-bits N] [--actnorm-data-init]
                  [--precision {float32,bfloat16,float16}] [--verbose]
keras-flows sample DIR [--temperature T] [--grid N] [--seed S] [--out PNG]

Every argument is checked before anything is created: a mistake gets one line
and exit status 2. Heavy modules (Keras, TensorFlow) are imported only once a
command runs, so `--help` is instant.

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
import shutil
import sys
import tempfile
import warnings

from keras_flows import checks
from keras_flows.checks import IMAGE_EXTENSIONS
from keras_flows.training import devices as device_setup
from keras_flows.training.run_folder import read_state, write_json

RECIPES = ("nice", "realnvp", "glow", "fvae")
FOLDER_DATA = ("glow", "fvae")  # recipes whose --data is an image folder

# What each number a recipe prints means, said once, for a newcomer.
LEGEND = {
    "test_nll_nats": "negative log-likelihood of held-out data in nats per "
    "sample (lower is better; the loss `fit` minimises), at the held-out data "
    "plus one seeded draw of the training noise, the same points as bits/dim",
    "test_blog_loss": "the same NLL without the constant 0.5*D*log(2*pi): "
    "the number the NICE blog prints",
    "test_bits_per_dim": "the same NLL in bits per pixel of the 8-bit data, "
    "(NLL + D*ln 256/(high-low)) / (D*ln 2), the unit of the papers (NICE 4.36, "
    "RealNVP 1.06, Glow 1.05 on full MNIST); a valid bound only with "
    "dequantisation noise",
    "test_nll_nats_original_units": "the held-out NLL for the moons in their "
    "original (unstandardised) coordinates",
    "test_elbo_bits_per_dim": "f-VAE's bits/dim from its evidence lower bound: "
    "an upper bound on the true bits/dim (an exact flow's is the value itself)",
    "test_iwae_bits_per_dim": "the same from the importance-weighted bound with "
    "iwae_samples draws: tighter (lower) than the ELBO's",
    "best_epoch": "the epoch whose weights were kept (best validation loss)",
}


class UserError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line, without the usage block before them."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _temperature(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"the temperature is the std of the prior draw and must be >= 0, got {text}"
        )
    return value


def _devices(text):
    try:
        return device_setup.parse_devices(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser():
    parser = _Parser(
        prog="keras-flows",
        description="Flow models (NICE, RealNVP, Glow, f-VAE) in Keras 3: train a "
        "model into a run folder, draw samples from one.",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up logs"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model, write a run folder")
    train.add_argument(
        "model",
        nargs="?",
        choices=RECIPES,
        help="the recipe (not needed with --resume)",
    )
    train.add_argument("--epochs", type=_positive(int), help="default: the recipe's")
    train.add_argument("--batch-size", type=_positive(int))
    train.add_argument(
        "--data", help="mnist.npz (nice), .npy points (realnvp), image folder (glow)"
    )
    train.add_argument("--out", help="run folder (default runs/MODEL)")
    train.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (same options)"
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (without it, a non-empty --out "
        "is refused)",
    )
    train.add_argument(
        "--devices",
        type=_devices,
        metavar="N|all",
        help="train data-parallel on N devices (or all) of the backend; on a "
        "machine without GPUs, N virtual CPU devices (to try it out: they share "
        "the cores). --batch-size is the global batch, divisible by N",
    )
    train.add_argument("--limit", type=_positive(int), help="use N training samples")
    train.add_argument(
        "--patience",
        type=_positive(int),
        help="stop after N epochs without a better val_loss",
    )
    train.add_argument("--learning-rate", type=_positive(float), help="Adam's rate")
    train.add_argument(
        "--warmup-steps",
        type=_positive(int),
        help="Glow, f-VAE: raise the learning rate linearly over N steps",
    )
    train.add_argument("--seed", type=int, help="the run's random seed")
    train.add_argument(
        "--precision",
        choices=("float32", "bfloat16", "float16"),
        help="compute precision of training (Keras' mixed policies: weights and "
        "log-dets stay float32); held-out numbers and pictures are computed in "
        "float32 (default float32)",
    )
    train.add_argument(
        "--noise", choices=("blog", "dequantize"), help="NICE's training noise"
    )
    train.add_argument(
        "--hidden-units", type=_positive(int), help="NICE's coupling-net width"
    )
    train.add_argument(
        "--temperature", type=_temperature, help="of the per-epoch sample grids"
    )
    glow = train.add_argument_group("Glow and f-VAE")
    glow.add_argument("--image-size", type=_positive(int), help="square side")
    glow.add_argument(
        "--levels", type=_positive(int), help="Glow's levels L; f-VAE's encoder's"
    )
    glow.add_argument(
        "--depth", type=int, help="steps per level K (f-VAE: of F; 0 = plain VAE)"
    )
    glow.add_argument("--hidden-channels", type=_positive(int))
    glow.add_argument("--coupling", choices=("additive", "affine"))
    glow.add_argument("--permutation", choices=("random", "reverse", "conv1x1"))
    glow.add_argument("--n-bits", type=_positive(int), help="bits per pixel (1-8)")
    glow.add_argument(
        "--actnorm-data-init",
        action="store_true",
        default=None,
        help="initialise Actnorm from the first batch (the Glow paper)",
    )
    sample = commands.add_parser("sample", help="draw samples from a run folder")
    sample.add_argument("run", help="a run folder written by `train`")
    sample.add_argument("--temperature", type=_temperature, default=0.75)
    sample.add_argument("--grid", type=_positive(int), default=15, help="N x N")
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--out", help="PNG path (default RUN/sample_T{T}.png)")
    return parser


def _recipe(name):
    import importlib

    return importlib.import_module(f"keras_flows.recipes.{name}")


def _train_options(args):
    """The recipe name and `train` keyword arguments, checked, nothing created."""
    import inspect

    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "model", "verbose", "resume", "devices", "overwrite")
        and value is not None
    }
    name = args.model
    if name is None and not args.resume:
        raise UserError(f"train needs a model: one of {', '.join(RECIPES)}")
    if args.resume:
        run = pathlib.Path(args.resume)
        if not (run / "run.json").is_file():
            raise UserError(f"cannot resume {run}: no run.json in it")
        stored = json.loads((run / "run.json").read_text())
        name = name or stored["recipe"]
        if stored["recipe"] != name:
            raise UserError(f"{run} holds a {stored['recipe']} run, not {name}")
        try:
            if read_state(run / "resume") is None:
                raise ValueError(
                    "nothing to resume: the run stopped before the end of its "
                    f"first epoch (start it again: --out {run} --overwrite)"
                )
        except ValueError as error:
            raise UserError(f"cannot resume {run}: {error}") from None
        options = {**stored["options"], **options, "out": str(run), "resume": True}
    options.setdefault("out", f"runs/{name}")
    out = pathlib.Path(options["out"])
    if not args.resume and out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(
            f"--out {out} already holds a run: add --overwrite to replace it, "
            f"--resume {out} to continue it, or choose another --out"
        )
    if "data" in options:
        data, folder = pathlib.Path(options["data"]), name in FOLDER_DATA
        if folder and not data.is_dir():
            raise UserError(f"--data {data}: no such folder (an image folder)")
        if folder and not checks.has_images(data):
            raise UserError(
                f"--data {data}: no images in it ({', '.join(IMAGE_EXTENSIONS)}, "
                "searched recursively)"
            )
        if not folder and data.is_dir():
            raise UserError(
                f"--data {data} is a folder: the {name} recipe reads a file"
            )
        if not folder and not data.is_file():
            raise UserError(f"--data {data}: no such file")
    if pathlib.Path(options["out"]).is_file():
        raise UserError(f"--out {options['out']} is a file, not a folder")
    accepted = inspect.signature(_recipe(name).train).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise UserError(f"the {name} recipe has no option {flags}")
    return name, options


def _check_batch(batch_size, count, where=""):
    if batch_size % count:
        below, above = (
            batch_size - batch_size % count,
            batch_size - batch_size % count + count,
        )
        raise UserError(
            f"--batch-size {batch_size}{where} is the global batch, split across "
            f"{count} devices: it must be divisible by {count} (e.g. "
            f"{below or above} or {above})"
        )


def _train_devices(args, name, options):
    """The devices to train on (`None`: one device, no distribution), checked
    against the batch size; nothing created on disk."""
    import inspect

    requested = args.devices
    if device_setup.backend_name() == "tensorflow" and device_setup.is_multi_worker():
        if requested not in (None, "all"):
            raise UserError(
                "with a TF_CONFIG cluster every worker trains on all its local "
                "devices: leave out --devices (CUDA_VISIBLE_DEVICES picks GPUs)"
            )
        return "cluster"
    if requested is None or requested == 1:
        return None
    batch_size = options.get("batch_size")
    where = ""
    if batch_size is None:
        batch_size = (
            inspect.signature(_recipe(name).train).parameters["batch_size"].default
        )
        where = f" (the {name} recipe's default)"
    if requested != "all":
        _check_batch(batch_size, requested, where)  # before touching any device
        device_setup.use_virtual_cpus(requested)  # no GPU: N virtual CPU devices
    try:
        devices = device_setup.resolve_devices(requested)
    except ValueError as error:
        raise UserError(f"--devices {requested}: {error}") from None
    _check_batch(batch_size, len(devices), where)
    return devices if len(devices) > 1 else None


def _train(args):
    name, options = _train_options(args)
    devices = _train_devices(args, name, options)
    out = pathlib.Path(options["out"])
    chief = device_setup.is_chief()
    if not chief:
        # Another worker of a cluster: it runs every step (the collectives need
        # it) but writes into a temporary folder, deleted at the end.
        options["out"] = tempfile.mkdtemp(prefix="keras_flows_worker_")
    else:
        if args.overwrite and not args.resume and out.is_dir():
            shutil.rmtree(out)  # the user asked for it; nothing of the old run stays
        new_folder = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        stored = {k: v for k, v in options.items() if k not in ("out", "resume")}
        record = {"recipe": name, "options": stored}
        if devices == "cluster":
            record["cluster"] = device_setup.tf_config().get("cluster")
        elif devices:
            record["devices"] = devices
        write_json(out / "run.json", record)
    try:
        with device_setup.distribution_scope(
            None if devices == "cluster" else devices
        ) as strategy:
            if strategy is not None:
                print(_describe(strategy))
            if options.get("precision", "float32") != "float32":
                print(
                    f"Training in {options['precision']} (Keras' mixed policy: "
                    "float32 weights and log-dets); evaluating in float32."
                )
            metrics = _recipe(name).train(**options)
    except KeyboardInterrupt:
        print(f"\nkeras-flows: stopped by the user. {_resume_hint(out, name)}")
        raise SystemExit(130) from None
    except Exception:
        # A run that failed before writing anything leaves no folder behind.
        if chief and new_folder and [p.name for p in out.iterdir()] == ["run.json"]:
            shutil.rmtree(out)
        raise
    finally:
        if not chief:
            shutil.rmtree(options["out"], ignore_errors=True)
    if not chief:
        print("\nNot the chief worker: the chief writes the run folder.")
        return
    print(f"\nRun folder: {out}")
    print("  model.json + model.weights.h5: the best model (keras-flows sample DIR)")
    print("  resume/: weights + optimizer state (keras-flows train --resume DIR)")
    for key, value in metrics.items():
        print(f"  {key}: {value}")
    print("What the numbers mean:")
    for key, meaning in LEGEND.items():
        if key in metrics:
            print(f"  {key}: {meaning}")


def _resume_hint(out, name):
    """One sentence on what an interrupted run left and how to go on."""
    try:
        state = read_state(out / "resume")
    except ValueError as error:
        return f"Its resume state cannot be used: {error}."
    if state is None:
        return (
            "No epoch had finished, so there is nothing to resume: start again "
            f"with keras-flows train {name} --out {out} --overwrite"
        )
    return (
        f"{state['epoch']} epoch(s) are saved; go on with: "
        f"keras-flows train --resume {out}"
    )


def _describe(strategy):
    """One line on how training is distributed."""
    if hasattr(strategy, "num_replicas_in_sync"):  # a tf.distribute strategy
        devices = strategy.extended.worker_devices
        return (
            f"Training on {strategy.num_replicas_in_sync} devices with "
            f"{type(strategy).__name__} (this worker: {', '.join(devices)})"
        )
    devices = strategy.device_mesh.devices.ravel()
    return (
        f"Training on {len(devices)} devices with keras.distribution."
        f"{type(strategy).__name__} ({', '.join(map(str, devices))})"
    )


def _sample(args):
    from keras_flows import viz
    from keras_flows.training import load_run

    try:
        model = load_run(args.run)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    out = pathlib.Path(args.out or f"{args.run}/sample_T{args.temperature:g}.png")
    if model.image_shape is not None:
        viz.sample_grid(
            model, args.grid, args.grid, args.temperature, args.seed, path=out
        )
    elif model.encoder.inputs[0].shape[1:] == (2,):
        from keras_flows.viz import moons

        figure = moons.temperature_figure(model, (args.temperature,), seed=args.seed)
        figure.savefig(out, dpi=80)
    else:
        raise UserError(
            f"{args.run}: cannot draw samples of shape "
            f"{tuple(model.encoder.inputs[0].shape[1:])} (images or 2-D points only)"
        )
    print(f"Wrote {out}")


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
    args = parser.parse_args(argv)
    if not args.verbose:
        # Hide TensorFlow's start-up lines (CUDA probing on a CPU machine, oneDNN).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if device_setup.backend_name() == "tensorflow":
            with _stderr_to_devnull():  # TF 2.21 logs these before reading it
                import tensorflow  # noqa: F401
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            {"train": _train, "sample": _sample}[args.command](args)
        except UserError as error:
            parser.exit(2, f"keras-flows: error: {error}\n")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line on stderr (no source line, no file name)."""
    print(f"keras-flows: warning: {message}", file=file or sys.stderr)


if __name__ == "__main__":
    main()
