"""MSRP connections over TCP (gevent): the shared listener and the endpoint that drives a session.

The sans-IO session of `protocol/` does the protocol; this folder only moves
its bytes between sockets and it, and runs its timer.
"""
