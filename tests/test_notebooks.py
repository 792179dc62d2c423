"""The tutorial notebooks execute top to bottom in their fast mode and draw their
figures."""

import pathlib

import keras
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # the full tier: under a minute per backend

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"


@pytest.mark.parametrize(
    "name, figures, backend",
    [
        # loss, 15x15 grid, temperature strip, interpolation
        ("01_nice_mnist.ipynb", 4, "jax"),
        # loss, 2x2 scatter, density, temperatures (15 s on JAX, 31 s on TF)
        ("02_realnvp_moons.ipynb", 4, "jax"),
        # data, loss, samples, temperatures, reconstructions, interpolation,
        # samples by class, confusion matrix, thin -> thick
        ("03_glow.ipynb", 9, "tensorflow"),
        # data, loss, samples at T = 1 and 0.8, temperatures, reconstructions,
        # interpolation, four corners, f-VAE vs VAE
        ("04_fvae.ipynb", 9, "jax"),
    ],
)
def test_notebook_executes(name, figures, backend, monkeypatch, tmp_path):
    """Each notebook runs once in the full tier, in one backend's session: the
    library they call is checked on both backends by the fast tier. The Glow
    notebook keeps TensorFlow, the notebooks' default backend."""
    if backend != keras.backend.backend():
        pytest.skip(f"runs in the {backend} session")
    monkeypatch.setenv("KERAS_FLOWS_FAST", "1")
    monkeypatch.setenv("KERAS_BACKEND", backend)
    # Jupyter's inline backend (no display needed) renders the figures.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == figures
