"""Building blocks of the HTML report: escaping, tables, figures, image galleries, the stylesheet.

Everything is inline (CSS in a ``<style>`` element, images as ``data:`` URIs), so a report is
one file that opens offline, from disk or an e-mail attachment, with no JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports.images import amplified_difference, data_uri, image_uri
from reports.model import AdversarialExamples, CorruptionGrid, FragileImage, RunReport


class Html(str):
    """Markup that is already safe: inserted as is, never escaped again."""


def esc(value: Any) -> Html:
    return value if isinstance(value, Html) else Html(html.escape("" if value is None else str(value)))


def num(value: Any, fmt: str = ".4g") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a" if value is None else str(value)
    if np.isnan(v):
        return "n/a"
    return "∞" if np.isinf(v) else format(v, fmt)


def pvalue(value: Any) -> str:
    """:func:`reports.tables.p_text`, empty when there is no p-value (a table cell left blank)."""
    from reports.tables import p_text

    text = p_text(value)
    return "" if text == "n/a" else text


def table(
    headers: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    *,
    align: str | None = None,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> Html:
    """An HTML table; ``align`` has one ``l``/``r``/``c`` per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    style = {"l": "left", "r": "num", "c": "center"}
    head = "".join(f'<th class="{style[a]}">{esc(h)}</th>' for h, a in zip(headers, align))
    body = []
    for i, row in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="{style[a]}">{esc(c)}</td>' for c, a in zip(row, align))
        body.append(f"<tr{rc}>{cells}</tr>")
    return Html(
        f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def figure(png: bytes | None, alt: str, caption: str = "") -> Html:
    if png is None:
        return Html("")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Html(f'<figure class="plot"><img src="{data_uri(png)}" alt="{esc(alt)}">{cap}</figure>')


def note(text: Any, kind: str = "info") -> Html:
    return Html(f'<p class="note {kind}">{esc(text)}</p>')


def badge(text: str, kind: str) -> Html:
    return Html(f'<span class="badge {kind}">{esc(text)}</span>')


def card(title: str, value: str, sub: str = "", kind: str = "") -> Html:
    return Html(
        f'<div class="card {kind}"><div class="card-title">{esc(title)}</div>'
        f'<div class="card-value">{esc(value)}</div><div class="card-sub">{esc(sub)}</div></div>'
    )


def section(anchor: str, title: str, *parts: str) -> Html:
    return Html(f'<section id="{anchor}"><h2>{esc(title)}</h2>{"".join(parts)}</section>')


def tile(image: np.ndarray, caption: Any, *, ok: bool | None = None, size: int = 96, title: str = "") -> Html:
    state = "" if ok is None else (" ok" if ok else " wrong")
    tip = f' title="{esc(title)}"' if title else ""
    return Html(
        f'<figure class="tile{state}"{tip}><img src="{image_uri(image, size)}" alt="{esc(title or caption)}" '
        f'width="{size}" height="{size}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def corruption_grid(grid: CorruptionGrid, report: RunReport) -> Html:
    """One test image under every corruption (rows, in family blocks) and severity (columns)."""
    from reports.plots import family_order

    name = report.class_name
    head = "".join(f"<th>s{s}</th>" for s in grid.severities)
    blocks = []
    for fam in family_order(list(dict.fromkeys(grid.families))):
        rows = []
        for i, (corruption, f) in enumerate(zip(grid.corruptions, grid.families)):
            if f != fam:
                continue
            cells = []
            for j, severity in enumerate(grid.severities):
                pred = int(grid.predictions[i, j])
                if pred < 0:
                    cells.append('<td class="muted">not run</td>')
                    continue
                tip = f"{corruption}, severity {severity}: predicted {name(pred)}"
                cells.append(
                    f"<td>{tile(grid.images[i, j], name(pred), ok=pred == grid.label, size=64, title=tip)}</td>"
                )
            rows.append(f'<tr><th class="left">{esc(corruption)}</th>{"".join(cells)}</tr>')
        blocks.append(
            f'<div class="family-block"><table class="image-grid"><thead><tr><th class="left fam">{esc(fam)}</th>{head}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    clean = tile(grid.clean, f"clean → {name(grid.clean_prediction)}", ok=grid.clean_prediction == grid.label, size=96)
    intro = (
        f"Test image #{grid.sample_id} (true class <b>{esc(name(grid.label))}</b>) under every corruption at severities "
        f"{grid.severities[0]}–{grid.severities[-1]}. Captions give the model's prediction; a red frame marks a wrong one."
    )
    return Html(
        f'<div class="grid-intro">{clean}<p>{intro}</p></div><div class="family-blocks">{"".join(blocks)}</div>'
    )


def adversarial_gallery(examples: AdversarialExamples, report: RunReport) -> Html:
    """Originals beside their adversarial examples and the amplified perturbation, with both predictions."""
    name = report.class_name
    items = []
    for k in range(len(examples.sample_ids)):
        vis, factor = amplified_difference(examples.originals[k], examples.adversarials[k], examples.deltas[k])
        delta = np.asarray(examples.deltas[k], dtype=float)
        size = np.abs(delta).max() if examples.norm == "linf" else np.sqrt((delta**2).sum())
        label, clean_pred, adv_pred = (
            int(examples.labels[k]),
            int(examples.clean_predictions[k]),
            int(examples.adversarial_predictions[k]),
        )
        items.append(
            '<div class="triple">'
            + tile(examples.originals[k], f"original → {name(clean_pred)}", ok=clean_pred == label, size=88)
            + tile(examples.adversarials[k], f"adversarial → {name(adv_pred)}", ok=adv_pred == label, size=88)
            + tile(vis, f"perturbation ×{factor:.0f}", size=88, title=f"{examples.norm} size {size:.3g}")
            + f'<div class="triple-cap">#{int(examples.sample_ids[k])} · true {esc(name(label))} · '
            f"{esc(examples.norm)} size {size:.3g}</div></div>"
        )
    head = f'<h4>{esc(examples.attack)} <span class="muted">({esc(examples.norm)}, ε = {num(examples.epsilon)})</span></h4>'
    body = "".join(items) if items else ""
    extra = note(examples.note) if examples.note else Html("")
    return Html(f'<div class="adv-block">{head}{extra}<div class="gallery">{body}</div></div>')


def fragile_gallery(images: Sequence[FragileImage], report: RunReport) -> Html:
    name = report.class_name
    items = []
    for img in images:
        parts = [tile(img.image, f"clean: {name(img.label)}", ok=True, size=88, title=f"test image #{img.sample_id}")]
        if img.perturbed is not None:
            if img.cause == "attack":
                what = f"{img.perturbation} ε {img.epsilon:.3g}" if img.epsilon is not None else img.perturbation
            else:
                what = img.perturbation + (f" s{img.severity}" if img.severity is not None else "")
            pred = img.perturbed_prediction
            parts.append(tile(img.perturbed, f"{what} → {name(pred)}", ok=pred == img.label, size=88, title=what))
        items.append(
            f'<div class="fragile">{"".join(parts)}<div class="triple-cap">#{img.sample_id}: {esc(img.description)}</div></div>'
        )
    return Html(f'<div class="gallery">{"".join(items)}</div>')


def frame_rows(df: pd.DataFrame, columns: Sequence[str], formats: dict[str, Any]) -> list[list[Any]]:
    out = []
    for _, row in df.iterrows():
        out.append([formats.get(c, lambda v: v)(row[c]) for c in columns])
    return out


CSS = """
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f6f8fb; --accent:#2f5fb3; --ok:#1f8a4c; --bad:#c0392b; --warn:#b7791f; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:var(--bg); }
header.top { background:#1d2b45; color:#fff; padding:22px 32px 16px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:650; }
header.top .meta { color:#c9d3e6; font-size:13.5px; }
header.top code { color:#fff; background:rgba(255,255,255,.12); }
nav.toc { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line); padding:8px 32px; font-size:13.5px; }
nav.toc a { color:var(--accent); text-decoration:none; margin-right:18px; white-space:nowrap; }
main { max-width:1240px; margin:0 auto; padding:8px 32px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 24px 22px; margin:20px 0; }
h2 { margin:0 0 12px; font-size:20px; border-bottom:2px solid var(--line); padding-bottom:6px; }
h3 { margin:22px 0 8px; font-size:16.5px; }
h4 { margin:14px 0 6px; font-size:14.5px; }
p { margin:6px 0 10px; }
code { font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:#eef1f6; padding:1px 5px; border-radius:4px; overflow-wrap:anywhere; }
.muted { color:var(--muted); font-weight:normal; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:4px 0 16px; }
.card { flex:1 1 150px; border:1px solid var(--line); border-left:4px solid var(--accent); border-radius:8px; padding:10px 14px; background:#fbfcfe; }
.card.bad { border-left-color:var(--bad); } .card.ok { border-left-color:var(--ok); } .card.warn { border-left-color:var(--warn); }
.card-title { font-size:13px; color:var(--muted); font-weight:600; }
.card-value { font-size:26px; font-weight:650; line-height:1.25; }
.card-sub { font-size:12.5px; color:var(--muted); }
.table-wrap { overflow-x:auto; margin:6px 0 12px; }
table { border-collapse:collapse; font-size:13.5px; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
thead th { background:#f0f3f8; font-weight:600; border-bottom:2px solid #d5dbe5; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfd; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.left, th.left { text-align:left; } td.center, th.center { text-align:center; }
tr.strong td { font-weight:650; background:#eef3fb !important; }
tr.flagged td { background:#fdf0ee !important; }
figure { margin:0; }
figure.plot { margin:10px 0 18px; }
figure.plot img { max-width:100%; height:auto; display:block; border:1px solid var(--line); border-radius:6px; background:#fff; }
figure.plot figcaption, .caption { font-size:13px; color:var(--muted); margin-top:4px; }
.note { border-left:4px solid var(--accent); background:#f2f6fd; padding:8px 12px; border-radius:4px; font-size:13.5px; }
.note.warn { border-left-color:var(--warn); background:#fdf8ee; } .note.bad { border-left-color:var(--bad); background:#fdf0ee; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; }
.badge.ok { background:var(--ok); } .badge.bad { background:var(--bad); } .badge.skip { background:#8a94a3; }
.tile { display:inline-block; text-align:center; margin:2px; }
.tile img { image-rendering:pixelated; border:3px solid #d0d6df; border-radius:4px; display:block; margin:0 auto; background:#000; }
.tile.ok img { border-color:#7cc39a; } .tile.wrong img { border-color:#e07b6f; }
.tile figcaption { font-size:11.5px; color:var(--muted); max-width:110px; margin:0 auto; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
table.image-grid th, table.image-grid td { padding:3px 6px; text-align:center; border-bottom:1px solid #eef0f4; }
table.image-grid tbody th.left { text-align:left; font-weight:500; font-size:13px; white-space:nowrap; }
table.image-grid thead th.fam { text-transform:uppercase; letter-spacing:.04em; color:var(--accent); font-size:12.5px; }
.family-blocks { columns:2 540px; column-gap:26px; }
.family-block { break-inside:avoid; margin-bottom:10px; }
table.image-grid tbody th.left { min-width:150px; }
.grid-intro { display:flex; gap:16px; align-items:center; margin-bottom:8px; }
.gallery { display:flex; flex-wrap:wrap; gap:14px; }
.triple, .fragile { border:1px solid var(--line); border-radius:8px; padding:6px 8px; background:#fbfcfe; }
.fragile { max-width:330px; }
.plot-row { display:flex; flex-wrap:wrap; gap:0 18px; align-items:flex-start; }
.plot-row figure.plot { flex:0 1 auto; }
.triple-cap { font-size:12px; color:var(--muted); text-align:center; margin-top:2px; }
.adv-block { margin-bottom:10px; }
details { margin:8px 0; } summary { cursor:pointer; color:var(--accent); font-weight:600; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:6px 0 12px; font-size:14px; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; }
footer { text-align:center; color:var(--muted); font-size:12.5px; padding:10px 0 30px; }
@media print { nav.toc { display:none; } section { break-inside:avoid-page; border:none; } body { background:#fff; } }
"""


def page(title: str, header: str, nav: Sequence[tuple[str, str]], body: Sequence[str], footer: str) -> str:
    links = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top">{header}</header><nav class="toc">{links}</nav>'
        f"<main>{''.join(body)}</main><footer>{footer}</footer></body></html>\n"
    )


def key_values(items: Sequence[tuple[str, Any]]) -> Html:
    return Html('<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>")


def code(text: Any) -> Html:
    return Html(f"<code>{esc(text)}</code>")


def inline(text: str) -> Html:
    """Escape, then render Markdown's inline ``code``, **bold** and *italic*."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return Html(re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<i>\1</i>", out))


def markdown_section(lines: Sequence[str]) -> tuple[str, str, Html] | None:
    """A report section given as Markdown lines (headings, tables, lists, paragraphs) -> (anchor, title, HTML).

    Sections written by other modules (the defense section of ``robustness.compare.render``) arrive
    this way; the first ``## `` heading names the section.
    """
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        return None
    rows = text.split("\n")
    title = "More"
    if rows and rows[0].startswith("## "):
        title, rows = rows[0][3:].strip(), rows[1:]
    anchor = "extra-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")
    parts: list[str] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        if not row.strip():
            i += 1
        elif row.lstrip().startswith("```"):
            block = []
            i += 1
            while i < len(rows) and not rows[i].lstrip().startswith("```"):
                block.append(rows[i])
                i += 1
            i += 1  # the closing fence
            parts.append(f"<pre><code>{html.escape(chr(10).join(block))}</code></pre>")
        elif row.startswith("#"):
            level = min(4, len(row) - len(row.lstrip("#")) + 1)
            parts.append(f"<h{level}>{inline(row.lstrip('#').strip())}</h{level}>")
            i += 1
        elif row.lstrip().startswith("|"):
            block = []
            while i < len(rows) and rows[i].lstrip().startswith("|"):
                block.append([c.strip() for c in rows[i].strip().strip("|").split("|")])
                i += 1
            body = [b for b in block[1:] if not all(set(c) <= set(":-") for c in b)]
            head = "".join(f"<th>{inline(c)}</th>" for c in block[0])
            cells = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in b) + "</tr>" for b in body)
            parts.append(
                f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></div>'
            )
        elif row.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(rows) and rows[i].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{inline(rows[i].lstrip()[2:])}</li>")
                i += 1
            parts.append(f"<ul>{''.join(items)}</ul>")
        else:
            para = []
            while i < len(rows) and rows[i].strip() and not rows[i].lstrip().startswith(("|", "#", "- ", "* ", "```")):
                para.append(rows[i].strip())
                i += 1
            parts.append(f"<p>{inline(' '.join(para))}</p>")
    return anchor, title, Html("".join(parts))
