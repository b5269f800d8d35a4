"""A small Dockerfile reader for the image tests: instructions, stages, ARG defaults, exec-form JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }
)  # fmt: skip
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, None for shell form."""
        try:
            parsed = json.loads(self.value)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
        return None


@dataclass
class Stage:
    base: str
    """The FROM image with global ARG defaults substituted."""
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with `\\` continuations joined and comments dropped, each with its first line number."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise ValueError(f"line {start}: continuation at the end of the file")
    return lines


def substitute(text: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ValueError(f"${name} has no default")
        return variables[name]

    return _VARIABLE.sub(replace, text)


def parse(path: Path) -> Dockerfile:
    instructions: list[Instruction] = []
    for number, line in logical_lines(path.read_text()):
        keyword, _, value = line.partition(" ")
        if keyword.upper() not in INSTRUCTIONS:
            raise ValueError(f"{path.name}:{number}: unknown instruction {keyword!r}")
        instructions.append(Instruction(keyword.upper(), value.strip(), number))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3) or (len(words) == 3 and name is None):
                raise ValueError(f"{path.name}:{instruction.line}: bad FROM {instruction.value!r}")
            stages.append(Stage(substitute(words[0], global_args), name))
        elif not stages:
            if instruction.keyword != "ARG":
                raise ValueError(f"{path.name}:{instruction.line}: only ARG may come before FROM")
            key, _, default = instruction.value.partition("=")
            global_args[key.strip()] = default.strip()
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise ValueError(f"{path.name}: no FROM")
    return Dockerfile(path, instructions, global_args, stages)


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context sources of a COPY/ADD (none for `--from=` copies)."""
    words = instruction.value.split()
    if any(word.startswith("--from=") for word in words):
        return []
    operands = [word for word in words if not word.startswith("--")]
    return operands[:-1]
