"""The one contract between the API (functions/) and the agent (agent/, runners/), and the CLI.

Dependency-free (standard library only) so that both sides import it and neither imports the
other's frameworks (after Woodpecker's pipeline/rpc): job states and reasons (`states`), queue
naming and the queue message (`queues`), and the typed calls of the agent API (`wire`).
"""
