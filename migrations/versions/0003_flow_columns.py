"""Call-flow columns: how AMD decided (mod_amd or the avmd-only fallback), the handoff taken,
and whether an answered human counted as abandoned (no agent within 2 s of the prompt's end).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('call_attempts') as batch:
        batch.add_column(sa.Column('amd_method', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('handoff_type', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('handoff_target', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('abandoned', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_attempts') as batch:
        batch.drop_column('abandoned')
        batch.drop_column('handoff_target')
        batch.drop_column('handoff_type')
        batch.drop_column('amd_method')
