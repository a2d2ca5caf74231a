"""add audit index

Revision ID: 77d0c1a2be10
Revises: 9c1e02b7d4aa
"""
from alembic import op

revision = '77d0c1a2be10'
down_revision = "9c1e02b7d4aa"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_index("ix_audit")
