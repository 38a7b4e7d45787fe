"""Tiny tasks the CLI tests discover through ``task_packages``."""
