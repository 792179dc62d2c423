"""The README's example builds, inverts and trains."""

import pathlib
import re

import numpy as np


def test_readme_example_runs():
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    scope = {}
    exec(code, scope)
    x = np.random.default_rng(0).uniform(size=(8, 784)).astype("float32")
    z = scope["encoder"].predict(x, verbose=0)
    np.testing.assert_allclose(scope["decoder"].predict(z, verbose=0), x, atol=1e-5)
    scope["model"].fit(x, batch_size=4, epochs=1, verbose=0)
