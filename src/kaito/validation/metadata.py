"""Rules on a Workspace's metadata: its name (children are named after it) and kaito's annotations."""

from __future__ import annotations

from typing import Any

from kaito.api.constants import ANNOTATION_ENABLE_LB
from kaito.validation.issues import FIELD_INVALID, FIELD_NOT_SUPPORTED, FIELD_TOO_LONG, FieldIssue, issue
from kaito.validation.syntax import dns1123_label_problem

# The Workspace's StatefulSet is named after it, and a StatefulSet name longer than 52 characters breaks
# its pods' controller-revision-hash label (63 characters at most); every other child name is shorter.
MAX_NAME_LENGTH = 52
# Random suffix the API server appends to metadata.generateName.
GENERATED_SUFFIX_LENGTH = 5
ENABLE_LB_VALUES = ("true", "false")


def annotation_field(key: str) -> str:
    return f'metadata.annotations["{key}"]'


def check_name(metadata: dict[str, Any]) -> list[FieldIssue]:
    """The name must be a DNS-1123 label starting with a letter and short enough for derived names."""
    name = metadata.get("name")
    if not name:
        prefix = metadata.get("generateName")
        if isinstance(prefix, str) and prefix:
            return _check_generate_name(prefix)
        return []  # the API server itself requires a name; nothing kaito-specific to add
    if not isinstance(name, str):
        return [issue("metadata.name", FIELD_INVALID, "must be a string", name)]
    if len(name) > MAX_NAME_LENGTH:
        return [
            issue(
                "metadata.name",
                FIELD_TOO_LONG,
                f"must be at most {MAX_NAME_LENGTH} characters (kaito names the StatefulSet, Service and "
                f"Job after the Workspace), not {len(name)}; choose a shorter name",
                name,
            )
        ]
    problem = dns1123_label_problem(name)
    if problem:
        return [issue("metadata.name", FIELD_INVALID, problem, name)]
    if not name[0].isalpha():
        return [
            issue(
                "metadata.name",
                FIELD_INVALID,
                "must start with a letter: kaito creates a Service with the Workspace's name, and Service "
                "names must start with a letter",
                name,
            )
        ]
    return []


def _check_generate_name(prefix: str) -> list[FieldIssue]:
    longest = MAX_NAME_LENGTH - GENERATED_SUFFIX_LENGTH
    if len(prefix) > longest:
        return [
            issue(
                "metadata.generateName",
                FIELD_TOO_LONG,
                f"must be at most {longest} characters so the generated name fits in {MAX_NAME_LENGTH}",
                prefix,
            )
        ]
    if not prefix[0].isalpha() or dns1123_label_problem(prefix + "x"):
        return [
            issue(
                "metadata.generateName",
                FIELD_INVALID,
                "must start with a letter and hold only lowercase letters, digits and '-'",
                prefix,
            )
        ]
    return []


def check_annotations(metadata: dict[str, Any]) -> list[FieldIssue]:
    """`kaito.sh/enablelb` is true or false (the api model already checks `kaito.sh/runtime`)."""
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return []
    found: list[FieldIssue] = []
    enable_lb = annotations.get(ANNOTATION_ENABLE_LB)
    if enable_lb is not None and (
        not isinstance(enable_lb, str) or enable_lb.strip().lower() not in ENABLE_LB_VALUES
    ):
        found.append(
            issue(
                annotation_field(ANNOTATION_ENABLE_LB),
                FIELD_NOT_SUPPORTED,
                f'must be "True" (expose the Workspace through a LoadBalancer Service) or "False", '
                f"not {enable_lb!r}",
                enable_lb,
            )
        )
    return found
