"""Choosing `--quick`: how fast a Glow, a class-conditional Glow or an f-VAE
starts drawing digits a classifier recognises, per second of training on the
stand-in (4,000 digits, 32x32x1), at the settings under trial.

Trains through plain `fit` for `--budget` seconds of training (the clock runs
only inside training steps, so the compile of the first step counts and the
judging does not) and every `--every` seconds judges 500 samples at each of
`--temperatures` with `keras_flows.quality` (share recognised, Fréchet
distance; for a conditional model, the share the classifier gives the class
asked for). Ends with the held-out bits/dim (for f-VAE its ELBO's) and a
sample grid at T = 0.7 in `bench/results/<name>.png`.

    python bench/quick_settings.py --name quick_glow_128            # Glow L3 K8 128
    python bench/quick_settings.py --model fvae --levels 3 --depth 4 \\
        --hidden-channels 64 --encoder-blocks 2 --budget 600 --name quick_fvae_small
    python bench/quick_settings.py --conditional --budget 600 --name quick_cond
"""

import contextlib
import time

from harness import RESULTS, Record, arguments, print_table


def main():
    parser = arguments(__doc__, name="quick_settings")
    parser.add_argument("--model", choices=("glow", "fvae"), default="glow")
    parser.add_argument("--levels", type=int, default=3, help="Glow's, or F's")
    parser.add_argument("--depth", type=int, default=8, help="Glow's, or F's")
    parser.add_argument("--hidden-channels", type=int, default=128)
    parser.add_argument("--encoder-blocks", type=int, default=2, help="f-VAE")
    parser.add_argument("--coupling", default="affine")
    parser.add_argument("--permutation", default="conv1x1")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-bits", type=int, default=8, help="Glow's data")
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument(
        "--net-output-scale", type=float, help="Glow's/F's nets' OutputScale start"
    )
    parser.add_argument(
        "--ema", type=float, help="Adam's weight average momentum (judged on it)"
    )
    parser.add_argument("--budget", type=float, default=300, help="seconds")
    parser.add_argument("--every", type=float, default=100, help="seconds")
    parser.add_argument("--temperatures", default="0.7,0.8")
    args = parser.parse_args()
    record = Record(args.name, vars(args))
    rows, bpd = train(args)
    record.write({"checkpoints": rows, "test_bits_per_dim": bpd})
    print_table(rows, dict.fromkeys(rows[0], ""))
    print(f"held-out bits/dim: {bpd:.3f}")


def train(args):
    import keras
    import numpy as np

    from keras_flows import quality, viz
    from keras_flows.data import load_mnist_images
    from keras_flows.models import FVAE, Glow

    keras.utils.set_random_seed(0)
    (x, y), (x_val, y_val) = load_mnist_images(with_labels=True)
    nets = {}
    if args.net_output_scale is not None:
        nets["net_output_scale"] = args.net_output_scale
    if args.model == "glow":
        model = Glow(
            x.shape[1:],
            levels=args.levels,
            depth=args.depth,
            hidden_channels=args.hidden_channels,
            coupling=args.coupling,
            permutation=args.permutation,
            actnorm_data_init=True,
            n_bits=args.n_bits,
            num_classes=10 if args.conditional else None,
            seed=0,
            **nets,
        )
    else:
        model = FVAE(
            x.shape[1:],
            encoder_levels=2,
            encoder_blocks=args.encoder_blocks,
            flow_levels=args.levels,
            flow_depth=args.depth,
            hidden_channels=args.hidden_channels,
            seed=0,
            **nets,
        )
    average = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
    model.compile(keras.optimizers.Adam(args.learning_rate, **average))
    temperatures = [float(t) for t in args.temperatures.split(",")]
    rows = []

    class Judge(keras.callbacks.Callback):
        """Counts training time per step; judges samples every `args.every`."""

        seconds, steps, due = 0.0, 0, args.every

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds += time.perf_counter() - self.started
            self.steps += 1
            if self.seconds < min(self.due, args.budget):
                return
            self.due += args.every
            row = dict(seconds=round(self.seconds), steps=self.steps)
            row["loss"] = round(float(logs["loss"]), 1)
            with averaged(model):
                judged_at = {
                    t: quality.judge_samples(model, x_val, t) for t in temperatures
                }
            for t, judged in judged_at.items():
                row[f"recognised@{t}"] = judged["sample_recognised"]
                row[f"frechet@{t}"] = round(judged["sample_frechet_distance"], 1)
                if "sample_class_agreement" in judged:
                    row[f"agreement@{t}"] = judged["sample_class_agreement"]
            print(row, flush=True)
            rows.append(row)
            if self.seconds >= args.budget:
                self.model.stop_training = True

    model.fit(
        x,
        y if args.conditional else None,
        batch_size=args.batch_size,
        epochs=10_000,
        callbacks=[Judge()],
        verbose=0,
    )
    # fit ends by copying any average into the weights (`finalize_variable_values`)
    labels = {"labels": y_val} if args.conditional else {}
    bpd = float(np.mean(model.bits_per_dim(x_val, **labels)))
    path = RESULTS / f"{args.name}.png"
    if args.conditional:
        viz.class_grid(model, 10, 0.7, 0, path)
    else:
        viz.sample_grid(model, 9, 9, 0.7, seed=0, path=path)
    return rows, bpd


@contextlib.contextmanager
def averaged(model):
    """The model with the optimizer's weight average in its weights, if it keeps one."""
    optimizer = model.optimizer
    if not optimizer.use_ema:
        yield
        return
    variables = model.trainable_variables
    kept = [v.numpy() for v in variables]
    for v, average in zip(variables, optimizer._model_variables_moving_average):
        v.assign(average)
    try:
        yield
    finally:
        for v, value in zip(variables, kept):
            v.assign(value)


if __name__ == "__main__":
    main()
