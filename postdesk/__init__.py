"""Postdesk: process wiring (settings, database, command line). Domain code lives beside it."""
