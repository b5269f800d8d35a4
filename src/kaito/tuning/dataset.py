"""Training data from the data directory: csv, json/jsonl and parquet files, in one of three row shapes.

Shapes: OpenAI-chat `messages` lists; instruction/response pairs; plain text. Rows become chat messages
(or text) that `render_texts` turns into training strings with the tokenizer's chat template.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kaito.tuning.config import DatasetSection

EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
MESSAGES_COLUMNS = ("messages", "conversations", "conversation")
PROMPT_COLUMNS = ("instruction", "prompt", "question", "input", "context", "Context", "Instruction")
RESPONSE_COLUMNS = ("response", "output", "completion", "answer", "Response", "Output")
TEXT_COLUMNS = ("text", "content", "Text")
# Instruction-tuning style when the tokenizer has no chat template.
PLAIN_PROMPT = "### Instruction:\n{prompt}\n\n### Response:\n{response}"


class DatasetError(ValueError):
    """The data cannot be used; the message names the file and the problem."""


class ChatMessage(BaseModel):
    """One OpenAI-chat message."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool"]
    content: str


@dataclass(frozen=True)
class Example:
    """One training example: chat messages, or plain text."""

    messages: tuple[ChatMessage, ...] = ()
    text: str | None = None


def find_data_files(data_dir: Path, section: DatasetSection) -> list[Path]:
    """The data files to train on: `dataset_path` (file or directory) or every supported file, sorted."""
    root = data_dir / section.dataset_path if section.dataset_path else data_dir
    if section.dataset_path and ".." in Path(section.dataset_path).parts:
        raise DatasetError(f"dataset_path {section.dataset_path!r} must stay inside the data directory")
    if root.is_file():
        candidates = [root]
    elif root.is_dir():
        candidates = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    else:
        raise DatasetError(f"{root} does not exist; the data step put nothing there")
    wanted = {section.dataset_extension} if section.dataset_extension else set(EXTENSIONS.values())
    files = [p for p in candidates if _format_of(p, section) in wanted]
    if not files:
        raise DatasetError(
            f"no training data in {root}: expected files ending in {', '.join(sorted(EXTENSIONS))}"
        )
    return files


def _format_of(path: Path, section: DatasetSection) -> str | None:
    """The file's format by extension; an explicit `dataset_extension` also covers files without one."""
    return EXTENSIONS.get(path.suffix.lower()) or section.dataset_extension


def read_rows(path: Path, data_format: str) -> list[dict[str, Any]]:
    """Every row of one file as a dict."""
    try:
        if data_format == "parquet":
            return _read_parquet(path)
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path.name} is not UTF-8 text: {err}") from err
    except OSError as err:
        raise DatasetError(f"cannot read {path.name}: {err}") from err
    if data_format == "csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    return _read_json(path, text)


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise DatasetError("parquet data needs pyarrow (the `tuning` extra)") from err
    try:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises its own ArrowInvalid / OSError kinds
        raise DatasetError(f"{path.name} is not a readable parquet file: {err}") from err
    return rows


def _read_json(path: Path, text: str) -> list[dict[str, Any]]:
    stripped = text.strip()
    try:
        document = json.loads(stripped) if stripped.startswith("[") else None
    except ValueError:
        document = None
    if document is None:
        try:
            whole = json.loads(stripped) if stripped.startswith("{") else None
        except ValueError:
            whole = None
        if isinstance(whole, dict) and isinstance(whole.get("data"), list):
            document = whole["data"]
        else:
            document = []
            for number, line in enumerate(stripped.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    document.append(json.loads(line))
                except ValueError as err:
                    raise DatasetError(f"{path.name} line {number} is not JSON: {err}") from err
    rows = [row for row in document if isinstance(row, dict)]
    if len(rows) != len(document):
        raise DatasetError(f"{path.name}: every record must be a JSON object")
    return rows


def _pick(columns: Iterable[str], candidates: Sequence[str], chosen: str | None, what: str) -> str | None:
    present = set(columns)
    if chosen is not None:
        if chosen not in present:
            raise DatasetError(
                f"the {what} column {chosen!r} is not in the data (columns: {sorted(present)})"
            )
        return chosen
    return next((name for name in candidates if name in present), None)


def _messages(value: Any, row_number: int) -> tuple[ChatMessage, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise DatasetError(f"row {row_number}: messages is not a JSON list: {err}") from err
    if not isinstance(value, list) or not value:
        raise DatasetError(f"row {row_number}: messages must be a non-empty list of {{role, content}}")
    try:
        return tuple(ChatMessage.model_validate(message) for message in value)
    except ValidationError as err:
        raise DatasetError(f"row {row_number}: a message is not {{role, content}}: {err}") from err


def to_examples(rows: list[dict[str, Any]], section: DatasetSection, source: str) -> list[Example]:
    """Rows of one file as examples, in the first shape (messages, prompt/response, text) its columns fit."""
    if not rows:
        return []
    columns = rows[0].keys()
    messages = _pick(columns, MESSAGES_COLUMNS, section.messages_column, "messages")
    if messages is not None:
        return [Example(messages=_messages(row.get(messages), n)) for n, row in enumerate(rows, 1)]
    prompt = _pick(columns, PROMPT_COLUMNS, section.context_column, "context")
    response = _pick(columns, RESPONSE_COLUMNS, section.response_column, "response")
    if prompt is not None and response is not None:
        return [
            Example(
                messages=(
                    ChatMessage(role="user", content=str(row.get(prompt) or "")),
                    ChatMessage(role="assistant", content=str(row.get(response) or "")),
                )
            )
            for row in rows
        ]
    text = _pick(columns, TEXT_COLUMNS, section.text_column, "text")
    if text is not None:
        return [Example(text=str(row.get(text) or "")) for row in rows if row.get(text)]
    raise DatasetError(
        f"{source}: columns {sorted(columns)} fit no known shape; expected `messages`, an instruction/"
        "response pair (e.g. `instruction` + `response`), or `text` (or name them in DatasetConfig)"
    )


def load_examples(data_dir: Path, section: DatasetSection) -> list[Example]:
    """Every example from every data file, shuffled if the section asks for it."""
    examples: list[Example] = []
    for path in find_data_files(data_dir, section):
        data_format = _format_of(path, section) or "json"
        examples.extend(to_examples(read_rows(path, data_format), section, path.name))
    if not examples:
        raise DatasetError(f"the data files in {data_dir} hold no rows")
    if section.shuffle_dataset:
        random.Random(section.shuffle_seed).shuffle(examples)
    return examples


def render_text(example: Example, tokenizer: Any) -> str:
    """The string the model trains on: chat template for messages (when the tokenizer has one)."""
    eos = tokenizer.eos_token or ""
    if example.text is not None:
        return example.text + eos
    messages = [message.model_dump() for message in example.messages]
    if getattr(tokenizer, "chat_template", None):
        rendered: str = tokenizer.apply_chat_template(messages, tokenize=False)
        return rendered if rendered.endswith(eos) else rendered + eos
    prompt = "\n".join(m.content for m in example.messages if m.role != "assistant")
    response = "\n".join(m.content for m in example.messages if m.role == "assistant")
    return PLAIN_PROMPT.format(prompt=prompt, response=response) + eos


def split(examples: list[Example], train_fraction: float) -> tuple[list[Example], list[Example]]:
    """Train and evaluation parts; at least one training example."""
    cut = max(1, round(len(examples) * train_fraction))
    return examples[:cut], examples[cut:]
