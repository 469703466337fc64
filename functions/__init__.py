"""Tahobuddy's serverless half: the Chalice API and the domain code it needs.

verify -> record -> match -> enqueue lives in `intake`; everything a route
needs is a module here, so the Lambda zip (see vendor/functions) ships it all.
"""
