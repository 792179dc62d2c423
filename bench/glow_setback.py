"""Where a Glow training setback comes from: the stability issue's model in a
plain `train_on_batch` loop (Adam 1e-3, batch 64, the MNIST stand-in), then the
largest one-step rise of the batch loss taken apart.

For the batch whose loss rose most over the one before, with the weights
before and after the update between them: each level's `1/2 |z|^2` and the
log-det on that batch, and the batch loss with each layer's share of the update
applied alone. Shares that each lower the loss while the whole update raises
it mean the layers overshoot together, not that one layer misbehaves.

    python bench/glow_setback.py --seed 4 --steps 40
"""

from harness import arguments


def main():
    parser = arguments(__doc__)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()

    import numpy as np
    from glow_snippet import snippet

    from keras_flows.models.base import dequantize_data

    x, model = snippet(args.seed)
    x = x[:4500]  # the snippet's training digits
    order = np.random.default_rng(args.seed).permutation(len(x) - len(x) % 64)
    losses, weights, batches = [], [], []
    for i in range(args.steps):
        batches.append(x[order[i * 64 % len(order) :][:64]])
        weights.append(model.get_weights())
        losses.append(float(model.train_on_batch(batches[-1])))
    print("batch losses (nats):", " ".join(f"{v:.0f}" for v in losses))
    i = 4 + int(np.argmax(np.diff(losses)[3:]))
    print(f"largest rise: step {i} -> {i + 1}, {losses[i - 1]:.0f} -> {losses[i]:.0f}")

    flat = [op for op in model.encoder.operations if op.name.endswith("flatten")]
    sizes = [op.output.shape[1] for op in flat]  # each level's latent part
    noisy = dequantize_data(batches[i], model.data_range, model.n_bits, seed=0)[0]

    def loss(w, parts=False):
        """Mean NLL in nats of batch `i`, the same noise each time."""
        model.set_weights(w)
        z, log_det = model.log_det_model.predict(noisy, verbose=0)
        cuts = np.cumsum([0, *sizes])
        halves = [0.5 * (z[:, a:b].astype("float64") ** 2).sum(1)
                  for a, b in zip(cuts, cuts[1:])]  # fmt: skip
        if parts:
            print("  1/2|z|^2 per level:", [round(h.mean()) for h in halves],
                  " log-det:", round(float(log_det.mean())))  # fmt: skip
        return float(
            (sum(halves) - log_det + 0.5 * z.shape[1] * np.log(2 * np.pi)).mean()
        )

    before, after = loss(weights[i - 1], True), loss(weights[i], True)
    print(f"on batch {i + 1}: {before:.0f} nats before the update, {after:.0f} after")
    groups = {}
    for k, w in enumerate(model.weights):
        groups.setdefault(w.path.split("/")[0], []).append(k)
    shares = []
    for layer, index in groups.items():
        w = list(weights[i - 1])
        for k in index:
            w[k] = weights[i][k]
        shares.append((loss(w) - before, layer))
    shares.sort()
    print(f"each layer's share alone, summed: {sum(s for s, _ in shares):.0f} nats;"
          f" the whole update: {after - before:.0f}")  # fmt: skip
    for share, layer in shares[:5] + shares[-3:]:
        print(f"  {layer:34s} {share:+8.1f}")


if __name__ == "__main__":
    main()
