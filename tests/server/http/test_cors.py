"""CORS: OPTIONS preflights answer (without the API key, which browsers never send there), allowed
origins get Access-Control-Allow-Origin on every response, other origins do not; with no
--allowed-origins, OPTIONS still answers instead of 404."""
import requests

from server_process import ServerProcess

ORIGIN = "https://app.example"


def test_preflight_and_responses_for_allowed_origins():
    s = ServerProcess("--allowed-origins", f"{ORIGIN}, https://other.example", "--api-key", "k")
    try:
        r = requests.options(s.url + "/v1/chat/completions", timeout=5, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert r.status_code == 204, r.text
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
        assert r.headers["Vary"] == "Origin"

        chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        ok = requests.post(s.url + "/v1/chat/completions", json=chat, timeout=60,
                           headers={"Origin": ORIGIN, "Authorization": "Bearer k"})
        assert ok.status_code == 200, ok.text
        assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "X-Request-Id" in ok.headers["Access-Control-Expose-Headers"]
        # Errors carry it too, so the browser can read them.
        denied = requests.post(s.url + "/v1/chat/completions", json=chat, timeout=10,
                               headers={"Origin": ORIGIN})
        assert denied.status_code == 401
        assert denied.headers["Access-Control-Allow-Origin"] == ORIGIN

        other = requests.get(s.url + "/health", timeout=5, headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "Access-Control-Allow-Origin" not in other.headers
        pre = requests.options(s.url + "/v1/models", timeout=5,
                               headers={"Origin": "https://evil.example"})
        assert pre.status_code == 204 and "Access-Control-Allow-Origin" not in pre.headers
    finally:
        s.stop()


def test_options_answers_without_allowed_origins(server):
    r = requests.options(server.url + "/v1/chat/completions", timeout=5,
                         headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204, r.text
    assert "POST" in r.headers["Allow"]
    assert "Access-Control-Allow-Origin" not in r.headers
