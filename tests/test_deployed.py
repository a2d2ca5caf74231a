"""deployed.chart_replicas: which Deployments the target chart scales itself (helm sets those)."""

from __future__ import annotations

from kubectl_prefect_rollback import deployed

RENDERED = """---
# Source: prefect-cloud/templates/server.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: cm-server}
spec: {replicas: 3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cm-ui}
spec: {template: {}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cm-db}
spec: {replicas: 1}
"""


def test_only_deployments_with_a_replicas_count_of_their_own_are_named() -> None:
    assert deployed.chart_replicas(RENDERED) == {"cm-server": 3}


def test_a_zero_or_a_templated_non_integer_is_kept_as_the_chart_wrote_it() -> None:
    text = "kind: Deployment\nmetadata: {name: a}\nspec: {replicas: 0}\n---\n"
    text += "kind: Deployment\nmetadata: {name: b}\nspec: {replicas: '3'}\n"
    assert deployed.chart_replicas(text) == {"a": 0}  # the chart step restores where this says 0


def test_a_rendering_the_parser_refuses_names_none_so_the_chart_step_reads_after_helm() -> None:
    assert deployed.chart_replicas("kind: Deployment\nmetadata: &a {name: x}\nspec: *a\n") == {}
