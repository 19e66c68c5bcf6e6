"""The bus between the facade and the services (ZeroMQ + msgpack).

`schema` is the single module both sides import; `endpoints` says where the
sockets live; `client` is the facade's side.
"""
