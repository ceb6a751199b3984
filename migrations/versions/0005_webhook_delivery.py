"""Webhook delivery: a row's lock and expiry, the log of every try, endpoints disabled by 410
or failing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.add_column(sa.Column('disabled_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_webhook_deliveries_chain',
                           ['attempt_id', 'endpoint_id', 'sequence_no'])
        batch.create_check_constraint(
            'status_valid', "status IN ('pending', 'delivered', 'dead')")
    op.create_table(
        'webhook_delivery_tries',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('delivery_id', _ID, nullable=False),
        sa.Column('tried_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['delivery_id'], ['webhook_deliveries.id'],
            name=op.f('fk_webhook_delivery_tries_delivery_id_webhook_deliveries'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery_tries')),
    )
    with op.batch_alter_table('webhook_delivery_tries') as batch:
        batch.create_index('ix_webhook_delivery_tries_delivery_id', ['delivery_id'])


def downgrade() -> None:
    with op.batch_alter_table('webhook_delivery_tries') as batch:
        batch.drop_index('ix_webhook_delivery_tries_delivery_id')
    op.drop_table('webhook_delivery_tries')
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_constraint('status_valid', type_='check')
        batch.drop_index('ix_webhook_deliveries_chain')
        batch.drop_column('expires_at')
        batch.drop_column('locked_until')
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_column('failing_since')
        batch.drop_column('disabled_at')
        batch.drop_column('disabled_reason')
