"""The tutorial notebooks execute top to bottom in their fast mode and draw their
figures."""

import pathlib

import nbformat
import pytest
from conftest import BACKEND, in_session
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # the full tier: under a minute per backend

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"


@pytest.mark.parametrize(
    "name, figures",
    [
        # loss, 15x15 grid, temperature strip, interpolation
        pytest.param("01_nice_mnist.ipynb", 4, marks=in_session("jax")),
        # loss, 2x2 scatter, density, temperatures (15 s on JAX, 31 s on TF)
        pytest.param("02_realnvp_moons.ipynb", 4, marks=in_session("jax")),
        # data, loss, samples, temperatures, reconstructions, interpolation,
        # samples by class, confusion matrix, thin -> thick
        pytest.param("03_glow.ipynb", 9, marks=in_session("tensorflow")),
        # data, loss, samples at T = 1 and 0.8, temperatures, reconstructions,
        # interpolation, four corners, f-VAE vs VAE
        pytest.param("04_fvae.ipynb", 9, marks=in_session("jax")),
    ],
)
def test_notebook_executes(name, figures, monkeypatch, tmp_path):
    """Each notebook runs once in the full tier, in one backend's session: the
    library they call is checked on both backends by the fast tier. The Glow
    notebook keeps TensorFlow, the notebooks' default backend."""
    monkeypatch.setenv("KERAS_FLOWS_FAST", "1")
    monkeypatch.setenv("KERAS_BACKEND", BACKEND)
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
