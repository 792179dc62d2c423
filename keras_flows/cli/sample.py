"""`keras-flows sample DIR`: a sample grid (or, for 2-D points, a scatter) from a
run folder, in float32 whatever the run trained in."""

import json
import pathlib

from keras_flows.cli.flags import UserError

# Where a run folder does not say (a model saved by `training.train` alone).
DRAW = {"temperature": 0.75, "grid": 9}


def _training_draw(run):
    """The `temperature` and `grid` of the run's training pictures: its
    options in `run.json`, else its recipe's defaults, else `DRAW`."""
    from keras_flows.recipes import declared

    try:
        record = json.loads((pathlib.Path(run) / "run.json").read_text())
        defaults = declared(record["recipe"]).defaults
    except (OSError, ValueError, KeyError, TypeError):
        return dict(DRAW)
    options = {**defaults, **record.get("options", {})}
    return {key: options.get(key, value) for key, value in DRAW.items()}


def run(args):
    from keras_flows import viz
    from keras_flows.training import load_run, run_folder

    model = load_run(args.run)
    for key, value in _training_draw(args.run).items():  # where no flag says
        if getattr(args, key) is None:
            setattr(args, key, value)
    out = pathlib.Path(args.out or f"{args.run}/sample_T{args.temperature:g}.png")
    if model.num_classes is not None:  # one row per class
        names = run_folder.class_names(args.run)
        viz.class_grid(model, args.grid, args.temperature, args.seed or 0, out, names)
    elif model.image_shape is not None:
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
