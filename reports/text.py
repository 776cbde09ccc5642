"""User text (model specs, dataset and class names, labels, commands) made safe for Markdown.

Names come from users and folders, so they may hold ``|``, backticks, ``<script>`` or newlines.
:func:`md_text` makes such a name render as the same text in Markdown (no table split, no code
span, no raw HTML, one line); :func:`md_code` shows it as a code span whatever backticks it holds;
:func:`md_cell` keeps a table cell (intentional Markdown included) inside its cell.
"""

from __future__ import annotations

import re

#: characters that start Markdown constructs: escaped with a backslash in user text
_ACTIVE = re.compile(r"([\\`*\[\]<>|#!~])")


def one_line(text: object) -> str:
    """``text`` as a string on one line: every newline or tab becomes a space."""
    return re.sub(r"[\r\n\t\v\f]+", " ", "" if text is None else str(text))


def md_text(text: object) -> str:
    """User text as literal Markdown text: one line, Markdown-active characters escaped.

    >>> md_text("cat|dog <b>`x`")
    'cat\\\\|dog \\\\<b\\\\>\\\\`x\\\\`'
    """
    return _ACTIVE.sub(r"\\\1", one_line(text))


def md_code(text: object) -> str:
    """User text as a Markdown code span: fenced by one more backtick than its longest run of backticks.

    In a table, :func:`md_cell` escapes its ``|`` (GitHub-flavoured tables split on it even in code spans).
    """
    body = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_cell(value: object) -> str:
    """A table cell: on one line, and every ``|`` not already escaped escaped, so the row keeps its columns."""
    return re.sub(r"(?<!\\)\|", r"\\|", one_line(value))
