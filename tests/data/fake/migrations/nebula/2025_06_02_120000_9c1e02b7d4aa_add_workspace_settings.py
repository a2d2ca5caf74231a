"""add workspace settings

Revision ID: 9c1e02b7d4aa
Revises: 1a2b3c4d5e6f
"""
from alembic import op

revision = '9c1e02b7d4aa'
down_revision = "1a2b3c4d5e6f"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_column("workspace", "settings")
