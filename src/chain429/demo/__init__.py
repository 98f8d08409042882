"""`429chain demo`: the proxy with simulated free-tier providers and gentle traffic, no keys."""
