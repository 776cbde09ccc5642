"""The ``robustness`` command line: ``main`` (the parser and error handling), ``args`` (shared argument
groups and value parsers) and one module per command. The top layer with ``robustness.api``.

May import every room below it (api, compare, run, results, reports, core).
"""
