import logging
import sys

from sipsimple_services.common.service import main
from sipsimple_services.media.service import worker_class

if __name__ == "__main__":
    try:
        service = worker_class()
    except ValueError as exc:
        logging.basicConfig()
        logging.getLogger("sipsimple.media").error("media service cannot start: %s", exc)
        sys.exit(2)
    main(service)
