"""ggnbench tests."""
