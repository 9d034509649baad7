"""Importing this module installs every session-wide listener: re-pricing of edited orders,
merchant/role scoping, the ledger's guard, the change log and the workflow guard. The web app,
the commands and the tests import it once."""

from services import audit, ledger, order_pricing, scoping, workflow_guard

__all__ = ["audit", "ledger", "order_pricing", "scoping", "workflow_guard"]
