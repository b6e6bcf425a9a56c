"""The end-to-end run: which stage happens in which order, and where its results go.

evaluator FCN -> stage 1 tokenizer -> stage 2 prior -> sampling and metrics -> report.
A stage whose export is already in the run folder is loaded instead of retrained, and a
stage interrupted mid-training resumes from its last checkpoint, so re-running the same
command after a crash finishes the run instead of starting it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncvqvae.code_version import code_version
from ncvqvae.config import RunConfig
from ncvqvae.config.budget import apply_budget, plan_budget
from ncvqvae.data.dataset import TimeSeriesDataset, data_warnings, from_arrays
from ncvqvae.data.sources import load_arrays_from_files, load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.data.validation import validation_split
from ncvqvae.errors import CheckpointError, ConfigError
from ncvqvae.evaluation.evaluator import Evaluator, get_evaluator
from ncvqvae.evaluation.generation import GenerationSamples, draw_samples, evaluate_samples
from ncvqvae.evaluation.reconstruction import reconstruction_scores
from ncvqvae.evaluation.report import write_report
from ncvqvae.evaluation.run_plots import draw_run_plots
from ncvqvae.evaluation.run_report import (
    dataset_facts,
    diagnosis,
    grouped_metrics,
    headline_rows,
    metric_notes,
    provenance,
)
from ncvqvae.evaluation.tokens import (
    code_usage,
    encode_split,
    fit_linear_probes,
    fraction_used,
    perplexity,
)
from ncvqvae.model.export import load_export
from ncvqvae.model.trained import TrainedModel, load_prior, load_tokenizer, tokenize_series
from ncvqvae.prior.sampling import sample_tokens
from ncvqvae.run_folder import RunFolder
from ncvqvae.tokenizer.objective import Tokenizer
from ncvqvae.training.fit import fit_prior, fit_tokenizer
from ncvqvae.training.trainer import check_accelerator, evaluation_device, is_main_process

log = logging.getLogger("ncvqvae")

# One evaluator (and one set of CAS/TRTR seeds and floors) per dataset, whatever the run's
# seed, as one Inception network serves every image generator: the spread of FID over
# training seeds is then the generators', not the feature spaces'.
EVALUATOR_SEED = 0
STAGES = ("evaluator", "tokenizer", "prior", "generation", "report")


@dataclass
class RunContext:
    """What every stage of one run shares."""

    config: RunConfig
    folder: RunFolder
    data: TimeSeriesDataset
    standardizer: Standardizer

    @property
    def x_train(self) -> np.ndarray:
        return self.standardizer.transform(self.data.x_train)

    @property
    def x_test(self) -> np.ndarray:
        return self.standardizer.transform(self.data.x_test)


def load_data(config: RunConfig) -> TimeSeriesDataset:
    """The dataset a config names: a UCR/aeon dataset, or the user's own .npy files."""
    data = config.data
    if data.data_file is None:
        return load_dataset(data.dataset, data.data_dir, resample=data.resample)
    x_train, y_train, x_test, y_test = load_arrays_from_files(
        Path(data.data_file),
        None if data.labels_file is None else Path(data.labels_file),
        test_fraction=data.test_fraction,
        seed=config.seed,
        resample=data.resample,
    )
    return from_arrays(x_train, y_train, x_test, y_test, name=data.dataset)


