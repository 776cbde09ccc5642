"""Reports: tables, statistics, plots and rendering from stored records. Never imports torch.

May import ``robustness.core`` (errors, enums) and numpy, scipy, pandas, matplotlib; never torch, the store
or the runtime (run, results, compare, cli). Statistics live in :mod:`reports.stats`, the paired comparison
of runs in :mod:`reports.comparison`.

Markdown (:func:`render_markdown`), self-contained HTML (:mod:`reports.html`), plots
(:mod:`reports.plots`), pictures (:mod:`reports.images`), comparisons across runs
(:mod:`reports.compare`, :mod:`reports.html_compare`) and exports (:mod:`reports.export`:
Parquet, JSON, LaTeX). The records come from the store through ``robustness.results.writer``; see
:mod:`reports.model`.
"""

from reports.markdown import make_table, render_markdown
from reports.stats import wilson_interval
from reports.tables import RESULT_COLUMNS, results_csv_frame, tidy

__all__ = ["RESULT_COLUMNS", "make_table", "render_markdown", "results_csv_frame", "tidy", "wilson_interval"]
