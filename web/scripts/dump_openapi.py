"""Write the OpenAPI document to a file, built from the route table (no server is started).

`make web/src/api/schema.d.ts` runs it, then openapi-typescript turns it into the UI's types.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chain429.http.openapi import document


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "web/openapi.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