def open_run(
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    data: TimeSeriesDataset | None = None,
    command: str | None = None,
) -> RunContext:
    """Check the data first (a bad file must fail before anything is written), then
    create or continue the run folder. ``command`` is the command line that made the run,
    recorded for the report."""
    check_accelerator(config.trainer)
    data = data if data is not None else load_data(config)
    if is_main_process():
        for note in data_warnings(data):
            log.warning("warning: %s", note)
    standardizer = Standardizer.fit(data.x_train)
    n_fit = len(data.x_train)
    if config.data.validation_fraction > 0:
        # Checked here, before the run folder exists: a split that leaves too few series fails now.
        n_fit = len(validation_split(data.y_train, n_fit, config.data.validation_fraction, config.seed).fit)
    budget = None
    if config.budget in ("data", "data_work"):
        budget = plan_budget(config, n_train=n_fit, length=data.length, n_channels=data.n_channels)
        log.info("budget: %s", budget.reason)
    folder = RunFolder(out)
    if is_main_process():
        folder.prepare(config, overwrite=overwrite)
        folder.update_metrics(
            {
                "dataset": data.name,
                "ssl": config.ssl.method,
                "augment": config.ssl.augment,
                "seed": config.seed,
                "data_fingerprint": data_fingerprint(data),
                "code": code_version(),
            }
            | ({"command": command} if command else {})
        )
    if budget is not None:
        # The folder keeps the config as asked (budget: data); the steps it resolved to
        # are recorded beside the metrics and used for training.
        if is_main_process():
            folder.update_metrics({"budget": {"tokenizer_steps": budget.stage1_steps, "prior_steps": budget.stage2_steps, "reason": budget.reason}})
        config = apply_budget(config, budget)
    return RunContext(config, folder, data, standardizer)


def data_fingerprint(data: TimeSeriesDataset) -> str:
    """16 hex digits of sha256 over both splits and their labels: runs compared in one
    table should have seen the same data."""
    import hashlib

    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        if array is not None:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def run_tokenizer_stage(ctx: RunContext) -> Tokenizer:
    """Train (or load) the tokenizer and record its metrics."""
    if ctx.folder.tokenizer_path.exists():
        log.info("tokenizer already trained in %s; loading it", ctx.folder.path)
        tokenizer, meta = load_tokenizer(ctx.folder.tokenizer_path)
        check_tokenizer_matches_data(meta, ctx.data, ctx.folder.tokenizer_path)
        if is_main_process() and "tokenizer" not in ctx.folder.read_metrics():
            # Stopped between the export and its metrics: measure now, not never.
            ctx.folder.update_metrics({"tokenizer": tokenizer_metrics(tokenizer, ctx)})
        return tokenizer
    start = time.perf_counter()
    tokenizer = fit_tokenizer(ctx.config, ctx.data, ctx.standardizer, ctx.folder.path)
    elapsed = time.perf_counter() - start
    if not is_main_process():
        return tokenizer
    metrics = {**tokenizer_metrics(tokenizer, ctx), "selection": exported_selection(ctx.folder.tokenizer_path)}
    ctx.folder.update_metrics({"tokenizer": metrics, "timing": {"tokenizer_s": elapsed}})
    return tokenizer


def exported_selection(path: Path) -> dict[str, Any]:
    """Which step's weights a stage exported, and by which rule (last / best on validation)."""
    return load_export(path)["meta"].get("selection", {})


def check_tokenizer_matches_data(meta: dict[str, Any], data: TimeSeriesDataset, path: Path) -> None:
    """A tokenizer trained on other data would quietly produce nonsense tokens."""
    if (meta["dataset"], meta["length"], meta["in_channels"]) != (data.name, data.length, data.n_channels):
        raise CheckpointError(
            f"{path} was trained on {meta['dataset']} (length {meta['length']}, "
            f"{meta['in_channels']} channels), not on {data.name} (length {data.length}, "
            f"{data.n_channels} channels); use a run folder of that dataset or a new --out"
        )


def tokenizer_metrics(tokenizer: Tokenizer, ctx: RunContext) -> dict[str, Any]:
    """Test reconstruction MSE, codebook use on the whole train split, linear probes."""
    train = encode_split(tokenizer, ctx.x_train)
    test = encode_split(tokenizer, ctx.x_test)
    usage = code_usage(train.tokens, tokenizer.vocab_size)
    metrics: dict[str, Any] = {
        "recon_mse": test.recon_mse,
        "recon_mse_train": train.recon_mse,
        "perplexity": perplexity(usage),
        "codebook_usage": fraction_used(usage),
        "n_tokens": tokenizer.n_tokens,
        "grid": list(tokenizer.grid_shape),
    }
    if ctx.data.labelled and ctx.data.n_classes > 1:
        metrics["probe"] = fit_linear_probes(
            train.pooled, ctx.data.y_train, test.pooled, ctx.data.y_test
        )
    return metrics


