"""A workflow whose step fails and waits ten minutes for its retry, for ``schedkit
workflow status`` tests."""
