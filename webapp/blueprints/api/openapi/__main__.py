"""Print the OpenAPI document as JSON, or as the Markdown of docs/api.md with `--markdown`:
`python -m webapp.blueprints.api.openapi --markdown > docs/api.md`."""
import json
import sys

from webapp.blueprints.api.openapi import document
from webapp.blueprints.api.openapi.markdown import render

if __name__ == "__main__":
    if "--markdown" in sys.argv[1:]:
        sys.stdout.write(render(document()))
    else:
        json.dump(document(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
