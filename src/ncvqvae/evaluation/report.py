"""A run's results as one self-contained HTML file.

The report must open by double-click from a run folder copied anywhere (a laptop, an
e-mail attachment, a cluster without web access): images are embedded as base64 data
URIs, the CSS is inline, and there are no scripts or external links. Every piece of text
that comes from the run (dataset names, notes, config values) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
import numbers
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.date { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }
th { background: #f2f2f2; }
td.value { font-family: ui-monospace, monospace; text-align: right; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; font-style: italic; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.missing { color: #a33; }
table.headline td.value { font-weight: bold; white-space: nowrap; }
td.meaning, .unit { color: #555; font-size: 0.92em; }
table.facts th { text-align: left; width: 14em; }
"""

_MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".svg": "image/svg+xml"}


def format_value(value: Any) -> str:
    """A metric value for the table: floats to 4 significant digits, None as "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, bool | numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def flatten_metrics(
    metrics: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, str, Any]]:
    """Rows (section, name, value) of a nested metrics dict, in insertion order.

    The section is the path of enclosing keys joined by " / " ("tokenizer / probe"); a
    top-level value gets the section "run".
    """
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flatten_metrics(value, (*prefix, str(key)))
        else:
            yield (" / ".join(prefix) or "run", str(key), value)


def _headline_table(rows: list[Any]) -> str:
    if not rows:
        return "<p>No headline figures (the run has no generation metrics yet).</p>"
    body = "\n".join(
        f"<tr><td><b>{html.escape(r.name)}</b></td><td class=\"value\">{html.escape(r.value)}</td>"
        f"<td>{html.escape(r.better)} is better</td><td>{html.escape(r.reference)}</td>"
        f"<td class=\"meaning\">{html.escape(r.meaning)}</td></tr>"
        for r in rows
    )
    return (
        "<table class=\"headline\">\n<thead><tr><th>figure</th><th>value ± spread</th><th>direction</th>"
        "<th>floor or reference</th><th>what it is</th></tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def _facts_table(facts: dict[str, str]) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()
    )
    return f"<table class=\"facts\">\n{rows}\n</table>"


def _grouped_tables(groups: list[tuple[str, str, dict[str, Any]]]) -> str:
    parts = []
    for title, unit, values in groups:
        rows = "\n".join(
            f"<tr><td>{html.escape(f'{section} / {name}' if section != 'run' else name)}</td>"
            f'<td class="value">{html.escape(format_value(value))}</td></tr>'
            for section, name, value in flatten_metrics(values)
        )
        unit_html = f' <span class="unit">({html.escape(unit)})</span>' if unit else ""
        parts.append(f"<h3>{html.escape(title)}{unit_html}</h3>\n<table>\n<tbody>\n{rows}\n</tbody>\n</table>")
    return "\n".join(parts)


def _notes(metric_notes: dict[str, str]) -> str:
    if not metric_notes:
        return "<p>No notes.</p>"
    return "\n".join(
        f"<h3>{html.escape(str(group))}</h3>\n<p>{html.escape(str(note))}</p>"
        for group, note in metric_notes.items()
    )


def _figure(caption: str, image_path: Path) -> str:
    """A <figure> with the image inlined as a data URI, or a visible note if it is missing."""
    caption_html = html.escape(caption)
    if not image_path.is_file():
        return (
            f'<figure><p class="missing">Plot not available: {html.escape(str(image_path))} '
            f"was not written.</p><figcaption>{caption_html}</figcaption></figure>"
        )
    mime = _MIME_TYPES.get(image_path.suffix.lower(), "image/png")
    data = base64.b64encode(image_path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{caption_html}">'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def _config_dump(config: dict[str, Any]) -> str:
    # JSON, not YAML: default=str turns Paths, enums and numpy scalars into text instead
    # of failing, and a reader can paste it back with any JSON tool.
    text = json.dumps(config, indent=2, default=str)
    return f"<pre>{html.escape(text)}</pre>"


def render_report(
    *,
    title: str,
    config: dict[str, Any],
    headline: list[Any],
    facts: dict[str, str],
    groups: list[tuple[str, str, dict[str, Any]]],
    metric_notes: dict[str, str],
    plots: dict[str, Path],
    date: datetime | None = None,
    diagnosis: str = "",
) -> str:
    """The report as an HTML string; see :func:`write_report` for the arguments."""
    date = date or datetime.now().astimezone()
    figures = "\n".join(_figure(caption, Path(p)) for caption, p in plots.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p class="date">Generated {html.escape(date.strftime("%Y-%m-%d %H:%M %Z").strip())}</p>
</header>
<section id="headline">
<h2>Headline figures</h2>
{_headline_table(headline)}
{f'<p class="diagnosis"><b>Where quality is lost.</b> {html.escape(diagnosis)}</p>' if diagnosis else ""}
</section>
<section id="data">
<h2>Data and provenance</h2>
{_facts_table(facts)}
</section>
<section id="summary">
<h2>All metrics</h2>
{_grouped_tables(groups)}
</section>
<section id="notes">
<h2>Notes</h2>
{_notes(metric_notes)}
</section>
<section id="plots">
<h2>Plots</h2>
{figures or "<p>No plots.</p>"}
</section>
<section id="configuration">
<h2>Configuration</h2>
{_config_dump(config)}
</section>
</body>
</html>
"""


def write_report(
    path: str | Path,
    *,
    title: str,
    config: dict[str, Any],
    headline: list[Any],
    facts: dict[str, str],
    groups: list[tuple[str, str, dict[str, Any]]],
    metric_notes: dict[str, str],
    plots: dict[str, Path],
    diagnosis: str = "",
) -> Path:
    """Write the self-contained HTML report to ``path`` (e.g. ``run_dir / "report.html"``).

    Args:
        path: the HTML file to write; its folder is created if needed.
        title: page title and heading.
        config: the run's configuration as plain data, dumped as JSON.
        headline: the figures shown first (:class:`~ncvqvae.evaluation.run_report.HeadlineRow`).
        facts: the data's facts and the run's provenance (version, command).
        groups: (title, unit, nested {name: value}) tables of every metric; floats shown
            to 4 significant digits, None as "n/a".
        metric_notes: {metric group: how it was measured (feature extractor, split,
            sample counts)}.
        plots: {caption: image file}; a missing file is reported in place of its figure.

    Returns:
        ``path``. The file is written to ``path.tmp`` first and then renamed, so a crash
        never leaves a half-written report.
    """
    path = Path(path)
    text = render_report(
        title=title, config=config, headline=headline, facts=facts, groups=groups,
        metric_notes=metric_notes, plots=plots, diagnosis=diagnosis,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
