"""429chain: an OpenAI-compatible proxy that waterfalls requests through chains of free tiers."""

# The single source of the version: hatchling reads it from here into the package metadata
# (a metadata lookup at start-up costs ~50 ms).
__version__ = "0.1.0"
