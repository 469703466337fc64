"""The web dashboard: server-rendered pages over the same domain modules as the API.

Served by functions/app.py at `/` (thin routes only). Every page is built from Python string
templates whose values are escaped (markup.py); the only script is assets/dashboard.js, served
from this package under a Content-Security-Policy that forbids inline script and style.
"""
