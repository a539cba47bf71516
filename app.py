"""Routes and scheduled handlers only; each is a few lines over chalicelib."""

from chalice import Chalice

from chalicelib.auth import Role
from chalicelib.web import Api, Call

app = Chalice(app_name="post-launch-monitor")
api = Api(app)
api.install_middleware()


@app.route("/api/monitoring/ping", methods=["GET"])
def ping():
    """Liveness probe: the only route without a token."""
    return {"status": "ok"}


@app.route("/api/monitoring/whoami", methods=["GET"])
@api.endpoint(Role.STAFF, Role.ENGINEER, Role.ADMIN, Role.INGEST)
def whoami(call: Call):
    """Who the token says the caller is: lets a client check its token and roles."""
    return call.principal.describe()


# Keep last: answers CORS preflight for every route declared above.
api.install_preflight()
