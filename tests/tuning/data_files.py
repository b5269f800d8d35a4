"""Tiny training sets in every accepted format and shape, and the files a tuning pod is given."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

FACTS = [(f"What is {n} plus {n}?", f"{n} plus {n} is {2 * n}.") for n in range(1, 7)]


def chat_rows() -> list[dict[str, Any]]:
    return [
        {"messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q},
                      {"role": "assistant", "content": a}]}
        for q, a in FACTS
    ]  # fmt: skip


def write_jsonl_chat(directory: Path) -> Path:
    path = directory / "chat.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in chat_rows()) + "\n")
    return path


def write_csv_instructions(directory: Path) -> Path:
    path = directory / "pairs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["instruction", "response"])
        writer.writeheader()
        writer.writerows({"instruction": q, "response": a} for q, a in FACTS)
    return path


def write_json_array(directory: Path) -> Path:
    path = directory / "pairs.json"
    path.write_text(json.dumps([{"prompt": q, "completion": a} for q, a in FACTS]))
    return path


def write_parquet_text(directory: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = directory / "text.parquet"
    pq.write_table(pa.table({"text": [f"{q} {a}" for q, a in FACTS]}), path)
    return path


WRITERS = {
    "jsonl-messages": write_jsonl_chat,
    "csv-instruction": write_csv_instructions,
    "json-prompt-completion": write_json_array,
    "parquet-text": write_parquet_text,
}


def write_job_config(path: Path, model: Path, data: Path, output: Path, method: str = "lora") -> Path:
    """The config.yaml the workspace reconciler projects into the tuning pod."""
    path.write_text(
        yaml.safe_dump(
            {"model": {"name": "tiny-llama", "path": str(model), "revision": "main"}, "method": method,
             "dtype": "bfloat16", "gpus": 0, "dataDir": str(data), "outputDir": str(output)}
        )
    )  # fmt: skip
    return path


def write_user_config(directory: Path, sections: Mapping[str, Any]) -> Path:
    """A mounted tuning ConfigMap: `training_config.yaml` in a directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "training_config.yaml").write_text(yaml.safe_dump({"training_config": sections}))
    return directory


def write_docker_secret(directory: Path, registry: str, username: str, password: str) -> Path:
    """A mounted kubernetes.io/dockerconfigjson Secret."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (directory / ".dockerconfigjson").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return directory
