"""The DNS service: RFC 3263 SIP proxy lookups and SRV/TXT service lookups.

`records`, `rfc2782`, `rfc3263` and `servers` are the sans-IO core (they take a
query function); `resolver` adapts dnspython to it with a TTL cache and query
traces; `nameservers` chooses the nameservers; `service` puts it on the bus.
"""
