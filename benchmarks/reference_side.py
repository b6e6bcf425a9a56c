"""Times the method authors' code beside ours (run by ``speed.py``, one mode per process).

    REF_DIR=<their unpacked commit 4b905c6> REFVENV/bin/python reference_side.py MODE L

Their code is used unmodified, as ``../shared/reference/harness/ref_bench.py`` does (its
shims stand in for packages their imports need but the timed paths do not use); this
runner adds what that harness does not time: the baseline stage-1 step, class-
conditional sampling at guidance 1 (their code runs the "no class" pass even then), and
FLOPs per series (torch's FlopCounterMode on one step). Prints one ``RESULT {json}``.
``REF_MATMUL_PRECISION`` (default ``highest``, as the harness runs them) sets torch's fp32
matmul precision; ``medium`` is what their training scripts set.

What each mode includes, to compare like with like:
- ``stage1_barlowtwins`` / ``stage1_baseline``: zero_grad, their training_step (STFT,
  encoder, VQ, decoder; with SSL the augmented branch, projector 4096-4096-4096 on both
  views, Barlow Twins), backward, AdamW step; batch 128. Their augmented view is made
  outside the step (their DataLoader makes it); ours is made inside our timed step.
- ``stage2``: their ExpMaskGIT training_step (tokenizing the raw batch with the frozen
  stage 1, then the masked-token loss), backward, AdamW; batch 256.
- ``sample_uncond`` / ``sample_cond``: 256 series, T = 10, decoded to series.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "harness"
REF = Path(os.environ["REF_DIR"]).resolve()
sys.path.insert(0, str(HARNESS / "shims"))
sys.path.insert(0, str(REF))
os.chdir(REF)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
# "highest" is how the shared harness times them; their training scripts set "medium"
# (trainers/train_*.py), which on CPUs with bf16 matrix units runs fp32 matmuls in bf16.
torch.set_float32_matmul_precision(os.environ.get("REF_MATMUL_PRECISION", "highest"))
from utils import get_root_dir, load_yaml_param_settings, model_filename, save_model  # noqa: E402

MODE = sys.argv[1]
L = int(sys.argv[2]) if len(sys.argv) > 2 else 140


def config(method: str = "barlowtwins") -> dict:
    c = load_yaml_param_settings(get_root_dir().joinpath("configs", "config.yaml"))
    c["augmentations"]["time_augs"] = ["window_warp", "amplitude_resize"]
    c["VQVAE"]["aug_recon_rate"] = 0.1
    c["seed"] = 4
    c["SSL"]["stage1_method"] = method
    c["dataset"]["dataset_name"] = "Random"
    c["trainer_params"]["max_epochs"]["stage1"] = 1
    c["trainer_params"]["max_epochs"]["stage2"] = 1
    return c


def report(times: list[float], batch: int, flops: float, params: int) -> None:
    med = statistics.median(times)
    out = {
        "impl": "theirs", "mode": MODE, "L": L, "batch": batch, "series_per_s": batch / med,
        "median_s": med, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "flops_per_series": flops / batch, "params": params,
    }
    print("RESULT " + json.dumps(out), flush=True)


def flops_of(fn) -> float:  # noqa: ANN001
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def timed(fn, warm: int, n: int) -> list[float]:  # noqa: ANN001
    times = []
    for i in range(warm + n):
        start = time.perf_counter()
        fn()
        if i >= warm:
            times.append(time.perf_counter() - start)
    return times


def stage1(method: str) -> None:
    torch.manual_seed(4)
    np.random.seed(4)
    c = config(method)
    if method:
        from experiments.exp_siam_vqvae import Exp_SIAM_VQVAE as Exp
    else:
        from experiments.exp_vqvae import Exp_VQVAE as Exp
    exp = Exp(L, config=c, n_train_samples=500, train_data_loader=None, test_data_loader=None)
    conf = exp.configure_optimizers()
    optimizer, scheduler = conf["optimizer"], conf["lr_scheduler"]
    exp.lr_schedulers = lambda: scheduler
    exp.train()
    batch = 128
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, L, generator=g)
    y = torch.randint(0, 5, (batch, 1))
    data = ((x, x * 1.1), y) if method else (x, y)
    # Their code plots at random with a small probability inside training_step; no
    # display, so it costs little, and steps where it fires are rare among 20.
    import experiments.exp_siam_vqvae as siam

    siam.np.random.seed(0)

    def step() -> None:
        optimizer.zero_grad()
        out = exp.training_step(data, 1)
        out["loss"].backward()
        optimizer.step()

    flops = flops_of(step)
    report(timed(step, 2, 10), batch, flops, sum(p.numel() for p in exp.parameters() if p.requires_grad))
    if method == "barlowtwins" and MODE.endswith("_save"):
        save_model({model_filename(c, "encoder"): exp.encoder, model_filename(c, "decoder"): exp.decoder,
                    model_filename(c, "vqmodel"): exp.vq_model}, id=c["dataset"]["dataset_name"])


def maskgit():  # noqa: ANN201
    from experiments.exp_maskgit import ExpMaskGIT

    torch.manual_seed(4)
    np.random.seed(4)
    exp = ExpMaskGIT(L, config(), 500, 5)
    conf = exp.configure_optimizers()
    exp.lr_schedulers = lambda: conf["lr_scheduler"]
    return exp, conf["optimizer"]


def stage2() -> None:
    exp, optimizer = maskgit()
    exp.train()
    batch = 256
    x = torch.randn(batch, 1, L, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 5, (batch, 1))

    def step() -> None:
        optimizer.zero_grad()
        out = exp.training_step((x, y), 1)  # batch_idx 1: their sampling branch fires at 0
        out["loss"].backward()
        optimizer.step()

    flops = flops_of(step)
    report(timed(step, 2, 8), batch, flops, sum(p.numel() for p in exp.maskgit.transformer.parameters() if p.requires_grad))


def sample(conditional: bool) -> None:
    from models.stage2.sample import conditional_sample, unconditional_sample

    exp, _ = maskgit()
    model = exp.maskgit.eval()
    batch = 256

    def run() -> None:
        with torch.no_grad():
            if conditional:
                conditional_sample(model, batch, "cpu", class_index=1, batch_size=batch, guidance_scale=1.0)
            else:
                unconditional_sample(model, batch, "cpu", class_index=None, batch_size=batch)

    flops = flops_of(run)
    report(timed(run, 1, 3), batch, flops, sum(p.numel() for p in model.transformer.parameters()))


if MODE.startswith("stage1_barlowtwins"):
    stage1("barlowtwins")
elif MODE == "stage1_baseline":
    stage1("")
elif MODE == "stage2":
    stage2()
elif MODE == "sample_uncond":
    sample(False)
elif MODE == "sample_cond":
    sample(True)
else:
    raise SystemExit(f"unknown mode {MODE}")
