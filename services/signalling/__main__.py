"""``python -m sipsimple_services.signalling``: run the signalling service."""

# Patch first, so that anything using the standard library's sockets cooperates.
from gevent import monkey

monkey.patch_all()

from sipsimple_services.common.service import main  # noqa: E402
from sipsimple_services.signalling.bus.service import SignallingService  # noqa: E402

if __name__ == "__main__":
    main(SignallingService)
