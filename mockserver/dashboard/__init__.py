"""The dashboard at /__admin/ui: a page that watches and steers the simulator.

The page (plain HTML, CSS and JavaScript under ``static/``) holds no data: it
reads everything through the control API under /__admin, with the admin token
the user types in, and through the few read-only routes under
/__admin/ui/api that the control API lacks (see ``_api.py``).
"""

from mockserver.dashboard._views import blueprint

__all__ = ["blueprint"]
