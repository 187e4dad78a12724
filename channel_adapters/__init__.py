"""Channel adapters: one module per transport, one small interface (see base.py)."""
