"""initial orion schema

Revision ID: 0c9d8e7f6a5b
Revises: 
"""
from alembic import op

revision: str = "0c9d8e7f6a5b"
down_revision: str | None = None
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_table("flow")
