"""SwAV, DINO and data2vec: each loss against an independent NumPy computation, the
mechanism that keeps each from collapsing, their teachers' EMA rule, and every SSL
hyper-parameter of the config: it round-trips and changes what it should."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ncvqvae.config import SSLConfig, TokenizerConfig, from_dict, load_config, preset, save_config
from ncvqvae.data.augment import build_augmentation
from ncvqvae.tokenizer.objective import StageOneObjective
from ncvqvae.tokenizer.ssl.clustering import sinkhorn, swav_loss
from ncvqvae.tokenizer.ssl.distillation import dino_loss
from ncvqvae.tokenizer.ssl.masked import data2vec_target, random_spans

TOK = TokenizerConfig(hidden_dim=16, n_resblocks=1, codebook_size=16)
RNG = np.random.default_rng(0)


def _softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sinkhorn_numpy(scores: np.ndarray, eps: float, iterations: int) -> np.ndarray:
    """SwAV's Algorithm 1 written with loops over rows and columns."""
    q = np.exp(scores / eps).T  # (K, B)
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        for row in range(k):
            q[row] = q[row] / q[row].sum() / k
        for col in range(b):
            q[:, col] = q[:, col] / q[:, col].sum() / b
    return (q * b).T


def _views(n: int = 12, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6, length)
    x = torch.sin(t[None, None, :] * (1 + 2 * torch.rand(n, 1, 1, generator=gen)))
    return x, build_augmentation("warp")(x, gen)


# ---------------------------------------------------------------------------------- SwAV


def test_sinkhorn_matches_numpy_and_balances_the_prototypes() -> None:
    scores = RNG.uniform(-1, 1, (10, 4))
    codes = sinkhorn(torch.tensor(scores), epsilon=0.05, iterations=3).numpy()
    np.testing.assert_allclose(codes, _sinkhorn_numpy(scores, 0.05, 3), rtol=1e-5)
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-6)  # every sample: one unit
    # Each iteration moves the prototypes' totals towards an equal share B / K ...
    imbalance = lambda c: np.abs(c.sum(axis=0) - 10 / 4).max()  # noqa: E731
    one = sinkhorn(torch.tensor(scores), epsilon=0.05, iterations=1).numpy()
    assert imbalance(codes) < imbalance(one)
    # ... which they reach in the limit.
    converged = sinkhorn(torch.tensor(scores), epsilon=0.05, iterations=200).numpy()
    np.testing.assert_allclose(converged.sum(axis=0), 10 / 4, rtol=1e-4)


def test_sinkhorn_spreads_a_collapsed_batch_over_all_prototypes() -> None:
    """The equal-partition constraint is SwAV's guard against collapse: identical
    embeddings (every sample nearest to prototype 0) still get spread-out targets."""
    collapsed = torch.tensor([[0.9, 0.1, 0.0, -0.5]]).repeat(8, 1)
    codes = sinkhorn(collapsed, epsilon=0.05, iterations=50)
    np.testing.assert_allclose(codes.sum(dim=0).numpy(), 2.0, rtol=1e-3)
    assert codes[:, 0].mean() < 0.3  # not all mass on the favourite prototype


