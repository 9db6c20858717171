"""Architecture registry and the networks behind it."""
