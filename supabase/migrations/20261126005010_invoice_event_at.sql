-- Invoice events order the payment status on their own clock, so that a
-- subscription event created earlier but delivered later still updates the
-- period end, the cancel flag and the price.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table public.users add column invoice_event_at timestamptz;
