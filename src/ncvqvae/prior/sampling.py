"""Iterative confidence-based decoding (MaskGIT) with classifier-free guidance."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ncvqvae.prior.maskgit import MaskGIT
from ncvqvae.prior.masking import cosine_schedule
from ncvqvae.prior.two_band import TwoBandPrior


def draw_categorical(probs: Tensor, *, generator: torch.Generator | None) -> Tensor:
    """One index per row of ``probs`` (M, K), drawn exactly from it by inverting its CDF.

    Gumbel-max would need K random numbers and two logarithms per row; at K = 1024 that
    costs about twice the output layer's matmul on CPU. The inverse CDF needs one uniform
    per row, a cumulative sum and a binary search (searchsorted with right=True maps u in
    [cdf[i-1], cdf[i]) to i, so a zero-probability code is never drawn).
    """
    cdf = probs.cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, device=probs.device, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=probs.shape[1] - 1)


def gumbel_noise(shape: torch.Size, *, device: torch.device, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, device=device, generator=generator).clamp(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def guided_logits(
    model: MaskGIT,
    tokens: Tensor,
    class_labels: Tensor | None,
    guidance: float,
    context: Tensor | None = None,
    at: Tensor | None = None,
    batched: bool | None = None,
) -> Tensor:
    """l_null + w (l_class - l_null); the unconditional pass runs only when it matters.

    With w = 1 the formula reduces to l_class, so the extra forward pass is skipped;
    unconditional sampling uses the "no class" label alone. With w != 1, on GPUs the
    conditional and the "no class" pass run as one batch of twice the size (one pass
    through the weights instead of two); on CPUs they run one after the other (likely
    because the doubled batch's activations and logits fall out of the caches; not
    profiled): guided sampling of 256 series at L = 500 went from 46.7 series/s (one
    batch; ``benchmarks/results/speed_cpu_bf16.md`` as of commit 3482a27) to 63.0 (two
    passes; the file now), bf16 on 2 cores; at L = 140 it moved within run-to-run noise.
    ``batched`` overrides that choice. ``at`` (B, N) keeps only those positions' logits,
    as in :meth:`MaskGIT.forward`.
    """
    null = torch.full((tokens.shape[0],), model.null_class, device=tokens.device, dtype=torch.long)
    if class_labels is None:
        return model(tokens, null, context, at=at)
    if guidance == 1.0:
        return model(tokens, class_labels, context, at=at)
    if not (batched if batched is not None else tokens.device.type != "cpu"):
        l_class = model(tokens, class_labels, context, at=at)
        l_null = model(tokens, null, context, at=at)
        return l_null + guidance * (l_class - l_null)
    both = model(
        torch.cat([tokens, tokens]),
        torch.cat([class_labels, null]),
        None if context is None else torch.cat([context, context]),
        at=None if at is None else torch.cat([at, at]),
    )
    l_class, l_null = both.chunk(2)
    return l_null + guidance * (l_class - l_null)


@torch.inference_mode()
def sample_tokens(
    model: MaskGIT | TwoBandPrior,
    n: int,
    *,
    class_labels: Tensor | None = None,
    steps: int = 10,
    guidance: float = 1.0,
    temperature: float = 4.0,
    token_temperature: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    given: Tensor | None = None,
    given_mask: Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Generate n token sequences (n, N); a two-band prior samples low, then high.

    Args:
        given, given_mask: (n, N) tokens and the positions of them to keep; the prior
            decodes only the others (infilling, for imputation and forecasting). Tokens
            are in the prior's combined form (two-band: high codes offset by K).
        on_step: called after every decoding step (a progress bar's update).
    """
    options = dict(
        class_labels=class_labels,
        steps=steps,
        guidance=guidance,
        temperature=temperature,
        token_temperature=token_temperature,
        generator=generator,
        device=device,
        on_step=on_step,
    )
    if isinstance(model, TwoBandPrior):
        low_given = high_given = low_mask = high_mask = None
        if given is not None:
            low_given, high_given = model.split(given)
            n_low = model.low.n_tokens
            low_mask, high_mask = given_mask[:, :n_low], given_mask[:, n_low:]
        low = decode_tokens(model.low, n, given=low_given, given_mask=low_mask, **options)
        high = decode_tokens(
            model.high, n, context=model.context(low), given=high_given, given_mask=high_mask, **options
        )
        return torch.cat([low, high + model.codebook_size], dim=1)
    return decode_tokens(model, n, given=given, given_mask=given_mask, **options)


