"""The web dashboard: HTML pages and static assets under ``/dashboard``, and the read-only
JSON the pages need under ``/v1/dashboard`` (what the rest of the API does not give)."""
