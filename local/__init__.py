"""The embedded development stack: an AWS emulator, the API, the agent, the proxy."""
