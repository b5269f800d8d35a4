"""Training data: every accepted file format and row shape becomes examples; bad data is explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito.tuning.config import DatasetSection
from kaito.tuning.dataset import DatasetError, Example, find_data_files, load_examples, render_text, split

from .data_files import FACTS, WRITERS


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_format_loads(tmp_path: Path, fmt: str) -> None:
    if fmt.startswith("parquet"):
        pytest.importorskip("pyarrow")
    WRITERS[fmt](tmp_path)
    examples = load_examples(tmp_path, DatasetSection(shuffle_dataset=False))
    assert len(examples) == len(FACTS)
    first = examples[0]
    if fmt == "parquet-text":
        assert first.text == f"{FACTS[0][0]} {FACTS[0][1]}"
    else:
        assert [m.role for m in first.messages][-2:] == ["user", "assistant"]
        assert first.messages[-1].content == FACTS[0][1]


def test_named_columns_and_hidden_dirs(tmp_path: Path) -> None:
    (tmp_path / ".hf").mkdir()
    (tmp_path / ".hf" / "cache.json").write_text("{}")
    (tmp_path / "d.jsonl").write_text(json.dumps({"Q": "hi", "A": "hello", "extra": 1}) + "\n")
    section = DatasetSection(context_column="Q", response_column="A")
    assert find_data_files(tmp_path, section) == [tmp_path / "d.jsonl"]
    (example,) = load_examples(tmp_path, section)
    assert [(m.role, m.content) for m in example.messages] == [("user", "hi"), ("assistant", "hello")]
    with pytest.raises(DatasetError, match="'nope' is not in the data"):
        load_examples(tmp_path, DatasetSection(text_column="nope"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "colour,size\nred,1\n", "fit no known shape"),
        ("a.jsonl", '{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
        ("a.json", '[{"messages": [{"role": "wizard", "content": "x"}]}]', "not {role, content}"),
        ("a.json", "[1, 2]", "must be a JSON object"),
        ("notes.txt", "hello", "no training data"),
    ],
)
def test_bad_data_is_explained(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_examples(tmp_path, DatasetSection())


def test_dataset_path_stays_inside(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="inside the data directory"):
        find_data_files(tmp_path, DatasetSection(dataset_path="../etc"))
    with pytest.raises(DatasetError, match="does not exist"):
        find_data_files(tmp_path, DatasetSection(dataset_path="missing.csv"))


def test_shuffle_is_seeded_and_split_keeps_one_for_training(tmp_path: Path) -> None:
    WRITERS["csv-instruction"](tmp_path)
    once = load_examples(tmp_path, DatasetSection(shuffle_seed=7))
    again = load_examples(tmp_path, DatasetSection(shuffle_seed=7))
    assert once == again
    train, held_out = split(once, 0.5)
    assert (len(train), len(held_out)) == (3, 3)
    assert split(once[:1], 0.1) == (once[:1], [])


class _Tokenizer:
    eos_token = "</s>"
    chat_template = None


def test_render_without_a_chat_template_uses_an_instruction_layout() -> None:
    example = load_example_pair()
    text = render_text(example, _Tokenizer())
    assert text == "### Instruction:\nWhat?\n\n### Response:\nThat.</s>"
    assert render_text(Example(text="plain"), _Tokenizer()) == "plain</s>"


def load_example_pair() -> Example:
    from kaito.tuning.dataset import ChatMessage

    return Example(
        messages=(ChatMessage(role="user", content="What?"), ChatMessage(role="assistant", content="That."))
    )
