"""The I/O glue: the sans-IO layers driven by gevent timers and the transports."""
