"""`keras-flows manipulate DIR --data FOLDER --attributes FILE --attribute NAME`:
the Glow paper's attribute manipulation with a trained run, as one grid."""

import pathlib

from keras_flows.cli.flags import UserError


def run(args):
    if not pathlib.Path(args.data).is_dir():
        raise UserError(f"--data {args.data}: no such folder (the image folder)")
    if not pathlib.Path(args.attributes).is_file():
        raise UserError(f"--attributes {args.attributes}: no such file")
    from keras_flows import viz
    from keras_flows.labelled import load_attribute_groups
    from keras_flows.training import load_run

    model = load_run(args.run)
    if model.image_shape is None or model.num_classes is not None:
        raise UserError(f"{args.run}: manipulation needs an unconditional image model")
    size, channels = model.image_shape[0], model.image_shape[-1]
    rows_with, rows_without = (args.rows + 1) // 2, args.rows // 2
    try:
        with_it, without = load_attribute_groups(
            args.data, args.attributes, args.attribute, size,
            limit=args.limit + args.rows, channels=channels,
        )  # fmt: skip
        if len(with_it) <= rows_with or len(without) <= rows_without:
            raise ValueError(
                f"too few images for {args.rows} rows and a direction: "
                f"{len(with_it)} with '{args.attribute}', {len(without)} without"
            )
    except ValueError as error:
        raise UserError(str(error)) from None
    # The rows' own images are left out of the means that make the direction.
    direction = model.latent_direction(with_it[rows_with:], without[rows_without:])
    rows = [*without[:rows_without], *with_it[:rows_with]]
    out = pathlib.Path(args.out or f"{args.run}/{args.attribute}.png")
    title = (
        f"Moving along '{args.attribute}' (mean code with it minus without, "
        f"{len(with_it) - rows_with} / {len(without) - rows_without} images); "
        "column: strength"
    )
    viz.manipulation_grid(model, rows, direction, args.strengths, out, title)
    print(f"Wrote {out}: {args.rows} images (rows) at strengths {args.strengths}")
