"""`keras-flows train MODEL`: check every argument before anything is created,
run the recipe, print the held-out numbers with what each means."""

import importlib
import pathlib
import shlex

from keras_flows import checks
from keras_flows.checks import IMAGE_EXTENSIONS
from keras_flows.cli.flags import NOT_FLAGS, UserError
from keras_flows.recipes import declared
from keras_flows.training import devices as device_setup
from keras_flows.training import run_folder

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
    "test_accuracy": "share of held-out images whose class the model's "
    "generative classifier gets right: the class y with the largest "
    "log p(x | y) (a class-conditional model's NLL and bits/dim are of x given "
    "its class)",
    "samples_recognised": "share of the model's own samples (10 a class, "
    "T = 0.7) that the same classifier takes for the class they were drawn as",
    "sample_recognised": "share of the samples a small digit classifier "
    "(trained once on the real training digits, independent of the model) "
    "calls one digit with at least 90% confidence",
    "sample_classifier_score": "how confidently and evenly the samples cover "
    "the ten digits in that classifier's eyes: 10 at best, 1 when none is "
    "recognisable or all are one digit",
    "sample_frechet_distance": "distance between the samples and real held-out "
    "digits in that classifier's features (lower is better, 0: alike)",
    "sample_class_agreement": "share of the samples drawn for a class that "
    "the digit classifier gives that class",
    "real_recognised": "real_*: the same numbers for real held-out digits, "
    "what a perfect model would score",
    "sample_temperature": "the temperature the judged samples were drawn at",
    "best_epoch": "the epoch whose weights were kept (best validation loss)",
}


def _train_options(args):
    """The recipe name and its checked `train` options (a resumed run's too)."""
    name = args.model
    keys = set(declared(name).defaults) - set(NOT_FLAGS)
    options = {k: v for k, v in vars(args).items() if k in keys and v is not None}
    try:
        if args.resume:
            run = pathlib.Path(args.resume)
            stored = run_folder.stored_run(run)
            if stored["recipe"] != name:
                raise ValueError(f"{run} holds a {stored['recipe']} run, not {name}")
            options = {**stored["options"], **options, "out": str(run), "resume": True}
        options.setdefault("out", f"runs/{name}")
        if not args.resume:
            run_folder.check_new(options["out"], args.overwrite)
    except ValueError as error:
        raise UserError(str(error)) from None
    if "data" not in options:
        return name, options
    data = pathlib.Path(options["data"])
    if name not in FOLDER_DATA:
        if data.is_dir():
            raise UserError(
                f"--data {data} is a folder: the {name} recipe reads a file"
            )
        if not data.is_file():
            raise UserError(f"--data {data}: no such file")
    elif not data.is_dir():
        raise UserError(f"--data {data}: no such folder (an image folder)")
    elif not checks.has_images(data):
        raise UserError(
            f"--data {data}: no images in it ({', '.join(IMAGE_EXTENSIONS)}, "
            "searched recursively)"
        )
    elif options.get("conditional"):
        try:
            checks.class_folders(data)
        except ValueError as error:
            raise UserError(f"--data with --conditional: {error}") from None
    return name, options


def _check_batch(batch_size, count, where=""):
    if batch_size % count:
        below = batch_size - batch_size % count
        raise UserError(
            f"--batch-size {batch_size}{where} is the global batch, split across "
            f"{count} devices: it must be divisible by {count} (e.g. "
            f"{below or below + count} or {below + count})"
        )


def _train_devices(args, name, options):
    """The devices to train on (`None`: one), checked against the batch size."""
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
    where = "" if batch_size else f" (the {name} recipe's default)"
    batch_size = batch_size or declared(name).defaults["batch_size"]
    if requested != "all":
        _check_batch(batch_size, requested, where)  # before touching any device
        device_setup.use_virtual_cpus(requested)  # no GPU: N virtual CPU devices
    try:
        devices = device_setup.choose_devices(
            requested, device_setup.available_devices()
        )
    except ValueError as error:
        raise UserError(f"--devices {requested}: {error}") from None
    _check_batch(batch_size, len(devices), where)
    return devices if len(devices) > 1 else None


def run(args):
    name, options = _train_options(args)
    devices = _train_devices(args, name, options)
    out, chief = pathlib.Path(options["out"]), device_setup.is_chief()
    if chief:
        stored = {k: v for k, v in options.items() if k not in ("out", "resume")}
        record = {"recipe": name, "options": stored}
        if devices == "cluster":
            record["cluster"] = device_setup.tf_config().get("cluster")
        elif devices:
            record["devices"] = devices
        new = run_folder.start(out, record, args.overwrite and not args.resume)
    try:
        with (
            run_folder.for_this_worker(out, chief, args.resume) as folder,
            device_setup.distribution_scope(
                None if devices == "cluster" else devices
            ) as strategy,
        ):
            if strategy is not None:
                print(_describe(strategy))
            from keras_flows.training.precision import resolve_precision

            asked = options.get("precision", declared(name).defaults["precision"])
            precision, why = resolve_precision(asked)
            if precision != "float32" or asked == "auto":
                print(
                    f"Training in {precision} ({why}; Keras' mixed policy: "
                    "float32 weights and log-dets); evaluating in float32."
                )
            recipe = importlib.import_module(f"keras_flows.recipes.{name}")
            metrics = recipe.train(**{**options, "out": str(folder)})
    except KeyboardInterrupt:
        hint = _resume_hint(out, name, options)
        print(f"\nkeras-flows: stopped by the user. {hint}")
        raise SystemExit(130) from None
    except Exception:
        if chief and new:
            run_folder.remove_if_unstarted(out)
        raise
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


def _resume_hint(out, name, options):
    """One sentence on what an interrupted run left and how to go on."""
    try:
        state = run_folder.read_state(out / "resume")
    except ValueError as error:
        return f"Its resume state cannot be used: {error}."
    if state is None:
        return (
            "No epoch had finished, so there is nothing to resume: start again "
            f"with {_command(name, options)} --overwrite"
        )
    return (
        f"{state['epoch']} epoch(s) are saved; go on with: "
        f"keras-flows train --resume {out}"
    )


def _command(name, options):
    """The `keras-flows train` command line of a run's `options`."""
    words = ["keras-flows", "train", name]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key == "resume" or value is False:
            continue
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


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
