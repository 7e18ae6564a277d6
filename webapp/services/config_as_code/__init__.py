"""Configuration as code: a workspace's jobs, endpoints and rules as one versioned document
(`version: 1`, docs/config.md), written by `export_document` and applied by `apply_document`
(`tocsin export` / `tocsin import`, `GET` / `POST /api/v1/config`)."""
from webapp.services.config_as_code.apply import InvalidDocument, Plan, apply_document
from webapp.services.config_as_code.document import VERSION, dump, export_document, load

__all__ = ["VERSION", "InvalidDocument", "Plan", "apply_document", "dump", "export_document", "load"]
