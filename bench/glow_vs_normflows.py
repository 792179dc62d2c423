"""Glow against normflows' Glow (PyTorch): step time and held-out bits/dim after
the same CPU time.

Both at one architecture on the MNIST stand-in (32x32x1 in [-1, 1], 4,000 train
/ 1,000 held out): 3 levels x 8 steps, 256 hidden channels, affine coupling, LU
1x1 convolution, Actnorm initialised from the first batch, batch 64,
`Adam(1e-3)`, no guard. Ours: the harness's `glow_contestant` (scale `tanh`,
learned priors at the splits conditioned on the kept half).
normflows: the harness's `normflows_glow` (its `glow_colab` example without
classes: `sigmoid(h + 2)` scales, unconditional `GlowBase` priors at the splits;
its docstring has the bits/dim conversion between its [0, 1] images and our
[-1, 1]), trained with `torch.optim.Adam(lr=1e-3)` on `forward_kld`. Held out,
both see the same dequantised images (one seeded draw `x + u`).

`held_out_blowup_at_step` flags a held-out score after a turn that is
non-finite or 10x the best before it: a model can explode on held-out images
while every training loss stays finite (the code before 5c931c5 did, in
docs/results.md).

The two train in turns (harness `take_turns`) in one process; ours on
TensorFlow unless KERAS_BACKEND says otherwise. `pip install torch==2.13.0
normflows` to run this (not dependencies of keras_flows).

    python bench/glow_vs_normflows.py                # 600 s each, ~25 min
    python bench/glow_vs_normflows.py --precisions float32,bfloat16 \
        --name glow_vs_normflows_bf16                # ~40 min
    python bench/glow_vs_normflows.py --quick        # small nets, 10 s each
"""

import harness

FULL = dict(levels=3, depth=8, hidden=256, batch=64, lr=1e-3, chunk=60.0)
QUICK = dict(levels=3, depth=2, hidden=32, batch=64, lr=1e-3, chunk=5.0)


def ours(size, first_batch, precision):
    import keras

    name = f"keras_flows Glow ({keras.backend.backend()}, {precision})"
    keras.utils.set_random_seed(0)
    sizes = size["levels"], size["depth"], size["hidden"]
    return harness.glow_contestant(name, size["lr"], first_batch, *sizes, precision)


def normflows_glow(size, first_batch):
    sizes = size["levels"], size["depth"], size["hidden"]
    shape = first_batch.shape[1:]
    model, step, bits = harness.normflows_glow(size["lr"], shape, *sizes)
    step(first_batch)  # Actnorm's data init, outside the budget
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    name = "normflows Glow (torch)"
    return harness.Contestant(
        name, size["lr"], step, lambda x: bits(x).mean(), model, params
    )


def main():
    parser = harness.arguments(
        __doc__, quick=True, budget=True, name="glow_vs_normflows", backend="tensorflow"
    )
    parser.add_argument("--precisions", default="float32", help="ours in each of these")
    parser.add_argument("--without-normflows", action="store_true", help="ours only")
    args = parser.parse_args()
    if not args.without_normflows:
        # torch's Adam loads triton's native library, which crashes (SIGSEGV) once
        # TensorFlow's is in the process (torch 2.13 / triton 3.7 / TF 2.21); first,
        # it loads fine.
        import torch._dynamo  # noqa: F401
    size = dict(QUICK if args.quick else FULL)
    size["budget"] = args.budget or (10.0 if args.quick else 600.0)
    size["precisions"] = args.precisions.split(",")
    x_train, x_eval = harness.stand_in(*((512, 64) if args.quick else ()))
    size["data"] = (
        f"MNIST stand-in 32x32x1, {len(x_train)} train, {len(x_eval)} held out"
    )
    record = harness.Record(args.name, size)
    first = x_train[: size["batch"]]
    contestants = [ours(size, first, p) for p in size["precisions"]]
    if not args.without_normflows:
        contestants.append(normflows_glow(size, first))
    harness.take_turns(
        contestants, x_train, x_eval, size["batch"], size["budget"], size["chunk"]
    )
    # training_loss_per_turn: ours in nats on [-1, 1] images, normflows' in bits/dim.
    rows = [c.summary() for c in contestants]
    columns = {"model": "", "parameters": ",", "steps": "d", "s_per_step": ".3f"}
    columns |= {"held_out": ".3f", "best_held_out": ".3f"}
    columns |= {"held_out_blowup_at_step": ""}
    harness.print_table(rows, columns)
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
