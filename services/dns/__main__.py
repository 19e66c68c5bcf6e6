"""``python -m sipsimple_services.dns``: run the DNS service."""

# Patch first, so dnspython (imported below) gets gevent's socket and selectors.
from gevent import monkey

monkey.patch_all()

from sipsimple_services.common.service import main  # noqa: E402
from sipsimple_services.dns.service import DNSService  # noqa: E402

if __name__ == "__main__":
    main(DNSService)
