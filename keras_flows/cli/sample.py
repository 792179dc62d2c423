"""`keras-flows sample DIR`: a sample grid (or, for 2-D points, a scatter) from a
run folder, in float32 whatever the run trained in."""

import pathlib

from keras_flows.cli.flags import UserError


def run(args):
    from keras_flows import viz
    from keras_flows.training import load_run, run_folder

    model = load_run(args.run)
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
