"""The scheduled drift check (handler.py): live windows against the served run's reference."""
