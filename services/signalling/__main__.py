from sipsimple_services.common.service import Service, main


class SignallingService(Service):
    name = "signalling"


if __name__ == "__main__":
    main(SignallingService)
