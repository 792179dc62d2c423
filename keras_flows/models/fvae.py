"""f-VAE: a VAE whose prior is a Glow-like flow, as in the third post of the
"细水长flow" series and its Keras 2 `f-VAEs.py`.

    z = E(x) + sigma1 * u,   u ~ N(0, I)          posterior q(z|x) = N(E(x), sigma1^2)
    x ~ N(G(z), sigma2^2)                         likelihood p(x|z)
    F(z) ~ N(0, I)                                prior p(z), an exact flow

E needs no log-det, so it carries most of the non-linearity and F can be small.
The loss per image is the single-draw -ELBO in nats,
`-E_q[log p(x|z) + log p(z) - log q(z|x)]`, with D data and D_z latent dims:

    log p(x|z) = -|x - G(z)|^2 / (2 sigma2^2) - D log sigma2 - D/2 log(2 pi)
    log p(z)   = -|F(z)|^2 / 2 - D_z/2 log(2 pi) + log|det dF/dz|
    log q(z|x) = -|u|^2 / 2 - D_z log sigma1 - D_z/2 log(2 pi)
"""

import math

import keras
import numpy as np
from keras import ops
from scipy.special import logsumexp

from keras_flows import layers as L
from keras_flows import replicas
from keras_flows.checks import check_image_shape, check_sizes, reject
from keras_flows.graph import build_decoder, build_log_det_model
from keras_flows.layers.noise import SavesRandomState
from keras_flows.models.base import GenerativeModel, constructor_arguments, gaussian_nll
from keras_flows.models.glow import (
    NET_INPUT_BOUND,
    NET_OUTPUT_SCALE,
    flow_level,
    glow_flow,
)
from keras_flows.serialization import named, register


def residual_block(x, width=None, name=None):
    """The original script's block `x + Conv1x1(ReLU(BN(Conv3x3(x))))`, the 3x3
    convolution `width` channels wide (`None`: the input's) and bias-free (BN would
    cancel it); the zero-initialised 1x1 makes a deep stack start as the identity."""
    channels = x.shape[-1]
    conv3x3 = dict(padding="same", use_bias=False, name=named(name, "conv3x3"))
    h = keras.layers.Conv2D(width or channels, 3, **conv3x3)(x)
    sync = keras.backend.backend() == "tensorflow"
    h = keras.layers.BatchNormalization(synchronized=sync, name=named(name, "bn"))(h)
    h = keras.layers.ReLU(name=named(name, "relu"))(h)
    conv1x1 = dict(kernel_initializer="zeros", name=named(name, "conv1x1"))
    h = keras.layers.Conv2D(channels, 1, **conv1x1)(h)
    return keras.layers.Add(name=named(name, "add"))([x, h])


def build_inference_net(input_shape, levels=3, blocks=12, width=None, name="E"):
    """E, the mean of q(z|x): `levels` x [Squeeze -> `blocks` residual blocks].
    The latent `(H / 2^L, W / 2^L, C 4^L)` is as large as the image (the post
    keeps z full-size to avoid VAE blur)."""
    x_in = keras.Input(input_shape, name="x")
    x = x_in
    for i in range(levels):
        x = L.Squeeze(name=f"{name}_squeeze{i}")(x)  # (B, H/2^(i+1), W/2^(i+1), .)
        for j in range(blocks):
            x = residual_block(x, width, name=f"{name}_level{i}_block{j}")
    return keras.Model(x_in, x, name=name)


def build_generator(latent_shape, levels=3, blocks=12, width=None, name="G"):
    """G, E's mirror: `levels` x [`blocks` residual blocks -> UnSqueeze], then
    tanh (the data live in [-1, 1])."""
    z_in = keras.Input(latent_shape, name="z")
    x = z_in
    for i in reversed(range(levels)):
        for j in range(blocks):
            x = residual_block(x, width, name=f"{name}_level{i}_block{j}")
        x = L.UnSqueeze(name=f"{name}_unsqueeze{i}")(x)  # (B, 2h, 2w, C/4)
    x = keras.layers.Activation("tanh", name=f"{name}_tanh")(x)
    return keras.Model(z_in, x, name=name)


