"""Reproduction recipes: load the data, build the model, train, write the run folder.

Each recipe module declares its settings once, as the keyword defaults of `train`,
and its cost as the string `COST`; `declared` reads them from the source, so
`--help` does not start Keras.
"""

import ast
import collections
import pathlib

NAMES = ("nice", "realnvp", "glow", "fvae")
# `summary`: the first paragraph of the recipe's docstring.
Declared = collections.namedtuple("Declared", ["summary", "defaults", "cost"])


def declared(name):
    """The `Declared` settings of recipe `name`, read from its source."""
    if name not in NAMES:
        raise ValueError(f"No recipe {name!r}; the recipes are {', '.join(NAMES)}")
    tree = ast.parse(pathlib.Path(__file__).with_name(f"{name}.py").read_text())
    summary = ast.get_docstring(tree).split("\n\n")[0]
    cost = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "COST"
    )
    train = next(node for node in tree.body if getattr(node, "name", "") == "train")
    names = [a.arg for a in train.args.args][-len(train.args.defaults) :]
    defaults = dict(zip(names, map(ast.literal_eval, train.args.defaults)))
    return Declared(" ".join(summary.split()), defaults, " ".join(cost.split()))
