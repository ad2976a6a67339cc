"""Model updates: desired `model` section -> fetch -> verify -> store -> safe load -> canary -> swap."""