@torch.inference_mode()
def decode_tokens(
    model: MaskGIT,
    n: int,
    *,
    class_labels: Tensor | None = None,
    steps: int = 10,
    guidance: float = 1.0,
    temperature: float = 4.0,
    token_temperature: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    context: Tensor | None = None,
    given: Tensor | None = None,
    given_mask: Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Generate n token sequences (n, N) in exactly ``steps`` parallel decoding steps.

    At step t every masked position gets a token sampled from softmax(logits); its
    confidence is the sampled token's log-probability plus Gumbel noise annealed by
    temperature (1 - (t+1)/T), and the floor(gamma((t+1)/T) M) least confident new
    tokens are masked again, M being the number of positions to decode (N, or fewer when
    ``given`` fixes some). Known tokens have infinite confidence, so they are never
    re-masked, and gamma(1) = 0 unmasks everything at the last step.

    Args:
        class_labels: (n,) class ids for class-conditional samples, ``None`` for
            unconditional ones.
        guidance: classifier-free guidance scale w (class-conditional only).
        temperature: tau, the scale of the Gumbel noise on the confidences.
        token_temperature: tokens are drawn from softmax(logits / token_temperature).
        given, given_mask: (n, N) tokens in 0..K-1 and the positions to keep.
    """
    device = torch.device(device)
    n_tokens = model.n_tokens
    tokens = torch.full((n, n_tokens), model.mask_id, dtype=torch.long, device=device)
    if given is not None:
        keep = given_mask.to(device=device, dtype=torch.bool)
        tokens = torch.where(keep, given.to(device=device, dtype=torch.long), tokens)
    n_to_decode = (tokens == model.mask_id).sum(dim=1)
    if class_labels is not None:
        class_labels = class_labels.to(device=device, dtype=torch.long)
    for t in range(steps):
        unknown = tokens == model.mask_id
        # Logits, draws and confidences only where a token is still to be decided: the
        # committed positions would be computed and thrown away.
        logits = guided_logits(model, tokens, class_labels, guidance, context, at=unknown).float()
        if token_temperature != 1.0:
            logits = logits / token_temperature
        probs = torch.softmax(logits, dim=-1)
        drawn = draw_categorical(probs, generator=generator)
        sampled = tokens.masked_scatter(unknown, drawn)
        ratio = (t + 1) / steps
        n_keep_masked = torch.floor(cosine_schedule(ratio) * n_to_decode.double()).long()
        # Every step commits at least one new token: with N = 50 and T = 20 the schedule
        # alone would keep as many masked after step 2 as after step 1, and that step's
        # forward pass would decide nothing.
        n_keep_masked = torch.minimum(n_keep_masked, (unknown.sum(dim=1) - 1).clamp(min=0))
        if on_step is not None:
            on_step()
        if int(n_keep_masked.max()) <= 0:
            tokens = sampled
            break
        drawn_confidence = probs.gather(-1, drawn[:, None]).squeeze(-1).log()
        drawn_confidence = drawn_confidence + temperature * (1.0 - ratio) * gumbel_noise(
            drawn_confidence.shape, device=device, generator=generator
        )
        confidence = torch.full(tokens.shape, math.inf, device=device).masked_scatter(unknown, drawn_confidence)
        rank = confidence.argsort(dim=-1).argsort(dim=-1)
        remask = rank < n_keep_masked[:, None]
        tokens = torch.where(remask, torch.full_like(sampled, model.mask_id), sampled)
    return tokens
