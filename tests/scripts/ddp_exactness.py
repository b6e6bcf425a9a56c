"""Two gloo ranks on half a batch each against one process on the whole batch, for two
optimiser steps of a full stage-1 step (encoder, quantizer, decoder, SSL branch, loss).

    python ddp_exactness.py OUT METHOD [METHOD ...]

Runs the single-process reference of every method, then spawns two ranks that run them
all; each writes its losses and its gradients (after DDP's averaging) at both steps to
OUT.<method>.<single|rank0|rank1>. The test compares them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ncvqvae.config import SSLConfig, TokenizerConfig
from ncvqvae.tokenizer import ssl as ssl_package
from ncvqvae.tokenizer.global_batchnorm import convert_to_global_batchnorm
from ncvqvae.tokenizer.objective import StageOneObjective
from ncvqvae.tokenizer.ssl import masked

BATCH, LENGTH, STEPS = 16, 64, 2
TOKENIZER = TokenizerConfig(hidden_dim=16, n_resblocks=1, codebook_size=16, kmeans_init=False)


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6, LENGTH)
    x = torch.sin(t[None, None, :] * (1 + 2 * torch.rand(STEPS, BATCH, 1, 1, generator=gen)).flatten(0, 1))
    x = x.view(STEPS, BATCH, 1, LENGTH) + 0.1 * torch.randn(STEPS, BATCH, 1, LENGTH, generator=gen)
    x_aug = x * (1 + 0.2 * torch.randn(STEPS, BATCH, 1, 1, generator=gen)) + 0.05 * torch.randn(x.shape, generator=gen)
    spans = torch.rand(STEPS, BATCH, LENGTH, generator=gen) < 0.3
    return x, x_aug, spans


def build(method: str) -> StageOneObjective:
    torch.manual_seed(0)
    ssl = SSLConfig(method=method, projector="32-32", swav=SSLConfig().swav.__class__(freeze_prototypes_steps=0))
    model = StageOneObjective(TOKENIZER, ssl, in_channels=1, length=LENGTH)
    # Codewords drawn from the encoder's own outputs (the same in every process), as
    # k-means init would: with a random codebook most positions share one code, pooled
    # z_q has constant columns, and BatchNorm divides their rounding noise by sqrt(eps),
    # which no two summation orders reproduce alike.
    with torch.no_grad():
        model.eval()
        z = model.tokenizer.encode(data()[0][0]).permute(0, 2, 3, 1).reshape(-1, TOKENIZER.hidden_dim)
        pick = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))[: TOKENIZER.codebook_size]
        model.tokenizer.quantizer.vq._codebook.embed.copy_(z[pick][None])
        model.tokenizer.quantizer.vq._codebook.embed_avg.copy_(z[pick][None])
        model.train()
    return convert_to_global_batchnorm(model)


def train(method: str, rows: slice, step_spans: list) -> dict:  # noqa: ANN401
    """Two steps on x[:, rows]; returns losses and gradients after each step."""
    x, x_aug, spans = data()
    model = build(method)
    net = model
    if dist.is_initialized():
        net = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    record = {"loss": [], "grads": []}
    for step in range(STEPS):
        step_spans[:] = [spans[step, rows]]
        out = net(x[step, rows], x_aug[step, rows])
        optimizer.zero_grad()
        out.loss.backward()
        # The loss of the whole batch: local terms are means over the rank's rows, so the
        # global value is their mean over ranks (the SSL term is global on every rank).
        loss = out.loss.detach().clone()
        if dist.is_initialized():
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
        record["loss"].append(loss.item())
        record["grads"].append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        optimizer.step()
        model.update_target(step + 1, 10)
    return record


def patched_spans(step_spans: list):  # noqa: ANN201
    def spans(batch, length, **_):  # noqa: ANN001, ANN202
        return step_spans[0]

    return spans


def rank_main(rank: int, methods: list[str], out: str, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    step_spans: list = []
    masked.random_spans = patched_spans(step_spans)
    half = BATCH // 2
    for method in methods:
        record = train(method, slice(rank * half, (rank + 1) * half), step_spans)
        torch.save(record, f"{out}.{method}.rank{rank}")
    dist.destroy_process_group()


def main(out: str, methods: list[str]) -> None:
    for method in methods:
        assert method in ssl_package.BRANCHES or method == "none", method
    torch.set_num_threads(1)
    step_spans: list = []
    masked.random_spans = patched_spans(step_spans)
    for method in methods:
        torch.save(train(method, slice(0, BATCH), step_spans), f"{out}.{method}.single")
    init_file = f"{out}.init"
    if os.path.exists(init_file):
        os.remove(init_file)
    mp.spawn(rank_main, args=(methods, out, init_file), nprocs=2, join=True)


if __name__ == "__main__":
    main(str(Path(sys.argv[1]).resolve()), sys.argv[2:])
