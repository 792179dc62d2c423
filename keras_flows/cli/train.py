"""`keras-flows train MODEL`: check every argument before anything is created,
run the recipe, print the held-out numbers with what each means."""

import importlib
import pathlib

from keras_flows import files
from keras_flows.cli.flags import NOT_FLAGS, UserError, as_flags
from keras_flows.recipes.registry import LEGEND, declared
from keras_flows.training import devices as device_setup
from keras_flows.training import run_folder


def _train_options(args):
    """The recipe name and its checked `train` options (a resumed run's too)."""
    name, recipe = args.model, declared(args.model)
    keys = set(recipe.defaults) - set(NOT_FLAGS)
    options = {k: v for k, v in vars(args).items() if k in keys and v is not None}
    if getattr(args, "quick", False) and not args.resume:
        options = recipe.quick_options(options)
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
    if recipe.data != "folder":
        if data.is_dir():
            raise UserError(
                f"--data {data} is a folder: the {name} recipe reads a file"
            )
        if not data.is_file():
            raise UserError(f"--data {data}: no such file")
    elif not data.is_dir():
        raise UserError(f"--data {data}: no such folder (an image folder)")
    elif not files.has_images(data):
        raise UserError(
            f"--data {data}: no images in it ({', '.join(files.IMAGE_EXTENSIONS)}, "
            "searched recursively)"
        )
    elif options.get("conditional"):
        try:
            files.class_folders(data)
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
            f"with keras-flows train {name} {as_flags(options)} --overwrite"
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
