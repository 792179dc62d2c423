"""Reproduction recipes: load the data, build the model, train with the standard
callbacks, write the run folder (weights, history, pictures, metrics).

Each recipe module declares its settings once, as the keyword defaults of its
`train` function, and what a default run costs as the string `COST`.
`declared(name)` reads both from the module's source without importing it, so
the command line's `--help` shows them without starting Keras.
"""

import ast
import dataclasses
import pathlib

NAMES = ("nice", "realnvp", "glow", "fvae")


@dataclasses.dataclass(frozen=True)
class Declared:
    """What a recipe module declares: `summary` (its docstring's first
    paragraph), `defaults` (`train`'s keyword defaults) and `cost`."""

    summary: str
    defaults: dict
    cost: str


def declared(name):
    """The `Declared` settings of recipe `name`, read from its source."""
    if name not in NAMES:
        raise ValueError(f"No recipe {name!r}; the recipes are {', '.join(NAMES)}")
    tree = ast.parse(pathlib.Path(__file__).with_name(f"{name}.py").read_text())
    summary = ast.get_docstring(tree).split("\n\n")[0]
    cost = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", None) == "COST"
    )
    train = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "train"
    )
    names = [a.arg for a in train.args.args][-len(train.args.defaults) :]
    defaults = dict(zip(names, map(ast.literal_eval, train.args.defaults)))
    return Declared(" ".join(summary.split()), defaults, " ".join(cost.split()))
