"""The webhook's secret path token: only an accepted token opens the route."""

from __future__ import annotations

import pytest

from pipeline.webhook import path_token


@pytest.mark.parametrize(
    ("candidate", "tokens", "expected"),
    [
        ("tok-current", ["tok-current"], True),
        ("tok-previous", ["tok-current", "tok-previous"], True),
        ("tok-current", ["tok-current", "tok-previous"], True),
        ("tok-curren", ["tok-current"], False),
        ("tok-current-and-more", ["tok-current"], False),
        ("TOK-CURRENT", ["tok-current"], False),
        ("", ["tok-current"], False),
        # An empty secret (or an empty `previous`) opens nothing, not even an empty segment.
        ("", [""], False),
        ("anything", [], False),
        ("\udcff", ["tok-current"], False),
    ],
)
def test_only_an_accepted_token_matches(candidate: str, tokens: list[str], expected: bool) -> None:
    assert path_token.accepted(candidate, tokens) is expected
