-- A refund or dispute of a charge that granted no pack (yet) is recorded, and a pack
-- granted later for that PaymentIntent is taken back at once: the grant looks the
-- recorded refunds and disputes up by PaymentIntent. Both tables are small (refunds and
-- disputes only) and private: plain `create index` in this file's transaction.

set local lock_timeout = '5s';
set local statement_timeout = '60s';

-- squawk-ignore require-concurrent-index-creation
create index subscription_refunds_payment_intent_idx
  on private.subscription_refunds (stripe_payment_intent_id);

-- squawk-ignore require-concurrent-index-creation
create index disputes_payment_intent_idx
  on private.disputes (stripe_payment_intent_id) where payment_id is null;

comment on table private.subscription_refunds is
  'Refunded charges with no credit pack payment: subscription invoices (nothing clawed back), '
  'or a pack whose grant comes later (moved to its payment and clawed back by the grant).';
