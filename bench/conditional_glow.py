"""Class-conditional Glow against the unconditional Glow of the same size, after
the same training time, on the labelled MNIST stand-in; the generative
classifier; the pictures (docs/results.md, "Class-conditional Glow").

Both are the benches' Glow (32x32x1, 3 levels x 8 steps, 256 channels, affine
coupling, LU 1x1 conv, data-initialised Actnorm, batch 64, Adam 1e-3, no
guard), one with `num_classes=10`: its top prior and every split prior read the
digit's class. They train in turns (harness `take_turns`) for `--budget`
seconds each on the 4,000 training digits, scored after every turn on 500
held-out digits (dequantised once): bits/dim of `x` for the unconditional
model, of `x` given its class for the conditional one.

At the end, on all 1,000 held-out digits: bits/dim (the conditional model's
also of `x` alone, `log p(x) = log sum_y p(x | y) p(y)`, uniform `p(y)`), the
accuracy and confusion matrix of `predict_class`, and how often the classifier
recognises the conditional model's own samples (10 per class at T = 0.7) as the
class asked for. Pictures: samples by class; the confusion matrix; held-out
digits moved along latent directions of the unconditional model, from one
class to another and from thin to thick strokes (ink).

    python bench/conditional_glow.py                 # 900 s each, ~40 min
    python bench/conditional_glow.py --quick         # small nets, a smoke run
"""

import harness

FULL = dict(levels=3, depth=8, hidden=256, batch=64, lr=1e-3, chunk=90.0)
QUICK = dict(levels=2, depth=1, hidden=16, batch=64, lr=1e-3, chunk=5.0)
IMAGES = harness.HERE.parent / "docs" / "images"


def contestant(name, size, train, held_out, num_classes=None):
    """A Glow trained by `train_on_batch` on batches of indices into the
    training images, scored on indices into the held-out ones: `train` and
    `held_out` are `(images, labels)`."""
    import keras

    keras.utils.set_random_seed(0)
    model = harness.bench_glow(
        train[0].shape[1:], size["lr"], size["levels"], size["depth"],
        size["hidden"], num_classes=num_classes,
    )  # fmt: skip
    (x, labels), (x_eval, y_eval) = train, held_out
    conditional = num_classes is not None

    def step(index):  # the first also initialises Actnorm, as `fit` does
        return model.train_on_batch(x[index], labels[index] if conditional else None)

    def score(index):  # of x, or of x given its class
        y = y_eval[index] if conditional else None
        return model.bits_per_dim(x_eval[index], y, dequantize=False).mean()

    step(list(range(size["batch"])))  # traces the step, outside the budget
    return harness.Contestant(name, size["lr"], step, score, model)


def main():
    parser = harness.arguments(__doc__, quick=True, budget=True, backend="tensorflow")
    args = parser.parse_args()
    import numpy as np

    from keras_flows.data import load_mnist_images
    from keras_flows.models.base import dequantize_data

    size = dict(QUICK if args.quick else FULL)
    size["budget"] = args.budget or (10.0 if args.quick else 900.0)
    (x_train, y_train), (x_val, y_val) = load_mnist_images(with_labels=True)
    if args.quick:
        x_train, y_train = x_train[:512], y_train[:512]
    x_eval = dequantize_data(x_val, (-1.0, 1.0), 8, seed=0)[0]  # one draw for both
    curve = np.arange(0, len(x_eval), 2)  # 500 digits, 50 of each class
    size["data"] = f"MNIST stand-in 32x32x1 with labels, {len(x_train)} train"
    record = harness.Record("conditional_glow", size)
    train, held_out = (x_train, y_train), (x_eval, y_val)
    plain = contestant("Glow", size, train, held_out)
    cond = contestant("Glow | class", size, train, held_out, num_classes=10)
    contestants = [plain, cond]
    train_index = np.arange(len(x_train))
    harness.take_turns(contestants, train_index, curve, size["batch"],
                       size["budget"], size["chunk"])  # fmt: skip
    results = score(plain.model, cond.model, held_out, train, not args.quick)
    rows = [c.summary() for c in contestants]
    rows[0]["held_out_bpd"] = results["plain_bpd"]
    rows[1]["held_out_bpd_given_class"] = results["conditional_bpd_given_class"]
    rows[1]["held_out_bpd"] = results["conditional_bpd_marginal"]
    rows[1]["accuracy"] = results["accuracy"]
    rows[1]["own_samples_recognised"] = results["own_samples_recognised"]
    harness.print_table(rows, {"model": "", "parameters": ",", "steps": "d",
                               "s_per_step": ".3f", "held_out_bpd": ".3f",
                               "held_out_bpd_given_class": ".3f", "accuracy": ".3f",
                               "own_samples_recognised": ".2f"})  # fmt: skip
    record.write({"models": rows, **results}, quick=args.quick)


