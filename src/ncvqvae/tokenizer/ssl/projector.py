"""The shared SSL projector P, built from a size spec like "4096-4096-4096", and the
predictor Q of the predictive methods."""

from __future__ import annotations

from torch import nn

from ncvqvae.tokenizer.ssl.iternorm import IterNorm


def parse_projector_spec(spec: str) -> list[int]:
    """Layer widths from a dash-separated spec: "4096-4096-4096" -> [4096, 4096, 4096]."""
    parts = spec.split("-")
    if not spec or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(
            f"projector spec {spec!r} must be positive layer widths joined by '-', "
            "e.g. '4096-4096-4096'."
        )
    return [int(p) for p in parts]


class Projector(nn.Sequential):
    """The shared SSL projector P, built from a size spec like "4096-4096-4096".

    Every layer but the last is Linear -> BatchNorm1d -> ReLU; the last is a plain Linear,
    so the embedding is not forced non-negative. As in the Barlow Twins reference code the
    Linear layers have no bias: a bias before BatchNorm is cancelled by its centring, and
    the SSL losses (or IterNorm) centre the output themselves. With
    ``iternorm=True`` (VIbCReg) an IterNorm whitens the output.

    Args:
        in_dim: width of the pooled latent (2 d = 128 in NC-VQVAE).
        spec: dash-separated output widths of the layers, any number >= 1.
        iternorm: append IterNorm(out_dim) (VIbCReg).
        iternorm_group_size, iternorm_iterations, iternorm_momentum: IterNorm's group size,
            Newton-Schulz iterations T and running-average momentum (see IterNorm).

    Attributes:
        out_dim: F, the width of the embedding.

    Shapes:
        x: (B, in_dim) -> (B, out_dim).
    """

    def __init__(
        self,
        in_dim: int,
        spec: str = "4096-4096-4096",
        *,
        iternorm: bool = False,
        iternorm_group_size: int = 64,
        iternorm_iterations: int = 5,
        iternorm_momentum: float = 0.1,
    ) -> None:
        widths = [in_dim, *parse_projector_spec(spec)]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-2], widths[1:-1]):
            layers += [
                nn.Linear(width_in, width_out, bias=False),
                nn.BatchNorm1d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Linear(widths[-2], widths[-1], bias=False))
        if iternorm:
            layers.append(
                IterNorm(widths[-1], group_size=iternorm_group_size, T=iternorm_iterations, momentum=iternorm_momentum)
            )
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = widths[-1]


class Predictor(nn.Sequential):
    """Q: Linear(F, hidden) -> BN -> ReLU -> Linear(hidden, F), the usual bottleneck MLP."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        hidden = hidden or max(dim // 4, 16)
        super().__init__(
            nn.Linear(dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, dim),
        )
