"""Decode `application/vnd.kubernetes.protobuf` request bodies into the JSON shape.

helm 4 writes its release Secrets only in protobuf, and `kubectl create secret|configmap|namespace|
serviceaccount` does too; answering 415 makes them fail instead of falling back to JSON. The wire
format is: magic `k8s\\x00`, then a `runtime.Unknown` {1 typeMeta{1 apiVersion, 2 kind}, 2 raw, ...}
whose `raw` is the object. Field numbers come from the public `generated.proto` files of
kubernetes/api core/v1 and apimachinery meta/v1. Go writes empty non-pointer fields, so zero values
are dropped here, as JSON's omitempty would.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator

MAGIC = b"k8s\x00"


class UnsupportedKind(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value): ints for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


def _str(v: bytes) -> str:
    return v.decode()


def _map(entries: list[bytes], as_bytes: bool = False) -> dict:
    out = {}
    for entry in entries:
        kv = dict(fields(entry))
        key, value = _str(kv.get(1, b"")), kv.get(2, b"")
        out[key] = base64.b64encode(value).decode() if as_bytes else _str(value)
    return out


def _time(v: bytes) -> str:
    seconds = dict(fields(v)).get(1, 0)
    if not seconds:
        return ""  # Go always writes the (non-pointer) Time; zero means unset
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_ref(v: bytes) -> dict:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion", 6: "controller", 7: "blockOwnerDeletion"}
    out: dict = {}
    for n, val in fields(v):
        if n in names:
            out[names[n]] = bool(val) if n in (6, 7) else _str(val)
    return out


def _object_meta(v: bytes) -> dict:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict = {}
    labels, annotations, refs, finalizers = [], [], [], []
    for n, val in fields(v):
        if n in strings:
            meta[strings[n]] = _str(val)
        elif n == 7:
            meta["generation"] = val
        elif n == 8:
            meta["creationTimestamp"] = _time(val)
        elif n == 11:
            labels.append(val)
        elif n == 12:
            annotations.append(val)
        elif n == 13:
            refs.append(_owner_ref(val))
        elif n == 14:
            finalizers.append(_str(val))
    if labels:
        meta["labels"] = _map(labels)
    if annotations:
        meta["annotations"] = _map(annotations)
    if refs:
        meta["ownerReferences"] = refs
    if finalizers:
        meta["finalizers"] = finalizers
    return {k: v for k, v in meta.items() if v not in ("", 0)}


def _decode(kind: str, raw: bytes) -> dict:
    obj: dict = {}
    grouped: dict[int, list] = {}
    for n, val in fields(raw):
        grouped.setdefault(n, []).append(val)
    first = {n: vals[0] for n, vals in grouped.items()}
    if kind not in ("DeleteOptions",) and 1 in first:
        obj["metadata"] = _object_meta(first[1])
    if kind == "Secret":
        if 2 in grouped:
            obj["data"] = _map(grouped[2], as_bytes=True)
        if first.get(3):
            obj["type"] = _str(first[3])
        if 4 in grouped:
            obj["stringData"] = _map(grouped[4])
        if first.get(5):
            obj["immutable"] = True
    elif kind == "ConfigMap":
        if 2 in grouped:
            obj["data"] = _map(grouped[2])
        if 3 in grouped:
            obj["binaryData"] = _map(grouped[3], as_bytes=True)
        if first.get(4):
            obj["immutable"] = True
    elif kind == "ServiceAccount":
        if 4 in first:
            obj["automountServiceAccountToken"] = bool(first[4])
    elif kind == "Namespace":
        pass  # spec.finalizers / status are server-owned
    elif kind == "DeleteOptions":
        if 1 in first:
            obj["gracePeriodSeconds"] = first[1]
        if 4 in first and first[4]:
            obj["propagationPolicy"] = _str(first[4])
    else:
        raise UnsupportedKind(kind)
    return obj


def decode(body: bytes) -> dict:
    if not body.startswith(MAGIC):
        raise ValueError("missing protobuf magic k8s\\0")
    unknown = dict(fields(body[len(MAGIC) :]))
    type_meta = dict(fields(unknown.get(1, b"")))
    api_version, kind = _str(type_meta.get(1, b"")), _str(type_meta.get(2, b""))
    obj = _decode(kind, unknown.get(2, b""))
    return {"apiVersion": api_version or "v1", "kind": kind, **obj}
