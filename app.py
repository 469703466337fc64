"""Chalice's entry point. The app and its routes live in functions/app.py;
vendor/functions links that package into the deployment zip."""
from functions.app import app  # noqa: F401
