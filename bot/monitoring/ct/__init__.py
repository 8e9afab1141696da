"""Certificate Transparency read directly: every usable log of a Chrome v3 log list, RFC 6962
(`get-sth`, `get-entries`) and Static CT API (`checkpoint`, data tiles) alike.

`CtFollower.poll_once(sink)` reads what each log added since its stored position and hands
the parsed entries (`CtEntry`: names, issuer, serial, timestamp) to the sink, one batch at a
time, before the position moves on: a crash re-reads a batch, it never loses one.
"""
