"""`keras-flows` command line: train a recipe into a run folder, sample from one.

keras-flows train {nice,realnvp,glow,fvae} [--epochs N] [--batch-size B]
                  [--data PATH] [--out DIR] [--limit N] [--patience N]
                  [--learning-rate LR] [--seed S] [--noise {blog,dequantize}]
                  [--hidden-units H]
keras-flows sample DIR --temperature T [--grid N] [--seed S]
"""

import argparse
import importlib
import inspect
import pathlib
import sys

RECIPES = ("nice", "realnvp", "glow", "fvae")


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-flows", description="Flow models in Keras 3."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model, write a run folder")
    train.add_argument("model", choices=RECIPES)
    train.add_argument("--epochs", type=int, help="default: the recipe's")
    train.add_argument("--batch-size", type=int, help="default: the recipe's")
    train.add_argument("--data", help="dataset path (mnist.npz, image folder)")
    train.add_argument("--out", help="run folder (default runs/MODEL)")
    train.add_argument("--limit", type=int, help="use only N training samples")
    train.add_argument(
        "--patience", type=int, help="stop after N epochs without a better val_loss"
    )
    train.add_argument("--learning-rate", type=float, help="Adam's learning rate")
    train.add_argument("--seed", type=int, help="the run's random seed")
    train.add_argument(
        "--noise", choices=("blog", "dequantize"), help="NICE's training noise"
    )
    train.add_argument("--hidden-units", type=int, help="NICE's coupling-net width")
    sample = commands.add_parser("sample", help="draw samples from a run folder")
    sample.add_argument("run", help="a run folder written by `train`")
    sample.add_argument("--temperature", type=float, default=0.75)
    sample.add_argument("--grid", type=int, default=15, help="N x N images")
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--out", help="PNG path (default RUN/sample_T{T}.png)")
    return parser


def _recipe(name):
    try:
        return importlib.import_module(f"keras_flows.recipes.{name}")
    except ModuleNotFoundError:
        sys.exit(f"keras-flows: the {name} recipe is not available in this version.")


def _train(args):
    options = {"out": args.out or f"runs/{args.model}"}
    for key, value in vars(args).items():
        if key not in ("command", "model", "out") and value is not None:
            options[key] = value
    recipe = _recipe(args.model)
    accepted = inspect.signature(recipe.train).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        sys.exit(f"keras-flows: the {args.model} recipe has no option {unknown}.")
    metrics = recipe.train(**options)
    print(f"Run folder: {options['out']}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")


def _sample(args):
    from keras_flows import models, viz
    from keras_flows.training import load_run

    classes = {"nice": models.NICE, "realnvp": models.RealNVP}
    model, config = load_run(args.run, classes)
    out = pathlib.Path(args.out or f"{args.run}/sample_T{args.temperature:g}.png")
    if model.image_shape is not None:
        viz.sample_grid(
            model, args.grid, args.grid, args.temperature, args.seed, path=out
        )
    else:
        _recipe(config["model"]).sample_figure(model, out, args.temperature)
    print(f"Wrote {out}")


def main(argv=None):
    args = _parser().parse_args(argv)
    {"train": _train, "sample": _sample}[args.command](args)


if __name__ == "__main__":
    main()
