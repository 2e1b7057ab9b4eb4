"""Run the command line as ``python -m tanhui``."""

from tanhui.cli.main import app

app()
