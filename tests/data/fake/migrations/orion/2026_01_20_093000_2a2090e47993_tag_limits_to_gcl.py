"""tag limits to gcl

Revision ID: 2a2090e47993
Revises: 91aa0c3e7d12
"""
from alembic import op

revision: str = "2a2090e47993"
down_revision: str | None = "91aa0c3e7d12"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_table("concurrency_leases")
