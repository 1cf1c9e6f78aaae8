"""HTTP API (FastAPI): Stripe checkout, subscriptions and the Stripe webhook."""
