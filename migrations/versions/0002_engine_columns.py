"""Engine columns: attempt claims and dispatch, CHECKed states, RESTRICT on call history,
events deduped by (Core-UUID, Event-Sequence), single calls without a campaign.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TS = sa.DateTime(timezone=True)

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
RECIPIENT_STATUSES = ("pending", "active", "done", "skipped", "cancelled")
ATTEMPT_STATES = ("queued", "originating", "ringing", "answered", "ended", "cancelled")
OUTCOMES = (
    "no_answer", "busy", "invalid_number", "amd_machine", "voicemail_left", "ivr_timeout",
    "ivr_hangup", "queue_timeout", "queue_hangup", "agent_answered", "transferred",
    "ai_completed", "opted_out", "completed", "failed",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(batch: object, name: str, table: str, cols: list[str], ondelete: str) -> None:
    batch.drop_constraint(op.f(name), type_='foreignkey')  # type: ignore[attr-defined]
    batch.create_foreign_key(  # type: ignore[attr-defined]
        op.f(name), table, cols, ['id'], ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.create_check_constraint('status_valid', _in('status', CAMPAIGN_STATUSES))

    with op.batch_alter_table('campaign_recipients') as batch:
        batch.add_column(sa.Column('blocked_reason', sa.String(length=30), nullable=True))
        batch.add_column(sa.Column('updated_at', TS, nullable=True))
        batch.create_check_constraint('status_valid', _in('status', RECIPIENT_STATUSES))
        _fk(batch, 'fk_campaign_recipients_campaign_id_campaigns', 'campaigns',
            ['campaign_id'], 'RESTRICT')
        _fk(batch, 'fk_campaign_recipients_recipient_id_recipients', 'recipients',
            ['recipient_id'], 'RESTRICT')

    with op.batch_alter_table('call_attempts') as batch:
        batch.add_column(sa.Column('request_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('state_changed_at', TS, server_default=sa.func.now(),
                                   nullable=False))
        batch.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('claimed_at', TS, nullable=True))
        batch.add_column(sa.Column('dispatched_at', TS, nullable=True))
        batch.add_column(sa.Column('not_before', TS, nullable=True))
        batch.add_column(sa.Column('options', JSON, server_default=sa.text("'{}'"),
                                   nullable=False))
        batch.add_column(sa.Column('metadata', JSON, server_default=sa.text("'{}'"),
                                   nullable=False))
        batch.add_column(sa.Column('core_uuid', sa.String(length=64), nullable=True))
        batch.alter_column('campaign_id', existing_type=sa.BigInteger(), nullable=True)
        batch.create_index('ix_call_attempts_state_changed', ['state', 'state_changed_at'])
        batch.create_check_constraint('state_valid', _in('state', ATTEMPT_STATES))
        batch.create_check_constraint('outcome_valid', _in('outcome', OUTCOMES))
        batch.create_check_constraint('ended_has_outcome',
                                      "state <> 'ended' OR outcome IS NOT NULL")
        _fk(batch, 'fk_call_attempts_campaign_id_campaigns', 'campaigns',
            ['campaign_id'], 'RESTRICT')
        _fk(batch, 'fk_call_attempts_campaign_recipient_id_campaign_recipients',
            'campaign_recipients', ['campaign_recipient_id'], 'RESTRICT')

    with op.batch_alter_table('call_events') as batch:
        batch.add_column(sa.Column('core_uuid', sa.String(length=64), server_default='',
                                   nullable=False))
        batch.drop_constraint(op.f('uq_call_events_fs_node_event_sequence'), type_='unique')
        batch.create_unique_constraint(op.f('uq_call_events_core_uuid_event_sequence'),
                                       ['core_uuid', 'event_sequence'])
        _fk(batch, 'fk_call_events_attempt_id_call_attempts', 'call_attempts',
            ['attempt_id'], 'RESTRICT')
    with op.batch_alter_table('call_events') as batch:
        batch.alter_column('core_uuid', existing_type=sa.String(length=64), server_default=None)

    with op.batch_alter_table('webhook_deliveries') as batch:
        _fk(batch, 'fk_webhook_deliveries_attempt_id_call_attempts', 'call_attempts',
            ['attempt_id'], 'RESTRICT')


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        _fk(batch, 'fk_webhook_deliveries_attempt_id_call_attempts', 'call_attempts',
            ['attempt_id'], 'SET NULL')

    with op.batch_alter_table('call_events') as batch:
        _fk(batch, 'fk_call_events_attempt_id_call_attempts', 'call_attempts',
            ['attempt_id'], 'CASCADE')
        batch.drop_constraint(op.f('uq_call_events_core_uuid_event_sequence'), type_='unique')
        batch.create_unique_constraint(op.f('uq_call_events_fs_node_event_sequence'),
                                       ['fs_node', 'event_sequence'])
        batch.drop_column('core_uuid')

    # single calls have no campaign and cannot be kept by the older schema
    op.execute("DELETE FROM call_attempts WHERE campaign_id IS NULL")
    with op.batch_alter_table('call_attempts') as batch:
        _fk(batch, 'fk_call_attempts_campaign_recipient_id_campaign_recipients',
            'campaign_recipients', ['campaign_recipient_id'], 'CASCADE')
        _fk(batch, 'fk_call_attempts_campaign_id_campaigns', 'campaigns',
            ['campaign_id'], 'CASCADE')
        batch.drop_constraint(op.f('ck_call_attempts_ended_has_outcome'), type_='check')
        batch.drop_constraint(op.f('ck_call_attempts_outcome_valid'), type_='check')
        batch.drop_constraint(op.f('ck_call_attempts_state_valid'), type_='check')
        batch.drop_index('ix_call_attempts_state_changed')
        batch.alter_column('campaign_id', existing_type=sa.BigInteger(), nullable=False)
        for column in ('core_uuid', 'metadata', 'options', 'not_before', 'dispatched_at',
                       'claimed_at', 'claimed_by', 'state_changed_at', 'request_hash'):
            batch.drop_column(column)

    with op.batch_alter_table('campaign_recipients') as batch:
        _fk(batch, 'fk_campaign_recipients_recipient_id_recipients', 'recipients',
            ['recipient_id'], 'CASCADE')
        _fk(batch, 'fk_campaign_recipients_campaign_id_campaigns', 'campaigns',
            ['campaign_id'], 'CASCADE')
        batch.drop_constraint(op.f('ck_campaign_recipients_status_valid'), type_='check')
        batch.drop_column('updated_at')
        batch.drop_column('blocked_reason')

    with op.batch_alter_table('campaigns') as batch:
        batch.drop_constraint(op.f('ck_campaigns_status_valid'), type_='check')
