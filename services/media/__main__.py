from sipsimple_services.common.service import main
from sipsimple_services.media.service import MediaService

if __name__ == "__main__":
    main(MediaService)
