"""`keras_flows.viz`: every picture says what it shows (title, per-row temperature,
axis labels, a legend), and the bare grids keep their exact shapes."""

import imageio.v3 as iio
import keras
import numpy as np
import pytest

from keras_flows import viz
from keras_flows.data import load_moons
from keras_flows.models import FVAE, NICE, Glow, RealNVP
from keras_flows.viz import grids


@pytest.fixture(scope="module")
def nice():
    return NICE(hidden_units=8, hidden_layers=1, seed=0)


@pytest.fixture(scope="module")
def glow():
    return Glow((8, 8, 3), levels=2, depth=1, hidden_channels=8, seed=0)


@pytest.fixture(scope="module")
def fvae():
    return FVAE(
        (8, 8, 1),
        encoder_levels=1,
        encoder_blocks=1,
        flow_levels=2,
        flow_depth=1,
        hidden_channels=8,
        seed=0,
    )


@pytest.fixture(scope="module")
def realnvp():
    keras.utils.set_random_seed(1)
    return RealNVP(coupling_layers=2, coupling_dim=8)


@pytest.fixture(scope="module")
def moons():
    return load_moons(300, 0.05, seed=0)[0]


def digits(n, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 784)).astype("float32")


def margins(labelled, bare, cell):
    """(top, left) of the margin, found by locating the enlarged bare grid of
    `cell`-pixel images, and the enlargement factor."""
    factor = grids.upscale_factor(bare.shape[1], cell)
    big = bare.repeat(factor, axis=0).repeat(factor, axis=1)
    top = labelled.shape[0] - big.shape[0]
    for left in range(labelled.shape[1] - big.shape[1] + 1):
        if np.array_equal(labelled[top:, left : left + big.shape[1]], big):
            return top, left, factor
    raise AssertionError("the bare grid is not inside the labelled one")


def test_sample_grid_has_a_title_and_holds_the_bare_grid(nice, tmp_path):
    bare = viz.sample_grid(nice, 3, 4, temperature=0.75, seed=0, labels=False)
    assert bare.dtype == np.uint8 and bare.shape == (84, 112)
    grid = viz.sample_grid(
        nice, 3, 4, temperature=0.75, seed=0, path=tmp_path / "g.png"
    )
    assert grid.dtype == np.uint8 and grid.ndim == 2
    np.testing.assert_array_equal(iio.imread(tmp_path / "g.png"), grid)
    top, left, factor = margins(grid, bare, 28)
    # 112 px is too narrow to read next to a title: enlarged, nearest neighbour.
    assert factor == 4 and grid.shape[1] >= 448
    assert top >= 14 and left == 0  # a title line, no row labels
    title = grid[:top]
    assert title.min() < 128 and (title == 255).mean() > 0.5  # dark text on white


def test_a_wide_grid_is_not_enlarged(nice):
    grid = viz.sample_grid(nice, 2, 15, temperature=0.5, seed=0)
    assert grid.shape[1] == 15 * 28 and grid.shape[0] > 2 * 28


def test_title_argument_is_drawn(nice):
    kwargs = {"rows": 2, "cols": 15, "temperature": 0.5, "seed": 0}
    a = viz.sample_grid(nice, title="one", **kwargs)
    b = viz.sample_grid(nice, title="a much longer title", **kwargs)
    assert a.shape == b.shape
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a[-56:], b[-56:])  # same images, other text


def test_temperature_rows_are_labelled(nice):
    temperatures = (0.0, 0.5, 1.0)
    bare = viz.temperature_sweep(nice, temperatures=temperatures, num=5, labels=False)
    assert bare.shape == (84, 140)
    sweep = viz.temperature_sweep(nice, temperatures=temperatures, num=5)
    top, left, factor = margins(sweep, bare, 28)
    assert left > 20  # room for "T = 0.5" at the left of each row
    cell = 28 * factor
    rows = [sweep[top + i * cell : top + (i + 1) * cell, :left] for i in range(3)]
    for row in rows:
        assert row.min() < 128  # text in every row label
    assert not np.array_equal(rows[0], rows[1])  # "T = 0" vs "T = 0.5"
    assert not np.array_equal(rows[1], rows[2])


def test_bad_temperature_still_raises(nice):
    with pytest.raises(ValueError, match="temperature"):
        viz.sample_grid(nice, 2, 2, temperature=-1)
    with pytest.raises(ValueError, match="temperature"):
        viz.temperature_sweep(nice, temperatures=(0.5, -1))
    with pytest.raises(ValueError, match="temperature"):
        viz.temperature_sweep(nice, temperatures=(0.5, "hot"), labels=False)


