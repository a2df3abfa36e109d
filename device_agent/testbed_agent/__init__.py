"""testbed device agent: a small HTTP service that runs on a board and measures models.

The agent stores artifacts sent by the host, queues measurement runs and executes each one
in a fresh worker subprocess (``python -m testbed_agent.worker``). The server process itself
never imports torch or TensorFlow and imports nothing from the host package ``testbed``.
"""

__version__ = "0.1.0"
