"""The HTML report is self-contained, escaped, and has every section."""

import base64
import re
from datetime import datetime, timezone

import pytest

from ncvqvae.evaluation.report import flatten_metrics, format_value, render_report, write_report
from ncvqvae.evaluation.run_report import checkpoint_note, grouped_metrics, headline_rows

from ..conftest import tiny_config

# A 1 x 1 transparent PNG, so the test needs no plotting.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)

METRICS = {
    "dataset": "GunPoint",
    "tokenizer": {"recon_mse": 0.0123456, "probe": {"svm": 0.9, "knn": 0.8}},
    "generation": {
        "fid": 1.23456789, "fid_std": 0.2, "fid_real": 0.41, "fid_real_std": 0.05,
        "is_mean": 1.9, "cas": 0.9, "trtr": 0.95, "cas_trtr_ratio": 0.947, "rocket_fid": 0.02,
    },
    "generation_counts": {"n_per_set": 75, "n_sets": 3},
}


@pytest.fixture
def report(tmp_path):
    plot = tmp_path / "samples.png"
    plot.write_bytes(TINY_PNG)
    path = write_report(
        tmp_path / "run" / "report.html",
        title="GunPoint <vicreg> & friends",
        config={"data": {"name": "GunPoint", "root": tmp_path}, "seed": 0},
        headline=headline_rows(METRICS),
        facts={"dataset": "GunPoint", "command": "ncvqvae run --dataset GunPoint"},
        groups=grouped_metrics(METRICS),
        metric_notes={"generation": "FCN features; 1024 samples vs 150 real <test> series"},
        plots={"Real vs generated": plot, "Codebook usage": tmp_path / "missing.png"},
    )
    return path, path.read_text(encoding="utf-8")


def test_every_section_is_present(report):
    path, text = report
    assert path.name == "report.html" and not path.with_name("report.html.tmp").exists()
    for heading in ("Headline figures", "Data and provenance", "All metrics", "Notes", "Plots", "Configuration"):
        assert f"<h2>{heading}</h2>" in text
    assert "<h1>GunPoint &lt;vicreg&gt; &amp; friends</h1>" in text
    assert re.search(r"Generated \d{4}-\d{2}-\d{2}", text)


def test_the_report_leads_with_the_headline_figures(report):
    _, text = report
    headline = text[text.index("Headline figures") : text.index("Data and provenance")]
    # FID with its spread, its direction and its floor (with the ratio) beside it.
    assert "1.23 ± 0.2" in headline and "lower is better" in headline
    assert "floor (real half vs real half) 0.41 ± 0.05; ratio 3.01" in headline
    assert "TRTR 0.95; CAS / TRTR 0.95" in headline
    assert text.index("Headline figures") < text.index("All metrics") < text.index("Notes")


def test_metrics_are_grouped_with_units(report):
    _, text = report
    assert "Fidelity, evaluator FCN features" in text and "Usefulness: classifiers trained on samples" in text
    assert re.search(r"<td>fid</td><td[^>]*>1.235</td>", text)
    assert re.search(r"<td>probe / svm</td><td[^>]*>0.9</td>", text)
    assert re.search(r"<td>recon_mse</td><td[^>]*>0.01235</td>", text)
    assert "ncvqvae run --dataset GunPoint" in text


def test_images_are_embedded_and_nothing_is_external(report):
    _, text = report
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert match and base64.b64decode(match.group(1)) == TINY_PNG
    assert "<figcaption>Real vs generated</figcaption>" in text
    assert "Plot not available" in text  # the missing plot is reported, not fatal
    lowered = text.lower()
    assert "http" not in lowered and "<script" not in lowered and "<link" not in lowered


def test_user_text_is_escaped(report):
    _, text = report
    assert "150 real &lt;test&gt; series" in text
    assert "<test>" not in text and "<vicreg>" not in text
    assert "&quot;name&quot;: &quot;GunPoint&quot;" in text  # config dump, escaped JSON


def test_format_value():
    assert format_value(None) == "n/a"
    assert format_value(0.000123456) == "0.0001235"
    assert format_value(12345.678) == "1.235e+04"
    assert format_value(3) == "3" and format_value(True) == "True"
    assert format_value((1.23456, 0.5)) == "1.235, 0.5"


def test_flatten_metrics_order():
    rows = list(flatten_metrics(METRICS))
    assert rows[0] == ("run", "dataset", "GunPoint")
    assert [r[:2] for r in rows[1:4]] == [
        ("tokenizer", "recon_mse"), ("tokenizer / probe", "svm"), ("tokenizer / probe", "knn")
    ]


def test_render_is_deterministic_given_a_date():
    kwargs = dict(title="t", config={}, headline=[], facts={}, groups=[], metric_notes={}, plots={},
                  date=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
    assert render_report(**kwargs) == render_report(**kwargs)
    assert "2024-05-01 12:00 UTC" in render_report(**kwargs)


def test_diagnosis_says_which_stage_loses_quality():
    from ncvqvae.evaluation.run_report import diagnosis

    stage1 = {"generation": {"fid": 3.0, "fid_recon": 2.5, "fid_real": 1.0}}
    assert "Stage 1 accounts for 75%" in diagnosis(stage1)
    stage2 = {"generation": {"fid": 3.0, "fid_recon": 1.2, "fid_real": 1.0,
                             "per_class": {"0": {"fid_conditional": 1.0, "fid_recon": 0.9},
                                           "1": {"fid_conditional": 6.0, "fid_recon": 1.0}}}}
    text = diagnosis(stage2, ("1", "2"))
    assert "Stage 2 accounts for 90%" in text and "Class 2 is generated worst" in text and "the prior loses most" in text
    assert diagnosis({"generation": {}}) == ""


def test_diagnosis_says_whether_near_copies_come_from_the_prior_or_the_tokenizer():
    from ncvqvae.evaluation.run_report import diagnosis

    base = {"fid": 3.0, "fid_recon": 2.5, "fid_real": 1.0}
    prior = diagnosis({"generation": base | {"near_copy_rate": 0.8, "near_copy_rate_recon": 0.1}})
    assert "80% of the samples are near-copies" in prior and "the prior reproduces training series" in prior
    smoothing = diagnosis({"generation": base | {"near_copy_rate": 0.3, "near_copy_rate_recon": 0.25}})
    assert "most of that is the tokenizer's smoothing" in smoothing
    unknown = diagnosis({"generation": base | {"near_copy_rate": 0.3}})
    assert unknown.endswith("(new real data: about 5%).")
    assert "near-copies" not in diagnosis({"generation": base | {"near_copy_rate": 0.06, "near_copy_rate_recon": 0.05}})


def test_the_notes_say_which_weights_were_exported_and_what_chose_them() -> None:
    chosen = tiny_config(data={"validation_fraction": 0.2}, stage1={"select": "best"})
    metrics = {
        "tokenizer": {"selection": {"rule": "best", "step": 120, "val_loss": 0.0123}},
        "prior": {"selection": {"rule": "last", "step": 20, "val_loss": None}},
    }
    note = checkpoint_note(chosen, metrics)
    assert "20% of the training split" in note
    assert "tokenizer: step 120, the lowest validation loss (0.0123)" in note
    assert "prior: the last step (20)" in note
    plain = checkpoint_note(tiny_config(), {"tokenizer": {"selection": {"rule": "last", "step": 20}}})
    assert plain.startswith("No validation split") and "chose nothing" in plain