def test_swav_loss_matches_numpy() -> None:
    s1, s2 = RNG.uniform(-1, 1, (6, 5)), RNG.uniform(-1, 1, (6, 5))
    out = swav_loss(torch.tensor(s1), torch.tensor(s2), temperature=0.1, epsilon=0.05, iterations=3)
    q1, q2 = _sinkhorn_numpy(s1, 0.05, 3), _sinkhorn_numpy(s2, 0.05, 3)
    log_p1, log_p2 = np.log(_softmax(s1 / 0.1)), np.log(_softmax(s2 / 0.1))
    expected = -0.5 * ((q1 * log_p2).sum(1).mean() + (q2 * log_p1).sum(1).mean())
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def test_swav_prototypes_stay_unit_norm_and_freeze_at_first() -> None:
    torch.manual_seed(0)
    ssl = SSLConfig(method="swav", projector="32-32", swav=dataclasses.replace(SSLConfig().swav, freeze_prototypes_steps=1))
    model = StageOneObjective(TOK, ssl, in_channels=1, length=64)
    x, x_aug = _views()
    model(x, x_aug).loss.backward()
    assert model.branch.prototypes.weight.grad is None  # frozen during the first step
    model.update_target(1, 10)
    model.zero_grad()
    model(x, x_aug).loss.backward()
    assert model.branch.prototypes.weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.branch.prototypes.weight.mul_(3.0)
    model.update_target(2, 10)
    np.testing.assert_allclose(model.branch.prototypes.weight.norm(dim=1).detach().numpy(), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------------- DINO


def test_dino_loss_matches_numpy() -> None:
    s = [RNG.normal(size=(5, 7)) for _ in range(2)]
    t = [RNG.normal(size=(5, 7)) for _ in range(2)]
    c = RNG.normal(size=7)
    out = dino_loss(tuple(torch.tensor(v) for v in s), tuple(torch.tensor(v) for v in t), torch.tensor(c),
                    student_temperature=0.1, teacher_temperature=0.04)
    p_t = [_softmax((v - c) / 0.04) for v in t]
    log_s = [np.log(_softmax(v / 0.1)) for v in s]
    expected = -0.5 * ((p_t[0] * log_s[1]).sum(1).mean() + (p_t[1] * log_s[0]).sum(1).mean())
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)


def test_dino_centring_and_sharpening() -> None:
    """Centring removes what every teacher output shares (one dominant dimension cannot
    win); sharpening (a low teacher temperature) keeps the targets from going uniform."""
    shared = torch.tensor([5.0, 0.0, 0.0, 0.0])
    teacher = shared + 0.3 * torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    uncentred = torch.softmax(teacher / 0.04, dim=1)
    centred = torch.softmax((teacher - teacher.mean(dim=0)) / 0.04, dim=1)
    assert uncentred[:, 0].min() > 0.99  # collapsed onto dimension 0 without the centre
    assert centred[:, 0].mean() < 0.5
    entropy = lambda p: -(p * p.clamp_min(1e-12).log()).sum(dim=1).mean()  # noqa: E731
    sharp, soft = torch.softmax((teacher - teacher.mean(0)) / 0.04, 1), torch.softmax((teacher - teacher.mean(0)) / 0.1, 1)
    assert entropy(sharp) < entropy(soft)


def test_dino_centre_and_teacher_follow_their_update_rules_exactly() -> None:
    torch.manual_seed(0)
    ssl = SSLConfig(method="dino", projector="32-32", dino=dataclasses.replace(SSLConfig().dino, out_dim=8, ema_schedule="constant", ema_decay=0.9))
    model = StageOneObjective(TOK, ssl, in_channels=1, length=64)
    branch = model.branch
    x, x_aug = _views()
    expected = torch.zeros(8)
    for step in range(2):
        before = copy.deepcopy(branch.teacher.net.state_dict())
        with torch.no_grad():
            t = torch.cat([branch._teacher_output(model.tokenizer, x), branch._teacher_output(model.tokenizer, x_aug)])
        model.zero_grad()
        model(x, x_aug).loss.backward()
        expected = 0.9 * expected + 0.1 * t.mean(dim=0)
        torch.testing.assert_close(branch.center, expected, rtol=1e-5, atol=1e-7)
        assert all(p.grad is None for p in branch.teacher.net.parameters())
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.add_(0.01 * torch.randn_like(p))
        online = dict(branch._online(model.tokenizer).named_parameters())
        model.update_target(step + 1, 10)
        for name, value in branch.teacher.net.named_parameters():
            torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * online[name], rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ data2vec


