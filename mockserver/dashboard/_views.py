"""The page itself: its HTML shell and static files, served without the token
(they hold nothing from the store), under a policy that forbids any request
to another origin."""

from __future__ import annotations

from flask import Blueprint, Response

from mockserver.dashboard._api import blueprint as api_blueprint

#: nothing but this server: no CDN, no inline script, no framing
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

blueprint = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/__admin/ui",
    static_folder="static",
    static_url_path="/static",
)
blueprint.register_blueprint(api_blueprint)


@blueprint.get("")
@blueprint.get("/")
def page() -> Response:
    response = blueprint.send_static_file("index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.after_request
def _protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
