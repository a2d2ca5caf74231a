"""The bad-input catalogue (issue 9, Must 8c): CLI values, files, kubeconfigs, malformed tool output,
hostile names and secrets in error text, each with the exit code and the words its one `Error:` line
must hold. tests/test_bad_inputs.py runs every case against the fake kubectl/helm and also asserts no
traceback and no mutating call.

Print it: `python -m tests.bad_inputs --table` (or `--counts`); scripts import `catalogue()` /
`counts()` for the fault matrix.
"""

# ruff: noqa: E501  (the catalogue is a table: one case a line)
from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Setup = Callable[[Any], list[str]]  # (fake) -> extra CLI arguments; may edit the fake's world


@dataclass(frozen=True)
class Case:
    id: str
    category: str  # cli | files | kubeconfig | tool-output | names | secrets
    args: tuple[str, ...]  # after `rollback --to 1.2.0 --yes` unless command says otherwise
    code: int
    needle: str  # must be in the single `Error:` line
    setup: Setup | None = None
    command: tuple[str, ...] = ("rollback", "--to", "1.2.0", "--yes")
    env: dict[str, str] = field(default_factory=dict)
    secret: str | None = None  # must appear nowhere in the output


NS = "customer-managed"
REL = f"{NS}/{NS}"
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(7)
)  # 9**8 = 43 million strings from about 270 bytes, when aliases are expanded
DEEP = "a: " + "[" * 500 + "]" * 500 + "\n"


# -- setups ------------------------------------------------------------------------------------------------
def _file(name: str, content: str | bytes) -> Setup:
    def setup(fake: Any) -> list[str]:
        path = fake.work / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return []

    return setup


def _fail(prog: str, match: str, *, code: int = 1, stdout: str = "", stderr: str = "") -> Setup:
    def setup(fake: Any) -> list[str]:
        fake.fail(prog, match, code=code, stdout=stdout, stderr=stderr, times=99)
        return []

    return setup


def _hooks(edit: Callable[[str], str]) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            rev = st["releases"][REL]["history"][-1]
            rev["hooks"] = edit(rev["hooks"])
        return []

    return setup


def _obj(kind: str, name: str, edit: Callable[[dict], None]) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            key = next(k for k in st["objects"] if k.startswith(f"{NS}/{kind}/{name}"))
            edit(st["objects"][key])
        return []

    return setup


def _release(edit: Callable[[dict], None]) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            edit(st["releases"][REL])
        return []

    return setup


def _rename_release(name: str) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            rel = st["releases"].pop(REL)
            st["releases"][f"{NS}/{name}"] = {**rel, "name": name}
        return []

    return setup


def _lease(annotations: dict[str, Any]) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            st["objects"][f"{NS}/lease/{NS}-prefect-rollback"] = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": f"{NS}-prefect-rollback",
                    "namespace": NS,
                    "resourceVersion": "5",
                    "annotations": {"prefect-rollback/target-version": "1.2.0", **annotations},
                },
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 30},
            }
        return []

    return setup


def _helm4_metadata(stdout: str) -> Setup:
    """helm 4 is asked how the release was applied (server-side or not)."""

    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            st["helm_version"] = "v4.1.4"
        fake.fail("helm", r"^get metadata ", code=0, stdout=stdout, times=99)
        return []

    return setup


def _records(data: Any) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            st["objects"][f"{NS}/configmap/{NS}-prefect-rollback-revisions"]["data"] = data
        return []

    return setup


def _chart(version: str = "1.2.0", name: str = "prefect-cloud", chart_yaml: str | None = None) -> Setup:
    def setup(fake: Any) -> list[str]:
        import io
        import tarfile

        text = chart_yaml or f"apiVersion: v2\nname: {name}\nversion: {version}\n"
        with tarfile.open(fake.work / "prefect-cloud-1.2.0.tgz", "w:gz") as tar:
            info = tarfile.TarInfo(f"{name}/Chart.yaml")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        return []

    return setup


def _kubeconfig(text: str) -> Setup:
    return _file("kubeconfig.yaml", text)


