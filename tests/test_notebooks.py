"""The tutorial notebooks execute top to bottom in their fast mode and draw their
figures."""

import pathlib

import keras
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # the full tier: about 100 s per backend

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"


@pytest.mark.parametrize(
    "name, figures",
    [
        ("01_nice_mnist.ipynb", 4),  # loss, 15x15 grid, temperature strip, interp.
        ("02_realnvp_moons.ipynb", 4),  # loss, 2x2 scatter, density, temperatures
        ("03_glow.ipynb", 6),  # data, loss, samples, temperatures, recon., interp.
        # data, loss, samples at T = 1 and 0.8, temperatures, recon., interp.,
        # four corners, f-VAE vs VAE
        ("04_fvae.ipynb", 9),
    ],
)
def test_notebook_executes(name, figures, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_FLOWS_FAST", "1")
    monkeypatch.setenv("KERAS_BACKEND", keras.backend.backend())
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
