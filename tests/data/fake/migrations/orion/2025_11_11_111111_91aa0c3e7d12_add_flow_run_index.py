"""add flow run index

Revision ID: 91aa0c3e7d12
Revises: 5be81c0d2f34
"""
from alembic import op

revision: str = "91aa0c3e7d12"
down_revision: str | None = "5be81c0d2f34"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_index("ix_flow_run")
