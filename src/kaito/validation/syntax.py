"""Kubernetes and OCI name grammars: DNS-1123 labels and subdomains, label keys/values, image references."""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
LABEL_VALUE_MAX = 63
IMAGE_NAME_MAX = 255

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(rf"^{_LABEL}$")
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# The OCI distribution reference grammar: [domain[:port]/]path[:tag][@digest].
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


def dns1123_label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label (lowercase alphanumerics and '-', at most 63), or None."""
    if not value:
        return "must not be empty"
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be at most {DNS1123_LABEL_MAX} characters, not {len(value)}"
    if not _DNS1123_LABEL_RE.match(value):
        return (
            "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a "
            "letter or digit (e.g. 'my-name')"
        )
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 subdomain (labels joined by '.', at most 253), or None."""
    if not value:
        return "must not be empty"
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be at most {DNS1123_SUBDOMAIN_MAX} characters, not {len(value)}"
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        return (
            "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending "
            "with a letter or digit (e.g. 'my-name' or 'example.com')"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid label key (`[prefix/]name`), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "the prefix before '/' must not be empty"
        problem = dns1123_subdomain_problem(prefix)
        if problem:
            return f"the prefix {prefix!r} {problem}"
    if not name or len(name) > DNS1123_LABEL_MAX or not _QUALIFIED_NAME_RE.match(name):
        return (
            f"name part {name!r} must be 1-63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid label value, or None."""
    if len(value) > LABEL_VALUE_MAX or not _LABEL_VALUE_RE.match(value):
        return (
            "must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit"
        )
    return None


def image_reference_problem(reference: str) -> str | None:
    """Why `reference` is not a well-formed OCI image reference (`[registry/]repository[:tag][@digest]`)."""
    text = reference
    if not text or text != text.strip() or any(ch.isspace() for ch in text):
        return "must be an image reference without whitespace, e.g. myregistry.azurecr.io/adapters/name:0.0.1"
    name, at, digest = text.partition("@")
    if at and not _DIGEST_RE.match(digest):
        return f"digest {digest!r} must look like sha256:<64 hex digits>"
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            return f"tag {tag!r} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    if len(name) > IMAGE_NAME_MAX:
        return f"repository name must be at most {IMAGE_NAME_MAX} characters"
    first, slash, rest = name.partition("/")
    has_domain = bool(slash) and (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    )
    path = rest if has_domain else name
    if has_domain and not _DOMAIN_RE.match(first):
        return f"registry {first!r} is not a host name with an optional :port"
    if not path or not _PATH_RE.match(path):
        return (
            f"repository {path!r} must be lowercase letters and digits separated by '.', '_', '__', '-' "
            "or '/' (e.g. myregistry.azurecr.io/adapters/phi-3-adapter:0.0.1)"
        )
    return None
