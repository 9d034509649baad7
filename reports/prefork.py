"""Imported by the group print's fork server (``reports.batch``): the renderer is built and warmed
once there, so every worker forked from it starts ready and shares those pages instead of
building its own copy."""

import gc

from reports import render

render.warm_up()
# The collector would otherwise walk (and so copy) every shared object in each worker.
gc.freeze()
