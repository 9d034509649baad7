"""The machines' web: JSON API for store plugins, the courier app and locker terminals."""
