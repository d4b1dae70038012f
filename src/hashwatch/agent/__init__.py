"""The endpoint agent: real-time and scheduled detection, volumes, an outbox that never
loses an incident, signed list updates, and a journal of its own health.

It depends on the engine (``scan``, ``match``, ``lists``) and talks to the server only over
HTTP; it keeps its own SQLite state (never the server's ``store``).
"""
