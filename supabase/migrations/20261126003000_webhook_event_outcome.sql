-- Webhook events: why an event was ignored or what applying it did, for
-- `flirt-admin webhooks list` (last_error keeps only failures).

set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table public.stripe_webhook_events add column outcome text;
comment on column public.stripe_webhook_events.outcome is
  'What applying the event did, or why it was ignored.';
