"""Kubernetes and helm naming rules, checked before a name goes into an argv, and the names we make.

A name read from the cluster (or typed by the operator) that breaks these rules is refused: one
beginning with `-` would be read by kubectl or helm as a flag, one with `/` or spaces names something
else than it seems.
"""

from __future__ import annotations

import hashlib
import re

from kubectl_prefect_rollback.errors import BadInput, ParseError

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# helm's own rule (pkg/chartutil ValidateReleaseName): a DNS-1123 subdomain of at most 53 characters
RELEASE_MAX = 53
MAX_NAME = 63  # a DNS-1123 label: what the names we make must fit


def is_label(name: object) -> bool:
    """DNS-1123 label: namespaces, container names."""
    return isinstance(name, str) and len(name) <= 63 and bool(_LABEL.fullmatch(name))


def is_subdomain(name: object) -> bool:
    """DNS-1123 subdomain: pods, Jobs, Deployments, ConfigMaps, Leases."""
    return isinstance(name, str) and len(name) <= 253 and bool(_SUBDOMAIN.fullmatch(name))


def is_release(name: object) -> bool:
    return isinstance(name, str) and len(name) <= RELEASE_MAX and bool(_SUBDOMAIN.fullmatch(name))


def flag(value: str, option: str, *, rule: str = "label") -> str:
    """An operator's name flag (-n, --release, --pod, --container): a usage error when it breaks the rule."""
    ok = {"label": is_label, "subdomain": is_subdomain, "release": is_release}[rule](value)
    if not ok:
        what = "is empty" if value == "" else f"{value!r} is not a valid {_RULES[rule]}"
        raise BadInput(f"{option} {what}")
    return value


def from_cluster(value: object, what: str, source: str, *, rule: str = "subdomain") -> str:
    """A name the cluster handed us: a ParseError naming the command that printed it when it is bad."""
    ok = {"label": is_label, "subdomain": is_subdomain, "release": is_release}[rule](value)
    if not ok:
        raise ParseError(
            f"{source} printed {what} {value!r}, which is not a valid {_RULES[rule]}: refusing to use it"
        )
    return str(value)


def fit_name(name: str) -> str:
    """A DNS-1123 label: shortened with a hash of the whole name when longer than 63 characters."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def job_name(release: str, version: str, suffix: str = "downgrade") -> str:
    """Deterministic name, e.g. `customer-managed-downgrade-to-1-2-0`."""
    raw = f"{release}-{suffix}-to-{version}"
    return fit_name(re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw.lower())).strip("-"))


_RULES = {
    "label": "Kubernetes name (lower-case letters, digits and '-', at most 63)",
    "subdomain": "Kubernetes object name (lower-case letters, digits, '-' and '.')",
    "release": "helm release name (lower-case letters, digits, '-' and '.', at most 53)",
}
