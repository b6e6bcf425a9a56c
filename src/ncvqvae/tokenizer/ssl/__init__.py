"""The self-supervised branches of the stage-1 objective, one module per family:

- ``redundancy``: Barlow Twins;
- ``variance_covariance``: VICReg, VIbCReg (with ``iternorm``);
- ``predictive``: BYOL, SimSiam;
- ``clustering``: SwAV;
- ``distillation``: DINO;
- ``masked``: data2vec;

with the projector and predictor in ``projector``, EMA teachers in ``ema``, and the
cross-rank collectives every global-batch statistic uses in :mod:`ncvqvae.collectives`.
Adding a method: a module with an :class:`SSLBranch`, its line in :data:`BRANCHES`, and
its section in the config (:mod:`ncvqvae.config.ssl_schema`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import SSLBatch, SSLBranch, SSLLossOutput, pool_latent
from ncvqvae.tokenizer.ssl.clustering import SwAVBranch
from ncvqvae.tokenizer.ssl.distillation import DINOBranch
from ncvqvae.tokenizer.ssl.masked import Data2VecBranch
from ncvqvae.tokenizer.ssl.predictive import BYOLBranch, SimSiamBranch
from ncvqvae.tokenizer.ssl.redundancy import BarlowTwinsBranch
from ncvqvae.tokenizer.ssl.variance_covariance import VIbCRegBranch, VICRegBranch

# name -> builder(config, pooled width 2d, tokenizer) of the method's branch
BRANCHES: dict[str, Callable[[SSLConfig, int, nn.Module], SSLBranch]] = {
    "barlowtwins": lambda c, d, t: BarlowTwinsBranch(c, d),
    "vicreg": lambda c, d, t: VICRegBranch(c, d),
    "vibcreg": lambda c, d, t: VIbCRegBranch(c, d),
    "simsiam": lambda c, d, t: SimSiamBranch(c, d),
    "byol": lambda c, d, t: BYOLBranch(c, d, t),
    "swav": lambda c, d, t: SwAVBranch(c, d),
    "dino": lambda c, d, t: DINOBranch(c, d, t),
    "data2vec": lambda c, d, t: Data2VecBranch(c, t),
}


def build_branch(config: SSLConfig, pooled_dim: int, tokenizer: nn.Module) -> SSLBranch | None:
    """The branch of ``config.method``; None for the baseline (``none``)."""
    if config.method == "none":
        return None
    return BRANCHES[config.method](config, pooled_dim, tokenizer)


__all__ = ["BRANCHES", "SSLBatch", "SSLBranch", "SSLLossOutput", "build_branch", "pool_latent"]
