-- How many times an analysis has been charged: a failed analysis that an admin
-- retries is charged again in place, and each charge may be refunded once.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

alter table public.analyses
  add column charges integer not null default 1 constraint analyses_charges_positive check (charges > 0);