def test_data2vec_target_matches_numpy() -> None:
    blocks = [RNG.normal(size=(2, 4, 3, 5)) for _ in range(3)]

    def layer_norm(z: np.ndarray) -> np.ndarray:  # over the channel axis 1
        mean = z.mean(axis=1, keepdims=True)
        var = z.var(axis=1, keepdims=True)
        return (z - mean) / np.sqrt(var + 1e-5)

    expected = layer_norm(np.mean([layer_norm(b) for b in blocks[-2:]], axis=0))
    got = data2vec_target([torch.tensor(b, dtype=torch.float32) for b in blocks], top_k=2).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_data2vec_spans_cover_about_the_asked_share() -> None:
    spans = random_spans(200, 150, mask_ratio=0.5, span_ratio=0.1, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    share = spans.float().mean().item()
    assert 0.3 < share < 0.5  # 5 spans of 15 may overlap: at most 50%


def test_data2vec_loss_is_masked_regression_of_a_frozen_ema_teacher() -> None:
    torch.manual_seed(0)
    ssl = SSLConfig(method="data2vec", data2vec=dataclasses.replace(SSLConfig().data2vec, ema_decay=0.5, ema_end=0.5))
    model = StageOneObjective(TOK, ssl, in_channels=1, length=64)
    assert not model.uses_augmented_view  # data2vec makes its own masked view
    x, _ = _views()
    out = model(x, None, generator=torch.Generator().manual_seed(1))
    assert "aug_recon_time" not in out.terms and out.terms["ssl_data2vec"] > 0
    before = copy.deepcopy(model.branch.teacher.net.state_dict())
    out.loss.backward()
    assert all(p.grad is None for p in model.branch.teacher.net.parameters())
    assert model.branch.mask_value.grad.abs().sum() > 0 and model.tokenizer.encoder.net[0].weight.grad.abs().sum() > 0
    online = dict(model.tokenizer.encoder.named_parameters())
    model.update_target(1, 10)
    for name, value in model.branch.teacher.net.named_parameters():
        torch.testing.assert_close(value, 0.5 * before[name] + 0.5 * online[name])


# --------------------------------------------------------------------- every setting


def test_every_ssl_setting_round_trips_through_config_yaml(tmp_path: Path) -> None:
    values = {
        "barlowtwins": {"lambda": 0.01, "weight": 2.0, "eps": 1e-4},
        "vicreg": {"sim": 20.0, "var": 21.0, "cov": 2.0, "weight": 0.02},
        "vibcreg": {"cov": 50.0},
        "iternorm": {"group_size": 16, "iterations": 3, "momentum": 0.2},
        "byol": {"ema_decay": 0.95, "ema_schedule": "cosine", "predictor_hidden": 8},
        "simsiam": {"predictor_hidden": 8},
        "swav": {"prototypes": 10, "temperature": 0.2, "epsilon": 0.1, "sinkhorn_iterations": 5, "freeze_prototypes_steps": 3},
        "dino": {"out_dim": 16, "student_temperature": 0.2, "teacher_temperature": 0.05, "center_momentum": 0.8, "ema_decay": 0.99, "ema_schedule": "constant"},
        "data2vec": {"mask_ratio": 0.4, "span_ratio": 0.2, "top_k": 3, "ema_decay": 0.99, "ema_end": 0.999, "loss_beta": 0.5},
        "augmentation": {"amplitude_std": 0.3, "warp_window": 0.3, "warp_scale_min": 0.8, "warp_scale_max": 1.5, "slices": 3, "noise_std": 0.1},
    }
    config = from_dict({"ssl": values}, preset("cpu"))
    path = tmp_path / "c.yaml"
    save_config(config, path)
    loaded = load_config(path)
    assert loaded == config
    assert loaded.ssl.barlowtwins.lambda_offdiag == 0.01 and loaded.ssl.swav.prototypes == 10


def _ssl_loss(ssl: SSLConfig, x_aug_name: str = "warp") -> float:
    torch.manual_seed(0)
    model = StageOneObjective(TOK, ssl, in_channels=1, length=64)
    x, _ = _views()
    x_aug = build_augmentation(ssl.augment, ssl.augmentation)(x, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(x, x_aug if model.uses_augmented_view else None, generator=torch.Generator().manual_seed(1))
    return (out.terms["ssl"] * model.ssl_weight).item()


# (method, section, key, other value): each changes the weighted SSL term of one step.
KEYS = [
    ("barlowtwins", "barlowtwins", "lambda_offdiag", 0.5), ("barlowtwins", "barlowtwins", "weight", 3.0),
    ("barlowtwins", "barlowtwins", "eps", 10.0),
    ("vicreg", "vicreg", "sim", 1.0), ("vicreg", "vicreg", "var", 1.0), ("vicreg", "vicreg", "cov", 50.0),
    ("vicreg", "vicreg", "weight", 1.0), ("vicreg", "vicreg", "eps", 10.0),
    ("vibcreg", "vibcreg", "sim", 1.0), ("vibcreg", "vibcreg", "var", 1.0), ("vibcreg", "vibcreg", "cov", 1.0),
    ("vibcreg", "vibcreg", "weight", 1.0), ("vibcreg", "vibcreg", "eps", 10.0),
    ("vibcreg", "iternorm", "group_size", 8), ("vibcreg", "iternorm", "iterations", 1),
    ("byol", "byol", "weight", 2.0), ("byol", "byol", "predictor_hidden", 4),
    ("simsiam", "simsiam", "weight", 2.0), ("simsiam", "simsiam", "predictor_hidden", 4),
    ("swav", "swav", "prototypes", 5), ("swav", "swav", "temperature", 1.0), ("swav", "swav", "epsilon", 0.5),
    ("swav", "swav", "sinkhorn_iterations", 1), ("swav", "swav", "weight", 2.0),
    ("dino", "dino", "out_dim", 16), ("dino", "dino", "student_temperature", 1.0),
    ("dino", "dino", "teacher_temperature", 1.0), ("dino", "dino", "weight", 2.0),
    ("data2vec", "data2vec", "mask_ratio", 0.2), ("data2vec", "data2vec", "span_ratio", 0.3),
    ("data2vec", "data2vec", "top_k", 1), ("data2vec", "data2vec", "loss_beta", 0.5), ("data2vec", "data2vec", "weight", 2.0),
    ("barlowtwins", "augmentation", "amplitude_std", 0.0), ("barlowtwins", "augmentation", "warp_window", 0.1),
    ("barlowtwins", "augmentation", "warp_scale_max", 1.0),
]


@pytest.mark.parametrize(("method", "section", "key", "value"), KEYS, ids=[f"{s}.{k}" for _, s, k, _ in KEYS])
def test_each_setting_changes_the_loss(method: str, section: str, key: str, value: object) -> None:
    base = SSLConfig(method=method, projector="32-32")
    changed = dataclasses.replace(base, **{section: dataclasses.replace(getattr(base, section), **{key: value})})
    assert _ssl_loss(changed) != pytest.approx(_ssl_loss(base), rel=1e-6)


@pytest.mark.parametrize(("key", "value"), [("slices", 2), ("noise_std", 0.5)])
def test_slice_and_noise_magnitudes_change_the_view(key: str, value: object) -> None:
    x, _ = _views()
    augment = "slice" if key == "slices" else "gauss"
    base = SSLConfig().augmentation
    a = build_augmentation(augment, base)(x, torch.Generator().manual_seed(0))
    b = build_augmentation(augment, dataclasses.replace(base, **{key: value}))(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(("section", "key", "value"), [("byol", "ema_decay", 0.5), ("byol", "ema_schedule", "cosine"), ("dino", "ema_decay", 0.5),
                                                         ("dino", "center_momentum", 0.1), ("data2vec", "ema_decay", 0.5), ("data2vec", "ema_end", 0.5),
                                                         ("swav", "freeze_prototypes_steps", 0)])
def test_each_teacher_or_schedule_setting_changes_the_next_step(section: str, key: str, value: object) -> None:
    """Settings that act after a step (EMA decays, centre momentum, frozen prototypes)
    show in the loss of the step after it."""

    def second_loss(ssl: SSLConfig) -> float:
        torch.manual_seed(0)
        model = StageOneObjective(TOK, ssl, in_channels=1, length=64)
        x, x_aug = _views()
        x_aug = x_aug if model.uses_augmented_view else None
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(2):
            out = model(x, x_aug, generator=torch.Generator().manual_seed(step))
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            model.update_target(step + 1, 4)
        with torch.no_grad():
            return model(x, x_aug, generator=torch.Generator().manual_seed(9)).terms["ssl"].item()

    base = SSLConfig(method=section, projector="32-32")
    changed = dataclasses.replace(base, **{section: dataclasses.replace(getattr(base, section), **{key: value})})
    assert second_loss(changed) != pytest.approx(second_loss(base), rel=1e-6)
