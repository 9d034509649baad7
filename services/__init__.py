"""Use cases that write. One function, one transaction."""
