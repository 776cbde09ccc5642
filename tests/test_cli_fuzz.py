"""Property: no command line, however wrong, ends in a traceback at parse/validation time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from robustness.cli.audit import audit_config
from robustness.cli.main import build_parser
from robustness.core.errors import UsageError

FLAGS = [
    "--model", "--weights", "--num-classes", "--mean", "--std", "--dataset", "--n", "--corruptions", "--severities",
    "--attacks", "--eps", "--eps-l2", "--seed", "--batch-size", "--device", "--backend", "--workers", "--config",
    "--pretrained", "--download", "--unsafe-load", "--no-sanity",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "6", "1-5", "1,3,5", "0.1,8/255", "1/0", "abc", "", "cuda", "ray", "-0.5", "9999999999"]),
    st.text(max_size=12),
)
TOKENS = st.one_of(st.sampled_from(FLAGS), VALUES)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=8), st.sampled_from(["audit", "list", "report", "train", "bogus"]))
def test_parsing_never_raises_anything_but_usage_error(tokens: list[str], command: str) -> None:
    if any(t in ("-h", "--help") for t in tokens):
        return
    try:
        args = build_parser().parse_args([command, *tokens])
        if args.command == "audit":
            audit_config(args)
    except UsageError as err:
        assert str(err) and "\n" not in str(err).strip()
