"""feedrelay: the glue — config, pipeline, scheduler/daemon and CLI."""

__version__ = "0.1.0"
