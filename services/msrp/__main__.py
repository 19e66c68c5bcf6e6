from sipsimple_services.common.service import main
from sipsimple_services.msrp.bus.service import MsrpService

if __name__ == "__main__":
    main(MsrpService)
