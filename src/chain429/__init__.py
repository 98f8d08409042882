"""429chain: an OpenAI-compatible proxy that waterfalls requests through chains of free tiers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("429chain")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
