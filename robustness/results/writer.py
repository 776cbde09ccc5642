"""Write a run's output folder (results.csv, report.md, report.html, run.json, ...) from the store, atomically.

The files are written into a temporary sibling folder that replaces the run folder only
when everything is written: a failure never leaves a half-written report.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustness.core.errors import UsageError
from robustness.results.records import gather_report, load_run, load_samples, run_summary
from robustness.results.store import Store

if TYPE_CHECKING:
    from reports.comparison import Comparison
    from reports.model import RunSummary

PACKAGES = ("robustness-suite", "torch", "torchvision", "foolbox", "albumentations", "numpy", "pandas", "scikit-learn")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def check_writable(folder: Path) -> None:
    """Fail early, before any computation, when ``folder`` cannot be created or written.

    Leaves the file system as it found it: folders created for the check are removed again.
    """
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UsageError(
            f"--out folder {str(folder)!r} is not writable ({err.strerror or err}); pass --out with a folder you can write."
        ) from None
    finally:
        for path in created:  # deepest first
            try:
                path.rmdir()
            except OSError:
                break


def run_record(store: Store, run_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    config = run["config"]
    return {
        "run_id": run_id,
        "created": run["created"],
        "model": run["model"],
        "dataset": run["dataset"],
        "n": run["n"],
        "seed": run["seed"],
        "config": config,
        "info": run["info"],
        "command": config.get("command") or "robustness audit",
        "store": str(store.path),
        "versions": store.artifact(run_id, "versions", {}),
    }


FORMATS = ("csv", "md", "json", "html", "parquet", "latex")
#: what an audit writes unless asked otherwise
DEFAULT_FORMATS = ("csv", "md", "json", "html")


def check_formats(formats: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate ``--format`` values before anything is computed or written."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UsageError(
            f"--format should be among {', '.join(FORMATS)}, but got {', '.join(bad)}; e.g. --format html,md,csv."
        )
    if not formats:
        raise UsageError(f"--format should name at least one of {', '.join(FORMATS)}, but got none.")
    if "parquet" in formats:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(
                "--format parquet needs pyarrow, which is not installed; run pip install 'robustness-suite[parquet]' "
                "or drop parquet from --format."
            ) from None
    return tuple(formats)


def write_outputs(store: Store, run_id: str, out_dir: Path, formats: tuple[str, ...] = DEFAULT_FORMATS) -> pd.DataFrame:
    """Regenerate ``out_dir`` for ``run_id`` in the given formats; return the tidy results.

    ``csv`` results.csv; ``md`` report.md (+ figures/*.png); ``json`` run.json and results.json;
    ``html`` report.html (self-contained); ``parquet`` results.parquet; ``latex`` results.tex.
    """
    from reports import render_markdown, results_csv_frame, tidy
    from reports.defense_section import defense_section

    formats = check_formats(formats)
    record = run_record(store, run_id)
    cells = store.cells(run_id)
    if cells.empty:
        raise UsageError(f"run {run_id!r} has no finished cells yet; run the audit first.")
    results = tidy(cells)
    model_info = store.run(run_id)["info"].get("model") or {}
    sections = [defense_section(model_info, store.artifact(run_id, "certified"))]  # empty for an undefended run
    files: dict[str, str | bytes] = {}
    report = gather_report(store, run_id, results, record) if {"md", "html"} & set(formats) else None
    figs: dict[str, bytes] = {}
    if report is not None:
        from reports.html import figures

        figs = figures(report)
    if "csv" in formats:
        files["results.csv"] = results_csv_frame(results).to_csv(index=False, float_format="%.6g")
    if "md" in formats:
        links = {name: f"figures/{name}.png" for name in figs}
        files.update({path: figs[name] for name, path in links.items()})
        files["report.md"] = render_markdown(results, record, [*sections, explain_lines(report, links)], report=report, figures=links)
    if "html" in formats:
        from reports.html import render_html

        assert report is not None
        files["report.html"] = render_html(report, figs, sections)
    if "json" in formats:
        from reports.export import json_records

        timing = results.set_index("cell")["seconds"].round(4).to_dict() if "cell" in results else {}
        files["run.json"] = json.dumps({**record, "cell_seconds": timing}, indent=2, sort_keys=True, default=str)
        files["results.json"] = json_records(results_csv_frame(results))
    files.update(export_files(results, record, formats))
    if "csv" in formats:
        files.update(explain_csv_files(store, run_id, results))
    atomic_folder(out_dir, files)
    return results


def explain_lines(report: Any, links: dict[str, str]) -> list[str]:
    """The Markdown "What broke" section (per class, confidence, selective prediction, attributions)."""
    from reports.explain_sections import explain_markdown, explanations

    return explain_markdown(report, links, explanations(report))


def explain_csv_files(store: Store, run_id: str, results: pd.DataFrame) -> dict[str, str | bytes]:
    """``per_class.csv`` (per cell and class), ``confusions.csv`` (created confusions) and ``calibration.csv``."""
    from reports.explain import explain

    info = store.run(run_id)["info"] or {}
    ex = explain(results, load_samples(store, run_id), [str(c) for c in info.get("class_names", [])])
    frames = {"per_class.csv": ex.per_class, "confusions.csv": ex.confusions, "calibration.csv": ex.calibration}
    return {name: frame.to_csv(index=False, float_format="%.6g") for name, frame in frames.items()}


def export_files(results: pd.DataFrame, record: dict[str, Any], formats: tuple[str, ...]) -> dict[str, str | bytes]:
    from reports import results_csv_frame

    out: dict[str, str | bytes] = {}
    if "parquet" in formats:
        from reports.export import parquet_bytes

        out["results.parquet"] = parquet_bytes(results_csv_frame(results))
    if "latex" in formats:
        from reports.export import latex_report

        out["results.tex"] = latex_report(results, record)
    return out


# several runs -----------------------------------------------------------------------------
def comparison_dir(out_root: Path, run_ids: list[str] | tuple[str, ...]) -> Path:
    """Where ``robustness report RUN1 RUN2 ...`` writes the comparison: ``OUT/report-<hash of the ids>``."""
    import hashlib

    digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:10]
    return Path(out_root) / f"report-{digest}"


def write_comparison(
    store: Store, run_ids: list[str] | tuple[str, ...], out_dir: Path, formats: tuple[str, ...] = DEFAULT_FORMATS
) -> pd.DataFrame:
    """Write a comparison of several runs (the first is the reference of the paired tests) to ``out_dir``.

    ``html`` report.html, ``md`` report.md (+ figures/), ``csv`` results.csv (every run's tidy
    rows), comparison.csv (accuracies with their intervals) and, for runs on the same samples,
    differences.csv and rankings.csv (the paired analysis of ``robustness compare``: Newcombe
    intervals, exact McNemar, paired bootstrap and sign-flip tests, Holm-adjusted rankings),
    ``json`` comparison.json and results.json, ``parquet`` results.parquet, ``latex``
    comparison.tex. Returns the comparison table.
    """
    from reports.compare import comparison_table

    formats = check_formats(formats)
    summaries, records = comparison_inputs(store, run_ids)
    table = comparison_table(summaries)
    paired = paired_comparison(store, summaries)
    files = comparison_reports(summaries, records, paired, formats)
    files.update(comparison_exports(summaries, records, table, paired, formats))
    atomic_folder(out_dir, files)
    return table


def comparison_inputs(store: Store, run_ids: list[str] | tuple[str, ...]) -> tuple[list[RunSummary], list[dict]]:
    """Each run's summary and record, after checking the list names two or more distinct finished runs."""
    if len(run_ids) < 2:
        raise UsageError(
            f"a comparison needs at least two runs, but got {len(run_ids)}; pass RUN1 RUN2 ... to robustness report."
        )
    if len(set(run_ids)) != len(run_ids):
        raise UsageError(f"runs to compare should be distinct, but got {', '.join(run_ids)}.")
    from reports import tidy

    summaries: list[RunSummary] = []
    records = []
    for run_id in run_ids:
        cells = store.cells(run_id)
        if cells.empty:
            raise UsageError(f"run {run_id!r} has no finished cells yet; run the audit first.")
        summaries.append(run_summary(store, run_id, tidy(cells), taken=tuple(s.label for s in summaries)))
        records.append(run_record(store, run_id))
    return summaries, records


def comparison_reports(
    summaries: list[RunSummary], records: list[dict], paired: Comparison | str, formats: tuple[str, ...]
) -> dict[str, str | bytes]:
    """report.html and report.md (with figures/) of a comparison, as asked by ``formats``."""
    from reports.comparison_render import render_comparison_markdown
    from reports.html_compare import comparison_figures, render_comparison_html

    files: dict[str, str | bytes] = {}
    figs = comparison_figures(summaries) if {"md", "html"} & set(formats) else {}
    if "html" in formats:
        files["report.html"] = render_comparison_html(summaries, records, figs, paired)
    if "md" in formats:
        links = {name: f"figures/{name}.png" for name in figs}
        files.update({path: figs[name] for name, path in links.items()})
        files["report.md"] = render_comparison_markdown(summaries, records, links, paired)
    return files


def comparison_exports(
    summaries: list[RunSummary], records: list[dict], table: pd.DataFrame, paired: Comparison | str,
    formats: tuple[str, ...],
) -> dict[str, str | bytes]:  # fmt: skip
    """The comparison's CSV, JSON, Parquet and LaTeX files, as asked by ``formats``."""
    from reports import results_csv_frame
    from reports.compare import effective_robustness
    from reports.export import comparison_latex, json_records, parquet_bytes

    everything = results_csv_frame(pd.concat([s.results for s in summaries], ignore_index=True))
    files: dict[str, str | bytes] = {}
    if "csv" in formats:
        files["results.csv"] = everything.to_csv(index=False, float_format="%.6g")
        files["comparison.csv"] = table.to_csv(index=False, float_format="%.6g")
        if not isinstance(paired, str):
            files["differences.csv"] = paired.table.to_csv(index=False, float_format="%.6g")
            files["rankings.csv"] = paired.rankings.to_csv(index=False, float_format="%.6g")
    if "json" in formats:
        document = {
            "runs": records,
            "metrics": json.loads(json_records(table)),
            "effective_robustness": json.loads(json_records(effective_robustness(table))),
            "differences": paired if isinstance(paired, str) else json.loads(json_records(paired.table)),
        }
        files["comparison.json"] = json.dumps(document, indent=2, sort_keys=True, default=str)
        files["results.json"] = json_records(everything)
    if "parquet" in formats:
        files["results.parquet"] = parquet_bytes(everything)
    if "latex" in formats:
        files["comparison.tex"] = comparison_latex(table)
    return files


def paired_comparison(store: Store, summaries: list[RunSummary]) -> Comparison | str:
    """The paired analysis ``robustness compare`` runs (:func:`reports.comparison.analyze`) of these runs.

    The first run is the baseline. Runs on other datasets or samples cannot be paired: the
    reason comes back instead, and the report says why its paired sections are missing.
    """
    from reports.comparison import analyze

    runs = [load_run(store, s.label, s.run_id) for s in summaries]
    try:
        return analyze(runs)
    except UsageError as err:
        return f"No paired analysis: {err}"


def atomic_folder(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write ``files`` into ``out_dir`` all at once; text is written as UTF-8.

    The new folder is built beside ``out_dir`` (new files, plus copies of any old files this call
    does not regenerate), then swapped in with two renames. A failure at any point leaves either
    the old folder or the new one whole, never a mixture and never neither: the old files are only
    copied, and if the second rename fails the first is undone.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    trash = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{tmp.name.rsplit('-', 1)[-1]}")
    try:
        _write_files(tmp, files)
        if out_dir.exists():
            _copy_others(out_dir, tmp)  # keep files from other formats that this call did not regenerate
            os.replace(out_dir, trash)
            try:
                os.replace(tmp, out_dir)
            except BaseException:
                os.replace(trash, out_dir)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(out_dir, 0o755)


def _write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _copy_others(old: Path, new: Path) -> None:
    """Copy the entries of ``old`` that ``new`` lacks into ``new`` (the old folder is left untouched)."""
    for entry in old.iterdir():
        target = new / entry.name
        if target.exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, target)
        else:
            shutil.copy2(entry, target)


def console_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "atomic_folder",
    "check_formats",
    "check_writable",
    "comparison_dir",
    "console_path",
    "package_versions",
    "write_comparison",
    "write_outputs",
]