def score(plain, cond, held_out, train, pictures):
    """The final numbers, and the pictures when `pictures`."""
    import numpy as np

    from keras_flows import viz

    (x_eval, y_eval), (x_train, y_train) = held_out, train
    dims = np.prod(x_eval.shape[1:])
    log_px_y = np.stack([cond.log_prob(x_eval, k) for k in range(10)], axis=1)
    top = log_px_y.max(axis=1)
    log_px = top + np.log(np.exp(log_px_y - top[:, None]).mean(axis=1))

    def bpd(log_p):  # the 8-bit data in [-1, 1]: D log(1 / w) with w = 2 / 256
        return float(np.mean((-log_p + dims * np.log(128)) / (dims * np.log(2))))

    predicted = log_px_y.argmax(axis=1)
    draws = cond.sample(100, 0.7, seed=0, labels=np.repeat(np.arange(10), 10))
    recognised = cond.predict_class(draws) == np.repeat(np.arange(10), 10)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (y_eval, predicted), 1)
    results = dict(
        plain_bpd=float(plain.bits_per_dim(x_eval, dequantize=False).mean()),
        conditional_bpd_given_class=bpd(log_px_y[np.arange(len(y_eval)), y_eval]),
        conditional_bpd_marginal=bpd(log_px),
        accuracy=float(np.mean(predicted == y_eval)),
        own_samples_recognised=float(recognised.mean()),
        own_samples_recognised_per_class=recognised.reshape(10, 10).mean(1).tolist(),
        confusion=confusion.tolist(),
    )
    if not pictures:
        return results
    viz.class_grid(cond, cols=10, temperature=0.7, seed=0,
                   path=IMAGES / "conditional_glow_classes.png")  # fmt: skip
    path = IMAGES / "conditional_glow_confusion.png"
    viz.confusion_figure(cond, x_eval, y_eval, path=path, predicted=predicted)
    # Directions of the unconditional model: class a -> class b, thin -> thick.
    pairs = [(1, 7), (3, 8), (4, 9)]
    x_rows, directions = [], []
    for a, b in pairs:
        d = plain.latent_direction(x_train[y_train == b], x_train[y_train == a])
        x_rows.append(x_eval[y_eval == a][:2])
        directions.append(d)
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
    grids = [plain.manipulate(x, d, strengths) for x, d in zip(x_rows, directions)]
    from keras_flows.viz.grids import images_to_grid

    heads = {i: f"{s:+g}" for i, s in enumerate(strengths)}
    title = "Glow: held-out 1, 3, 4 moved towards 7, 8, 9 (mean-code difference)"
    images_to_grid(plain, np.concatenate(grids), 6, len(strengths),
                   IMAGES / "glow_manipulation_classes.png", title,
                   row_labels=["1->7", "1->7", "3->8", "3->8", "4->9", "4->9"],
                   col_labels=heads)  # fmt: skip
    ink = x_train.reshape(len(x_train), -1).sum(axis=1)
    thick = plain.latent_direction(
        x_train[ink > np.quantile(ink, 0.75)], x_train[ink < np.quantile(ink, 0.25)]
    )
    strengths = (-1.0, -0.5, 0.0, 0.5, 1.0)
    viz.manipulation_grid(
        plain, x_eval[:6], thick, strengths,
        path=IMAGES / "glow_manipulation_thickness.png",
        title="Glow: held-out digits moved along thin -> thick (ink quartiles)",
    )  # fmt: skip
    return results


if __name__ == "__main__":
    main()
