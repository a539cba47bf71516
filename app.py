"""Routes and scheduled handlers only; each is a few lines over chalicelib."""

from chalice import Chalice

from chalicelib.web import Api

app = Chalice(app_name="post-launch-monitor")
api = Api(app)
api.install_middleware()


@app.route("/api/monitoring/ping", methods=["GET"])
def ping():
    """Liveness probe: the only route without a token."""
    return {"status": "ok"}
