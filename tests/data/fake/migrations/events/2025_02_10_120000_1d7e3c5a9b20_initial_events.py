"""initial events

Revision ID: 1d7e3c5a9b20
Revises: 
"""
from alembic import op

revision = '1d7e3c5a9b20'
down_revision = None
branch_labels = None


def upgrade():
    pass


def downgrade():
    op.drop_table("events")
