def test_liveness_probe_needs_no_token(stack):
    api = stack.client()
    response = api.get("/api/monitoring/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["X-Correlation-Id"]


def test_correlation_id_is_echoed(stack):
    response = stack.client().get("/api/monitoring/ping", headers={"X-Correlation-Id": "abc-123"})
    assert response.headers["X-Correlation-Id"] == "abc-123"
