from sipsimple_services.common.service import Service, main


class MsrpService(Service):
    name = "msrp"


if __name__ == "__main__":
    main(MsrpService)
