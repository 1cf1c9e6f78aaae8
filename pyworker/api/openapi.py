"""Print the API's OpenAPI document (the committed copy is docs/openapi.json)."""

from __future__ import annotations

import json
import sys

from pyworker.api.app import create_app
from pyworker.settings import Secrets, get_config


def document() -> dict[str, object]:
    # no database or Stripe is touched: the app is only built, never started
    app = create_app(get_config(), Secrets(database_url="postgresql://localhost/openapi"))
    return app.openapi()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")
