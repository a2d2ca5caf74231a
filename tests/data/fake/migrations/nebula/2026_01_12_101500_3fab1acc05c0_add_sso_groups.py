"""add sso groups

Revision ID: 3fab1acc05c0
Revises: 77d0c1a2be10
"""
from alembic import op

revision = '3fab1acc05c0'
down_revision = "77d0c1a2be10"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.alter_column("sso", "groups", nullable=True)
