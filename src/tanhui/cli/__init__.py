"""The `tanhui` command line: serve the registry, migrate it, and act on it locally as its operator."""
