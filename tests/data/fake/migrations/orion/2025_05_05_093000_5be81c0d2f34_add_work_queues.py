"""add work queues

Revision ID: 5be81c0d2f34
Revises: 0c9d8e7f6a5b
"""
from alembic import op

revision: str = "5be81c0d2f34"
down_revision: str | None = "0c9d8e7f6a5b"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_table("work_queue")
