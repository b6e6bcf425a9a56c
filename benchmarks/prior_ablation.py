"""Retrain a finished run's prior (or one band of it) with other settings and score it.

    python benchmarks/prior_ablation.py RUN --steps 2000 --dropout 0 --sampling-steps 10,20
    python benchmarks/prior_ablation.py RUN --band low --steps 4000   # two-band runs only

The run's tokenizer stays fixed, so differences in FID come from the prior alone. The
prior trains in a plain full-batch loop (AdamW, optional linear warm-up, cosine decay),
not through Lightning: this is a measuring tool, not a second training path. With
``--band low`` or ``--band high`` only that transformer of a two-band prior is retrained
and the other is taken from the run. For every number of decoding steps it prints FID
of 1024 unconditional samples ("no class" label), FID of 256 class-conditional samples
per class pooled together, the class shares the evaluator assigns to the unconditional
samples, and its per-class accuracy on the conditional ones. Same arguments, same numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from run_data import load_run_data
from torch import Tensor, nn

from ncvqvae.evaluation.fcn import extract_features, predict_proba
from ncvqvae.evaluation.metrics import frechet_distance
from ncvqvae.model.trained import load_run, tokenize_series
from ncvqvae.prior.build import build_prior
from ncvqvae.prior.maskgit import MaskGIT, PriorLossOutput
from ncvqvae.prior.two_band import TwoBandPrior


class HighBandOnly(nn.Module):
    """The high-band transformer trained on its own, its context from the run's low band."""

    def __init__(self, high: MaskGIT, context: Tensor) -> None:
        super().__init__()
        self.high = high
        self.register_buffer("full_context", context)

    def loss(self, rows: Tensor, labels: Tensor, *, generator: torch.Generator) -> PriorLossOutput:
        # Column 0 carries each sequence's row index, so the context follows the batch.
        return self.high.loss(rows[:, 1:], labels, generator=generator, context=self.full_context[rows[:, 0]])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished run folder")
    parser.add_argument("--band", choices=("all", "low", "high"), default="all")
    parser.add_argument("--steps", type=int, default=2000, help="full-batch optimiser steps")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=0, help="linear warm-up steps")
    parser.add_argument("--hidden", type=int, help="transformer width (default: the run's)")
    parser.add_argument("--layers", type=int, help="transformer depth (default: the run's)")
    parser.add_argument("--ffn-mult", type=int, help="feed-forward width / hidden (default: the run's)")
    parser.add_argument("--dropout", type=float, help="default: the run's")
    parser.add_argument("--class-dropout", type=float, help="default: the run's")
    parser.add_argument("--sampling-steps", default="10", help="comma-separated decoding steps T")
    parser.add_argument("--temperature", type=float, help="Gumbel temperature tau (default: the run's)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    run_data = load_run_data(args.run)
    config, data, evaluator = run_data.config, run_data.data, run_data.evaluator
    x_train, x_test = run_data.x_train, run_data.x_test
    model = load_run(args.run)
    tokens = tokenize_series(model.tokenizer, x_train)
    labels = torch.from_numpy(data.y_train).long()
    changes = {
        "hidden_dim": args.hidden, "n_layers": args.layers, "ffn_mult": args.ffn_mult,
        "dropout": args.dropout, "class_dropout": args.class_dropout,
    }
    prior_config = dataclasses.replace(config.prior, **{k: v for k, v in changes.items() if v is not None})
    fresh = build_prior(prior_config, model.tokenizer, data.n_classes)
    run_prior = model.prior
    if args.band != "all" and not isinstance(run_prior, TwoBandPrior):
        raise SystemExit("--band low/high needs a run with the two-band (timevqvae) tokenizer")
    if args.band == "low":
        trained: nn.Module = fresh.low
        tokens = run_prior.split(tokens)[0]
    elif args.band == "high":
        low, high = run_prior.split(tokens)
        trained = HighBandOnly(fresh.high, run_prior.context(low).detach())
        tokens = torch.cat([torch.arange(len(high))[:, None], high], dim=1)
    else:
        trained = fresh

    optimizer = torch.optim.AdamW(trained.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    def schedule(step: int) -> float:
        if step < args.warmup:
            return (step + 1) / args.warmup
        return 0.5 * (1.0 + math.cos(math.pi * step / args.steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(args.seed + 7)
    start = time.perf_counter()
    trained.train()
    for step in range(args.steps):
        out = trained.loss(tokens, labels, generator=generator)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {out.loss.item():.3f}  masked acc {out.masked_accuracy.item():.3f}", flush=True)
    train_s = time.perf_counter() - start
    trained.eval()
    if args.band == "low":
        run_prior.low = trained
    elif args.band == "high":
        run_prior.high = trained.high
    else:
        model.prior = trained
    if args.temperature is not None:
        model.gumbel_temperature = args.temperature

    test_feats = extract_features(evaluator, x_test)
    per_class = np.repeat(np.arange(data.n_classes), 256)
    for steps in (int(v) for v in args.sampling_steps.split(",")):
        start = time.perf_counter()
        unconditional = model.sample_standardized(1024, seed=args.seed, steps=steps)
        conditional = model.sample_standardized(len(per_class), class_index=per_class, seed=args.seed + 1, steps=steps)
        sample_s = time.perf_counter() - start
        shares = np.bincount(predict_proba(evaluator, unconditional).argmax(1), minlength=data.n_classes)
        predicted = predict_proba(evaluator, conditional).argmax(1)
        print(json.dumps({
            "band": args.band, "steps": args.steps, "lr": args.lr, "weight_decay": args.weight_decay,
            "warmup": args.warmup, "prior": dataclasses.asdict(prior_config), "T": steps,
            "train_s": round(train_s), "sample_s": round(sample_s),
            "fid": round(frechet_distance(extract_features(evaluator, unconditional), test_feats, warn_few_samples=False), 3),
            "fid_conditional": round(frechet_distance(extract_features(evaluator, conditional), test_feats, warn_few_samples=False), 3),
            "unconditional_class_shares": (shares / len(unconditional)).round(3).tolist(),
            "conditional_accuracy": [round(float(np.mean(predicted[per_class == c] == c)), 3) for c in range(data.n_classes)],
        }), flush=True)


if __name__ == "__main__":
    main()
