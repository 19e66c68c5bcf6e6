from sipsimple_services.common.service import Service, main


class MediaService(Service):
    name = "media"


if __name__ == "__main__":
    main(MediaService)