def run_reconstruction_stage(ctx: RunContext, tokenizer: Tokenizer, evaluator: Evaluator | None) -> dict[str, float]:
    """Score the tokenizer's test reconstructions as a full run's generation stage does
    (``fid_recon`` and its floor), without a prior: what a stage-1 screen needs."""
    done = ctx.folder.read_metrics().get("reconstruction")
    if done is not None or not is_main_process():
        return done or {}
    start = time.perf_counter()
    device = evaluation_device(ctx.config.trainer)
    tokenizer.to(device)
    if evaluator is not None:
        evaluator.model.to(device)
    scores = reconstruction_scores(
        ctx.x_train,
        ctx.x_test,
        encode_split(tokenizer, ctx.x_test).reconstruction,
        None if evaluator is None else evaluator.model,
        halvings=ctx.config.evaluation.halvings,
        rocket_kernels=ctx.config.evaluation.rocket_kernels,
    )
    ctx.folder.update_metrics({"reconstruction": scores, "timing": {"reconstruction_s": time.perf_counter() - start}})
    return scores


def run_prior_stage(ctx: RunContext, tokenizer: Tokenizer) -> TrainedModel:
    """Train (or load) the prior; record masked accuracy and the token-usage KL."""
    if ctx.folder.prior_path.exists():
        log.info("prior already trained in %s; loading it", ctx.folder.path)
        prior = load_prior(ctx.folder.prior_path, tokenizer)
        model = _trained_model(ctx, tokenizer, prior)
        if is_main_process() and "prior" not in ctx.folder.read_metrics():
            ctx.folder.update_metrics({"prior": prior_metrics(model, ctx)})
        return model
    start = time.perf_counter()
    prior = fit_prior(ctx.config, ctx.data, ctx.standardizer, tokenizer, ctx.folder.path)
    elapsed = time.perf_counter() - start
    model = _trained_model(ctx, tokenizer, prior)
    if not is_main_process():
        return model
    metrics = {**prior_metrics(model, ctx), "selection": exported_selection(ctx.folder.prior_path)}
    ctx.folder.update_metrics({"prior": metrics, "timing": {"prior_s": elapsed}})
    return model


def _trained_model(ctx: RunContext, tokenizer: Tokenizer, prior: Any) -> TrainedModel:
    return TrainedModel(
        tokenizer=tokenizer,
        prior=prior,
        standardizer=ctx.standardizer,
        class_names=ctx.data.class_names,
        sampling_steps=ctx.config.prior.sampling_steps,
        gumbel_temperature=ctx.config.prior.gumbel_temperature,
        token_temperature=ctx.config.prior.token_temperature,
        precision=ctx.config.trainer.precision,
    )


