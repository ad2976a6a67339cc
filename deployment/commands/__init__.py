"""One module per subcommand of `python -m deployment`; each exposes `register(subparsers)`.

A command module's `register` adds its parser and sets `func` (args -> exit code) as the default.
"""
