"""The embedded demo review site: an original Arabic corpus rendered as static HTML."""
