"""The sans-IO MSRP core (RFC 4975): bytes and events in, bytes and events out.

No sockets, no clock: the caller feeds what it reads, writes what it is
given and passes ``now``. Modules:

- `uri`: MSRP URIs and their comparison;
- `headers`: header names and typed values;
- `message`: requests and responses as frozen values, serialization;
- `parser`: the incremental stream parser;
- `transactions`: outstanding requests and the local 408;
- `chunking`: outgoing messages cut into chunks by priority;
- `reassembly`: incoming chunks put together;
- `reports`: who answers what, REPORT requests;
- `session`: an endpoint session tying these together.
"""
