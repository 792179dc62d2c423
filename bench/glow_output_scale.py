"""How the coupling nets' `OutputScale` start changes what the comparison's Glow
learns: the same Glow as `glow_vs_normflows.py` (3 levels x 8 steps, 256
channels, affine, LU 1x1 conv, data init, batch 64, Adam 1e-3, seed 0), one
model per start, trained for the same number of steps (not seconds: the steps
cost the same, so other jobs on the machine do not bias it) in turns of
`--turn` steps on the same stream of batches, scored on the same 1,000
held-out digits after each turn. `none` is the nets without the factor (the
input clamp alone). TensorFlow unless KERAS_BACKEND says otherwise.

    python bench/glow_output_scale.py --starts 0.1,0.3,none   # ~35 min
    python bench/glow_output_scale.py --quick
"""

import time

import harness


def main():
    parser = harness.arguments(
        __doc__, quick=True, name="glow_output_scale", backend="tensorflow"
    )
    parser.add_argument("--starts", default="0.1,0.3,none")
    parser.add_argument("--turn", type=int, default=140, help="steps a turn")
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    if args.quick:
        args.turn, args.turns = 5, 2
    size = (3, 2, 32) if args.quick else (3, 8, 256)  # levels, depth, channels
    record = harness.Record(args.name, vars(args))

    import keras
    import numpy as np

    from keras_flows.graph import initialize

    x_train, x_eval = harness.stand_in(*((512, 64) if args.quick else ()))
    first = x_train[:64]
    runs = {}
    for start in args.starts.split(","):
        keras.utils.set_random_seed(0)
        scale = None if start == "none" else float(start)
        model = harness.bench_glow(first.shape[1:], 1e-3, *size, net_output_scale=scale)
        initialize(model.encoder, first)
        model.train_on_batch(first)  # traced, outside the count
        stream = harness.batches_of(x_train, 64, seed=1)
        runs[start] = dict(model=model, stream=stream, curve=[], seconds=0.0)
    for r in range(args.turns):
        for start in list(runs)[:: 1 if r % 2 == 0 else -1]:
            run = runs[start]
            began = time.perf_counter()
            for _ in range(args.turn):
                run["model"].train_on_batch(next(run["stream"]))
            run["seconds"] += time.perf_counter() - began
            mean = run["model"].bits_per_dim(x_eval, dequantize=False).mean()
            run["curve"].append(((r + 1) * args.turn, round(float(mean), 4)))
            print(f"start {start}: {(r + 1) * args.turn} steps, held-out {mean:.3f}")
    rows = [
        dict(
            start=start,
            held_out=run["curve"][-1][1],
            mean_of_last_3=float(np.mean([bpd for _, bpd in run["curve"][-3:]])),
            s_per_step=run["seconds"] / (args.turn * args.turns),
            curve_steps_bpd=run["curve"],
        )
        for start, run in runs.items()
    ]
    columns = dict(start="", held_out=".3f", mean_of_last_3=".3f", s_per_step=".3f")
    harness.print_table(rows, columns)
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
