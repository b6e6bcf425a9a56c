"""MaskGIT's masking, loss and decoding rules, checked on CPU in milliseconds."""

from __future__ import annotations

import math

import pytest
import torch

from ncvqvae.config import PriorConfig
from ncvqvae.prior.maskgit import MaskGIT
from ncvqvae.prior.masking import cosine_schedule, mask_tokens, n_masked_for_training
from ncvqvae.prior.sampling import guided_logits, sample_tokens

K, N, CLASSES = 8, 20, 3


def _prior(seed: int = 0) -> MaskGIT:
    torch.manual_seed(seed)
    config = PriorConfig(hidden_dim=32, n_layers=1, n_heads=2, dropout=0.0)
    return MaskGIT(config, codebook=torch.randn(K, 4), n_tokens=N, n_classes=CLASSES).eval()


def test_masked_count_follows_the_cosine_schedule() -> None:
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, K, (500, N), generator=gen)
    masked, mask = mask_tokens(tokens, K, generator=gen)
    counts = mask.sum(1)
    assert counts.min() >= 1 and counts.max() <= N
    # Every count is ceil(cos(pi r / 2) N) for some r in (0, 1]: check the mapping exactly.
    r = torch.tensor([0.1, 0.5, 0.9, 1.0])
    assert n_masked_for_training(r, N).tolist() == [
        max(1, math.ceil(math.cos(math.pi * v / 2) * N)) for v in r.tolist()
    ]
    # With r uniform, E[cos(pi r / 2)] = 2 / pi of the tokens are masked on average.
    assert abs(counts.float().mean().item() / N - 2 / math.pi) < 0.05
    assert torch.equal(masked[mask], torch.full_like(masked[mask], K))
    assert torch.equal(masked[~mask], tokens[~mask])