def _pods_named(name: str) -> Setup:
    def setup(fake: Any) -> list[str]:
        with fake.edit() as st:
            key = next(k for k in st["objects"] if k.startswith(f"{NS}/pod/{NS}-server"))
            pod = st["objects"].pop(key)
            pod["metadata"]["name"] = name
            st["objects"][f"{NS}/pod/{name}"] = pod
        return []

    return setup


def _spec_list(hooks: str) -> str:
    """The migration Job's `spec` made a list (of the mapping it was)."""
    return hooks.replace("spec:\n  backoffLimit: 3\n", "spec:\n- backoffLimit: 3\n", 1)


def _containers_mapping(hooks: str) -> str:
    return hooks.replace("      containers:\n", "      containers: {}\n      unused:\n", 1)


# -- the catalogue -----------------------------------------------------------------------------------------
def catalogue() -> list[Case]:
    plan = ("plan", "--to", "1.2.0")
    # fmt: off
    cases = [
        # CLI values: refused before any process starts, or naming what is not there
        Case('helm-timeout-garbage', 'cli', ('--helm-timeout', 'garbage'), 2, "--helm-timeout 'garbage' is not a duration"),
        Case('helm-timeout-negative', 'cli', ('--helm-timeout=-1s',), 2, "--helm-timeout '-1s' is not a duration"),
        Case('helm-timeout-zero', 'cli', ('--helm-timeout', '0s'), 2, "--helm-timeout '0s' must be longer than zero"),
        Case('job-timeout-word', 'cli', ('--timeout', 'soon'), 2, "--timeout 'soon' is not a duration"),
        Case('job-timeout-zero', 'cli', ('--timeout', '0'), 2, "--timeout '0' must be longer than zero"),
        Case('verify-timeout-negative', 'cli', ('--verify-timeout=-5',), 2, "--verify-timeout '-5' is not a duration"),
        Case('verify-timeout-unit', 'cli', ('--verify-timeout', '10x'), 2, "--verify-timeout '10x' is not a duration"),
        Case('to-latest', 'cli', (), 2, "'latest' is not a chart version", command=('rollback', '--to', 'latest', '--yes')),
        Case('to-two-parts', 'cli', (), 2, "'1.2' is not a chart version", command=('rollback', '--to', '1.2', '--yes')),
        Case('to-empty', 'cli', (), 2, "'' is not a chart version", command=('rollback', '--to', '', '--yes')),
        Case('to-newer', 'cli', (), 3, 'newer than the deployed 1.3.0', _chart('1.4.0'), command=('rollback', '--to', '1.4.0', '--yes', '--chart', 'prefect-cloud-1.2.0.tgz')),
        Case('nebula-revision-base', 'cli', ('--nebula-revision', 'base'), 2, 'not a plausible Alembic revision id'),
        Case('nebula-revision-flag', 'cli', ('--nebula-revision=-rf',), 2, 'not a plausible Alembic revision id'),
        Case('orion-revision-shell', 'cli', ('--orion-revision', '$(id)'), 2, 'not a plausible Alembic revision id'),
        Case('events-revision-space', 'cli', ('--events-revision', 'a b'), 2, 'not a plausible Alembic revision id'),
        Case('namespace-empty', 'cli', ('-n', ''), 2, '-n/--namespace is empty'),
        Case('namespace-upper', 'cli', ('-n', 'Customer_Managed'), 2, "-n/--namespace 'Customer_Managed' is not a valid"),
        Case('namespace-flag', 'cli', ('--namespace=-x',), 2, "-n/--namespace '-x' is not a valid"),
        Case('release-empty', 'cli', ('--release', ''), 2, '--release is empty'),
        Case('release-flag', 'cli', ('--release=-rf',), 2, "--release '-rf' is not a valid helm release name"),
        Case('release-too-long', 'cli', ('--release', 'r' * 54), 2, 'is not a valid helm release name'),
        Case('pod-flag', 'cli', ('--pod=-x',), 2, "--pod '-x' is not a valid"),
        Case('container-space', 'cli', ('--container', 'ser ver'), 2, "--container 'ser ver' is not a valid"),
        Case('selector-empty', 'cli', ('--selector', ''), 2, '--selector is empty'),
        Case('chart-empty', 'cli', ('--chart', ''), 2, "--chart '' is not a chart"),
        Case('chart-flag', 'cli', ('--chart=-x',), 2, "--chart '-x' is not a chart"),
        Case('output-unknown', 'cli', ('-o', 'xml'), 2, "Invalid value for '-o' / '--output'", command=plan),
        Case('option-unknown', 'cli', ('--frobnicate',), 2, "No such option '--frobnicate'"),
        Case('container-absent', 'cli', ('--container', 'nope'), 1, '--container nope: no running pod here has a container'),
        Case('pod-absent', 'cli', ('--pod', 'nope'), 1, 'pod nope not found'),
        Case('release-absent', 'cli', ('--release', 'other'), 1, "no helm release 'other' in namespace"),
        Case('helm-namespace-env', 'cli', (), 2, "the namespace 'Bad_NS' is not a valid", env={'HELM_PLUGIN_NAME': 'prefect-rollback', 'HELM_NAMESPACE': 'Bad_NS'}),
        # files: the operator's values and charts
        Case('values-missing', 'files', ('--target-values', 'nope.yaml'), 2, 'values file nope.yaml does not exist'),
        Case('values-directory', 'files', ('--target-values', '.'), 2, 'values file . does not exist (it is a directory)'),
        Case('values-broken', 'files', ('--target-values', 'v.yaml'), 2, 'values file v.yaml is not valid YAML', _file('v.yaml', 'server: [unclosed\n')),
        Case('values-list', 'files', ('--target-values', 'v.yaml'), 2, 'values file v.yaml is not a YAML mapping but a list', _file('v.yaml', '- a\n- b\n')),
        Case('values-scalar', 'files', ('--target-values', 'v.yaml'), 2, 'is not a YAML mapping but a str', _file('v.yaml', 'just words\n')),
        Case('values-alias-bomb', 'files', ('--target-values', 'v.yaml'), 2, 'YAML aliases (*name) are not accepted', _file('v.yaml', BOMB)),
        Case('values-deep', 'files', ('--target-values', 'v.yaml'), 2, 'nested deeper than 64 levels', _file('v.yaml', DEEP)),
        Case('values-python-tag', 'files', ('--target-values', 'v.yaml'), 2, 'could not determine a constructor', _file('v.yaml', 'a: !!python/object/apply:os.system [id]\n')),
        Case('values-binary', 'files', ('--target-values', 'v.yaml'), 2, 'values file v.yaml is not valid YAML', _file('v.yaml', b'\x80\x81\x82 not text')),
        Case('values-second-broken', 'files', ('--target-values', 'ok.yaml', '--target-values', 'v.yaml'), 2, 'values file v.yaml is not valid YAML', lambda f: _file('ok.yaml', 'a: 1\n')(f) + _file('v.yaml', '{')(f)),
        Case('chart-missing', 'files', ('--chart', './nope-{version}.tgz'), 2, 'chart ./nope-1.2.0.tgz does not exist'),
        Case('chart-not-tar', 'files', ('--chart', 'junk.tgz'), 2, 'junk.tgz is not a readable chart archive', _file('junk.tgz', b'\x00not a tar at all')),
        Case('chart-dir-without-chart-yaml', 'files', ('--chart', '.'), 2, '. is a directory without Chart.yaml'),
        Case('chart-yaml-broken', 'files', (), 2, 'Chart.yaml is not valid YAML', _chart(chart_yaml='name: [unclosed\n')),
        Case('chart-yaml-list', 'files', (), 2, 'Chart.yaml is not a YAML mapping', _chart(chart_yaml='- 1\n')),
        Case('chart-other-version', 'files', (), 3, 'is chart version 1.2.1, not 1.2.0', _chart('1.2.1')),
        Case('chart-other-name', 'files', (), 3, "is chart 'other', but the release runs 'prefect-cloud'", _chart(name='other')),
        # kubeconfigs: never a silent fall back to namespace `default`
        Case('kubeconfig-missing', 'kubeconfig', ('--kubeconfig', 'nope.yaml'), 2, 'kubeconfig nope.yaml does not exist'),
        Case('kubeconfig-empty-flag', 'kubeconfig', ('--kubeconfig', ''), 2, "--kubeconfig '' names no file"),
        Case('kubeconfig-broken', 'kubeconfig', ('--kubeconfig', 'kubeconfig.yaml'), 2, 'kubeconfig kubeconfig.yaml is not valid YAML', _kubeconfig('contexts: [\n')),
        Case('kubeconfig-list', 'kubeconfig', ('--kubeconfig', 'kubeconfig.yaml'), 2, 'is not a YAML mapping but a list', _kubeconfig('- a\n')),
        Case('kubeconfig-contexts-number', 'kubeconfig', ('--kubeconfig', 'kubeconfig.yaml'), 2, 'contexts is not a list of mappings', _kubeconfig('contexts: 5\n')),
        Case('kubeconfig-alias', 'kubeconfig', ('--kubeconfig', 'kubeconfig.yaml'), 2, 'YAML aliases (*name) are not accepted', _kubeconfig('x: &x {}\ncontexts: [*x]\n')),
        Case('kubeconfig-bad-namespace', 'kubeconfig', ('--kubeconfig', 'kubeconfig.yaml'), 2, "the namespace 'Bad NS' is not a valid", _kubeconfig('current-context: c\ncontexts:\n- {name: c, context: {namespace: Bad NS}}\n')),
        Case('kubeconfig-env-broken', 'kubeconfig', (), 1, 'is not valid YAML', lambda f: _kubeconfig('{{')(f) + [], env={'KUBECONFIG': 'kubeconfig.yaml'}),
        # malformed output of kubectl and helm (and objects that are not what we wrote)
        Case('helm-list-not-json', 'tool-output', (), 1, 'helm list printed something that is not JSON', _fail('helm', '^list ', code=0, stdout='NAME NAMESPACE\n')),
        Case('helm-list-object', 'tool-output', (), 1, 'helm list printed a JSON dict, not a list', _fail('helm', '^list ', code=0, stdout='{"releases": []}')),
        Case('helm-list-row-string', 'tool-output', (), 1, 'helm list printed a row that is not an object', _fail('helm', '^list ', code=0, stdout='["customer-managed"]')),
        Case('helm-list-revision-word', 'tool-output', (), 1, "printed revision 'three'", _fail('helm', '^list ', code=0, stdout=json.dumps([{'name': NS, 'namespace': NS, 'revision': 'three', 'status': 'deployed', 'chart': 'prefect-cloud-1.3.0'}]))),
        Case('helm-list-deep', 'tool-output', (), 1, 'helm list printed something that is not JSON', _fail('helm', '^list ', code=0, stdout='[' * 100000)),
        Case('helm-list-empty-output', 'tool-output', (), 1, 'helm list printed nothing, not JSON', _fail('helm', '^list ', code=0, stdout='')),
        Case('helm-history-object', 'tool-output', (), 1, 'helm history customer-managed printed a JSON dict', _fail('helm', '^history ', code=0, stdout='{}')),
        Case('helm-history-no-status', 'tool-output', (), 1, 'helm history customer-managed printed a row without a status', _fail('helm', '^history ', code=0, stdout='[{"revision": 1, "chart": "prefect-cloud-1.2.0"}]')),
        Case('helm-values-list', 'tool-output', (), 1, 'helm get values customer-managed printed a JSON list', _fail('helm', '^get values ', code=0, stdout='[1]')),
        Case('helm-hooks-job-spec-list', 'tool-output', (), 1, 'spec is not a mapping', _hooks(_spec_list)),
        Case('helm-hooks-containers-mapping', 'tool-output', (), 1, 'spec.template.spec.containers is not a list of mappings', _hooks(_containers_mapping)),
        Case('helm-hooks-alias-bomb', 'tool-output', (), 1, 'YAML aliases (*name) are not accepted', _hooks(lambda h: h + '\n---\n' + BOMB)),
        Case('helm-hooks-deep', 'tool-output', (), 1, 'nested deeper than 64 levels', _hooks(lambda h: h + '\n---\n' + DEEP)),
        Case('helm-hooks-scalar-document', 'tool-output', (), 1, 'is not a mapping but a str', _hooks(lambda h: h + '\n---\njust text\n')),
        Case('helm-template-render-error', 'tool-output', (), 3, 'does not render with the target values', _fail('helm', '^template ', stderr='Error: template: prefect-cloud/templates/server.yaml:12:20: executing "x" at <.Values.a.b>: nil pointer\n')),
        Case('helm-template-unreachable', 'tool-output', (), 1, 'Kubernetes cluster unreachable', _fail('helm', '^template ', stderr='Error: Kubernetes cluster unreachable: connection refused\n')),
        Case('helm-show-chart-unreachable', 'tool-output', ('--chart', 'myrepo/prefect-cloud'), 1, 'connection refused', _fail('helm', '^show chart ', stderr='Error: Get https://charts.example/index.yaml: dial tcp: connection refused\n')),
        Case('helm-show-chart-list', 'tool-output', ('--chart', 'myrepo/prefect-cloud'), 1, 'helm show chart myrepo/prefect-cloud is not a YAML mapping', _fail('helm', '^show chart ', code=0, stdout='- 1\n')),
        Case('kubectl-pods-not-json', 'tool-output', (), 1, 'kubectl get pods,deployments printed something that is not JSON', _fail('kubectl', '^get .*pods', code=0, stdout='NAME READY\n')),
        Case('kubectl-pods-items-mapping', 'tool-output', (), 1, 'kubectl get pods,deployments printed no list of items', _fail('kubectl', '^get .*pods', code=0, stdout='{"items": {}}')),
        Case('kubectl-pod-metadata-list', 'tool-output', (), 1, 'kubectl get pods,deployments printed an object whose metadata is not a mapping', _fail('kubectl', '^get .*pods', code=0, stdout='{"items": [{"metadata": []}]}')),
        Case('kubectl-deployment-spec-list', 'tool-output', (), 1, 'has a spec that is not a mapping', _obj('deployment', f'{NS}-server', lambda d: d.__setitem__('spec', [1]))),
        Case('kubectl-deployment-replicas-word', 'tool-output', (), 1, "has replicas 'three'", _obj('deployment', f'{NS}-server', lambda d: d['spec'].__setitem__('replicas', 'three'))),
        Case('kubectl-exec-garbage', 'tool-output', (), 1, 'empty or malformed', _fail('kubectl', '^exec .*prefect-rollback-listing', code=0, stdout='sh: awk: not found\n')),
        Case('kubectl-dry-run-rejects-job', 'tool-output', (), 3, 'does not pass kubectl create --dry-run=server', _fail('kubectl', '^create .*--dry-run=server', stderr='Error from server (Forbidden): admission webhook "policy" denied the request: image not allowed\n')),
        Case('lease-annotations-not-strings', 'tool-output', (), 1, 'has annotations that are not strings', _lease({'prefect-rollback/from-revision': 3})),
        Case('lease-from-revision-garbage', 'tool-output', (), 1, 'annotation prefect-rollback/from-revision is not what kubectl-prefect-rollback wrote', _lease({'prefect-rollback/from-version': '"1.3.0"', 'prefect-rollback/from-revision': '{three'})),
        Case('lease-heads-wrong-shape', 'tool-output', (), 1, 'annotation prefect-rollback/heads is not what kubectl-prefect-rollback wrote', _lease({'prefect-rollback/from-version': '"1.3.0"', 'prefect-rollback/from-revision': '3', 'prefect-rollback/heads': '["a"]'})),
        Case('lease-replicas-wrong-shape', 'tool-output', (), 1, 'annotation prefect-rollback/replicas is not what kubectl-prefect-rollback wrote', _lease({'prefect-rollback/from-version': '"1.3.0"', 'prefect-rollback/from-revision': '3', 'prefect-rollback/heads': json.dumps({'from': {}, 'to': {}}), 'prefect-rollback/replicas': '{"-x": "three"}'})),
        Case('helm-metadata-list', 'tool-output', (), 1, 'helm get metadata customer-managed printed a JSON list', _helm4_metadata('[]')),
        Case('records-entry-garbage', 'tool-output', (), 1, "key '1.2.0' is not what kubectl-prefect-rollback wrote", _records({'1.2.0': '{not json'})),
        Case('records-head-hostile', 'tool-output', (), 1, "key '1.2.0' is not what kubectl-prefect-rollback wrote", _records({'1.2.0': json.dumps({'heads': {'nebula': '$(reboot)'}})})),
        Case('records-data-list', 'tool-output', (), 1, 'has a data that is not a mapping', _records(['1.2.0'])),
        Case('kubectl-configmap-empty-object', 'tool-output', (), 1, 'metadata is not a mapping', _fail('kubectl', '^get .* configmaps --selector', code=0, stdout='{"kind": "List", "items": [{}]}')),
        # hostile names from the cluster: never an argv word
        Case('release-named-flag', 'names', (), 1, "helm list printed a release named '-rf'", _rename_release('-rf'), command=('rollback', '--to', '1.2.0', '--yes')),
        Case('release-named-space', 'names', (), 1, "a release named 'a b'", _rename_release('a b')),
        Case('release-namespace-path', 'names', (), 1, "printed a namespace '../kube-system'", _fail('helm', '^list ', code=0, stdout=json.dumps([{'name': NS, 'namespace': '../kube-system', 'revision': 3, 'status': 'deployed', 'chart': 'prefect-cloud-1.3.0'}]))),
        Case('pod-named-flag', 'names', (), 1, "kubectl get pods,deployments printed an object named '--all'", _pods_named('--all')),
        Case('pod-named-shell', 'names', (), 1, "an object named '$(id)'", _pods_named('$(id)')),
        Case('deployment-named-flag', 'names', (), 1, "an object named '-x'", _obj('deployment', f'{NS}-ui', lambda d: d['metadata'].__setitem__('name', '-x'))),
        # secrets in child error text: the one Error line names the problem, never the secret
        Case('secret-url-in-helm-stderr', 'secrets', (), 1, 'helm list', _fail('helm', '^list ', stderr='Error: dial postgres://prefect:p@ss/w0rd-9@db:5432/x: refused\n'), secret='p@ss/w0rd-9'),
        Case('secret-assignment-in-kubectl-stderr', 'secrets', (), 1, 'kubectl get', _fail('kubectl', '^get .*pods', stderr='error: exec: export PGPASSWORD=topsecret9; psql failed\n'), secret='topsecret9'),
        Case('secret-libpq-in-stderr', 'secrets', (), 1, 'helm history', _fail('helm', '^history ', stderr="Error: host=db password='s3 cr3t' user=x: refused\n"), secret='cr3t'),
        Case('secret-yaml-in-render-error', 'secrets', (), 3, 'does not render', _fail('helm', '^template ', stderr='Error: template: parse error near\n  db_pass: leaked-pw-1\n'), secret='leaked-pw-1'),
        Case('secret-json-in-stderr', 'secrets', (), 1, 'helm get values', _fail('helm', '^get values ', stderr='Error: bad value {"apiToken": "tok-leak-77"}\n'), secret='tok-leak-77'),
    ]
    # fmt: on
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


def counts(cases: list[Case] | None = None) -> dict[str, int]:
    """Cases per category (and "total"), in catalogue order."""
    per = Counter(c.category for c in cases or catalogue())
    return {**dict(per), "total": sum(per.values())}


def table(cases: list[Case] | None = None) -> str:
    cases = cases or catalogue()
    rows = [("CATEGORY", "CASE", "EXIT", "ERROR LINE HOLDS")]
    rows += [(c.category, c.id, str(c.code), c.needle) for c in cases]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.append("")
    lines += [f"{k:<12} {v}" for k, v in counts(cases).items()]
    by_code = Counter(c.code for c in cases)
    lines.append("by exit code: " + ", ".join(f"{code}: {n}" for code, n in sorted(by_code.items())))
    return "\n".join(lines)


if __name__ == "__main__":
    if "--counts" in sys.argv[1:]:
        print(json.dumps(counts()))
    else:
        print(table())
