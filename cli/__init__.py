"""The `tahobuddy` command line: apps, rules, events, jobs and logs over the HTTP API."""
