"""Reports: tables, statistics and rendering from stored records. Never imports torch."""

from reports.markdown import make_table, render_markdown
from reports.stats import wilson_interval
from reports.tables import RESULT_COLUMNS, results_csv_frame, tidy

__all__ = ["RESULT_COLUMNS", "make_table", "render_markdown", "results_csv_frame", "tidy", "wilson_interval"]
