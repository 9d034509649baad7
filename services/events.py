"""Importing this module installs every session-wide listener: merchant/role scoping, the change
log and the workflow guard. The web app, the commands and the tests import it once."""

from services import audit, scoping, workflow_guard

__all__ = ["audit", "scoping", "workflow_guard"]
