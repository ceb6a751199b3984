"""A webhook endpoint may be for one campaign's calls only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.add_column(sa.Column('campaign_id', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))
        batch.create_foreign_key(op.f('fk_webhook_endpoints_campaign_id_campaigns'),
                                 'campaigns', ['campaign_id'], ['id'], ondelete='CASCADE')
        batch.create_index('ix_webhook_endpoints_campaign_id', ['campaign_id'])


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_index('ix_webhook_endpoints_campaign_id')
        batch.drop_constraint(op.f('fk_webhook_endpoints_campaign_id_campaigns'),
                              type_='foreignkey')
        batch.drop_column('campaign_id')
