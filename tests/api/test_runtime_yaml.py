"""yaml_text: the ConfigMap YAML is byte for byte what yaml.safe_dump writes, whichever emitter runs."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.api.runtime import yaml_text

_TRICKY = st.sampled_from(
    ["yes", "null", "~", "1e3", "0x1F", "010", "2001-12-14", ".inf", "a: b", "#c", "- a", "'q'", '"q"', "",
     " lead", "é", "line\nbreak", "tab\there", "x" * 150, "long " * 40, "\u2028"]
)  # fmt: skip
_PRINTABLE_ASCII = st.characters(min_codepoint=32, max_codepoint=126)
_STRINGS = _TRICKY | st.text(_PRINTABLE_ASCII, max_size=120) | st.text(max_size=20)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _STRINGS
_KEYS = _TRICKY | st.text(_PRINTABLE_ASCII, max_size=80)
_DOCUMENTS = st.dictionaries(
    _KEYS,
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
        max_leaves=12,
    ),
    max_size=5,
)


@settings(max_examples=500, deadline=None)
@given(_DOCUMENTS)
def test_same_text_as_safe_dump(document: dict[str, Any]) -> None:
    assert yaml_text(document) == yaml.safe_dump(document, sort_keys=False)
    assert yaml_text(document) == yaml.safe_dump(document, sort_keys=False)  # memoised: still the same
