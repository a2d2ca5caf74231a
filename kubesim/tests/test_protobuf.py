"""The protobuf request decoder, on bodies built with a tiny encoder following generated.proto."""

import base64

from kubesim import protobuf


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value


def entry(number, key, value):
    return field(number, field(1, key) + field(2, value))


def envelope(api_version, kind, raw):
    return protobuf.MAGIC + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


META = (
    field(1, "sh.helm.release.v1.rel.v1")
    + field(3, "ns")
    + field(6, "")
    + field(7, 0)
    + entry(11, "owner", "helm")
    + entry(11, "name", "rel")
    + entry(12, "note", "x")
    + field(8, b"")
)


def test_secret():
    raw = field(1, META) + entry(2, "release", b"\x00\x01gz") + field(3, "helm.sh/release.v1")
    obj = protobuf.decode(envelope("v1", "Secret", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(b"\x00\x01gz").decode()},
        "metadata": {
            "name": "sh.helm.release.v1.rel.v1",
            "namespace": "ns",
            "labels": {"owner": "helm", "name": "rel"},
            "annotations": {"note": "x"},
        },
    }


def test_configmap_namespace_serviceaccount():
    cm = protobuf.decode(envelope("v1", "ConfigMap", field(1, field(1, "c")) + entry(2, "k", "v")))
    assert cm["data"] == {"k": "v"} and cm["metadata"] == {"name": "c"}
    ns = protobuf.decode(envelope("v1", "Namespace", field(1, field(1, "n"))))
    assert ns == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    sa = protobuf.decode(envelope("v1", "ServiceAccount", field(1, field(1, "s")) + field(4, 1)))
    assert sa["automountServiceAccountToken"] is True


def test_owner_references():
    ref = field(1, "Job") + field(3, "j") + field(4, "uid-1") + field(5, "batch/v1") + field(6, 1)
    cm = protobuf.decode(envelope("v1", "ConfigMap", field(1, field(1, "c") + field(13, ref))))
    assert cm["metadata"]["ownerReferences"] == [
        {"kind": "Job", "name": "j", "uid": "uid-1", "apiVersion": "batch/v1", "controller": True}
    ]


def test_delete_options():
    assert protobuf.decode(envelope("meta.k8s.io/v1", "DeleteOptions", b"")) == {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "DeleteOptions",
    }
    opts = protobuf.decode(envelope("v1", "DeleteOptions", field(1, 0) + field(4, "Foreground")))
    assert opts["propagationPolicy"] == "Foreground"


def test_unknown_kind_is_refused():
    import pytest

    with pytest.raises(protobuf.UnsupportedKind):
        protobuf.decode(envelope("batch/v1", "Job", b""))
