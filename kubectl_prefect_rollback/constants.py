"""Names and defaults the plugin shares with the cluster and with itself: one place to change each.

A leaf module (no imports): --help builds its defaults from here without loading the YAML layer."""

from __future__ import annotations

# The three Prefect Cloud databases, in the order plans, documents and Jobs list them.
DATABASES = ("nebula", "orion", "events")

# Every object the plugin creates carries this label: probe and backup pods, Jobs, the lease, records.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_US = "kubectl-prefect-rollback"
MANAGED_BY = {MANAGED_BY_LABEL: MANAGED_BY_US}
OURS_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_US}"
INSTANCE_LABEL = "app.kubernetes.io/instance"

# Our annotations and labels (lease state, Job facts, pod roles) all start with this.
PREFIX = "prefect-rollback/"
ROLE_LABEL = PREFIX + "role"
FROM_REVISION = PREFIX + "from-revision"  # on our Jobs: which rollback made it

# Documents we print or write (plan, report, status, backup manifest).
API_VERSION = "prefect-rollback/v1"

# The chart template that renders the migration Job (of the top-level chart; a subchart's is named in full).
MIGRATION_TEMPLATE = "templates/db-migration-job.yaml"

# The vendor hands out `prefect-cloud-<version>.tgz`; operators run the rollback next to it.
DEFAULT_CHART = "./prefect-cloud-{version}.tgz"
# --helm-timeout default: helm's own 5m is short for a Prefect upgrade with --wait
HELM_TIMEOUT = 600.0

# Seconds between looks at the cluster while waiting for one thing (waits.wait_until's poll).
POLL_PROBE = 0.25  # a probe pod or a backup pod: short-lived, the plan waits on it
POLL_PODS = 0.3  # deployments scaling down, a Job's pods going
POLL_JOB = 0.5  # the downgrade Job's containers, a server becoming Ready
# the Job's pod while its logs stream: each container's stream ending wakes the wait at once, so this is
# the fallback (a container that cannot start, a stream that broke); each look is a kubectl start-up the
# migrations' own CPU would otherwise share
POLL_FOLLOWED = 2.0
POLL_HELM = 2.0  # a pending helm release settling
# The first second of a wait, and the second after a wake (waits.soon, waits.wait_until's wake): the
# answer is most often near then, so look this often; later the step's own interval above.
POLL_SOON = 0.1
SOON_FOR = 1.0
# The log followers of one downgrade step: at most this long in all for their last lines once the
# containers ended (kubectl logs -f normally ends with its container), shared by every Job of the step.
DRAIN_LOGS = 10.0
