"""CORS for the configured origins only (the local stage allows http://localhost:3000), never '*'."""

ALLOWED = "http://localhost:3000"


def test_preflight_from_an_allowed_origin_is_answered(stack):
    response = stack.client().request(
        "OPTIONS",
        "/api/monitoring/whoami",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "GET" in response.headers["Access-Control-Allow-Methods"]


def test_preflight_from_another_origin_gets_no_cors_headers(stack):
    response = stack.client().request(
        "OPTIONS", "/api/monitoring/whoami", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_actual_request_echoes_only_an_allowed_origin(stack, workspace):
    api = stack.client("staff", workspace)
    ok = api.get("/api/monitoring/whoami", headers={"Origin": ALLOWED})
    other = api.get("/api/monitoring/whoami", headers={"Origin": "https://evil.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert ok.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert other.status_code == 200
