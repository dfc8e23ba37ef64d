"""The `payments` command line: `root` is the lazy group, one module per command group."""
