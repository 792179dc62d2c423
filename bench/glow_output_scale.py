"""How the coupling nets' `OutputScale` start changes what the comparison's Glow
learns: the same Glow as `glow_vs_normflows.py` (3 levels x 8 steps, 256
channels, affine, LU 1x1 conv, data init, batch 64, Adam 1e-3 or
`--optimizer`, seed 0), one model per start, trained for the same number of
steps (not seconds: the steps cost the same, so other jobs on the machine do
not bias it) in turns of `--turn` steps on the same stream of batches, scored
on the same 1,000 held-out digits after each turn. `none` is the nets without
the factor (the input clamp alone). A start may name the coupling's scale after
a colon (`none:sigmoid`: no factor, `sigmoid` scale; default: `Glow`'s).
`--set KEY=VALUE,...` changes other arguments of every start's Glow
(`--set conv1x1_data_init=True`).
TensorFlow unless KERAS_BACKEND says otherwise.

    python bench/glow_output_scale.py --starts 0.1,0.3,none   # ~35 min
    python bench/glow_output_scale.py --starts 0.1,none:sigmoid,0.1:sigmoid
    python bench/glow_output_scale.py --starts 0.1 --optimizer Adamax
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
    parser.add_argument("--optimizer", choices=harness.OPTIMIZERS, default="Adam",
                        help="of every start (Adamax: Glow's own code's)")  # fmt: skip
    parser.add_argument("--set", default="", metavar="KEY=VALUE,...", help="see above")
    args = parser.parse_args()
    if args.quick:
        args.turn, args.turns = 5, 2
    size = (3, 2, 32) if args.quick else (3, 8, 256)  # levels, depth, channels
    record = harness.Record(args.name, vars(args))

    import keras
    import numpy as np

    x_train, x_eval = harness.stand_in(*((512, 64) if args.quick else ()))
    first = x_train[:64]
    runs = {}
    for start in args.starts.split(","):
        keras.utils.set_random_seed(0)
        factor, _, coupling_scale = start.partition(":")
        scale = None if factor == "none" else float(factor)
        options = dict(net_output_scale=scale, optimizer=args.optimizer)
        options.update(harness.glow_changes(args.set))
        if coupling_scale:  # else Glow's default
            options["coupling_scale"] = coupling_scale
        ours = harness.glow_contestant(f"start {start}", 1e-3, first, *size, **options)
        runs[start] = ours, harness.batches_of(x_train, 64, seed=1)

    def turn(ours, stream):
        """`args.turn` steps, then the held-out score: one entry of `ours.curve`."""
        began = time.perf_counter()
        for _ in range(args.turn):
            ours.model.train_on_batch(next(stream))
        ours.seconds += time.perf_counter() - began
        ours.steps += args.turn
        ours.curve.append((ours.seconds, ours.steps, ours.bits_per_dim(x_eval)))
        print(f"{ours.name}: {ours.steps} steps, held-out {ours.curve[-1][2]:.3f}")

    harness.in_turns({s: lambda r=run: turn(*r) for s, run in runs.items()}, args.turns)
    rows = [
        dict(
            start=start,
            held_out=round(ours.curve[-1][2], 4),
            mean_of_last_3=float(np.mean([bpd for *_, bpd in ours.curve[-3:]])),
            s_per_step=ours.seconds / ours.steps,
            curve_steps_bpd=[(steps, round(bpd, 4)) for _, steps, bpd in ours.curve],
        )
        for start, (ours, _) in runs.items()
    ]
    columns = dict(start="", held_out=".3f", mean_of_last_3=".3f", s_per_step=".3f")
    harness.print_table(rows, columns)
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
