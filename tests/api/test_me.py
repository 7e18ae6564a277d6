"""GET /api/v1/me: a signed-up user's key answers with that user's workspace."""


def test_signup_then_api_me_answers_workspace(api):
    response = api.get("/me")
    assert response.status_code == 200
    assert response.json["workspace"]["name"] == "owner's workspace"
