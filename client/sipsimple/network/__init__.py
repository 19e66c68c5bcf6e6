"""The host's network as the facade sees it: a change of the local address (docs/nat.md).

`watch` holds the sans-IO rule that decides "the address changed" from
successive readings; `monitor` is the thread that takes the readings and
posts ``SystemIPAddressDidChange`` and ``NetworkConditionsDidChange``.
"""

from sipsimple.network.monitor import NetworkMonitor, default_addresses
from sipsimple.network.watch import AddressChanged, AddressWatch

__all__ = ["AddressChanged", "AddressWatch", "NetworkMonitor", "default_addresses"]