def prior_metrics(model: TrainedModel, ctx: RunContext) -> dict[str, float]:
    """Validation loss and masked accuracy (test tokens, fixed masks), the majority-code
    baseline the accuracy should beat, and KL(real || generated) of code usage."""
    vocab = model.tokenizer.vocab_size
    tokens_train = tokenize_series(model.tokenizer, ctx.x_train)
    tokens_test = tokenize_series(model.tokenizer, ctx.x_test)
    y_test = (
        torch.from_numpy(ctx.data.y_test)
        if ctx.data.labelled
        else torch.full((len(tokens_test),), model.prior.null_class)
    )
    generator = torch.Generator().manual_seed(12345)
    loss_sum, correct, total = 0.0, 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(tokens_test), 512):
            out = model.prior.loss(
                tokens_test[i : i + 512], y_test[i : i + 512], drop_labels=False, generator=generator
            )
            n = int(out.n_masked)
            loss_sum += float(out.loss) * n
            correct += float(out.masked_accuracy) * n
            total += n
    tokens_generated = sample_tokens(
        model.prior,
        max(len(tokens_train), 256),
        steps=model.sampling_steps,
        temperature=model.gumbel_temperature,
        token_temperature=model.token_temperature,
        generator=torch.Generator().manual_seed(ctx.config.seed),
    )
    real_usage = code_usage(tokens_train.numpy(), vocab)
    fake_usage = code_usage(tokens_generated.numpy(), vocab)
    return {
        "val_loss": loss_sum / total,
        "val_masked_acc": correct / total,
        "majority_code_freq": float(real_usage.max()),
        "token_kl": kl_divergence(real_usage, fake_usage),
    }


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-6) -> float:
    """KL(p || q) of two histograms, smoothed so an unused code does not make it infinite."""
    p = (p + eps) / (p + eps).sum()
    q = (q + eps) / (q + eps).sum()
    return float((p * np.log(p / q)).sum())


def run_evaluator_stage(ctx: RunContext) -> Evaluator | None:
    """The cached evaluator FCN of this dataset (trained on first use); None if unlabelled."""
    if not ctx.data.labelled or not is_main_process():
        return None
    start = time.perf_counter()
    evaluator = get_evaluator(
        ctx.data.name,
        ctx.x_train,
        ctx.data.y_train,
        ctx.x_test,
        ctx.data.y_test,
        ctx.data.n_classes,
        ctx.config.evaluation,
        seed=EVALUATOR_SEED,
        progress=ctx.config.trainer.progress_bar,
        device=evaluation_device(ctx.config.trainer),
    )
    ctx.folder.update_metrics(
        {
            "evaluator": {
                "test_accuracy": evaluator.test_accuracy,
                "cached": evaluator.cached,
                "path": str(evaluator.path),
                "digest": evaluator.digest,
            },
            "timing": {"evaluator_s": time.perf_counter() - start},
        }
    )
    return evaluator


def run_generation_stage(
    ctx: RunContext, model: TrainedModel, evaluator: Evaluator | None, *, force: bool = False
) -> GenerationSamples:
    """Sample, score, and save the samples beside the metrics (skipped when done)."""
    samples_path = ctx.folder.path / "samples.npz"
    if not force and samples_path.exists() and "generation" in ctx.folder.read_metrics():
        log.info("generation already evaluated in %s; loading its samples", ctx.folder.path)
        return load_samples(ctx, samples_path)
    start = time.perf_counter()
    device = evaluation_device(ctx.config.trainer)
    torch.set_float32_matmul_precision(ctx.config.trainer.matmul_precision)
    model.to(device)
    if evaluator is not None:
        evaluator.model.to(device)
    samples = draw_samples(
        model, ctx.data, ctx.config.evaluation, seed=ctx.config.seed, progress=ctx.config.trainer.progress_bar
    )
    sampling_s = time.perf_counter() - start
    report = evaluate_samples(
        samples,
        ctx.x_train,
        ctx.data.y_train,
        ctx.x_test,
        ctx.data.y_test,
        ctx.data.n_classes,
        None if evaluator is None else evaluator.model,
        ctx.config.evaluation,
        seed=EVALUATOR_SEED,
        progress=ctx.config.trainer.progress_bar,
        reconstructed_test=encode_split(model.tokenizer, ctx.x_test).reconstruction,
        device=device,
    )
    np.savez_compressed(
        samples_path,
        unconditional=ctx.standardizer.inverse(samples.unconditional),
        unconditional_sets=np.stack([ctx.standardizer.inverse(x) for x in samples.unconditional_sets]),
        conditional=np.zeros(0) if samples.conditional is None else ctx.standardizer.inverse(samples.conditional),
        conditional_labels=np.zeros(0) if samples.conditional_labels is None else samples.conditional_labels,
    )
    ctx.folder.update_metrics(
        {
            "generation": report.metrics,
            "generation_counts": report.notes,
            "timing": {
                "generation_s": time.perf_counter() - start,
                "metrics_s": {"sampling": round(sampling_s, 1), **report.seconds},
            },
        }
    )
    return samples


