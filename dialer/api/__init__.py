"""The product's HTTP API (FastAPI): one app, a router per concern (DESIGN §3: routes map
1:1 onto library functions).

    from dialer.api import create_app
    app = create_app(settings)
"""

from dialer.api.app import create_app

__all__ = ["create_app"]