def test_loss_ignores_unmasked_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    prior = _prior()
    tokens = torch.randint(0, K, (6, N), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    fixed_mask = torch.zeros(6, N, dtype=torch.bool)
    fixed_mask[:, :5] = True

    def fake_mask(tokens: torch.Tensor, mask_id: int, *, generator=None):  # noqa: ANN001, ANN202
        return torch.where(fixed_mask, torch.full_like(tokens, mask_id), tokens), fixed_mask

    monkeypatch.setattr("ncvqvae.prior.maskgit.mask_tokens", fake_mask)
    loss_a = prior.loss(tokens, labels, drop_labels=False).loss
    logits = prior(torch.where(fixed_mask, K, tokens), labels)
    manual = torch.nn.functional.cross_entropy(logits[fixed_mask], tokens[fixed_mask])
    assert torch.allclose(loss_a, manual)
    all_positions = torch.nn.functional.cross_entropy(logits.reshape(-1, K), tokens.reshape(-1))
    assert not torch.allclose(loss_a, all_positions)


def test_label_dropout_only_in_training() -> None:
    prior = _prior()
    labels = torch.zeros(10_000, dtype=torch.long)
    dropped = prior.drop_labels(labels, torch.Generator().manual_seed(0))
    share = (dropped == CLASSES).float().mean().item()
    assert abs(share - 0.2) < 0.02


class _Recorder:
    """Wraps the prior's forward to record the inputs of every call."""

    def __init__(self, prior: MaskGIT) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.handle = prior.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:  # noqa: ANN001
        self.calls.append((args[0].clone(), args[1].clone()))


@pytest.mark.parametrize("steps", [1, 4, 10])
def test_decoding_fills_everything_in_exactly_t_steps_and_keeps_known_tokens(steps: int) -> None:
    prior = _prior()
    rec = _Recorder(prior)
    out = sample_tokens(prior, 5, steps=steps, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, N) and (out < K).all() and (out >= 0).all()
    assert len(rec.calls) == steps
    inputs = [c[0] for c in rec.calls] + [out]
    for before, after in zip(inputs, inputs[1:]):
        known = before != prior.mask_id
        assert torch.equal(after[known], before[known]), "a known token was changed"
    # The number still masked after step t is floor(gamma((t+1)/T) N), but every step
    # commits at least one new token.
    still_masked = N
    for t, (tokens_in, _) in enumerate(rec.calls[1:]):
        expected = min(math.floor(cosine_schedule((t + 1) / steps) * N), still_masked - 1)
        still_masked = int((tokens_in == prior.mask_id).sum(1)[0])
        assert still_masked == expected


def test_guidance_one_runs_no_unconditional_pass() -> None:
    prior = _prior()
    labels = torch.tensor([0, 1, 2])
    rec = _Recorder(prior)
    sample_tokens(prior, 3, class_labels=labels, steps=5, guidance=1.0)
    assert len(rec.calls) == 5
    assert all((lab != prior.null_class).all() for _, lab in rec.calls)
    rec.calls.clear()
    sample_tokens(prior, 3, class_labels=labels, steps=5, guidance=2.0)
    # Guided on a CPU: per step the conditional pass, then the "no class" one.
    assert len(rec.calls) == 10
    assert [lab.tolist() for _, lab in rec.calls] == [[0, 1, 2], [prior.null_class] * 3] * 5
    rec.calls.clear()
    guided_logits(prior, torch.randint(0, K, (3, N)), labels, 2.0, batched=True)
    # Batched (the GPU default): both in one pass over a batch of twice the size.
    assert [lab.tolist() for _, lab in rec.calls] == [[0, 1, 2] + [prior.null_class] * 3]


def test_every_decoding_step_commits_a_token() -> None:
    """With 50 tokens in 20 steps the schedule alone keeps 49 masked after steps 1 and 2."""
    n = 50
    assert math.floor(cosine_schedule(1 / 20) * n) == math.floor(cosine_schedule(2 / 20) * n) == 49
    prior = MaskGIT(PriorConfig(hidden_dim=16, n_layers=1, n_heads=2), codebook=torch.randn(K, 8), n_tokens=n, n_classes=3)
    rec = _Recorder(prior)
    sample_tokens(prior, 2, steps=20, generator=torch.Generator().manual_seed(0))
    masked = [int((tokens == prior.mask_id).sum(1)[0]) for tokens, _ in rec.calls]
    assert all(b < a for a, b in zip(masked, masked[1:]))


@pytest.mark.parametrize("batched", [True, False])
def test_guidance_in_one_batch_or_two_passes_equals_the_formula(batched: bool) -> None:
    prior = _prior().eval()
    tokens = torch.randint(0, K, (3, N))
    labels = torch.tensor([0, 1, 2])
    null = torch.full((3,), prior.null_class)
    with torch.no_grad():
        expected = prior(tokens, null) + 2.0 * (prior(tokens, labels) - prior(tokens, null))
        got = guided_logits(prior, tokens, labels, 2.0, batched=batched)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_logits_at_chosen_positions_equal_the_full_logits_there() -> None:
    prior = _prior().eval()
    gen = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, K + 1, (3, N), generator=gen)
    labels = torch.tensor([0, 1, 2])
    at = torch.rand(3, N, generator=gen) < 0.4
    with torch.no_grad():
        full = prior(tokens, labels)
        torch.testing.assert_close(prior(tokens, labels, at=at), full[at], rtol=1e-5, atol=1e-5)
        guided = guided_logits(prior, tokens, labels, 2.0)
        torch.testing.assert_close(guided_logits(prior, tokens, labels, 2.0, at=at), guided[at], rtol=1e-5, atol=1e-5)
    # the gradient of the loss reaches the transformer through the chosen positions alone
    prior.train()
    loss = prior.loss(tokens.clamp(max=K - 1), labels, drop_labels=False, generator=gen).loss
    loss.backward()
    assert prior.head.weight.grad.abs().sum() > 0


def test_categorical_draws_follow_the_probabilities() -> None:
    from ncvqvae.prior.sampling import draw_categorical

    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2], [0.0, 0.0, 0.0, 1.0]]).repeat(20_000, 1)
    drawn = draw_categorical(probs, generator=torch.Generator().manual_seed(0)).view(20_000, 2)
    freq = torch.bincount(drawn[:, 0], minlength=4).float() / 20_000
    torch.testing.assert_close(freq, probs[0], atol=0.01, rtol=0)  # 3.5 standard errors
    assert (drawn[:, 0] != 1).all() and (drawn[:, 1] == 3).all()


def test_same_seed_same_samples() -> None:
    prior = _prior()
    a = sample_tokens(prior, 4, steps=6, generator=torch.Generator().manual_seed(3))
    b = sample_tokens(prior, 4, steps=6, generator=torch.Generator().manual_seed(3))
    c = sample_tokens(prior, 4, steps=6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_block_computes_what_torch_s_encoder_layer_did_and_loads_its_weights() -> None:
    """Priors saved before the prior had its own blocks still load and sample alike."""
    from torch import nn

    from ncvqvae.prior.transformer import Transformer, upgrade_state_dict

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 2, 128, 0.0, activation="gelu", batch_first=True, norm_first=True)
    old = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    new = Transformer(32, 2, 2, 16, 4, 0.0, "layernorm").eval()
    new.load_state_dict(upgrade_state_dict(old.state_dict()))
    x = torch.randn(3, 9, 32)
    torch.testing.assert_close(new(x), old(x))


