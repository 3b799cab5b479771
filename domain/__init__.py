"""creditmeter's billing rules, in plain Python (stdlib only)."""
