"""Pure decisions: plain values in, plain values out; no session, no request, no I/O."""
