"""Certificate Transparency read directly: every usable log of a Chrome v3 log list, RFC 6962
(`get-sth`, `get-entries`) and Static CT API (`checkpoint`, data tiles) alike.

`CtFollower.poll_once(sink)` reads what each log added since its stored position and hands
the parsed entries (`CtEntry`: names, issuer, serial, timestamp) to the sink, one batch at a
time, before the position moves on: a crash re-reads a batch, it never loses one. An entry
that cannot be read costs only itself (certificates.py reads the TBSCertificate with the
lenient DER walker of der.py, not `cryptography`).

Or, with WATCHPOST_CERTSTREAM_URL, one WebSocket to a certstream server (certstream.py):
the server reads the logs; the stream has no replay. Either way the CT job reads only while
a lookalike or keyword watch exists (bot/watches/service.py, CtPollJob), and
status.py keeps what this process saw for `/monitor health` and the watch replies.
"""
