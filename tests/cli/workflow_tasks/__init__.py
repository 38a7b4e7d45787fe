"""A workflow over the sample tasks, for ``schedkit workflow`` tests."""
