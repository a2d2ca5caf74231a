"""add automation bucket

Revision ID: 3b5402bd348f
Revises: 1d7e3c5a9b20
"""
from alembic import op

revision = '3b5402bd348f'
down_revision = "1d7e3c5a9b20"
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_index("ix_bucket")
