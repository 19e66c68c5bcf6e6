"""SIP SIMPLE client SDK: the facade a UI imports.

Importing the package is cheap: submodules (``sipsimple.application``,
``sipsimple.lookup``, ``sipsimple.storage``, ...) are imported on demand.
"""

__version__ = "0.1.0"
