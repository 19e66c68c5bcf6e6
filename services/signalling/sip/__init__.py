"""The sans-IO SIP stack: bytes, events and `now` in; messages, effects and events out.

Nothing under this folder may touch a socket, a clock, gevent or zmq, or import
the transport, the glue or the bus side (tests/test_layers.py checks it)."""
