"""Pure algorithms the embedded API server calls: schemas, CEL, patches, apply, admission, JSONPath.

Import everything from here: ``from kaito.localcluster.schema import validate, prune, ...``.
- custom resources: ``prune``/``prune_with_report``, ``apply_defaults``, ``validate`` (CEL included),
  ``check_structural_schema`` (on CRD writes);
- patches: ``json_merge_patch``, ``json_patch``, ``strategic_merge_patch`` (+ ``strategic_merge_supported``);
- ownership: ``server_side_apply`` (apply), ``record_update`` (every other write);
- ``AdmissionChain`` (webhooks), ``evaluate_jsonpath`` (printer columns).
"""

from kaito.localcluster.schema.admission import AdmissionChain
from kaito.localcluster.schema.apply import record_update, server_side_apply
from kaito.localcluster.schema.crdschema import check_structural_schema
from kaito.localcluster.schema.errors import AdmissionDenied, ApplyConflict, FieldError, PatchError
from kaito.localcluster.schema.jsonpatch import json_merge_patch, json_patch
from kaito.localcluster.schema.jsonpath import JSONPathError, evaluate_jsonpath
from kaito.localcluster.schema.strategic import strategic_merge_patch, strategic_merge_supported
from kaito.localcluster.schema.structural import apply_defaults, prune, prune_with_report
from kaito.localcluster.schema.validation import validate

__all__ = [
    "AdmissionChain",
    "AdmissionDenied",
    "ApplyConflict",
    "FieldError",
    "JSONPathError",
    "PatchError",
    "apply_defaults",
    "check_structural_schema",
    "evaluate_jsonpath",
    "json_merge_patch",
    "json_patch",
    "prune",
    "prune_with_report",
    "record_update",
    "server_side_apply",
    "strategic_merge_patch",
    "strategic_merge_supported",
    "validate",
]