def load_samples(ctx: RunContext, path: Path) -> GenerationSamples:
    stored = np.load(path)
    conditional = stored["conditional"]
    sets = stored["unconditional_sets"] if "unconditional_sets" in stored else stored["unconditional"][None]
    return GenerationSamples(
        unconditional_sets=[ctx.standardizer.transform(x) for x in sets],
        conditional=ctx.standardizer.transform(conditional) if conditional.size else None,
        conditional_labels=stored["conditional_labels"].astype(np.int64) if conditional.size else None,
    )


def run_report_stage(
    ctx: RunContext,
    model: TrainedModel,
    evaluator: Evaluator | None,
    samples: GenerationSamples,
) -> Path:
    """Draw the plots and write the self-contained HTML report."""
    plots = draw_run_plots(
        ctx.folder.plots_dir, ctx.data, ctx.standardizer, model,
        None if evaluator is None else evaluator.model, samples, ctx.folder.path / "logs",
        seed=ctx.config.seed, tsne=ctx.config.evaluation.tsne,
    )
    metrics = ctx.folder.read_metrics()
    class_counts = None
    if ctx.data.labelled:
        counts = np.bincount(ctx.data.y_train, minlength=ctx.data.n_classes)
        class_counts = dict(zip(ctx.data.class_names, counts.tolist()))
    return write_report(
        ctx.folder.report_path,
        title=f"NC-VQVAE run: {ctx.data.name}, SSL {ctx.config.ssl.method}, seed {ctx.config.seed}",
        config=ctx.config.to_dict(),
        headline=headline_rows({**metrics, "classes": class_counts or {}}),
        facts={
            **dataset_facts(ctx.data, class_counts),
            **({"training budget": metrics["budget"]["reason"]} if "budget" in metrics else {}),
            **provenance(metrics.get("command")),
        },
        groups=grouped_metrics(metrics),
        metric_notes=metric_notes(ctx.config, metrics),
        plots=plots,
        diagnosis=diagnosis(metrics, ctx.data.class_names),
    )


def prior_overrides(
    config: RunConfig,
    *,
    preset: str | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    assignments: list[str] | None = None,
) -> RunConfig:
    """The run's config with stage-2 settings changed for one ``prior`` command.

    Only ``stage2`` and ``prior`` may change: the tokens, and so everything stage 2
    trains on, come from the run's tokenizer as it was trained.
    """
    from ncvqvae.config import from_dict, parse_assignments
    from ncvqvae.config import preset as make_preset

    if preset is not None:
        config = config.override(stage2=vars(make_preset(preset).stage2), skip_none=False)
    if assignments:
        values = parse_assignments(assignments)
        others = sorted(set(values) - {"stage2", "prior"})
        if others:
            raise ConfigError(
                f"`prior` changes stage-2 settings only (stage2.*, prior.*); got {', '.join(others)}"
            )
        config = from_dict(values, config)
    if epochs is not None:
        config = config.override(stage2={"epochs": epochs, "max_steps": steps}, skip_none=False)
    elif steps is not None:
        config = config.override(stage2={"max_steps": steps})
    return config


def run_all(
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    data: TimeSeriesDataset | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Every stage in order; finished stages are loaded, interrupted ones resumed."""
    ctx = open_run(config, out, overwrite=overwrite, data=data, command=command)
    evaluator = run_evaluator_stage(ctx)
    tokenizer = run_tokenizer_stage(ctx)
    model = run_prior_stage(ctx, tokenizer)
    if not is_main_process():
        return {}
    samples = run_generation_stage(ctx, model, evaluator)
    run_report_stage(ctx, model, evaluator, samples)
    return ctx.folder.read_metrics()
