"""The sipsimple services: one OS process per protocol, meeting only on the bus.

Installed as ``sipsimple_services``; run one with ``python -m sipsimple_services.<name>``.
"""
