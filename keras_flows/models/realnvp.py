"""RealNVP on vectors: the two-moons model of *Generative Deep Learning* (2nd ed.),
chapter 6 (after keras-io's "Density estimation using Real NVP")."""

import keras
import numpy as np

from keras_flows.checks import check_sizes
from keras_flows.layers.couplings import MaskedCouple
from keras_flows.models.base import FlowModel, constructor_arguments
from keras_flows.nets import mlp
from keras_flows.serialization import register


def checkerboard_masks(input_dim, coupling_layers):
    """The alternating binary masks (1 = kept), `(coupling_layers, input_dim)`
    float32: mask `k` keeps the coordinates `j` with `(j + k) % 2 == 1`, so two
    consecutive couplings update every coordinate (for `input_dim=2`, the book's
    `[[0, 1], [1, 0]] * 3`)."""
    j = np.arange(input_dim)
    return np.stack([(j + k) % 2 for k in range(coupling_layers)]).astype("float32")


def build_encoder(
    input_dim, coupling_layers, coupling_dim, regularization, optimize_regularization
):
    """The book's encoder `f = g^-1` (data -> latent), see `RealNVP`."""
    regularizer = keras.regularizers.L2(regularization)
    regularizer = regularizer if optimize_regularization else None
    # In the book's order (s tower, then t tower), so a seed gives the book's initial
    # weights; Glorot init on the last layers too, as the book.
    couplings = []
    for k, mask in enumerate(checkerboard_masks(input_dim, coupling_layers)):
        s_net, t_net = (
            mlp(input_dim, input_dim, coupling_dim, 4, activation, regularizer, name)
            for activation, name in (("tanh", f"s_{k}"), (None, f"t_{k}"))
        )
        # No log_scale_bound: the tanh already bounds |s| < 1.
        coupling = MaskedCouple(mask.tolist(), t_net, s_net, None, name=f"coupling_{k}")
        couplings.append(coupling)
    x_in = keras.Input((input_dim,), name="x")
    x = x_in
    for coupling in reversed(couplings):
        x = coupling.inverse()(x)
    return keras.Model(x_in, x, name="realnvp_encoder")


@register
class RealNVP(FlowModel):
    """RealNVP with masked affine couplings and a standard normal prior.

    As in the book, the decoder `g` (latent -> data) is `coupling_layers`
    `MaskedCouple`s with the masks of `checkerboard_masks`; the encoder `f = g^-1`
    runs their inverses from last to first.

    Args:
        input_dim: dimension of one data point (2 for two moons).
        coupling_layers: number of affine couplings (book: 6).
        coupling_dim: width of the hidden layers of the s and t nets (book: 256).
        regularization: L2 factor on every kernel (book: 0.01).
        optimize_regularization: whether the L2 penalties are part of the loss
            (the book's `train_step` never optimises them).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:
    >>> import numpy as np
    >>> model = RealNVP(coupling_layers=2, coupling_dim=8)
    >>> x = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    >>> bool(np.allclose(model.decode(model.encode(x)), x, atol=1e-5))
    True
    >>> model.log_prob(x).shape
    (5,)

    Reference: Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real
    NVP" (2016); Foster, *Generative Deep Learning* 2nd ed., chapter 6;
    Mandolini et al., keras-io "Density estimation using Real NVP".
    """

    def __init__(
        self,
        input_dim=2,
        coupling_layers=6,
        coupling_dim=256,
        regularization=0.01,
        optimize_regularization=False,
        **kwargs,
    ):
        config = constructor_arguments(locals())
        # A coupling keeps some coordinates and transforms the others.
        check_sizes("RealNVP", minimum=2, input_dim=input_dim)
        check_sizes("RealNVP", coupling_layers=coupling_layers)
        super().__init__(build_encoder(**config), config=config, **kwargs)

    @property
    def distribution(self):
        """The prior `N(0, I)` as a TFP `MultivariateNormalDiag`, as in the book
        (TensorFlow backend only: TFP's JAX substrate does not work)."""
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "`RealNVP.distribution` is a TFP distribution and needs the TensorFlow "
                f"backend. Received: backend={keras.backend.backend()!r}. Use "
                "`model.log_prob(x)` and `model.sample(num)` on any backend."
            )
        import tensorflow_probability as tfp

        zeros = np.zeros(self.config["input_dim"], "float32")
        return tfp.distributions.MultivariateNormalDiag(loc=zeros, scale_diag=zeros + 1)

    def nll(self, x, *, batch_size=256):
        """Mean negative log-likelihood of `x` in nats per point."""
        return float(-np.mean(self.log_prob(x, batch_size=batch_size)))
