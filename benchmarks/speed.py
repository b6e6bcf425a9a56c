"""Training and sampling throughput (series/s) and peak memory, beside the reference code's.

    python benchmarks/speed.py                     # the default grid
    python benchmarks/speed.py --lengths 140 500 --batch 128 --repeats 3

Each measurement runs in a fresh process, so its peak resident memory is its own. The
reference numbers (the method authors' code, same model sizes, a machine like ours) are
read from ``../shared/reference/reference_speed_cpu.csv`` when it is there.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "reference_speed_cpu.csv"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stage1_step(length: int, batch: int, ssl: str, projector: str, repeats: int) -> tuple[float, float]:
    import torch

    from ncvqvae.config import SSLConfig, TokenizerConfig
    from ncvqvae.data.augment import build_augmentation
    from ncvqvae.tokenizer.objective import StageOneObjective

    torch.manual_seed(0)
    model = StageOneObjective(
        TokenizerConfig(n_resblocks=4),
        SSLConfig(method=ssl, projector=projector),
        in_channels=1,
        length=length,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    augment = build_augmentation("warp")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, length)

    def step() -> None:
        x_aug = augment(x, gen) if ssl != "none" else None
        loss = model(x, x_aug).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _time(step, batch, repeats)


def _prior_step(length: int, batch: int, repeats: int) -> tuple[float, float]:
    import torch

    from ncvqvae.config import PriorConfig
    from ncvqvae.prior.maskgit import MaskGIT
    from ncvqvae.tokenizer.networks import n_downsampling_blocks

    n_tokens = 5 * -(-(length // 2 + 1) // 2 ** (n_downsampling_blocks(length)))
    torch.manual_seed(0)
    prior = MaskGIT(PriorConfig(), codebook=torch.randn(32, 64), n_tokens=n_tokens, n_classes=2)
    optimizer = torch.optim.AdamW(prior.parameters(), lr=1e-3)
    tokens = torch.randint(0, 32, (batch, n_tokens))
    labels = torch.randint(0, 2, (batch,))

    def step() -> None:
        loss = prior.loss(tokens, labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _time(step, batch, repeats)


def _sampling(length: int, batch: int, steps: int, guidance: float | None, repeats: int) -> tuple[float, float]:
    import torch

    from ncvqvae.config import PriorConfig, TokenizerConfig
    from ncvqvae.prior.maskgit import MaskGIT
    from ncvqvae.prior.sampling import sample_tokens
    from ncvqvae.tokenizer.model import VQTokenizer

    torch.manual_seed(0)
    tokenizer = VQTokenizer(TokenizerConfig(n_resblocks=4), in_channels=1, length=length).eval()
    prior = MaskGIT(
        PriorConfig(), codebook=tokenizer.quantizer.codebook, n_tokens=tokenizer.n_tokens, n_classes=2
    ).eval()
    labels = None if guidance is None else torch.randint(0, 2, (batch,))

    def run() -> None:
        tokens = sample_tokens(
            prior, batch, class_labels=labels, steps=steps, guidance=guidance or 1.0
        )
        with torch.inference_mode():
            tokenizer.detokenize(tokens)

    return _time(run, batch, repeats)


def _time(fn, batch: int, repeats: int) -> tuple[float, float]:  # noqa: ANN001
    fn()  # warm-up: allocator, k-means init, lazy kernels
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates), _peak_rss_mib()


def _in_fresh_process(fn, *args) -> tuple[float, float]:  # noqa: ANN001
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _reference() -> dict[tuple[str, int, int], tuple[str, str]]:
    if not REFERENCE.is_file():
        return {}
    with REFERENCE.open() as f:
        return {
            (row["what"], int(row["length"]), int(row["batch"])): (row["series_per_s"], row["peak_rss_mib"])
            for row in csv.DictReader(f)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[96, 140, 500, 1024])
    parser.add_argument("--batch", type=int, default=128, help="stage-1 batch")
    parser.add_argument("--prior-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sampling", action="store_true")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} passes")
    reference = _reference()
    rows = []

    def ref_for(what: str, length: int, batch: int) -> tuple[str, str]:
        return reference.get((what, length, batch), ("", ""))

    for length in args.lengths:
        for ssl, projector, ref_name in (
            ("none", "4096-4096-4096", "baseline_stage1_step"),
            ("barlowtwins", "4096-4096-4096", "ncvqvae_stage1_step_barlowtwins_proj4096"),
        ):
            rate, rss = _in_fresh_process(_stage1_step, length, args.batch, ssl, projector, args.repeats)
            rows.append((f"stage1 train step, ssl={ssl}", length, args.batch, rate, rss, *ref_for(ref_name, length, args.batch)))
            print(_format(rows[-1]), flush=True)
        rate, rss = _in_fresh_process(_prior_step, length, args.prior_batch, args.repeats)
        rows.append(("maskgit train step", length, args.prior_batch, rate, rss, *ref_for("maskgit_train_step", length, args.prior_batch)))
        print(_format(rows[-1]), flush=True)
        if args.skip_sampling:
            continue
        for steps in (10, 20):
            for guidance, label, ref_name in (
                (None, "unconditional", "sampling_unconditional_T10"),
                (1.0, "class-cond w=1", "sampling_class_conditional_T10_w1"),
                (2.0, "class-cond w=2 (guided)", ""),
            ):
                rate, rss = _in_fresh_process(_sampling, length, 256, steps, guidance, 1)
                ref = ref_for(ref_name, length, 256) if steps == 10 else ("", "")
                rows.append((f"sampling T={steps} {label}", length, 256, rate, rss, *ref))
                print(_format(rows[-1]), flush=True)
    print()
    print("| what | L | batch | ours series/s | ours peak RSS MiB | reference series/s | reference RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        what, length, batch, rate, rss, ref_rate, ref_rss = row
        print(f"| {what} | {length} | {batch} | {rate:.1f} | {rss:.0f} | {ref_rate or '-'} | {ref_rss or '-'} |")


def _format(row: tuple) -> str:
    what, length, batch, rate, rss, ref_rate, _ = row
    ref = f"  (reference {ref_rate})" if ref_rate else ""
    return f"{what:40s} L={length:5d} B={batch:4d}: {rate:8.1f} series/s, peak {rss:6.0f} MiB{ref}"


if __name__ == "__main__":
    main()