def test_reconstruction_rows_are_labelled_and_rgb_stays_rgb(glow, tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    bare = viz.reconstruction_grid(glow, x, labels=False)
    assert bare.shape == (16, 32, 3)
    grid = viz.reconstruction_grid(glow, x, path=tmp_path / "r.png")
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    top, left, factor = margins(grid, bare, 8)
    assert left > 40 and factor > 1  # "reconstruction" fits at the left
    assert (grid[0, 0] == 255).all()  # white margin, not a coloured one
    cell = 8 * factor
    data, recon = grid[top : top + cell, :left], grid[top + cell :, :left]
    assert data.min() < 128 and recon.min() < 128
    assert not np.array_equal(data, recon)
    np.testing.assert_array_equal(iio.imread(tmp_path / "r.png"), grid)


def test_interpolation_ends_are_headed(nice):
    x_a, x_b = digits(2, seed=0), digits(2, seed=1)
    bare = viz.interpolation_grid(nice, x_a, x_b, steps=5, labels=False)
    assert bare.shape == (56, 140)
    grid = viz.interpolation_grid(nice, x_a, x_b, steps=5)
    top, left, factor = margins(grid, bare, 28)
    line = top // 2  # a title line and a line of column heads
    heads = grid[line:top]
    cell = 28 * factor
    assert heads[:, :cell].min() < 128 and heads[:, -cell:].min() < 128
    assert (heads[:, 2 * cell : 3 * cell] == 255).all()  # only the ends headed


def test_corner_interpolation_grid_has_the_corners_and_labelled_rows(glow, tmp_path):
    corners = np.random.default_rng(2).uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    bare = viz.corner_interpolation_grid(glow, corners, steps=4, labels=False)
    assert bare.shape == (32, 32, 3)
    # Glow is exact, so the corners are the four images themselves.
    cells = bare.reshape(4, 8, 4, 8, 3).transpose(0, 2, 1, 3, 4)  # (row, col, 8, 8, 3)
    expected = grids.to_uint8(corners, (-1, 1)).astype(int)
    for k, (i, j) in enumerate([(0, 0), (0, 3), (3, 0), (3, 3)]):
        assert np.abs(cells[i, j].astype(int) - expected[k]).max() <= 1
    grid = viz.corner_interpolation_grid(
        glow, corners, steps=4, path=tmp_path / "c.png"
    )
    np.testing.assert_array_equal(iio.imread(tmp_path / "c.png"), grid)
    top, left, factor = margins(grid, bare, 8)
    assert top >= 14 and left > 40  # a title; "x1 -> x2" fits at the left
    cell = 8 * factor
    rows = [grid[top + i * cell : top + (i + 1) * cell, :left] for i in range(4)]
    assert rows[0].min() < 128 and rows[3].min() < 128  # "x1 -> x2", "x3 -> x4"
    assert (rows[1] == 255).all() and (rows[2] == 255).all()  # inner rows blank
    with pytest.raises(ValueError, match="four corner images"):
        viz.corner_interpolation_grid(glow, corners[:3])
    with pytest.raises(ValueError, match="steps >= 2"):
        viz.corner_interpolation_grid(glow, corners, steps=1)


def test_fvae_grids_are_its_own_interpolation_and_reconstruction(fvae):
    corners = np.random.default_rng(3).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    bare = viz.corner_interpolation_grid(fvae, corners, steps=3, labels=False)
    images = fvae.interpolate_corners(*corners, steps=3).reshape(9, 8, 8, 1)
    expected = viz.images_to_grid(fvae, images, 3, 3)
    assert np.abs(bare.astype(int) - expected.astype(int)).max() <= 1
    # Not an exact flow: the reconstruction grid does not promise equal rows.
    title = "FVAE reconstructions (posterior mean, decoded)"
    np.testing.assert_array_equal(
        viz.reconstruction_grid(fvae, corners),
        viz.reconstruction_grid(fvae, corners, title=title),
    )


def test_label_grid_on_a_bare_array():
    bare = np.zeros((20, 30), "uint8")
    labelled = grids.label_grid(bare, 2, 3, "t", row_labels=["a", "b"])
    assert labelled.dtype == np.uint8 and labelled.ndim == 2
    assert labelled.shape[0] > 20 * grids.upscale_factor(30, 10)


def test_upscale_factor():
    assert grids.upscale_factor(420, 28) == 1  # NICE's 15x15 stays as it is
    assert grids.upscale_factor(224, 28) == 2  # an 8-wide row of digits
    assert grids.upscale_factor(24, 8) == 16  # capped: images at most 128 px


def axes_with_data(fig):
    return [ax for ax in fig.axes if ax.collections or ax.images]


def test_moons_figure_has_labelled_axes(realnvp, moons):
    fig = viz.moons_figure(realnvp, moons, num=200)
    axes = axes_with_data(fig)
    assert len(axes) == 4
    assert [ax.get_xlabel() for ax in axes] == [
        "x1 (standardised)",
        "z1",
        "z1",
        "x1 (standardised)",
    ]
    assert all(ax.get_ylabel() and ax.get_title() for ax in axes)
    assert fig.get_suptitle()


def test_temperature_figure_has_labelled_axes(realnvp):
    fig = viz.temperature_figure(realnvp, temperatures=(0.5, 1.0), num=100)
    axes = axes_with_data(fig)
    assert [ax.get_title() for ax in axes] == ["T = 0.5", "T = 1"]
    assert all(ax.get_xlabel() == "x1 (standardised)" for ax in axes)
    assert "T" in fig.get_suptitle()


def test_density_figure_has_labels_and_a_legend(realnvp, moons):
    fig = viz.density_figure(realnvp, moons, resolution=40)
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 2  # p(x) and log p(x)
    for ax in axes:
        assert ax.get_xlabel() == "x1 (standardised)"
        assert ax.get_ylabel() == "x2 (standardised)"
        assert ax.get_title()
    legend = axes[0].get_legend()
    assert legend is not None and "data" in legend.get_texts()[0].get_text()
    # No data: no dots, no legend.
    fig = viz.density_figure(realnvp, resolution=40)
    assert all(ax.get_legend() is None for ax in fig.axes if ax.images)


def test_loss_figure_is_labelled():
    fig = viz.plot_loss({"loss": [2.0, 1.5], "val_loss": [2.1, 1.7]})
    (ax,) = fig.axes
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title()
    assert ax.get_legend() is not None
