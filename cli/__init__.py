"""The ``syops`` command line (click + rich)."""
