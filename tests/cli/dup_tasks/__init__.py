"""Two modules declaring the same task name: discovery must refuse them."""