def fvae_flow(z, levels=4, depth=12, seed=None, name=None, **step_kwargs):
    """F, the original script's flow on the latent: `glow_flow` with the squeeze
    after the split (the first level runs at E's resolution), or a `Flatten` (the
    identity) when `depth=0`. Arguments and result as in `glow_flow`."""
    if depth == 0:
        return [L.Flatten(name=named(name, "flatten"))(z)]
    level = dict(split=levels > 1, squeeze=False, seed=seed, name=named(name, "level0"))
    part, rest = flow_level(z, depth, **level, **step_kwargs)
    upper_seed = None if seed is None else seed + depth
    upper = named(name, "upper")
    return [part, *glow_flow(rest, levels - 1, depth, upper_seed, upper, **step_kwargs)]


class LogSigma(keras.layers.Layer):
    """A layer with one trainable scalar `log_sigma`, starting at 0 (sigma = 1)."""

    def build(self, input_shape):
        # Not autocast: the log-densities are computed from the float32 scalar.
        self.log_sigma = self.add_weight(
            name="log_sigma", shape=(), initializer="zeros", autocast=False
        )


@register
class PosteriorSample(LogSigma):
    """`[mean, u] -> [z, log q(z|x)]`: `z = mean + sigma1 u` and `log q(z|x)` as
    in the module's docstring, per sample, in float32."""

    def call(self, inputs):
        mean, u = inputs
        u = ops.cast(u, mean.dtype)
        z = mean + ops.cast(ops.exp(self.log_sigma), mean.dtype) * u
        dims = math.prod(mean.shape[1:])
        return z, -gaussian_nll(u) - dims * self.log_sigma


@register
class GaussianLikelihood(LogSigma):
    """`[x, mean] -> log p(x|z) = log N(x; mean, sigma2^2 I)` per sample, float32."""

    def call(self, inputs):
        x, mean = (ops.cast(v, "float32") for v in inputs)
        dims = math.prod(x.shape[1:])
        residual = (x - mean) * ops.exp(-self.log_sigma)
        return -gaussian_nll(residual) - dims * self.log_sigma


