"""The `mlops` subcommands beyond running the pipeline, one module per subject (flows/cli.py parses and
dispatches)."""
