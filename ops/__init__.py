"""Commands an operator runs against a live Leadflow (replay gate, ...)."""