@register
class FVAE(SavesRandomState, GenerativeModel):
    """f-VAE on images in [-1, 1]: encoder E, generator G, flow prior F and the
    trainable scalars sigma1 (posterior std) and sigma2 (likelihood std).

    Not a `FlowModel`: G is not the inverse of E, and `log_prob` is a bound
    (training minimises the batch mean of the -ELBO). Its parts share their
    weights: `inference_net` (E), `generator` (G), `flow` (F), `encoder`
    (`x -> F(E(x))`), `decoder` (`eps -> G(F^-1(eps))`) and `network`
    (`[x, u] -> log p(x, z) - log q(z|x)`, which holds every weight).

    Args:
        input_shape: `(H, W, C)`, `H` and `W` divisible by `2**encoder_levels`.
        encoder_levels: squeezes in E and unsqueezes in G (original: 3).
        encoder_blocks: residual blocks per level (original: 12).
        flow_levels: levels of F (original: 4), dividing the latent's height and
            width by `2**(flow_levels - 1)`.
        flow_depth: steps per level of F (original: 12); 0 makes F the identity.
        hidden_channels: width of F's coupling nets (original: 256).
        n_bits: bits per pixel of the data (1 to 8), dequantised as in Glow.
        seed: seed of F's permutations and of the training noise.
        block_channels: width of the 3x3 convolutions of E and G (`None`, the
            original script: each block's channel count).
        net_input_bound, net_output_scale: as in `Glow`, for F's coupling nets.
        **kwargs: `keras.Model` arguments (`name`).

    Example:
    >>> import keras, numpy as np
    >>> model = FVAE((8, 8, 1), encoder_levels=1, encoder_blocks=1, flow_levels=2,
    ...              flow_depth=1, hidden_channels=8, seed=0)
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
    >>> history = model.fit(x, batch_size=4, epochs=1, verbose=0)
    >>> model.log_prob(x[:2], num_samples=4).shape
    (2,)

    Reference: Su & Wu, "f-VAEs: Improve VAEs with Conditional Flows" (2018),
    arXiv:1809.05861; Su, "细水长flow之f-VAEs：Glow与VAEs的联姻" (2018).
    """

    exact_likelihood = False
    added_arguments = {"net_input_bound": None, "net_output_scale": None}

    def __init__(
        self,
        input_shape=(64, 64, 3),
        encoder_levels=3,
        encoder_blocks=12,
        flow_levels=4,
        flow_depth=12,
        hidden_channels=256,
        n_bits=8,
        seed=None,
        block_channels=None,
        net_input_bound=NET_INPUT_BOUND,
        net_output_scale=NET_OUTPUT_SCALE,
        **kwargs,
    ):
        config = constructor_arguments(locals())
        input_shape, seed = config["input_shape"], config["seed"]
        check_image_shape(input_shape, "FVAE")
        sizes = dict(encoder_levels=encoder_levels, flow_levels=flow_levels)
        check_sizes("FVAE", **sizes, hidden_channels=hidden_channels)
        sizes = dict(encoder_blocks=encoder_blocks, flow_depth=flow_depth)
        check_sizes("FVAE", minimum=0, **sizes)
        if block_channels is not None:
            check_sizes("FVAE", block_channels=block_channels)
        height, width, channels = input_shape
        factor = 2**encoder_levels
        needs = "height and width divisible by 2**encoder_levels"
        shapes = f"input_shape={input_shape}, encoder_levels={encoder_levels}"
        reject(height % factor or width % factor, "FVAE", needs, shapes)
        latent_shape = (height // factor, width // factor, channels * factor**2)
        factor = 2 ** (flow_levels - 1)
        if flow_depth and (latent_shape[0] % factor or latent_shape[1] % factor):
            raise ValueError(
                "`FVAE`'s flow squeezes the latent after each split, so its height "
                "and width must be divisible by 2**(flow_levels - 1). Received: "
                f"latent shape {latent_shape}, flow_levels={flow_levels}"
            )
        data = dict(image_shape=input_shape, data_range=(-1.0, 1.0), n_bits=n_bits)
        super().__init__(**data, config=config, **kwargs)
        self.latent_shape = latent_shape
        blocks = (encoder_levels, encoder_blocks, block_channels)
        self.inference_net = build_inference_net(input_shape, *blocks)
        self.generator = build_generator(latent_shape, *blocks)
        z_in = keras.Input(latent_shape, name="z")
        # The network adds log|det dF/dz| to the ELBO itself, not to the losses.
        steps = dict(hidden_channels=hidden_channels, add_logdet_to_loss=False)
        steps.update(net_input_bound=net_input_bound, net_output_scale=net_output_scale)
        parts = fvae_flow(z_in, flow_levels, flow_depth, seed, "F", **steps)
        eps = L.Concat(name="F_z")(parts) if len(parts) > 1 else parts[0]
        self.flow = keras.Model(z_in, eps, name="F")
        self.posterior = PosteriorSample(name="posterior")  # sigma1
        self.likelihood = GaussianLikelihood(name="likelihood")  # sigma2

        x_in = keras.Input(input_shape, name="x")
        u_in = keras.Input(latent_shape, name="u")
        x = L.Dequantize(n_bits, self.data_range, seed=seed, name="dequantize")(x_in)
        z, log_q = self.posterior([self.inference_net(x), u_in])
        log_px = self.likelihood([x, self.generator(z)])
        eps, log_det = build_log_det_model(self.flow, name="F_log_det")(z)
        log_pz = ops.add(ops.negative(gaussian_nll(eps)), log_det)
        log_weight = ops.subtract(ops.add(log_px, log_pz), log_q)
        self.network = keras.Model([x_in, u_in], log_weight, name="fvae_network")

        x_in = keras.Input(input_shape, name="x")
        encoded = self.flow(self.inference_net(x_in))
        self.encoder = keras.Model(x_in, encoded, name="fvae_encoder")
        eps_in = keras.Input(eps.shape[1:], name="z")
        decoded = self.generator(build_decoder(self.flow, name="F_inverse")(eps_in))
        self.decoder = keras.Model(eps_in, decoded, name="fvae_decoder")
        # Its own stream, not the dequantisation noise's.
        self.noise = keras.random.SeedGenerator(seed + 1)
        self.built = True

    @property
    def weights_model(self):
        return self.network

    def call(self, x, training=None):
        """The per-image single-draw ELBO `log p(x, z) - log q(z|x)`."""
        shape = (ops.shape(x)[0], *self.latent_shape)
        kw = dict(seed=self.noise, dtype="float32")
        u = replicas.draw_global(keras.random.normal, shape, **kw)
        return self.network([x, u], training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The batch mean of the -ELBO plus any weight regularisers, scaled for
        the number of replicas. It reads this call's output, not `add_loss`:
        under `tf.distribute` the replicas share the model's loss list."""
        loss = -ops.mean(y_pred)
        for extra in self.losses:
            loss = loss + ops.cast(extra, loss.dtype)
        return replicas.scale_loss_for_replicas(loss)

    def log_prob(self, x, labels=None, *, num_samples=1, batch_size=256, seed=0):
        """A lower bound on `log p(x)` per image in nats, shape `(batch,)`: the
        importance-weighted bound `log mean_i exp(log p(x, z_i) - log q(z_i|x))`
        over `num_samples` seeded draws `z_i = E(x) + sigma1 u_i` (one draw is
        the ELBO; more tighten it towards `log p(x)`).

        Reference: Burda, Grosse & Salakhutdinov, "Importance Weighted
        Autoencoders" (2016).
        """
        x = self._inputs(x, labels)  # an f-VAE takes no labels: said clearly
        check_sizes(type(self).__name__, num_samples=num_samples)
        k = int(num_samples)
        per_batch = max(1, batch_size // k)  # images whose k draws share a batch
        rng = np.random.default_rng(seed)
        log_weights = []
        # Image-major: draw i of image j is row j * k + i, from one stream drawn
        # in order, so the draws do not depend on `batch_size`.
        for start in range(0, len(x), per_batch):
            images = x[start : start + per_batch]
            u = rng.standard_normal((len(images), k, *self.latent_shape))
            u = u.reshape(-1, *self.latent_shape).astype("float32")
            rows = [np.repeat(images, k, axis=0), u]
            log_weights.append(np.asarray(self.network.predict_on_batch(rows)))
        log_weights = np.concatenate(log_weights).astype("float64").reshape(-1, k)
        return logsumexp(log_weights, axis=1) - np.log(k)

    def bits_per_dim(
        self, x, labels=None, *, num_samples=1, batch_size=256, dequantize=True, seed=0
    ):
        """Per-image bits/dim from the bound `log_prob(x, num_samples)`, as in
        `GenerativeModel.bits_per_dim`: an upper bound in expectation."""
        options = dict(batch_size=batch_size, dequantize=dequantize, seed=seed)
        return super().bits_per_dim(x, labels, num_samples=num_samples, **options)

    def reconstruct(self, x, labels=None, *, batch_size=256):
        """`G(E(x))`: the posterior mean decoded, no noise (F cancels out)."""
        x = self._inputs(x, labels)
        z = self.inference_net.predict(x, batch_size=batch_size, verbose=0)
        return self.generator.predict(z, batch_size=batch_size, verbose=0)
