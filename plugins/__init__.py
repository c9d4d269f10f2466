"""Built-in vrx plugins. Each is loaded through the ``vrx`` entry-point group, like any third-party plugin."""