def test_paper_preset_prior_has_the_authors_shape() -> None:
    from ncvqvae.config import preset

    prior = MaskGIT(preset("paper").prior, codebook=torch.randn(32, 64), n_tokens=50, n_classes=2)
    block = prior.transformer.layers[0]
    assert block.self_attn.in_proj.out_features == 3 * 2 * 64  # 2 heads of 64 in a 256-wide model
    assert block.linear1.out_features == 256 and isinstance(block.norm1, torch.nn.RMSNorm)


def _noisy_prior(token_noise: float) -> MaskGIT:
    torch.manual_seed(0)
    config = PriorConfig(hidden_dim=32, n_layers=1, n_heads=2, dropout=0.0, class_dropout=0.0, token_noise=token_noise)
    return MaskGIT(config, codebook=torch.randn(K, 4), n_tokens=N, n_classes=CLASSES)


def test_token_noise_replaces_visible_tokens_only_and_scores_them() -> None:
    prior = _noisy_prior(0.3)
    gen = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, K, (400, N), generator=gen)
    masked, mask = mask_tokens(tokens, K, generator=gen)
    noisy, noised = prior.corrupt(masked, mask, torch.Generator().manual_seed(3))
    assert not (noised & mask).any(), "a masked position stays masked"
    assert torch.equal(noisy[mask], masked[mask]) and torch.equal(noisy[~noised], masked[~noised])
    assert abs(noised.sum().item() / (~mask).sum().item() - 0.3) < 0.02
    assert (noisy[noised] < K).all()
    # The loss is taken where tokens were masked or replaced: more positions than masked.
    prior.train()
    noisy_out = prior.loss(tokens, torch.zeros(400, dtype=torch.long), generator=torch.Generator().manual_seed(4))
    plain = _noisy_prior(0.0).train()
    plain_out = plain.loss(tokens, torch.zeros(400, dtype=torch.long), generator=torch.Generator().manual_seed(4))
    assert noisy_out.n_masked > 1.1 * plain_out.n_masked


def test_token_noise_is_off_in_evaluation() -> None:
    tokens = torch.randint(0, K, (16, N), generator=torch.Generator().manual_seed(5))
    labels = torch.zeros(16, dtype=torch.long)
    noisy, plain = _noisy_prior(0.5).eval(), _noisy_prior(0.0).eval()
    a = noisy.loss(tokens, labels, drop_labels=False, generator=torch.Generator().manual_seed(6))
    b = plain.loss(tokens, labels, drop_labels=False, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a.loss, b.loss) and a.n_masked == b.n_masked


@pytest.mark.parametrize("token_temperature", [1.0, 2.0])
def test_tokens_are_drawn_from_the_tempered_distribution(
    monkeypatch: pytest.MonkeyPatch, token_temperature: float
) -> None:
    """One decoding step draws every position once, from softmax(logits / temperature)."""
    import ncvqvae.prior.sampling as sampling

    logits = torch.tensor([2.0, 1.0] + [0.0] * (K - 2))
    monkeypatch.setattr(
        sampling, "guided_logits", lambda model, tokens, labels, w, context, at: logits.expand(int(at.sum()), K)
    )
    drawn = sample_tokens(
        _prior(), 2000, steps=1, token_temperature=token_temperature, generator=torch.Generator().manual_seed(0)
    )
    freq = torch.bincount(drawn.flatten(), minlength=K).float() / drawn.numel()
    torch.testing.assert_close(freq, torch.softmax(logits / token_temperature, dim=0), atol=0.005, rtol=0)


def test_token_temperature_one_is_the_default_sampler_and_higher_spreads_codes() -> None:
    prior = _prior()
    default = sample_tokens(prior, 64, steps=6, generator=torch.Generator().manual_seed(3))
    same = sample_tokens(prior, 64, steps=6, token_temperature=1.0, generator=torch.Generator().manual_seed(3))
    hot = sample_tokens(prior, 64, steps=6, token_temperature=3.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(default, same)

    def entropy(tokens: torch.Tensor) -> float:
        p = torch.bincount(tokens.flatten(), minlength=K).float() / tokens.numel()
        return float(-(p[p > 0] * p[p > 0].log()).sum())

    assert entropy(hot) > entropy(default)

