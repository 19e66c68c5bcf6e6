"""The signalling service: SIP over the bus.

`sip/` is the sans-IO SIP stack, `transport/` the sockets, `glue/` drives the
stack with real timers and transports, `bus/` is the service and its API
(`docs/architecture.md` has the map).
"""
