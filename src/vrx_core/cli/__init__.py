"""The ``vrx`` command line: argument parsing, commands, and their terminal views."""
