"""The operator dashboard served by the gateway (see app.py)."""
