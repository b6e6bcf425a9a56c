"""The MaskGIT prior: a bidirectional transformer over token sequences with a class token.

One architecture serves the baseline tokenizer and every SSL variant, so differences in
generation quality come from the tokens alone (SPEC section 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.config import PriorConfig
from ncvqvae.prior.masking import mask_tokens
from ncvqvae.prior.rms_norm import RMSNorm
from ncvqvae.prior.transformer import Transformer, upgrade_state_dict


@dataclass
class PriorLossOutput:
    loss: Tensor
    masked_accuracy: Tensor
    n_masked: Tensor


class MaskGIT(nn.Module):
    """Predicts the code at every position from a partly masked sequence and a class.

    Args:
        config: transformer size and training settings.
        codebook: (K, d) the tokenizer's codewords, used to initialise token embeddings
            so that the prior starts from the tokenizer's geometry of codes.
        n_tokens: N, the sequence length.
        n_classes: number of classes; class id ``n_classes`` means "no class".
        context_dim: width of an optional per-position context (B, N, context_dim) added
            to the input, e.g. the low-band tokens that condition a high-band prior.
    """

    def __init__(
        self,
        config: PriorConfig,
        *,
        codebook: Tensor,
        n_tokens: int,
        n_classes: int,
        context_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.codebook_size, code_dim = codebook.shape
        self.mask_id = self.codebook_size
        self.n_tokens = n_tokens
        self.n_classes = n_classes
        self.null_class = n_classes
        hidden = config.hidden_dim
        self.token_embedding = nn.Embedding(self.codebook_size + 1, code_dim)
        with torch.no_grad():
            self.token_embedding.weight[: self.codebook_size] = codebook.detach().float()
        self.embed_proj = nn.Linear(code_dim, hidden)
        self.class_embedding = nn.Embedding(n_classes + 1, hidden)
        self.position = nn.Parameter(torch.zeros(1, n_tokens + 1, hidden))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.transformer = Transformer(
            hidden, config.n_layers, config.n_heads, config.head_dim or hidden // config.n_heads,
            config.ffn_mult, config.dropout, config.norm,
        )
        self.norm = RMSNorm(hidden) if config.norm == "rmsnorm" else nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, self.codebook_size)
        self.context_proj = None if context_dim is None else nn.Linear(context_dim, hidden)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        upgraded = upgrade_state_dict({k: v for k, v in state_dict.items() if k.startswith(prefix)})
        for key in [k for k in state_dict if k.startswith(prefix)]:
            del state_dict[key]
        state_dict.update(upgraded)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(
        self, tokens: Tensor, class_labels: Tensor, context: Tensor | None = None, at: Tensor | None = None
    ) -> Tensor:
        """tokens (B, N) with mask ids, class_labels (B,) -> logits (B, N, K); with ``at``,
        a (B, N) boolean mask, only the logits at those positions, (at.sum(), K).

        The output layer maps every position to K codes, as wide as a transformer layer
        at K = 1024, and only the positions still to be decided need it: in training the
        masked ones (a mean of 2/pi of the sequence under the cosine schedule), in
        sampling those not yet committed.
        """
        h = self.embed_proj(self.token_embedding(tokens))
        if self.context_proj is not None:
            if context is None:
                raise ValueError("this prior is conditioned on a context; pass context=")
            h = h + self.context_proj(context)
        cls = self.class_embedding(class_labels)[:, None, :]
        h = torch.cat([cls, h], dim=1) + self.position
        h = self.transformer(h)[:, 1:]
        return self.head(self.norm(h if at is None else h[at]))

    def drop_labels(self, class_labels: Tensor, generator: torch.Generator | None) -> Tensor:
        """Replace labels by "no class" with probability class_dropout (training only), so
        one network learns both p(s | c) and p(s), which classifier-free guidance mixes."""
        drop = torch.rand(class_labels.shape, device=class_labels.device, generator=generator)
        return torch.where(
            drop < self.config.class_dropout,
            torch.full_like(class_labels, self.null_class),
            class_labels,
        )

    def corrupt(self, masked: Tensor, mask: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Replace each visible token by a uniformly random code with probability
        ``token_noise``; returns the tokens and where they were replaced.

        A prior that sees only true tokens around the gaps can fill them by recalling the
        training sequence those tokens come from (near-copies). With some of the context
        wrong, and the loss asking for the true token there too, it must judge every token
        against its neighbours; at sampling time this also lets it read the tokens it
        committed itself, which are not always right, for what they are.
        """
        draw = torch.rand(masked.shape, device=masked.device, generator=generator)
        noised = (draw < self.config.token_noise) & ~mask
        random_codes = torch.randint(
            0, self.codebook_size, masked.shape, device=masked.device, generator=generator
        )
        return torch.where(noised, random_codes, masked), noised

    def loss(
        self,
        tokens: Tensor,
        class_labels: Tensor,
        *,
        drop_labels: bool = True,
        generator: torch.Generator | None = None,
        context: Tensor | None = None,
    ) -> PriorLossOutput:
        """Cross-entropy of the true tokens at the masked positions only (and, in
        training with ``token_noise``, at the positions given a random code).

        Args:
            tokens: (B, N) true codes; class_labels: (B,) in 0..n_classes.
            drop_labels: apply the classifier-free-guidance label dropout (training).
        """
        masked, mask = mask_tokens(tokens, self.mask_id, generator=generator)
        if self.training and self.config.token_noise > 0:
            masked, noised = self.corrupt(masked, mask, generator)
            mask = mask | noised
        if drop_labels:
            class_labels = self.drop_labels(class_labels, generator)
        picked = self(masked, class_labels, context, at=mask)
        target = tokens[mask]
        loss = F.cross_entropy(picked, target)
        accuracy = (picked.argmax(-1) == target).float().mean()
        return PriorLossOutput(loss, accuracy, mask.sum())
