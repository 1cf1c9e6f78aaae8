"""AI Flirt Studio backend: worker, AI providers and HTTP API."""
