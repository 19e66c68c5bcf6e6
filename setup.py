"""Package mapping that pyproject.toml alone cannot express.

The facade (client/sipsimple) installs as `sipsimple`; the services directory
installs as `sipsimple_services`, so that the design's top-level layout
(services/signalling, services/media, ...) keeps a non-generic import name.
"""

from setuptools import find_packages, setup

client = find_packages("client")
services = ["sipsimple_services"] + [
    "sipsimple_services." + name for name in find_packages("services")
]

setup(
    packages=client + services,
    package_dir={"sipsimple": "client/sipsimple", "sipsimple_services": "services"},
    package_data={
        "sipsimple": ["py.typed"],
        "sipsimple.data": ["*.conf"],
        "sipsimple_services": ["py.typed"],
    },
)
