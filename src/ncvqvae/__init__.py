"""NC-VQVAE: masked time-series generation with tokens that carry shape and semantics.

Stage 1 (``ncvqvae.tokenizer``) turns a series into discrete tokens; stage 2
(``ncvqvae.prior``) learns to generate token sequences; ``ncvqvae.evaluation`` measures
both. ``ncvqvae.load(run_dir)`` gives back a trained model that samples new series.
"""

from ncvqvae.errors import NcvqvaeError

__version__ = "0.1.0"


def load(run_dir):  # noqa: ANN001, ANN201 - thin re-export, typed at the target
    """Load a finished run folder; see :func:`ncvqvae.generator.load_run`."""
    from ncvqvae.model.trained import load_run

    return load_run(run_dir)


__all__ = ["NcvqvaeError", "load", "__version__"]
