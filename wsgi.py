"""Entry point for gunicorn (`gunicorn -c gunicorn.conf.py wsgi:app`) and `flask --app wsgi`."""
import sys

from webapp import create_app

app = create_app()

if not app.config.get("SECRET_KEY"):
    sys.stderr.write("Tocsin: SECRET_KEY is not set; export SECRET_KEY=<a long random string> "
                     "(or use `make run`, which keeps a development key in instance/).\n")
    raise SystemExit(1)
